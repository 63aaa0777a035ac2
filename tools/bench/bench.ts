/**
 * `cdr-pipeline bench`: the benchmark harness (not part of `npm test`). In one process and one run:
 *   produce   M Avro CDRs into a fresh topic (producer rate, for context);
 *   (a)  Kafka -> discard:              the consumer alone (the floor every other number sits on);
 *   (a2) Kafka -> decode -> discard:    adds Avro decode and validation;
 *   (b)  Kafka -> decode -> ClickHouse: the whole pipeline into embedded ClickHouse (chDB);
 *   (lat) produce-to-queryable latency at a steady rate with the pipeline of (b) running.
 * Each scenario reports sustained CDRs/s, CPU seconds per 1k CDRs (this process; the broker's separately)
 * and peak RSS. Results go to a JSON file and a row in docs/BENCHMARKS.md with the machine described.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { cdrCodec, packageRoot, type Log } from '../../schemas/index.js';
import { KafkaSource, ensureTopic } from '../../ingest/kafka.js';
import { createDecoder } from '../../enrich/decode.js';
import { generateCdrs } from '../../simulators/synthetic.js';
import { KafkaSink } from '../../sinks/kafka.js';
import { KAFKA_VERSION, startLocalBroker, type LocalBroker } from '../local/broker.js';
import type { Config } from '../../pipeline/config.js';
import { startPipeline } from '../../pipeline/app.js';
import { produceTraffic } from '../../simulators/produce.js';
import { createRatingStage } from '../../enrich/rate/stage.js';

export interface BenchOptions {
  records: number;
  out: string | undefined;
  doc: boolean;
  /** Steady rate and duration of the latency phase. */
  latencyRatePerSec?: number;
  latencySeconds?: number;
}

interface Scenario {
  name: string;
  records: number;
  seconds: number;
  cdrPerSec: number;
  cpuSecondsPer1k: number;
  brokerCpuSecondsPer1k: number | null;
  peakRssMb: number;
}

/** utime+stime of another process, in seconds (Linux /proc; the broker's JVM). */
function procCpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return null;
  }
}

