/**
 * `cdr-pipeline bench --fraud`: the fraud detector's cost and memory at scale (issue #6 item 5: "with 1M
 * active subscribers the detector adds at most 20% to the end-to-end cost per CDR, within bounded memory").
 *
 * One process, no Kafka, no ClickHouse. Generated traffic of N home lines with every fraud scenario (default
 * 1M), in release order, spread over 6 CDR partitions by served MSISDN like the CDR topic:
 *
 *   warm-up   the longest window of the rule book (24 h of traffic: the LINE group keeps a day for the
 *             SIM-box, "A calls A" and cloning rules) so every active line's window is full before anything
 *             is timed; rated once, keyed and detected. State and heap (after a full GC) are sampled every
 *             hour of traffic time, and after every timed run: memory over time must stop growing once the
 *             windows are full.
 *   runs      the next --hours of traffic in --runs slices. Per batch of 5,000 CDRs, one after the other on
 *             the same records:
 *               (a) the pipeline's per-CDR work without the detector: Avro decode + validate (the runner's
 *                   decoder), rate + enrich (the rating stage), the ClickHouse row (JSONCompactEachRow text);
 *               (b) keyer + Detector.process + sweep (each fraud-events partition once per batch);
 *               (c) what the service adds around (b): Avro encode + decode of the fraud events (the
 *                   repartition topic) and FraudService's per-batch bookkeeping (stats() twice, lowWatermark()).
 *   baseline  the detector's state is dropped (that is when its heap is measured: heap used after a full GC
 *             with it, minus without it), then (a) alone on as many further slices: the pipeline's cost in the
 *             same process without the detector's heap, so what the detector adds is
 *             median(a + b) - median(a alone), GC pressure on the rest of the pipeline included.
 *
 * CPU is process CPU time (all threads, so V8's concurrent and parallel GC work is in it) around each phase;
 * GC pauses (V8 gc entries) are credited to the phase they began in. The end-to-end cost per CDR the budget
 * refers to is the newest `cdr-pipeline bench` result (Kafka + decode + rate + ClickHouse, CPU per CDR).
 * The detector processes events that went through the fraud-event Avro codec, as in production: decoded
 * objects are what its state holds. The command re-executes itself with --expose-gc and a large heap.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { cdrCodec, packageRoot, type Cdr, type FraudEvent, type SourceRecord, type SourcedCdr } from '../../schemas/index.js';
import { createTraffic, writeReference } from '../../simulators/traffic/index.js';
import { createRatingStage, type RatingBatchStage } from '../../enrich/rate/stage.js';
import { createDecoder } from '../../enrich/decode.js';
import { createFraudKeyer, Detector, loadRuleBook, type DetectorStats, type FraudKeyer } from '../../enrich/fraud/index.js';
import { cdrRowCompact } from '../../sinks/clickhouse/rows.js';
import { partitionOf, releaseOrder } from '../eval/fraud-offline.js';
import { decodeFraudEvent, encodeFraudEvent } from '../../pipeline/fraud.js';

export interface FraudBenchOptions {
  /** Home lines of the generated population (default 1,000,000). */
  subscribers: number;
  /** Hours of traffic timed after the warm-up (default 4); as many again for the baseline. */
  hours: number;
  /** Slices of the timed hours, each one run (default 4). */
  runs: number;
  /** Hours of traffic before timing; default the longest retention of the rule book (24 h). */
  warmupHours?: number;
  seed?: number;
  /** Partitions of the CDR topic and of the fraud-events topic (default 6, like kafka.partitions). */
  partitions?: number;
  /** CDRs per batch (default 5000). */
  batch?: number;
  /**
   * The detector in a worker thread, with its own V8 heap, fed the encoded fraud events (as a FraudService
   * in its own thread or process would be); default in the pipeline's thread, as `cdr-pipeline run` does.
   */
  detectorThread?: boolean;
  out?: string;
  doc: boolean;
}

const HOUR = 3_600_000;
/** Monday 5 October 2026, 10:00 BST: the timed hours after a day of warm-up are a weekday's busy hours. */
const START = Date.UTC(2026, 9, 5, 9);
const TOPIC = 'cdr.raw';

interface Acc {
  cpuUs: number;
  wallMs: number;
  gcMs: number;
  /** Of gcMs: full (mark-compact) collections' pauses. */
  majorMs: number;
}
const acc = (): Acc => ({ cpuUs: 0, wallMs: 0, gcMs: 0, majorMs: 0 });

interface PerCdr {
  /** µs per CDR: process CPU (all threads), wall time, GC pauses begun in the phase (and of them mark-compact). */
  cpuUs: number;
  wallUs: number;
  gcUs: number;
  majorGcUs: number;
}

