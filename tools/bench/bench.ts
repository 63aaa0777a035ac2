/**
 * `cdr-pipeline bench`: the end-to-end benchmark, comparative (not part of `npm test`).
 *
 * One topic of M generated CDRs (the realistic traffic with every fraud scenario, Confluent-framed Avro with
 * the schema in the registry) is read, in the same run, by each scenario in a process of its own
 * (tools/bench/bench-child.ts) on a fresh consumer group:
 *   pipeline      `cdr-pipeline run` with rating and fraud (decode, rate, fraud keying + detector, embedded chDB);
 *   naive         kafkajs eachBatch + avsc + JSONEachRow of the decoded columns into chDB (no rating, no fraud);
 *   kafka-engine  ClickHouse's Kafka engine inside chDB (AvroConfluent + registry) and a materialized view
 *                 into a MergeTree of the same columns as the naive table;
 *   server        the pipeline inserting over HTTP into a ClickHouse-compatible endpoint (chDB behind
 *                 ClickHouse's HTTP interface, test/clickhouse-endpoint.ts) in another process: the pipeline's
 *                 own CPU when ClickHouse runs elsewhere;
 * optionally pipeline-fraud-off and pipeline-rating-off. Each scenario runs `runs` times (round-robin, so
 * the machine's load spreads over all of them) and the medians are reported with the load average.
 *
 * Measured per run, from the first consumed record until everything is stored, committed and (pipeline)
 * through the fraud detector: CDR/s; CPU of the whole scenario process (all threads) per CDR, and by thread
 * group (main JS thread, V8 platform workers = parallel/concurrent GC, libuv pool = chDB inserts/queries and
 * @clickhouse/client's zlib, engine = ClickHouse's own threads: merges, the Kafka engine); the broker's CPU
 * (its process, /proc) and the endpoint's separately; GC share = (V8 platform threads' CPU + main-thread GC
 * pauses scaled by its on-CPU share, schedstat) / process CPU; peak RSS (VmHWM); main-thread time per stage (the runner's metrics). Then the latency phase:
 * the pipeline on an empty topic, fed at a steady rate (half of 60k CDR/s, or half the measured sustained
 * rate when that is lower), p50/p99 produce-to-queryable.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { avroSchemaText, cdrCodec, CDR_SCHEMA_FILE, packageRoot, type Cdr, type Log } from '../../schemas/index.js';
import { confluentFrame, SchemaRegistryClient } from '../../schemas/registry.js';
import { ensureTopic } from '../../ingest/kafka.js';
import { KafkaSink, type OutRecord } from '../../sinks/kafka.js';
import { KAFKA_VERSION, startLocalBroker, type LocalBroker } from '../local/broker.js';
import { startLocalRegistry, type LocalRegistry } from '../local/registry.js';
import type { Config } from '../../pipeline/config.js';
import { createTraffic, writeReference } from '../../simulators/traffic/index.js';
import { pidListeningOn, V8_POOL_SIZE } from './meter.js';
import type { ChildResult, ChildTask } from './bench-child.js';

export const SCENARIOS = ['pipeline', 'naive', 'kafka-engine', 'server', 'pipeline-fraud-off', 'pipeline-rating-off'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export const DEFAULT_SCENARIOS: ScenarioName[] = ['pipeline', 'naive', 'kafka-engine', 'server'];

export interface BenchOptions {
  records: number;
  out: string | undefined;
  doc: boolean;
  /** Repetitions of every scenario (medians reported); default 3. */
  runs?: number;
  scenarios?: ScenarioName[];
  /** Latency phase: steady rate (default: half of 60k, capped at half the measured sustained rate) and seconds (default 10; 0 = skip). */
  latencyRatePerSec?: number;
  latencySeconds?: number;
}

/** The issue #15 targets, checked against the medians. */
const TARGETS = { cdrPerSec: 60_000, p99Ms: 1000, gcShare: 0.1, peakRssMb: 1200, serverUsPerCdr: 15, vsNaive: 1, vsKafkaEngine: 0.6 };