class Meter {
  private cpu0 = process.cpuUsage();
  private broker0: number | null;
  private peak = process.memoryUsage().rss;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly brokerPid: number | undefined) {
    this.broker0 = procCpuSeconds(brokerPid);
    this.timer = setInterval(() => (this.peak = Math.max(this.peak, process.memoryUsage().rss)), 100);
  }
  finish(name: string, records: number, seconds: number): Scenario {
    clearInterval(this.timer);
    const cpu = process.cpuUsage(this.cpu0);
    const b1 = procCpuSeconds(this.brokerPid);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    return {
      name,
      records,
      seconds: round(seconds, 2),
      cdrPerSec: Math.round(records / seconds),
      cpuSecondsPer1k: round((cpuS / records) * 1000, 4),
      brokerCpuSecondsPer1k: b1 !== null && this.broker0 !== null ? round(((b1 - this.broker0) / records) * 1000, 4) : null,
      peakRssMb: Math.round(Math.max(this.peak, process.memoryUsage().rss) / 2 ** 20),
    };
  }
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Consume `expected` records with a handler; returns seconds from the first batch to the last record. */
async function consumeAll(cfg: Config, brokers: string[], topic: string, group: string, expected: number, work: (records: Parameters<Parameters<KafkaSource['start']>[0]>[0]) => void, log: Log): Promise<number> {
  const source = new KafkaSource({ ...cfg.kafka, brokers, topics: [topic], groupId: group, fromBeginning: true, maxWaitTimeMs: cfg.kafka.maxWaitTimeMs, log });
  let seen = 0;
  let first = 0;
  let last = 0;
  const done = new Promise<void>((res) => {
    void source.start(async (b) => {
      if (first === 0) first = performance.now();
      work(b);
      seen += b.records.length;
      if (seen >= expected) {
        last = performance.now();
        res();
      }
    });
  });
  await done;
  await source.stop();
  return (last - first) / 1000;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function runBench(cfg: Config, o0: BenchOptions, log: Log, print: (line: string) => void) {
  let o = o0;
  const dir = resolve('data', 'bench');
  let broker: LocalBroker | undefined;
  let brokers = cfg.kafka.brokers;
  if (brokers.length === 0) {
    print('starting a local Kafka broker...');
    broker = await startLocalBroker({ dir: join(dir, 'kafka'), log, heapMb: 768 });
    brokers = broker.brokers;
  }
  const runId = Date.now().toString(36);
  const topic = `bench.${runId}`;
  const scenarios: Scenario[] = [];
  try {
    await ensureTopic(brokers, topic, cfg.kafka.partitions, log);
    // The realistic workload: two days of generated traffic with every fraud scenario, rated against the
    // reference data the population implies (what `cdr-pipeline demo` runs).
    const referenceDir = join(dir, 'reference');
    const gen = { seed: 1, subscribers: Math.max(1000, Math.floor(o.records / 20)), startMs: Date.UTC(2026, 8, 1), meanGapMs: 50, switches: 8 };
    print(`producing up to ${o.records} CDRs of generated traffic to ${topic} (${cfg.kafka.partitions} partitions)...`);
    let m = new Meter(broker?.pid);
    let t0 = performance.now();
    const startMs = Date.UTC(2026, 9, 5, 23);
    const produced = await produceTraffic({ brokers, topic, records: o.records, corrupt: 0, seed: 1, subscribers: gen.subscribers, startMs, endMs: startMs + 2 * 86_400_000, scenarios: 'all', referenceDir, log });
    if (produced.produced < o.records) print(`  the traffic window holds ${produced.produced} CDRs`);
    o = { ...o, records: produced.produced };
    scenarios.push(m.finish('produce (kafkajs producer, for context)', o.records, (performance.now() - t0) / 1000));

    print('(a) Kafka -> discard...');
    m = new Meter(broker?.pid);
    let secs = await consumeAll(cfg, brokers, topic, `bench-a-${runId}`, o.records, () => undefined, log);
    scenarios.push(m.finish('(a) Kafka -> discard', o.records, secs));

    print('(a2) Kafka -> decode -> discard...');
    const decode = createDecoder(cdrCodec(), cfg.decode);
    let decoded = 0;
    m = new Meter(broker?.pid);
    secs = await consumeAll(cfg, brokers, topic, `bench-a2-${runId}`, o.records, (b) => (decoded += decode(b, b.records).cdrs.length), log);
    scenarios.push(m.finish('(a2) Kafka -> decode -> discard', o.records, secs));
    if (decoded !== o.records) throw new Error(`decode lost records: ${decoded} of ${o.records}`);

    print('(a3) Kafka -> decode -> rate -> discard...');
    const rating = createRatingStage(referenceDir, cfg.rating.tariffFile);
    let rated = 0;
    m = new Meter(broker?.pid);
    secs = await consumeAll(cfg, brokers, topic, `bench-a3-${runId}`, o.records, (b) => (rated += rating.rateBatch(decode(b, b.records).cdrs).rated ?? 0), log);
    scenarios.push(m.finish('(a3) Kafka -> decode -> rate -> discard', o.records, secs));
    if (rated !== o.records) print(`  note: ${o.records - rated} CDRs unrated`);

    print('(b) Kafka -> decode -> ClickHouse (embedded)...');
    const chPath = join(dir, 'clickhouse');
    rmSync(chPath, { recursive: true, force: true });
    const p = await startPipeline(
      { ...cfg, kafka: { ...cfg.kafka, brokers, topic, groupId: `bench-b-${runId}` }, rating: { ...cfg.rating, referenceDir }, clickhouse: { ...cfg.clickhouse, mode: 'embedded', path: chPath, database: 'bench' }, telemetry: { ...cfg.telemetry, metricsPort: -1 }, aggregates: { ...cfg.aggregates, refreshIntervalMs: 0 } },
      log,
    );
    let latency: { p50: number; p99: number; max: number; samples: number; ratePerSec: number };
    try {
      m = new Meter(broker?.pid);
      t0 = 0;
      while (p.runner.stats.stored < o.records) {
        if (t0 === 0 && p.runner.stats.consumed > 0) t0 = performance.now();
        await Promise.race([new Promise((r) => setTimeout(r, 20)), p.done]);
      }
      scenarios.push(m.finish('(b) Kafka -> decode -> rate -> ClickHouse', o.records, (performance.now() - t0) / 1000));

      const rate = o.latencyRatePerSec ?? 2000;
      const seconds = o.latencySeconds ?? 15;
      print(`(lat) produce-to-queryable at ${rate} CDR/s for ${seconds} s...`);
      const sink = new KafkaSink({ brokers, clientId: 'bench-latency', log });
      await sink.connect();
      const codec = cdrCodec();
      const sent = new Map<string, number>();
      const tick = 50;
      const perTick = Math.max(1, Math.round((rate * tick) / 1000));
      // Latency records are simple synthetic CDRs on 1 September (outside the traffic window), so they can be
      // told apart; they are stored unrated (unknown subscribers), which costs the same as rating.
      const it = generateCdrs({ ...gen, seed: 99 }, rate * seconds);
      const start = Date.now();
      for (let k = 0; k < (seconds * 1000) / tick; k++) {
        const batch = [];
        for (let j = 0; j < perTick; j++) {
          const n = it.next();
          if (n.done) break;
          batch.push({ key: n.value.servedMsisdn, value: codec.encode(n.value), rid: n.value.recordId });
        }
        const at = Date.now();
        for (const b of batch) sent.set(b.rid, at);
        await sink.send(topic, batch);
        const wait = start + (k + 1) * tick - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await sink.disconnect();
      const target = o.records + sent.size;
      while (p.runner.stats.stored < target) await Promise.race([new Promise((r) => setTimeout(r, 50)), p.done]);
      const rows = await p.conn.query<{ id: string; t: string }>(`SELECT record_id AS id, toUnixTimestamp64Milli(_ingested_at) AS t FROM cdrs WHERE seizure_time < toDateTime64('2026-09-05 00:00:00', 3, 'UTC')`);
      const lats = rows.map((r) => Number(r.t) - (sent.get(r.id) ?? NaN)).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
      latency = { p50: quantile(lats, 0.5), p99: quantile(lats, 0.99), max: lats[lats.length - 1] ?? NaN, samples: lats.length, ratePerSec: rate };
    } finally {
      await p.stop();
    }

    const [chVersion] = await (async () => {
      const { openEmbedded } = await import('../../sinks/clickhouse/connection.js');
      const c = await openEmbedded({ path: chPath, database: 'bench' });
      try {
        return [(await c.query<{ v: string }>('SELECT version() AS v'))[0]?.v ?? '?'];
      } finally {
        await c.close();
      }
    })();
    const machine = {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      kafka: broker ? `Apache Kafka ${KAFKA_VERSION} (local, same machine)` : `external ${brokers.join(',')}`,
      clickhouse: `chDB ${chVersion} (embedded, same process)`,
      loadavg1m: round(loadavg()[0] ?? 0, 2),
    };
    const result = { when: new Date().toISOString(), records: o.records, partitions: cfg.kafka.partitions, sink: { maxBatchRows: cfg.sink.maxBatchRows, flushIntervalMs: cfg.sink.flushIntervalMs }, machine, scenarios, latencyMs: latency };
    const outFile = o.out ?? join(packageRoot, 'bench-results', `bench-${runId}.json`);
    mkdirSync(resolve(outFile, '..'), { recursive: true });
    writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    print('');
    for (const s of scenarios) print(`${s.name.padEnd(42)} ${String(s.cdrPerSec).padStart(8)} CDR/s  ${s.cpuSecondsPer1k.toFixed(4)} CPU-s/1k (broker ${s.brokerCpuSecondsPer1k ?? '-'})  peak RSS ${s.peakRssMb} MB`);
    print(`produce-to-queryable at ${latency.ratePerSec} CDR/s: p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms (${latency.samples} samples)`);
    print(`result: ${outFile}`);
    if (o.doc) {
      const doc = join(packageRoot, 'docs', 'BENCHMARKS.md');
      const marker = '<!-- bench:e2e rows (newest last) -->';
      if (!existsSync(doc) || !readFileSync(doc, 'utf8').includes(marker)) throw new Error(`${doc} has no "${marker}" line to add the row before`);
      const a = scenarios.find((s) => s.name.startsWith('(a)'))!;
      const a2 = scenarios.find((s) => s.name.startsWith('(a2)'))!;
      const a3 = scenarios.find((s) => s.name.startsWith('(a3)'))!;
      const b = scenarios.find((s) => s.name.startsWith('(b)'))!;
      const row = (
        `| ${result.when.slice(0, 16).replace('T', ' ')} | ${o.records} | ${a.cdrPerSec} | ${a2.cdrPerSec} | ${a3.cdrPerSec} | ${b.cdrPerSec} | ${round(b.cdrPerSec / a.cdrPerSec, 2)} | ${b.cpuSecondsPer1k} | ${latency.p50} / ${latency.p99} | ${b.peakRssMb} | ${machine.cores}× ${machine.cpu}, load ${machine.loadavg1m} |\n`
      );
      writeFileSync(doc, readFileSync(doc, 'utf8').replace(marker, row + marker));
      print(`appended a row to ${doc}`);
    }
    return result;
  } finally {
    await broker?.stop();
  }
}