export interface FraudRun {
  run: number;
  from: string;
  to: string;
  cdrs: number;
  events: number;
  a: PerCdr;
  b: PerCdr;
  /** Event codec and bookkeeping, CPU µs per CDR. */
  c: { codecUs: number; bookkeepingUs: number };
  /** b / a, CPU. */
  ratio: number;
  alertVersions: number;
}

export interface FraudSample {
  /** Hours of traffic since the start. */
  hour: number;
  trafficTime: string;
  cdrs: number;
  entities: number;
  lineEntities: number;
  events: number;
  episodes: number;
  /** Heap used after a full GC, minus the same before any traffic (MB). */
  heapMb: number;
  rssMb: number;
  /** Key + detect, µs of CPU per CDR since the previous sample (the cost as windows fill). */
  detectCpuUs: number;
}

export interface FraudBenchResult {
  when: string;
  machine: string;
  subscribers: number;
  warmupHours: number;
  hours: number;
  partitions: number;
  batch: number;
  /** Where the detector ran: the pipeline's thread (as `cdr-pipeline run`) or a worker thread of its own. */
  detector: 'in-process' | 'worker-thread';
  cdrs: { warmup: number; timed: number; baseline: number };
  events: { warmup: number; timed: number };
  seconds: { setup: number; warmup: number };
  runs: FraudRun[];
  baseline: { run: number; from: string; to: string; cdrs: number; a: PerCdr }[];
  median: {
    /** (a) with the detector's state in the heap, and without it (baseline). */
    aCpuUs: number;
    a0CpuUs: number;
    bCpuUs: number;
    codecUs: number;
    bookkeepingUs: number;
    /** median(a + b) - median(a0): what the detector adds to the process, GC effects included. */
    addedCpuUs: number;
    ratio: number;
    aGcUs: number;
    bGcUs: number;
    a0GcUs: number;
  };
  endToEnd: { source: string; cpuUsPerCdr: number; budgetUs: number; detectorShare: number; addedShare: number; withCodecShare: number } | null;
  memory: {
    detectorMb: number;
    bytesPerSubscriber: number;
    bytesPerLineEntity: number;
    bytesPerEvent: number;
    entities: number;
    lineEntities: number;
    events: number;
    episodes: number;
    /** Entities and stored events per entity group (CHAIN split into chain heads and `hop:` keys). */
    groups: ReturnType<Detector['statsByGroup']>;
    heapWithMb: number;
    heapWithoutMb: number;
    peakRssMb: number;
  };
  samples: FraudSample[];
  alertVersions: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const mb = (b: number) => Math.round(b / 2 ** 20);
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
const pct = (x: number) => `${Math.round(x * 100)}%`;

/**
 * The command's entry: runs the benchmark in a child process with --expose-gc and room for the state when
 * this one was not started with them. Returns the exit code.
 */
export async function fraudBenchCommand(o: FraudBenchOptions, print: (line: string) => void): Promise<number> {
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function' && process.env.CDR_BENCH_FRAUD_CHILD !== '1') {
    // Old space: ~12 GB per million subscribers (the state is ~4-5 GB of it), at most 60% of the machine.
    const heapMb = Math.min(Math.floor((totalmem() / 2 ** 20) * 0.6), Math.max(4096, Math.ceil(o.subscribers / 1_000_000) * 12_288));
    const args = ['--expose-gc', `--max-old-space-size=${heapMb}`, ...process.execArgv, ...process.argv.slice(1)];
    print(`re-running with node --expose-gc --max-old-space-size=${heapMb} (heap measurements need a full GC)`);
    const res = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, CDR_BENCH_FRAUD_CHILD: '1' } });
    return res.status ?? 1;
  }
  await runFraudBench(o, print);
  return 0;
}