export interface ScenarioSummary {
  scenario: ScenarioName;
  runs: number;
  /** Medians over the runs. */
  cdrPerSec: number;
  usPerCdr: number;
  brokerUsPerCdr: number | null;
  endpointUsPerCdr: number | null;
  gcShare: number;
  gcPauseUsPerCdr: number;
  peakRssMb: number;
  threadsUsPerCdr: Record<string, number> | null;
  stagesUsPerCdr: Record<string, number> | null;
  /** Every run, as measured. */
  each: { cdrPerSec: number; usPerCdr: number; loadavg1m: number; seconds: number }[];
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function childPath(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

/** Runs one scenario process to its result (or its error). */
function runChild(task: ChildTask, onReady?: (child: ChildProcess) => Promise<void>): Promise<ChildResult> {
  return new Promise((res, rej) => {
    // A fixed V8 pool: meter.ts tells V8's threads from libuv's by creation order.
    const child = fork(childPath('bench-child'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [`--v8-pool-size=${V8_POOL_SIZE}`] });
    let settled = false;
    child.on('message', (m: { type: string; result?: ChildResult; message?: string }) => {
      if (m.type === 'ready' && onReady) void onReady(child).catch((err: Error) => ((settled = true), child.kill('SIGTERM'), rej(err)));
      else if (m.type === 'result' && m.result) ((settled = true), res(m.result));
      else if (m.type === 'error') ((settled = true), rej(new Error(`${task.label}: ${m.message}`)));
    });
    child.on('exit', (code) => {
      if (!settled) rej(new Error(`${task.label}: the scenario process exited with ${code} before reporting`));
    });
    child.send({ type: 'task', task });
  });
}

async function startEndpoint(dir: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  rmSync(dir, { recursive: true, force: true });
  const child = fork(childPath('bench-endpoint'), [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const { url, pid } = await new Promise<{ url: string; pid: number }>((res, rej) => {
    child.once('message', (m: { url: string; pid: number }) => res(m));
    child.once('exit', (code) => rej(new Error(`the ClickHouse endpoint exited with ${code}`)));
  });
  return {
    url,
    pid,
    stop: () =>
      new Promise<void>((res) => {
        child.once('exit', () => res());
        child.send({ type: 'stop' });
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

function summarise(name: ScenarioName, rs: ChildResult[]): ScenarioSummary {
  const per = (r: ChildResult, x: number | null | undefined) => (x === null || x === undefined ? NaN : (x / r.records) * 1e6);
  const med = (f: (r: ChildResult) => number) => median(rs.map(f));
  const groups = rs[0]?.reading.threads ? Object.keys(rs[0].reading.threads) : [];
  const stages = rs[0]?.stages ? Object.keys(rs[0].stages) : [];
  const brokerUs = med((r) => per(r, r.reading.external.broker));
  const endpointUs = med((r) => per(r, r.reading.external.endpoint));
  return {
    scenario: name,
    runs: rs.length,
    cdrPerSec: Math.round(med((r) => r.records / r.reading.seconds)),
    usPerCdr: round(med((r) => per(r, r.reading.cpuSeconds)), 2),
    brokerUsPerCdr: Number.isFinite(brokerUs) ? round(brokerUs, 2) : null,
    endpointUsPerCdr: Number.isFinite(endpointUs) ? round(endpointUs, 2) : null,
    gcShare: round(med((r) => r.reading.gcCpuSeconds / r.reading.cpuSeconds), 3),
    gcPauseUsPerCdr: round(med((r) => per(r, r.reading.gcPauseSeconds)), 2),
    peakRssMb: Math.round(med((r) => r.peakRssMb)),
    threadsUsPerCdr: groups.length ? Object.fromEntries(groups.map((g) => [g, round(med((r) => per(r, (r.reading.threads as Record<string, number>)[g])), 2)])) : null,
    stagesUsPerCdr: stages.length ? Object.fromEntries(stages.map((s) => [s, round(med((r) => per(r, r.stages?.[s])), 2)])) : null,
    each: rs.map((r) => ({ cdrPerSec: Math.round(r.records / r.reading.seconds), usPerCdr: round(per(r, r.reading.cpuSeconds), 2), loadavg1m: round(r.loadavg1m, 2), seconds: round(r.reading.seconds, 2) })),
  };
}

export async function runBench(cfg: Config, o: BenchOptions, log: Log, print: (line: string) => void) {
  const runs = o.runs ?? 3;
  const scenarios = o.scenarios ?? DEFAULT_SCENARIOS;
  const dir = resolve('data', 'bench');
  mkdirSync(dir, { recursive: true });
  let broker: LocalBroker | undefined;
  let registry: LocalRegistry | undefined;
  let brokers = cfg.kafka.brokers;
  if (brokers.length === 0) {
    print('starting a local Kafka broker...');
    broker = await startLocalBroker({ dir: join(dir, 'kafka'), log, heapMb: 768 });
    brokers = broker.brokers;
  }
  const brokerPid = broker?.pid ?? (() => {
    const m = /^(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)$/.exec(brokers[0] ?? '');
    return m ? pidListeningOn(Number(m[1])) : undefined;
  })();
  if (brokerPid === undefined) print('  the broker is not a local process: its CPU is not measured');
  try {
    let registryUrl = cfg.decode.registryUrl || process.env.SCHEMA_REGISTRY_URL || '';
    if (registryUrl === '') {
      print('starting a local schema registry...');
      registry = await startLocalRegistry({ dir: join(dir, 'registry'), log });
      registryUrl = registry.url;
    }
    const runId = Date.now().toString(36);
    const topic = `bench.${runId}`;
    const alertsTopic = `bench.${runId}.alerts`;
    await ensureTopic(brokers, topic, cfg.kafka.partitions, log);
    await ensureTopic(brokers, alertsTopic, cfg.kafka.partitions, log);

    // The realistic workload: generated traffic with every fraud scenario, rated against the reference data
    // the population implies. The latency phase continues the same traffic (same subscribers, later records).
    const referenceDir = join(dir, 'reference');
    const subscribers = Math.max(1000, Math.floor(o.records / 20));
    const startMs = Date.UTC(2026, 9, 5, 23);
    const traffic = createTraffic({ seed: 1, subscribers, startMs, endMs: startMs + 7 * 86_400_000, scenarios: 'all' });
    writeReference(referenceDir, traffic.reference());
    const it = traffic.records();
    const reg = new SchemaRegistryClient({ url: registryUrl, retryMaxMs: 2000, log });
    const schemaId = await reg.register(`${topic}-value`, avroSchemaText(CDR_SCHEMA_FILE), AbortSignal.timeout(60_000));
    const codec = cdrCodec();
    const frame = (c: Cdr): OutRecord => ({ key: c.servedMsisdn, value: confluentFrame(schemaId, codec.encode(c)) });
    print(`producing ${o.records} CDRs of generated traffic to ${topic} (${cfg.kafka.partitions} partitions, Confluent-framed, schema id ${schemaId})...`);
    const sink = new KafkaSink({ brokers, clientId: 'bench-producer', log });
    await sink.connect();
    let produced = 0;
    try {
      let batch: OutRecord[] = [];
      for (; produced < o.records; ) {
        const n = it.next();
        if (n.done) break;
        batch.push(frame(n.value));
        produced++;
        if (batch.length >= 5000) {
          await sink.send(topic, batch);
          batch = [];
        }
      }
      await sink.send(topic, batch);
    } finally {
      await sink.disconnect();
    }
    const records = produced;

    const base: Config = {
      ...cfg,
      kafka: { ...cfg.kafka, brokers, topic, fromBeginning: true },
      decode: { ...cfg.decode, format: 'confluent', registryUrl },
      rating: { ...cfg.rating, referenceSource: 'files', referenceDir },
      fraud: { ...cfg.fraud, alertsTopic },
      telemetry: { ...cfg.telemetry, metricsPort: -1 },
      aggregates: { ...cfg.aggregates, refreshIntervalMs: 0 },
    };
    const results = new Map<ScenarioName, ChildResult[]>();
    for (let rep = 1; rep <= runs; rep++) {
      // Round-robin with a rotating start, so no scenario always runs first (after the producer) or last.
      const order = scenarios.map((_, i) => scenarios[(i + rep - 1) % scenarios.length]!);
      for (const name of order) {
        const tag = `${name}-${rep}-${runId}`;
        const chPath = join(dir, `ch-${tag}`);
        rmSync(chPath, { recursive: true, force: true });
        const cfgRun: Config = {
          ...base,
          kafka: { ...base.kafka, groupId: `bench-${tag}` },
          fraud: { ...base.fraud, enabled: name !== 'pipeline-fraud-off' && name !== 'pipeline-rating-off', eventsTopic: `bench.${runId}.fraud.${name}.${rep}` },
          rating: name === 'pipeline-rating-off' ? { ...base.rating, referenceDir: '' } : base.rating,
          clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath, database: 'bench' },
        };
        let endpoint: Awaited<ReturnType<typeof startEndpoint>> | undefined;
        if (name === 'server') {
          endpoint = await startEndpoint(join(dir, `endpoint-${tag}`));
          cfgRun.clickhouse = { ...cfgRun.clickhouse, mode: 'server', url: endpoint.url, database: 'bench' };
        }
        const kind: ChildTask['kind'] = name === 'naive' ? 'naive' : name === 'kafka-engine' ? 'kafka-engine' : 'pipeline';
        print(`run ${rep}/${runs}: ${name}...`);
        try {
          const r = await runChild({ kind, label: name, cfg: cfgRun, records, watch: { broker: brokerPid, ...(endpoint ? { endpoint: endpoint.pid } : {}) }, registryUrl });
          const per = (x: number) => round((x / r.records) * 1e6, 1);
          print(`  ${Math.round(r.records / r.reading.seconds)} CDR/s, ${per(r.reading.cpuSeconds)} us CPU per CDR (broker ${r.reading.external.broker === null || r.reading.external.broker === undefined ? '-' : per(r.reading.external.broker)}${endpoint ? `, endpoint ${per(r.reading.external.endpoint ?? NaN)}` : ''}), peak RSS ${r.peakRssMb} MB, load ${round(r.loadavg1m, 2)}`);
          if (r.stored < r.records) print(`  note: ${r.records - r.stored} records not stored as CDRs (dead letters)`);
          results.set(name, [...(results.get(name) ?? []), r]);
        } finally {
          await endpoint?.stop();
          rmSync(chPath, { recursive: true, force: true });
          if (endpoint) rmSync(join(dir, `endpoint-${tag}`), { recursive: true, force: true });
        }
      }
    }
    const summaries = scenarios.map((s) => summarise(s, results.get(s) ?? []));

    // Latency: the pipeline on an empty topic, fed at a steady rate.
    let latency: { ratePerSec: number; seconds: number; p50: number; p99: number; max: number; samples: number; note: string } | undefined;
    const latSeconds = o.latencySeconds ?? 10;
    if (latSeconds > 0) {
      const pipe = summaries.find((s) => s.scenario === 'pipeline');
      let rate = o.latencyRatePerSec ?? TARGETS.cdrPerSec / 2;
      let note = o.latencyRatePerSec ? 'as asked' : 'half of the 60k CDR/s target';
      if (!o.latencyRatePerSec && pipe && pipe.cdrPerSec / 2 < rate) {
        rate = Math.floor(pipe.cdrPerSec / 2 / 1000) * 1000 || 1000;
        note = `half the measured sustained rate (${pipe.cdrPerSec} CDR/s; 30k would only queue)`;
      }
      const latTopic = `bench.${runId}.lat`;
      await ensureTopic(brokers, latTopic, cfg.kafka.partitions, log);
      await reg.register(`${latTopic}-value`, avroSchemaText(CDR_SCHEMA_FILE), AbortSignal.timeout(60_000));
      const chPath = join(dir, `ch-lat-${runId}`);
      rmSync(chPath, { recursive: true, force: true });
      const sentFile = join(dir, `lat-${runId}.json`);
      print(`(latency) produce-to-queryable at ${rate} CDR/s for ${latSeconds} s (${note})...`);
      try {
        const r = await runChild(
          { kind: 'latency', label: 'latency', cfg: { ...base, kafka: { ...base.kafka, topic: latTopic, groupId: `bench-lat-${runId}` }, fraud: { ...base.fraud, eventsTopic: `bench.${runId}.fraud.lat` }, clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath, database: 'bench' } }, records: 0, watch: { broker: brokerPid } },
          async (child) => {
            const s = new KafkaSink({ brokers, clientId: 'bench-latency', log });
            await s.connect();
            const sent: [string, number][] = [];
            const tick = 50;
            const perTick = Math.max(1, Math.round((rate * tick) / 1000));
            const t0 = Date.now();
            try {
              for (let k = 0; k < (latSeconds * 1000) / tick; k++) {
                const batch: OutRecord[] = [];
                const ids: string[] = [];
                for (let j = 0; j < perTick; j++) {
                  const n = it.next();
                  if (n.done) break;
                  batch.push(frame(n.value));
                  ids.push(n.value.recordId);
                }
                const at = Date.now();
                for (const id of ids) sent.push([id, at]);
                await s.send(latTopic, batch);
                const wait = t0 + (k + 1) * tick - Date.now();
                if (wait > 0) await new Promise((w) => setTimeout(w, wait));
              }
            } finally {
              await s.disconnect();
            }
            writeFileSync(sentFile, JSON.stringify(sent));
            child.send({ type: 'expect', count: sent.length, sentFile });
          },
        );
        if (r.latency) latency = { ratePerSec: rate, seconds: latSeconds, ...r.latency, note };
      } finally {
        rmSync(chPath, { recursive: true, force: true });
        rmSync(sentFile, { force: true });
      }
    }

    const machine = {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      kafka: broker ? `Apache Kafka ${KAFKA_VERSION} (local, same machine)` : `external ${brokers.join(',')}${brokerPid ? ' (local process, measured)' : ''}`,
      loadavg1m: round(loadavg()[0] ?? 0, 2),
    };
    const result = { when: new Date().toISOString(), records, runs, partitions: cfg.kafka.partitions, sink: { maxBatchRows: cfg.sink.maxBatchRows, flushIntervalMs: cfg.sink.flushIntervalMs, format: cfg.sink.format }, machine, scenarios: summaries, latencyMs: latency, raw: Object.fromEntries(results) };
    const outFile = o.out ?? join(packageRoot, 'bench-results', `bench-${runId}.json`);
    mkdirSync(resolve(outFile, '..'), { recursive: true });
    writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');

    print('');
    print(`medians of ${runs} runs, ${records} CDRs each (us = microseconds of CPU per CDR):`);
    for (const s of summaries) {
      print(`${s.scenario.padEnd(20)} ${String(s.cdrPerSec).padStart(7)} CDR/s  ${String(s.usPerCdr).padStart(6)} us/CDR  broker ${s.brokerUsPerCdr ?? '-'}${s.endpointUsPerCdr !== null ? `  endpoint ${s.endpointUsPerCdr}` : ''}  GC ${round(s.gcShare * 100, 1)}%  peak RSS ${s.peakRssMb} MB  (runs: ${s.each.map((e) => `${e.usPerCdr} us @ load ${e.loadavg1m}`).join(', ')})`);
      if (s.threadsUsPerCdr) print(`${''.padEnd(20)} threads us/CDR: ${Object.entries(s.threadsUsPerCdr).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      if (s.stagesUsPerCdr) print(`${''.padEnd(20)} main-thread stages us/CDR: ${Object.entries(s.stagesUsPerCdr).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
    if (latency) print(`latency at ${latency.ratePerSec} CDR/s (${latency.note}): p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms (${latency.samples} samples)`);
    for (const line of targetLines(summaries, latency)) print(line);
    print(`result: ${outFile}`);
    if (o.doc) {
      const doc = join(packageRoot, 'docs', 'BENCHMARKS.md');
      const marker = '<!-- bench:compare rows (newest last) -->';
      if (!existsSync(doc) || !readFileSync(doc, 'utf8').includes(marker)) throw new Error(`${doc} has no "${marker}" line to add the rows before`);
      const when = result.when.slice(0, 16).replace('T', ' ');
      const loads = (s: ScenarioSummary) => s.each.map((e) => e.loadavg1m).join(' / ');
      const rows = summaries
        .map((s) => `| ${when} | ${records} × ${s.runs} | ${s.scenario} | ${s.cdrPerSec} | ${s.usPerCdr} | ${s.brokerUsPerCdr ?? '–'} | ${s.endpointUsPerCdr ?? '–'} | ${round(s.gcShare * 100, 1)}% | ${s.peakRssMb} | ${s.threadsUsPerCdr ? Object.entries(s.threadsUsPerCdr).map(([k, v]) => `${k} ${v}`).join(', ') : '–'} | ${s.scenario === 'pipeline' && latency ? `${latency.p50} / ${latency.p99} at ${latency.ratePerSec}/s` : '–'} | ${loads(s)} |\n`)
        .join('');
      writeFileSync(doc, readFileSync(doc, 'utf8').replace(marker, rows + marker));
      print(`appended ${summaries.length} rows to ${doc}`);
    }
    return result;
  } finally {
    await registry?.stop();
    await broker?.stop();
  }
}

function targetLines(ss: ScenarioSummary[], latency: { p99: number; ratePerSec: number } | undefined): string[] {
  const get = (n: ScenarioName) => ss.find((s) => s.scenario === n);
  const p = get('pipeline');
  const out: string[] = ['targets (issue #15):'];
  const line = (ok: boolean | undefined, text: string) => out.push(`  ${ok === undefined ? 'n/a ' : ok ? 'met ' : 'MISS'} ${text}`);
  if (!p) return out;
  const naive = get('naive');
  const ke = get('kafka-engine');
  const server = get('server');
  line(naive ? p.usPerCdr <= naive.usPerCdr * TARGETS.vsNaive : undefined, `CPU per CDR <= naive: ${p.usPerCdr} vs ${naive?.usPerCdr ?? '-'} us (${naive ? round(p.usPerCdr / naive.usPerCdr, 2) : '-'}x)`);
  line(ke ? p.usPerCdr <= ke.usPerCdr * TARGETS.vsKafkaEngine : undefined, `CPU per CDR <= 0.6x Kafka engine: ${p.usPerCdr} vs ${ke?.usPerCdr ?? '-'} us (${ke ? round(p.usPerCdr / ke.usPerCdr, 2) : '-'}x)`);
  line(p.cdrPerSec >= TARGETS.cdrPerSec, `>= 60k CDR/s sustained: ${p.cdrPerSec}`);
  // Met only at the rate the target names: a p99 under 1 s at a lower rate proves nothing about 30k (n/a); over 1 s it is a miss at any rate.
  const latAtTarget = latency !== undefined && latency.ratePerSec >= TARGETS.cdrPerSec / 2;
  line(latency ? (latency.p99 > TARGETS.p99Ms ? false : latAtTarget ? true : undefined) : undefined, `p99 produce-to-queryable <= 1 s at 30k CDR/s: ${latency ? `${latency.p99} ms at ${latency.ratePerSec}/s${latAtTarget ? '' : ' (below the rate the target names)'}` : '-'}`);
  line(p.gcShare <= TARGETS.gcShare, `GC <= 10% of process CPU: ${round(p.gcShare * 100, 1)}%`);
  line(p.peakRssMb <= TARGETS.peakRssMb, `peak RSS <= 1.2 GB: ${p.peakRssMb} MB`);
  line(server ? server.usPerCdr <= TARGETS.serverUsPerCdr : undefined, `server connection: pipeline CPU <= 15 us/CDR: ${server?.usPerCdr ?? '-'} us`);
  return out;
}