export async function runFraudBench(o: FraudBenchOptions, print: (line: string) => void): Promise<FraudBenchResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') throw new Error('bench --fraud needs node --expose-gc');
  const tick = () => new Promise<void>((r) => setImmediate(r));
  /** A full GC once the current job is over (what a finished phase left is unreachable by then). */
  const fullGc = async () => {
    await tick();
    gc();
    gc();
  };
  const parts = o.partitions ?? 6;
  const batchSize = o.batch ?? 5000;
  const seed = o.seed ?? 7;
  const book = loadRuleBook('');
  // DEVICE (72 h: simbox.device, simbox.rotation) is left out of the warm-up on purpose: it holds only SIM
  // arrivals, ~0.7% of the stored events after a day at 30k subscribers (~2% once its 72 h are full), while
  // three days of warm-up would triple the benchmark's run time. The memory line prints it per group.
  const longest = Math.max(...(['LINE', 'RANGE', 'DEST', 'CHAIN', 'ACCOUNT'] as const).map((g) => book.retentionMs(g)));
  const warmupHours = o.warmupHours ?? longest / HOUR;
  const timedFrom = START + warmupHours * HOUR;
  const sliceMs = (o.hours * HOUR) / o.runs;
  const endMs = timedFrom + 2 * o.hours * HOUR;

  // --- Set-up (not timed): population, reference data, rating stage, keyer, detector. ---
  const t0 = performance.now();
  print(
    `fraud detector benchmark: ${o.subscribers} subscribers, ${warmupHours} h warm-up (the longest window), then ${o.hours} h timed in ${o.runs} runs and ${o.hours} h of baseline without the detector; from ${iso(START)} UTC, seed ${seed}, ${parts} partitions; the detector ${o.detectorThread ? 'in a worker thread (its own heap)' : "in the pipeline's thread"}`,
  );
  const traffic = createTraffic({ seed, subscribers: o.subscribers, startMs: START, endMs, scenarios: 'all' });
  const dir = mkdtempSync(join(tmpdir(), 'cdr-bench-fraud-'));
  let stage: RatingBatchStage;
  try {
    writeReference(dir, traffic.reference());
    stage = createRatingStage(dir, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const keyer: FraudKeyer = createFraudKeyer(stage.reference, stage.rating.normaliser);
  const codec = cdrCodec();
  const decode = createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => endMs });
  const setupSeconds = (performance.now() - t0) / 1000;
  await fullGc();
  const heapBase = process.memoryUsage().heapUsed;
  print(`  set-up ${setupSeconds.toFixed(1)} s (population, reference data, rating stage, keyer); heap ${mb(heapBase)} MB`);

  // --- GC accounting: V8's gc entries (main-thread pauses), credited to the phase running when they began. ---
  // Entries arrive asynchronously, so the spans of recent phases are kept until they are old.
  const spans: { from: number; to: number; acc: Acc }[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      for (let i = spans.length - 1; i >= 0; i--) {
        const x = spans[i]!;
        if (e.startTime >= x.from && e.startTime < x.to) {
          x.acc.gcMs += e.duration;
          if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) x.acc.majorMs += e.duration;
          break;
        }
        if (x.to < e.startTime) break;
      }
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  let peakRss = process.memoryUsage().rss;

  /** Runs fn as a phase: CPU (µs, all threads) and wall time (ms) added to `into`. */
  const timed = <T>(into: Acc, fn: () => T): T => {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const v = fn();
    const w1 = performance.now();
    const c = process.cpuUsage(c0);
    into.cpuUs += c.user + c.system;
    into.wallMs += w1 - w0;
    spans.push({ from: w0, to: w1, acc: into });
    return v;
  };
  /** Lets the gc observer deliver; forgets spans older than 30 s. */
  const settle = async () => {
    await tick();
    const old = performance.now() - 30_000;
    let n = 0;
    while (n < spans.length && spans[n]!.to < old) n++;
    if (n > 0) spans.splice(0, n);
  };

  let cdrOffset = 0;
  let alertVersions = 0;
  const host: DetectorHost = o.detectorThread ? await threadHost(parts) : localHost(book, parts);
  /**
   * (b) keyer + detector on rated CDRs; (c) the events' Avro codec and the service's bookkeeping. With the
   * detector in a worker thread, (b) is the keyer and the worker's whole batch (decode included: process
   * CPU while this thread waits), (c) the encoding.
   */
  const detect = async (scs: SourcedCdr[], b: Acc, ser: Acc, bookkeeping: Acc): Promise<number> => {
    const evs = timed(b, () => {
      const out: FraudEvent[] = [];
      for (const sc of scs) for (const e of keyer(sc)) out.push(e);
      return out;
    });
    alertVersions += await host.detect(evs, timed, b, ser, bookkeeping);
    return evs.length;
  };
  const sourced = (batch: Cdr[]): SourcedCdr[] => batch.map((cdr) => ({ cdr, topic: TOPIC, partition: partitionOf(cdr.servedMsisdn, parts), offset: String(cdrOffset++) }));
  /** (a): Avro values per CDR partition as Kafka delivers them (encoding not timed), decoded, rated, rows built. */
  const pipeline = (batch: Cdr[], a: Acc): SourcedCdr[] => {
    const byPart: SourceRecord[][] = Array.from({ length: parts }, () => []);
    for (const cdr of batch) byPart[partitionOf(cdr.servedMsisdn, parts)]!.push({ key: null, value: codec.encode(cdr), offset: String(cdrOffset++), timestamp: cdr.releaseTime });
    let bytes = 0;
    const scs = timed(a, () => {
      const all: SourcedCdr[] = [];
      for (let p = 0; p < parts; p++) {
        const res = decode({ topic: TOPIC, partition: p }, byPart[p]!);
        stage.rateBatch(res.cdrs);
        bytes += res.cdrs.map(cdrRowCompact).join('').length;
        for (const sc of res.cdrs) all.push(sc);
      }
      return all;
    });
    if (scs.length !== batch.length || bytes === 0) throw new Error(`decode lost records: ${scs.length} of ${batch.length}`);
    return scs;
  };

  const records = releaseOrder(traffic.records());
  let pending: Cdr | undefined;
  /** The next batch of CDRs released before `until` (at most batchSize). */
  const nextBatch = (until: number): Cdr[] => {
    const out: Cdr[] = [];
    for (;;) {
      if (pending === undefined) {
        const n = records.next();
        if (n.done) return out;
        pending = n.value;
      }
      if (pending.releaseTime >= until || out.length >= batchSize) return out;
      out.push(pending);
      pending = undefined;
    }
  };

  // --- Memory over time. ---
  const samples: FraudSample[] = [];
  let cdrsSoFar = 0;
  const sample = async (at: number, since: { cdrs: number; cpuUs: number }) => {
    const h = await host.state(fullGc);
    const mem = process.memoryUsage();
    peakRss = Math.max(peakRss, mem.rss);
    const s: FraudSample = {
      hour: r2((at - START) / HOUR),
      trafficTime: iso(at),
      cdrs: cdrsSoFar,
      entities: h.stats.entities,
      lineEntities: h.lineEntities,
      events: h.stats.events,
      episodes: h.stats.episodes,
      heapMb: mb(h.heapUsed - (o.detectorThread ? h.heapBase : heapBase)),
      rssMb: mb(mem.rss),
      detectCpuUs: since.cdrs ? r2(since.cpuUs / since.cdrs) : 0,
    };
    samples.push(s);
    print(`  ${String(s.hour).padStart(5)} h  ${s.trafficTime}  ${String(s.cdrs).padStart(10)} CDRs  entities ${String(s.entities).padStart(8)}  events ${String(s.events).padStart(9)}  heap +${String(s.heapMb).padStart(5)} MB  rss ${s.rssMb} MB  key+detect ${s.detectCpuUs} µs/CDR`);
  };

  // --- Warm-up: fill every window. ---
  print(`warm-up: ${warmupHours} h of traffic (rated once, keyed and detected; state and heap after a full GC every hour)`);
  const tw = performance.now();
  let warmEvents = 0;
  await sample(START, { cdrs: 0, cpuUs: 0 });
  for (let h = 1; h <= warmupHours; h++) {
    const until = START + h * HOUR;
    const hb = acc();
    let hourCdrs = 0;
    for (let batch = nextBatch(until); batch.length > 0; batch = nextBatch(until)) {
      const scs = sourced(batch);
      stage.rateBatch(scs);
      warmEvents += await detect(scs, hb, acc(), acc());
      hourCdrs += batch.length;
      await settle();
    }
    cdrsSoFar += hourCdrs;
    await sample(until, { cdrs: hourCdrs, cpuUs: hb.cpuUs });
  }
  const warmCdrs = cdrsSoFar;
  const warmupSeconds = (performance.now() - tw) / 1000;
  print(`  warm-up: ${warmCdrs} CDRs, ${warmEvents} fraud events in ${warmupSeconds.toFixed(0)} s`);

  const per = (x: Acc, n: number): PerCdr => ({ cpuUs: r2(x.cpuUs / n), wallUs: r2((x.wallMs * 1000) / n), gcUs: r2((x.gcMs * 1000) / n), majorGcUs: r2((x.majorMs * 1000) / n) });

  // --- Timed runs, with the detector. ---
  // CDR_BENCH_FRAUD_CPU_PROFILE=FILE: a V8 CPU profile of the timed runs (what dominates the cost).
  const profileFile = process.env.CDR_BENCH_FRAUD_CPU_PROFILE;
  const profiler = profileFile ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  print(`timed: ${o.runs} runs of ${r2(sliceMs / HOUR)} h; per batch (a) decode + rate + row, (b) keyer + detector, (c) event codec + service bookkeeping`);
  const runs: FraudRun[] = [];
  let timedCdrs = 0;
  let timedEvents = 0;
  for (let r = 0; r < o.runs; r++) {
    const from = timedFrom + r * sliceMs;
    const until = from + sliceMs;
    const [a, b, cCodec, cBook] = [acc(), acc(), acc(), acc()];
    let cdrs = 0;
    let events = 0;
    const alerts0 = alertVersions;
    for (let batch = nextBatch(until); batch.length > 0; batch = nextBatch(until)) {
      const scs = pipeline(batch, a);
      events += await detect(scs, b, cCodec, cBook);
      cdrs += batch.length;
      await settle();
    }
    await settle();
    timedCdrs += cdrs;
    timedEvents += events;
    cdrsSoFar += cdrs;
    const run: FraudRun = { run: r + 1, from: iso(from), to: iso(until), cdrs, events, a: per(a, cdrs), b: per(b, cdrs), c: { codecUs: r2(cCodec.cpuUs / cdrs), bookkeepingUs: r2(cBook.cpuUs / cdrs) }, ratio: r2(b.cpuUs / a.cpuUs), alertVersions: alertVersions - alerts0 };
    runs.push(run);
    print(
      `  run ${run.run}  ${run.from}-${run.to.slice(11)}  ${cdrs} CDRs, ${events} events:  (a) ${run.a.cpuUs}  (b) ${run.b.cpuUs}  (b)/(a) ${run.ratio}  (c) codec ${run.c.codecUs} + bookkeeping ${run.c.bookkeepingUs} µs CPU/CDR  [wall a ${run.a.wallUs} b ${run.b.wallUs}; GC pauses a ${run.a.gcUs} (mark-compact ${run.a.majorGcUs}) b ${run.b.gcUs} (${run.b.majorGcUs})]`,
    );
    await sample(until, { cdrs, cpuUs: b.cpuUs });
  }

  if (profiler && profileFile) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(profileFile, JSON.stringify(profile));
    profiler.disconnect();
    print(`CPU profile of the timed runs: ${profileFile}`);
  }

  // --- Memory: the heap with the detector's state, and without it. ---
  const final = await host.state(fullGc);
  const st = final.stats;
  const lineEntities = final.lineEntities;
  const withoutHeap = await host.drop(fullGc, print);
  const detectorBytes = final.heapUsed - withoutHeap;
  // Printed now: the baseline below takes a while, and what the state holds is the main result.
  print(`memory: detector state ${mb(detectorBytes)} MB = ${Math.round(detectorBytes / o.subscribers)} B per subscriber, ${Math.round(detectorBytes / Math.max(1, st.events))} B per stored event (${st.events} events); by group: ${Object.entries(final.groups).map(([g, x]) => `${g} ${x!.entities} entities / ${x!.events} events`).join(', ')}`);
  const withMem = { heapUsed: final.heapUsed };
  const withoutMem = { heapUsed: withoutHeap };

  // --- Baseline: (a) alone, the detector's state gone. ---
  print(`baseline: ${o.runs} runs of ${r2(sliceMs / HOUR)} h, (a) without the detector`);
  const baseline: FraudBenchResult['baseline'] = [];
  let baselineCdrs = 0;
  for (let r = 0; r < o.runs; r++) {
    const from = timedFrom + o.hours * HOUR + r * sliceMs;
    // (not beyond endMs: the calls still up at the end of the generated traffic are released after it, later
    // than the decoder's clock allows)
    const until = from + sliceMs;
    const a = acc();
    let cdrs = 0;
    for (let batch = nextBatch(until); batch.length > 0; batch = nextBatch(until)) {
      pipeline(batch, a);
      cdrs += batch.length;
      await settle();
    }
    await settle();
    baselineCdrs += cdrs;
    const x = { run: r + 1, from: iso(from), to: iso(Math.min(until, endMs)), cdrs, a: per(a, cdrs) };
    baseline.push(x);
    print(`  run ${x.run}  ${x.from}-${x.to.slice(11)}  ${cdrs} CDRs:  (a) ${x.a.cpuUs} µs CPU/CDR  [wall ${x.a.wallUs}; GC pauses ${x.a.gcUs} (mark-compact ${x.a.majorGcUs})]`);
  }
  obs.disconnect();
  peakRss = Math.max(peakRss, process.memoryUsage().rss);

  const a = median(runs.map((x) => x.a.cpuUs));
  const a0 = median(baseline.map((x) => x.a.cpuUs));
  const b = median(runs.map((x) => x.b.cpuUs));
  const codecUs = median(runs.map((x) => x.c.codecUs));
  const added = median(runs.map((x) => x.a.cpuUs + x.b.cpuUs)) - a0;
  const m: FraudBenchResult['median'] = {
    aCpuUs: r2(a),
    a0CpuUs: r2(a0),
    bCpuUs: r2(b),
    codecUs: r2(codecUs),
    bookkeepingUs: r2(median(runs.map((x) => x.c.bookkeepingUs))),
    addedCpuUs: r2(added),
    ratio: r2(median(runs.map((x) => x.ratio))),
    aGcUs: r2(median(runs.map((x) => x.a.gcUs))),
    bGcUs: r2(median(runs.map((x) => x.b.gcUs))),
    a0GcUs: r2(median(baseline.map((x) => x.a.gcUs))),
  };
  const e2e = newestEndToEnd();
  const result: FraudBenchResult = {
    when: new Date().toISOString(),
    machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()[0]?.toFixed(2)}`,
    subscribers: o.subscribers,
    warmupHours,
    hours: o.hours,
    partitions: parts,
    batch: batchSize,
    detector: o.detectorThread ? 'worker-thread' : 'in-process',
    cdrs: { warmup: warmCdrs, timed: timedCdrs, baseline: baselineCdrs },
    events: { warmup: warmEvents, timed: timedEvents },
    seconds: { setup: r1(setupSeconds), warmup: r1(warmupSeconds) },
    runs,
    baseline,
    median: m,
    endToEnd: e2e ? { source: e2e.source, cpuUsPerCdr: e2e.cpuUs, budgetUs: r2(e2e.cpuUs * 0.2), detectorShare: r2(b / e2e.cpuUs), addedShare: r2(added / e2e.cpuUs), withCodecShare: r2((added + codecUs) / e2e.cpuUs) } : null,
    memory: {
      detectorMb: mb(detectorBytes),
      bytesPerSubscriber: Math.round(detectorBytes / o.subscribers),
      bytesPerLineEntity: Math.round(detectorBytes / Math.max(1, lineEntities)),
      bytesPerEvent: Math.round(detectorBytes / Math.max(1, st.events)),
      entities: st.entities,
      lineEntities,
      events: st.events,
      episodes: st.episodes,
      groups: final.groups,
      heapWithMb: mb(withMem.heapUsed),
      heapWithoutMb: mb(withoutMem.heapUsed),
      peakRssMb: mb(peakRss),
    },
    samples,
    alertVersions,
  };

  print('');
  print(`medians of ${o.runs} runs (${timedCdrs} CDRs, ${timedEvents} fraud events, ${r2(timedEvents / timedCdrs)} per CDR), µs of CPU per CDR:`);
  print(`  (a)  decode + validate + rate + row, detector state in the heap   ${m.aCpuUs}  (GC pauses ${m.aGcUs})`);
  print(`  (a0) the same without the detector (baseline runs)              ${m.a0CpuUs}  (GC pauses ${m.a0GcUs})`);
  print(`  (b)  keyer + detector (process + sweep)                         ${m.bCpuUs}  (GC pauses ${m.bGcUs})   (b)/(a) = ${m.ratio}`);
  print(`  added = (a + b) - (a0): what the detector costs the process      ${m.addedCpuUs}`);
  print(`  (c)  fraud-event Avro encode + decode ${m.codecUs}; service bookkeeping ${m.bookkeepingUs}`);
  if (result.endToEnd) {
    const e = result.endToEnd;
    print(`  end to end (${e.source}): ${e.cpuUsPerCdr} µs CPU per CDR; budget 20% = ${e.budgetUs} µs`);
    print(`    (b) ${pct(e.detectorShare)}, added ${pct(e.addedShare)}, added + event codec ${pct(e.withCodecShare)} -> ${m.addedCpuUs <= e.budgetUs ? 'within' : 'OVER'} budget`);
  }
  const mm = result.memory;
  print(`memory: detector state ${mm.detectorMb} MB = ${mm.bytesPerSubscriber} B per subscriber, ${mm.bytesPerLineEntity} B per active line (${mm.lineEntities} LINE entities of ${mm.entities}), ${mm.bytesPerEvent} B per stored event (${mm.events} events, ${mm.episodes} open episodes); peak RSS ${mm.peakRssMb} MB`);
  print(`alert versions published: ${alertVersions}`);

  const outFile = o.out ?? join(packageRoot, 'bench-results', `fraud-${result.when.replace(/[:.]/g, '-').slice(0, 19)}.json`);
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
  print(`result: ${outFile}`);
  if (o.doc) appendDoc(result, print);
  return result;
}

/** End-to-end CPU per CDR of the newest `cdr-pipeline bench` result with rating (bench-results/bench-*.json). */
function newestEndToEnd(): { source: string; cpuUs: number } | null {
  const dir = join(packageRoot, 'bench-results');
  if (!existsSync(dir)) return null;
  let best: { when: string; source: string; cpuUs: number } | null = null;
  for (const f of readdirSync(dir)) {
    if (!/^bench-.*\.json$/.test(f)) continue;
    try {
      const j = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { when: string; scenarios: { name?: string; cpuSecondsPer1k?: number; scenario?: string; usPerCdr?: number }[] };
      // The comparative bench (issue #15): the 'pipeline' scenario's median; older results: the (b) scenario.
      const cmp = j.scenarios.find((s) => s.scenario === 'pipeline' && typeof s.usPerCdr === 'number');
      const b = j.scenarios.find((s) => s.name?.startsWith('(b)') && s.name.includes('rate') && typeof s.cpuSecondsPer1k === 'number');
      const cpuUs = cmp ? r2(cmp.usPerCdr!) : b ? r2(b.cpuSecondsPer1k! * 1000) : undefined;
      if (cpuUs === undefined) continue;
      if (!best || j.when > best.when) best = { when: j.when, source: `cdr-pipeline bench ${j.when.slice(0, 16).replace('T', ' ')} UTC, ${f}`, cpuUs };
    } catch {
      // not a bench result
    }
  }
  return best && { source: best.source, cpuUs: best.cpuUs };
}

function appendDoc(r: FraudBenchResult, print: (line: string) => void): void {
  const doc = join(packageRoot, 'docs', 'BENCHMARKS.md');
  const marker = '<!-- bench:fraud runs (newest last) -->';
  if (!existsSync(doc) || !readFileSync(doc, 'utf8').includes(marker)) {
    print(`(${doc} has no "${marker}" line: no row added)`);
    return;
  }
  const m = r.median;
  const e = r.endToEnd;
  const mm = r.memory;
  const row =
    `| ${r.when.slice(0, 16).replace('T', ' ')} | ${r.subscribers} | ${r.warmupHours} h + ${r.runs.length} × ${r2(r.hours / r.runs.length)} h${r.detector === 'worker-thread' ? ', detector thread' : ''} | ${r.cdrs.timed} | ${m.aCpuUs} / ${m.a0CpuUs} | ${m.bCpuUs} | ${m.addedCpuUs} | ${m.codecUs} | ` +
    `${e ? `${e.cpuUsPerCdr} → ${pct(e.detectorShare)} / ${pct(e.addedShare)}` : '–'} | ${mm.detectorMb} | ${mm.bytesPerSubscriber} | ${mm.bytesPerEvent} | ${mm.events} | ${mm.peakRssMb} | ${r.machine} |\n`;
  writeFileSync(doc, readFileSync(doc, 'utf8').replace(marker, row + marker));
  print(`appended a row to ${doc}`);
}

const LATENESS_MS = 240 * 60_000;
const WORKER_ROLE = 'cdr-bench-fraud-detector';

type Timed = <T>(into: Acc, fn: () => T) => T;

interface HostState {
  stats: DetectorStats;
  lineEntities: number;
  /** Entities and stored events per entity group. */
  groups: ReturnType<Detector['statsByGroup']>;
  /** Heap used after a full GC by the isolate holding the detector, and before it had any state. */
  heapUsed: number;
  heapBase: number;
}

/** Where the detector runs: this thread, or a worker thread with its own heap. */
interface DetectorHost {
  /** The events of one batch of CDRs (keyed here): codec, detector, bookkeeping; returns alert versions. */
  detect(evs: FraudEvent[], timed: Timed, b: Acc, ser: Acc, bookkeeping: Acc): Promise<number>;
  state(fullGc: () => Promise<void>): Promise<HostState>;
  /** Drops the detector's state; returns the heap used without it. */
  drop(fullGc: () => Promise<void>, print: (line: string) => void): Promise<number>;
}

/** FraudService.onBatch per fraud-events batch: stats() before and after, lowWatermark() for the commit. */
function bookkeep(d: Detector, offsets: number[]): void {
  for (let p = 0; p < offsets.length; p++) {
    d.stats();
    d.stats();
    d.lowWatermark(p, offsets[p]!);
  }
}

function localHost(book: ReturnType<typeof loadRuleBook>, parts: number): DetectorHost {
  let det: Detector | null = new Detector(book, { sources: parts, maxLatenessMs: LATENESS_MS });
  const offsets = new Array<number>(parts).fill(0);
  return {
    async detect(evs, timed, b, ser, bookkeeping) {
      const d = det!;
      let alerts = 0;
      // The repartition topic: what the detector holds are decoded events, as in production.
      const decoded = timed(ser, () => evs.map((e) => decodeFraudEvent(encodeFraudEvent(e))));
      timed(b, () => {
        for (const e of decoded) {
          const p = partitionOf(`${e.group}:${e.key}`, parts);
          alerts += d.process(p, offsets[p]!++, e).length;
        }
        for (let p = 0; p < parts; p++) alerts += d.sweep(p).length;
      });
      timed(bookkeeping, () => bookkeep(d, offsets));
      return alerts;
    },
    async state(fullGc) {
      await fullGc();
      const d = det!;
      const groups = d.statsByGroup();
      return { stats: d.stats(), lineEntities: groups.LINE?.entities ?? 0, groups, heapUsed: process.memoryUsage().heapUsed, heapBase: 0 };
    },
    async drop(fullGc, print) {
      const ref = new WeakRef(det!);
      det = null;
      await fullGc();
      if (ref.deref() !== undefined) print('(warning: the detector was not collected; its heap figure is not meaningful)');
      return process.memoryUsage().heapUsed;
    },
  };
}

type ToWorker = { kind: 'batch'; buf: Uint8Array; lens: Uint32Array; partsOf: Uint8Array } | { kind: 'state' } | { kind: 'drop' };

async function threadHost(parts: number): Promise<DetectorHost> {
  const limitMb = Math.floor(getHeapStatistics().heap_size_limit / 2 ** 20);
  const w = new Worker(new URL(import.meta.url), { workerData: { role: WORKER_ROLE, parts }, resourceLimits: { maxOldGenerationSizeMb: limitMb } });
  const waiting: { res: (m: unknown) => void; rej: (e: Error) => void }[] = [];
  let failed: Error | undefined;
  w.on('message', (m) => waiting.shift()?.res(m));
  w.on('error', (err) => {
    failed = err;
    for (const x of waiting.splice(0)) x.rej(err);
  });
  const ask = <T>(msg: ToWorker): Promise<T> =>
    new Promise<T>((res, rej) => {
      if (failed) return rej(failed);
      waiting.push({ res: res as (m: unknown) => void, rej });
      w.postMessage(msg);
    });
  const base = await ask<HostState>({ kind: 'state' });
  return {
    async detect(evs, timed, b, ser) {
      // This thread's side of the topic: the partitioner and the encoding.
      const packed = timed(ser, () => {
        const bufs = evs.map((e) => encodeFraudEvent(e));
        const lens = new Uint32Array(bufs.length);
        const partsOf = new Uint8Array(bufs.length);
        for (let i = 0; i < bufs.length; i++) {
          lens[i] = bufs[i]!.length;
          partsOf[i] = partitionOf(`${evs[i]!.group}:${evs[i]!.key}`, parts);
        }
        return { buf: Buffer.concat(bufs), lens, partsOf };
      });
      // The worker decodes, detects and keeps its books while this thread waits: the process's CPU meanwhile
      // is the worker's (and V8's helper threads').
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      const r = await ask<{ alerts: number }>({ kind: 'batch', buf: packed.buf, lens: packed.lens, partsOf: packed.partsOf });
      const c = process.cpuUsage(c0);
      b.cpuUs += c.user + c.system;
      b.wallMs += performance.now() - w0;
      return r.alerts;
    },
    async state() {
      const s = await ask<HostState>({ kind: 'state' });
      return { ...s, heapBase: base.heapUsed };
    },
    async drop() {
      const s = await ask<{ heapUsed: number }>({ kind: 'drop' });
      await w.terminate();
      return s.heapUsed;
    },
  };
}

/** The worker thread's side of threadHost. */
function detectorWorker(init: { parts: number }): void {
  const port = parentPort!;
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const tick = () => new Promise<void>((r) => setImmediate(r));
  let det: Detector | null = new Detector(loadRuleBook(''), { sources: init.parts, maxLatenessMs: LATENESS_MS });
  const offsets = new Array<number>(init.parts).fill(0);
  port.on('message', (m: ToWorker) => {
    void (async () => {
      if (m.kind === 'batch') {
        const d = det!;
        const buf = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
        let alerts = 0;
        let off = 0;
        for (let i = 0; i < m.lens.length; i++) {
          const e = decodeFraudEvent(buf.subarray(off, off + m.lens[i]!));
          off += m.lens[i]!;
          const p = m.partsOf[i]!;
          alerts += d.process(p, offsets[p]!++, e).length;
        }
        for (let p = 0; p < init.parts; p++) alerts += d.sweep(p).length;
        bookkeep(d, offsets);
        port.postMessage({ alerts });
      } else if (m.kind === 'state') {
        await tick();
        gc();
        gc();
        const d = det!;
        const groups = d.statsByGroup();
        port.postMessage({ stats: d.stats(), lineEntities: groups.LINE?.entities ?? 0, groups, heapUsed: process.memoryUsage().heapUsed, heapBase: 0 } satisfies HostState);
      } else {
        det = null;
        await tick();
        gc();
        gc();
        port.postMessage({ heapUsed: process.memoryUsage().heapUsed });
      }
    })();
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === WORKER_ROLE) detectorWorker(workerData as { parts: number });
