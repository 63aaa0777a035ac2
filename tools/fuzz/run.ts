/**
 * The whole-`run` adversarial harness (issue #11, "Done when"): a topic of valid and mutated CDRs
 * (tools/fuzz/mutate.ts) on the real broker, the real pipeline (startPipeline, as `cdr-pipeline run`)
 * with embedded ClickHouse and fraud detection on, in a CHILD process so that a record that blocks the
 * event loop cannot hang the harness. A stall detector watches the committed offsets (a partition whose
 * committed offset does not move for stallMs while records wait fails the run), the detector's position on
 * the fraud-events topic, and the child's own heartbeat. Then it checks, from ClickHouse:
 *   - every produced offset is exactly once a CDR row or a dead letter (with a code and the original bytes);
 *   - every stored row equals its source record, decoded by a strict reference decoder, and lies in its
 *     domain (nothing wrapped, nothing from year 3000, durations consistent);
 *   - every valid CDR was stored.
 * On a stall it kills the child and replays the waiting records one by one through the stages it can run
 * alone (decode, rate, row, fraud keying and encoding) with a per-record time bound, to name the culprit
 * bytes. A developer tool (`cdr-pipeline fuzz`, test/run-fuzz.test.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cdrCodec, DeadLetterCode, type Cdr, type Log, type SourcedCdr } from '../../schemas/index.js';
import { ensureTopic, groupOffsets, topicEndOffsets } from '../../ingest/kafka.js';
import { KafkaSink } from '../../sinks/kafka.js';
import { openEmbedded, type ClickHouseConnection } from '../../sinks/clickhouse/connection.js';
import { cdrRowCompact } from '../../sinks/clickhouse/rows.js';
import { loadConfig, type Config } from '../../pipeline/config.js';
import { createLogger } from '../../pipeline/telemetry.js';
import { cdrFields, decodeStrict, domainViolations, fuzzMessages, type DomainOptions, type StrictRecord } from './mutate.js';

export interface FuzzRunOptions {
  brokers: string[];
  /** Messages produced in all (valid + mutated). */
  messages: number;
  /** Share of them that are mutated (> 0.5 for the issue's run). */
  mutatedShare: number;
  seed: number;
  partitions: number;
  /** chDB data and reference data go here (a fresh directory per run). */
  dataDir: string;
  fraud: boolean;
  /** A partition whose committed offset stays put this long while records wait is a stall. */
  stallMs: number;
  /** Bound on the whole pipeline phase (from start to everything committed). */
  timeoutMs: number;
  /** Per-record bound when replaying records one by one (triage, timing pass). */
  recordTimeoutMs?: number;
  /** After a clean run, also time every record through the stages alone (max per-record time). */
  timeRecords?: boolean;
  /** Log level of the pipeline child (its stderr is parsed: warnings are tallied in the report). */
  childLogLevel?: 'warn' | 'info' | 'error';
  sink?: Partial<Config['sink']>;
  log: Log;
  progress?: (line: string) => void;
}

export interface Culprit {
  index: number;
  partition: number;
  offset: number;
  kind: string;
  detail: string;
  outcome: string;
  ms: number;
  hex: string;
}

export interface FuzzRunReport {
  topic: string;
  produced: number;
  mutated: number;
  byKind: Record<string, number>;
  stored: number;
  deadLetters: number;
  deadLettersByCode: Record<string, number>;
  /** Per mutation kind: outcomes (`stored` or a dead-letter code). */
  outcomes: Record<string, Record<string, number>>;
  /** Everything that is wrong; empty on success. */
  failures: string[];
  /** At most a few examples per failure class, with the message bytes. */
  examples: Culprit[];
  stall?: string;
  culprits: Culprit[];
  warnings: Record<string, number>;
  fraud: { enabled: boolean; eventsEnd: string; positions: string; alerts: Record<string, number> };
  seconds: { produce: number; pipeline: number; verify: number };
  child: { cpuSeconds: number; maxRssMb: number; maxHeapMb: number; maxEventLoopBlockMs: number };
  timing?: { records: number; maxMs: number; p999Ms: number; slowest: Culprit[] };
}

const HOUR = 3_600_000;

/** Kafka's default partitioner (murmur2, as the Java client and kafkajs' DefaultPartitioner). */
export function kafkaPartition(key: string, partitions: number): number {
  const data = Buffer.from(key);
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ data.length;
  const n4 = data.length >> 2;
  for (let i = 0; i < n4; i++) {
    let k = data.readInt32LE(i * 4);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = data.length & ~3;
  const rest = data.length & 3;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return (h & 0x7fffffff) % partitions;
}

interface Corpus {
  keys: string[];
  values: Buffer[];
  kinds: string[];
  details: string[];
  partition: Int32Array;
  offset: Int32Array;
  /** [partition][offset] -> index */
  at: number[][];
  referenceDir: string;
}

async function corpus(o: FuzzRunOptions, startMs: number): Promise<Corpus> {
  const { createTraffic, writeReference } = await import('../../simulators/traffic/index.js');
  const mutated = Math.ceil(o.messages * o.mutatedShare);
  const valid = o.messages - mutated;
  const traffic = createTraffic({ seed: o.seed, subscribers: Math.max(500, Math.round(valid / 11)), startMs, endMs: startMs + 24 * HOUR, scenarios: 'all' });
  const referenceDir = join(o.dataDir, 'reference');
  mkdirSync(referenceDir, { recursive: true });
  writeReference(referenceDir, traffic.reference());
  const codec = cdrCodec();
  const c: Corpus = { keys: [], values: [], kinds: [], details: [], partition: new Int32Array(o.messages), offset: new Int32Array(o.messages), at: Array.from({ length: o.partitions }, () => []), referenceDir };
  let i = 0;
  for (const m of fuzzMessages(traffic.records(), valid, mutated, o.seed, (x: Cdr) => codec.encode(x))) {
    const p = kafkaPartition(m.key, o.partitions);
    c.keys.push(m.key);
    c.values.push(m.value);
    c.kinds.push(m.kind);
    c.details.push(m.detail);
    c.partition[i] = p;
    c.offset[i] = c.at[p]!.length;
    c.at[p]!.push(i);
    i++;
  }
  if (i < o.messages) throw new Error(`the traffic generator gave ${c.kinds.filter((k) => k === 'valid').length} CDRs, fewer than the ${valid} asked for`);
  return c;
}

const tally = (r: Record<string, number>, k: string, n = 1) => void (r[k] = (r[k] ?? 0) + n);

function culprit(c: Corpus, index: number, outcome: string, ms = 0): Culprit {
  const v = c.values[index]!;
  return { index, partition: c.partition[index]!, offset: c.offset[index]!, kind: c.kinds[index]!, detail: c.details[index]!, outcome, ms, hex: v.length > 2048 ? `${v.subarray(0, 2048).toString('hex')}… (${v.length} bytes)` : v.toString('hex') };
}

/** The path and node arguments to fork this module, from the TypeScript sources (tests) or dist/ (CLI). */
function childEntry(): { path: string; execArgv: string[] } {
  const path = fileURLToPath(import.meta.url);
  if (!path.endsWith('.ts')) return { path, execArgv: [] };
  return { path, execArgv: ['--import', fileURLToPath(new URL('../../test/tools/ts-loader.mjs', import.meta.url))] };
}

interface ChildStatus {
  type: 'status';
  runner: { consumed: number; stored: number; deadLetters: number; flushes: number; commits: number };
  fraud: { positions: Record<string, string>; events: number } | null;
  rss: number;
  heap: number;
  cpuUs: number;
  maxLoopMs: number;
}

export async function runFuzz(o: FuzzRunOptions): Promise<FuzzRunReport> {
  const say = o.progress ?? (() => undefined);
  const runId = `${o.seed}-${Date.now().toString(36)}`;
  const topic = `cdr.fuzz-${runId}`;
  const database = `fuzz_${runId.replace(/[^a-z0-9]/gi, '_')}`;
  const startMs = Date.UTC(2026, 9, 5, 23);
  const t0 = Date.now();
  const c = await corpus(o, startMs);
  const byKind: Record<string, number> = {};
  for (const k of c.kinds) tally(byKind, k);
  const mutated = o.messages - (byKind.valid ?? 0);
  say(`corpus: ${o.messages} messages, ${mutated} mutated (${Object.entries(byKind).map(([k, n]) => `${k} ${n}`).join(', ')})`);

  // Produce, in order, with the project's producer (idempotent, one request in flight: offsets follow send order).
  await ensureTopic(o.brokers, topic, o.partitions, o.log);
  const sink = new KafkaSink({ brokers: o.brokers, clientId: 'cdr-pipeline-fuzz', log: o.log });
  await sink.connect();
  try {
    for (let i = 0; i < o.messages; i += 1000) {
      const out = [];
      for (let j = i; j < Math.min(o.messages, i + 1000); j++) out.push({ key: c.keys[j]!, value: c.values[j]! });
      await sink.send(topic, out);
    }
  } finally {
    await sink.disconnect();
  }
  const end = await topicEndOffsets(o.brokers, topic, o.log);
  for (let p = 0; p < o.partitions; p++) {
    if (end.get(p) !== BigInt(c.at[p]!.length)) throw new Error(`partition ${p} holds ${end.get(p)} messages, ${c.at[p]!.length} were sent there: the offset map is wrong`);
  }
  const tProduced = Date.now();
  say(`produced to ${topic} in ${((tProduced - t0) / 1000).toFixed(1)} s: ${[...end].map(([p, n]) => `p${p}=${n}`).join(' ')}`);

  const base = loadConfig({ env: {} });
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers: o.brokers, topic, groupId: topic, partitions: o.partitions, deadLetterTopic: `${topic}.dlq`, fromBeginning: true },
    rating: { ...base.rating, referenceSource: 'files', referenceDir: c.referenceDir, tariffFile: '', reloadIntervalMs: 0 },
    fraud: { ...base.fraud, enabled: o.fraud, eventsTopic: `${topic}.fraud-events`, alertsTopic: '', groupId: '' },
    clickhouse: { ...base.clickhouse, mode: 'embedded', path: join(o.dataDir, 'clickhouse'), database },
    sink: { ...base.sink, ...o.sink },
    aggregates: { ...base.aggregates, refreshIntervalMs: 0 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: o.childLogLevel ?? 'warn' },
  };

  const report: FuzzRunReport = {
    topic,
    produced: o.messages,
    mutated,
    byKind,
    stored: 0,
    deadLetters: 0,
    deadLettersByCode: {},
    outcomes: {},
    failures: [],
    examples: [],
    culprits: [],
    warnings: {},
    fraud: { enabled: o.fraud, eventsEnd: '', positions: '', alerts: {} },
    seconds: { produce: (tProduced - t0) / 1000, pipeline: 0, verify: 0 },
    child: { cpuSeconds: 0, maxRssMb: 0, maxHeapMb: 0, maxEventLoopBlockMs: 0 },
  };

  // ---- the pipeline, in a child process ----
  const entry = childEntry();
  const child = fork(entry.path, ['--fuzz-child'], { execArgv: entry.execArgv, env: { ...process.env, FUZZ_CHILD_CONFIG: JSON.stringify(cfg) }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const stderrTail: string[] = [];
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    partial += d.toString('utf8');
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      stderrTail.push(line.slice(0, 600));
      if (stderrTail.length > 40) stderrTail.shift();
      try {
        const j = JSON.parse(line) as { level?: number; msg?: string; err?: string; component?: string };
        if ((j.level ?? 0) >= 40) tally(report.warnings, `${j.component ?? '-'}: ${j.msg ?? ''}${j.err ? ` (${String(j.err).slice(0, 120)})` : ''}`);
      } catch {
        tally(report.warnings, `stderr: ${line.slice(0, 160)}`);
      }
    }
  });
  let status: ChildStatus | undefined;
  let statusAt = Date.now();
  let exited: { code: number | null; signal: string | null } | undefined;
  let fatal: string | undefined;
  let stopped = false;
  child.on('message', (m: { type: string; err?: string } & Partial<ChildStatus>) => {
    if (m.type === 'status') {
      status = m as ChildStatus;
      statusAt = Date.now();
      report.child.maxRssMb = Math.max(report.child.maxRssMb, Math.round(status.rss / 1e6));
      report.child.maxHeapMb = Math.max(report.child.maxHeapMb, Math.round(status.heap / 1e6));
      report.child.cpuSeconds = status.cpuUs / 1e6;
      report.child.maxEventLoopBlockMs = Math.max(report.child.maxEventLoopBlockMs, status.maxLoopMs);
    } else if (m.type === 'fatal') fatal = m.err;
    else if (m.type === 'stopped') stopped = true;
  });
  child.on('exit', (code, signal) => (exited = { code, signal }));

  try {
    return await superviseAndVerify(o, cfg, c, report, child, end, startMs, say, () => ({ status, statusAt, exited, fatal, stopped, stderrTail }));
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

interface ChildView {
  status: ChildStatus | undefined;
  statusAt: number;
  exited: { code: number | null; signal: string | null } | undefined;
  fatal: string | undefined;
  stopped: boolean;
  stderrTail: string[];
}

async function superviseAndVerify(o: FuzzRunOptions, cfg: Config, c: Corpus, report: FuzzRunReport, child: ChildProcess, end: Map<number, bigint>, startMs: number, say: (l: string) => void, view: () => ChildView): Promise<FuzzRunReport> {
  const topic = report.topic;
  const database = cfg.clickhouse.database;
  let { status, statusAt, exited, fatal, stopped, stderrTail } = view();
  const refresh = () => ({ status, statusAt, exited, fatal, stopped, stderrTail } = view());
  const tStart = Date.now();
  const deadline = tStart + o.timeoutMs;
  const moved = new Map<string, { value: bigint; at: number }>();
  const eventsTopic = cfg.fraud.eventsTopic;
  let stall: string | undefined;
  let done = false;
  let stable = 0;
  let lastSay = 0;
  const watch = (key: string, value: bigint, waiting: boolean, now: number): string | undefined => {
    const m = moved.get(key);
    if (!m || m.value !== value || !waiting) {
      moved.set(key, { value, at: now });
      return undefined;
    }
    return now - m.at > o.stallMs ? `${key}: committed/position ${value} has not moved for ${((now - m.at) / 1000).toFixed(0)} s while records wait` : undefined;
  };
  let committed = new Map<number, bigint>();
  let eventsEnd = new Map<number, bigint>();
  while (!done && !stall) {
    await new Promise((r) => setTimeout(r, 1000));
    refresh();
    const now = Date.now();
    if (exited) {
      stall = `the pipeline process exited (code ${exited.code}, signal ${exited.signal})${fatal ? `: ${fatal.split('\n')[0]}` : ''}`;
      break;
    }
    if (now - statusAt > o.stallMs) {
      stall = `the pipeline process sent no status for ${((now - statusAt) / 1000).toFixed(0)} s: its event loop is blocked`;
      break;
    }
    try {
      committed = await groupOffsets(o.brokers, topic, topic, o.log);
      eventsEnd = o.fraud ? await topicEndOffsets(o.brokers, eventsTopic, o.log).catch(() => new Map<number, bigint>()) : new Map();
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'fuzz: reading offsets failed');
      continue;
    }
    let mainDone = true;
    for (const [p, hi] of end) {
      const cur = committed.get(p) ?? 0n;
      if (cur < hi) mainDone = false;
      stall ??= watch(`${topic}[${p}]`, cur, cur < hi, now);
    }
    let fraudDone = true;
    if (o.fraud && status) {
      if (!status.fraud) {
        stall = 'fraud detection is not running in the pipeline';
        break;
      }
      for (const [p, hi] of eventsEnd) {
        const cur = BigInt(status.fraud.positions[String(p)] ?? '0');
        if (cur < hi) fraudDone = false;
        stall ??= watch(`${eventsTopic}[${p}] (fraud detector position)`, cur, cur < hi, now);
      }
    }
    stable = mainDone && fraudDone ? stable + 1 : 0;
    done = stable >= 2;
    if (now - lastSay > 10_000) {
      lastSay = now;
      say(`  ${((now - tStart) / 1000).toFixed(0)} s: committed ${[...committed].map(([p, v]) => `p${p}=${v}/${end.get(p)}`).join(' ')}; stored ${status?.runner.stored ?? 0}, dead letters ${status?.runner.deadLetters ?? 0}; fraud ${o.fraud ? [...eventsEnd].map(([p, h]) => `${status?.fraud?.positions[String(p)] ?? 0}/${h}`).join(' ') : 'off'}; rss ${Math.round((status?.rss ?? 0) / 1e6)} MB`);
    }
    if (!done && !stall && now > deadline) stall = `not done after ${o.timeoutMs / 1000} s (no partition stalled for ${o.stallMs / 1000} s, but progress is too slow)`;
  }
  report.fraud.eventsEnd = [...eventsEnd].map(([p, h]) => `${p}:${h}`).join(' ');
  report.fraud.positions = status?.fraud ? Object.entries(status.fraud.positions).map(([p, v]) => `${p}:${v}`).join(' ') : '';
  report.seconds.pipeline = (Date.now() - tStart) / 1000;

  if (stall) {
    report.stall = stall;
    report.failures.push(`STALL: ${stall}`);
    child.kill('SIGKILL');
    await waitExit(child, 10_000);
    say(`stall: ${stall}; the last log lines:\n    ${stderrTail.slice(-8).join('\n    ')}`);
    // Name the culprits: the records waiting on each stalled partition, one by one through the stages.
    const waiting: number[] = [];
    for (const [p, hi] of end) {
      const from = Number(committed.get(p) ?? 0n);
      if (BigInt(from) < hi) waiting.push(...c.at[p]!.slice(from, from + 3000));
    }
    if (waiting.length > 0) {
      say(`triage: ${waiting.length} waiting records through decode, rate, row, fraud keying, one at a time...`);
      const res = await replayRecords(cfg, c, waiting, o.recordTimeoutMs ?? 5000, say);
      report.culprits = res.results.filter((r) => r.outcome === 'hang' || r.outcome.startsWith('throw')).slice(0, 50);
    }
  } else {
    child.send('stop');
    const t = Date.now();
    while (!exited && Date.now() - t < 60_000) {
      await new Promise((r) => setTimeout(r, 200));
      refresh();
    }
    if (!exited) {
      report.failures.push('the pipeline did not stop within 60 s of a graceful stop');
      child.kill('SIGKILL');
      await waitExit(child, 10_000);
    } else if (!stopped || exited.code !== 0) report.failures.push(`the pipeline stopped badly (code ${exited.code}, stopped message ${stopped})`);
  }

  // ---- verification, from ClickHouse (the child has closed chDB; this process opens it now) ----
  const tVerify = Date.now();
  const conn = await openEmbedded({ path: cfg.clickhouse.path, database });
  try {
    await verify(conn, o, cfg, c, report, startMs, tStart);
  } finally {
    await conn.close();
  }
  report.seconds.verify = (Date.now() - tVerify) / 1000;
  if (!stall && o.timeRecords) {
    say(`timing pass: every record through the stages alone...`);
    const all = Array.from({ length: o.messages }, (_, i) => i);
    const res = await replayRecords(cfg, c, all, o.recordTimeoutMs ?? 5000, say);
    const ms = res.results.map((r) => r.ms).sort((a, b) => a - b);
    report.timing = { records: ms.length, maxMs: ms[ms.length - 1] ?? 0, p999Ms: ms[Math.floor(ms.length * 0.999)] ?? 0, slowest: [...res.results].sort((a, b) => b.ms - a.ms).slice(0, 5) };
    const bad = res.results.filter((r) => r.outcome === 'hang' || r.outcome.startsWith('throw'));
    if (bad.length > 0) {
      report.failures.push(`${bad.length} records hang or throw in a stage run alone`);
      report.culprits.push(...bad.slice(0, 20));
    }
  }
  return report;
}

function waitExit(child: ChildProcess, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Verification.

const NUMERIC_COLUMN: Partial<Record<string, string>> = { seizureTime: 'toUnixTimestamp64Milli(seizure_time)', releaseTime: 'toUnixTimestamp64Milli(release_time)', answerTime: 'toUnixTimestamp64Milli(answer_time)', recordSequenceNumber: 'nullIf(record_sequence_number, 0)' }; // 0 stores "a complete record" (null)
const snake = (s: string) => s.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);

async function verify(conn: ClickHouseConnection, o: FuzzRunOptions, cfg: Config, c: Corpus, report: FuzzRunReport, _startMs: number, runStartedAt: number): Promise<void> {
  const fields = cdrFields();
  const topicLit = `'${report.topic.replace(/'/g, "\\'")}'`;
  const classes = new Map<string, number>();
  const fail = (cls: string, index: number, what: string) => {
    classes.set(cls, (classes.get(cls) ?? 0) + 1);
    if (report.examples.filter((e) => e.outcome.startsWith(cls)).length < 3) report.examples.push(culprit(c, index, `${cls}: ${what}`));
  };
  const seen = new Int8Array(o.messages); // 0 none, 1 cdr, 2 dead letter
  const outcome: string[] = new Array<string>(o.messages);
  const domain: DomainOptions = {
    minTimeMs: Date.UTC(2000, 0, 1),
    maxTimeMs: runStartedAt + cfg.decode.maxFutureSkewMs + 60_000,
    maxDurationMs: cfg.decode.maxDurationMs,
    durationToleranceMs: 1000,
  };
  const select = fields
    .map((f) => {
      const col = snake(f.name);
      const inner = f.type.kind === 'nullable' ? f.type.of : f.type;
      if (NUMERIC_COLUMN[f.name]) return `toString(${NUMERIC_COLUMN[f.name]}) AS ${f.name}`;
      if (inner.kind === 'int' || inner.kind === 'long' || inner.kind === 'enum') return `toString(${col}) AS ${f.name}`;
      return `${col} AS ${f.name}`;
    })
    .join(', ');
  let dupRows = 0;
  for (let p = 0; p < o.partitions; p++) {
    const rows = await conn.query<Record<string, unknown> & { _o: string; _n: string }>(`SELECT toString(_offset) AS _o, toString(count()) AS _n, ${fields.map((f) => `any(${f.name}) AS ${f.name}`).join(', ')} FROM (SELECT _offset, ${select} FROM cdrs WHERE _topic = ${topicLit} AND _partition = ${p}) GROUP BY _offset`);
    for (const r of rows) {
      const index = c.at[p]![Number(r._o)];
      if (index === undefined) {
        report.failures.push(`a CDR row at ${p}/${r._o}, an offset never produced`);
        continue;
      }
      if (Number(r._n) > 1) dupRows += Number(r._n) - 1;
      seen[index] = 1;
      outcome[index] = 'stored';
      report.stored++;
      const src = decodeStrict(c.values[index]!);
      if (!src.ok) {
        fail('stored-invalid-avro', index, src.reason);
        continue;
      }
      const dv = domainViolations(src.record, domain);
      if (dv.length > 0) fail('stored-out-of-domain', index, dv.join('; '));
      const diff = compareRow(src.record, r);
      if (diff) fail('stored-differs-from-source', index, diff);
    }
  }
  if (dupRows > 0) say(o, `note: ${dupRows} CDR rows stored twice for one offset (collapsed by FINAL / merges)`);
  const dls = await conn.query<{ p: number; o: string; code: string; v: string | null; n: string }>(`SELECT partition AS p, toString(offset) AS o, any(code) AS code, any(value_base64) AS v, toString(count()) AS n FROM dead_letters WHERE topic = ${topicLit} GROUP BY partition, offset`);
  const codes = new Set<string>(Object.values(DeadLetterCode));
  for (const d of dls) {
    const index = c.at[d.p]?.[Number(d.o)];
    if (index === undefined) {
      report.failures.push(`a dead letter at ${d.p}/${d.o}, an offset never produced`);
      continue;
    }
    report.deadLetters++;
    tally(report.deadLettersByCode, d.code);
    if (seen[index] === 1) fail('both-stored-and-dead-lettered', index, d.code);
    seen[index] = 2;
    outcome[index] = d.code;
    if (!d.code || !codes.has(d.code)) fail('dead-letter-without-known-code', index, JSON.stringify(d.code));
    const want = c.values[index]!.toString('base64');
    if ((d.v ?? '') !== want) fail('dead-letter-bytes-differ', index, `stored ${(d.v ?? 'null').slice(0, 40)}…`);
    if (c.kinds[index] === 'valid') fail('valid-cdr-dead-lettered', index, d.code);
  }
  for (let i = 0; i < o.messages; i++) {
    if (seen[i] === 0) {
      outcome[i] = 'missing';
      if (!report.stall) fail('neither-stored-nor-dead-lettered', i, 'missing');
    }
    const k = c.kinds[i]!;
    (report.outcomes[k] ??= {})[outcome[i]!] = ((report.outcomes[k] ?? {})[outcome[i]!] ?? 0) + 1;
  }
  if (report.stall) {
    const missing = seen.reduce((n, s) => n + (s === 0 ? 1 : 0), 0);
    say(o, `at the stall: ${report.stored} stored, ${report.deadLetters} dead letters, ${missing} not yet accounted for`);
  }
  for (const [cls, n] of classes) report.failures.push(`${cls}: ${n} messages`);
  if (o.fraud) {
    const alerts = await conn.query<{ rule: string; n: string }>('SELECT rule, toString(count()) AS n FROM fraud_alerts FINAL GROUP BY rule ORDER BY rule').catch(() => []);
    for (const a of alerts) report.fraud.alerts[a.rule] = Number(a.n);
  }
}

function say(o: FuzzRunOptions, line: string) {
  o.progress?.(line);
}

/** The first column where the stored row differs from the decoded source (exact, as strings). */
function compareRow(src: StrictRecord, row: Record<string, unknown>): string | undefined {
  for (const f of cdrFields()) {
    const want = src[f.name];
    const got = row[f.name];
    if (f.type.kind === 'map') {
      const w = JSON.stringify(Object.entries(want as Record<string, string>).sort());
      const g = JSON.stringify(Object.entries((got ?? {}) as Record<string, string>).sort());
      if (w !== g) return `${f.name}: stored ${g.slice(0, 80)}, source ${w.slice(0, 80)}`;
      continue;
    }
    const w = want === null ? null : String(want);
    const g = got === null || got === undefined ? null : String(got);
    if (w !== g) return `${f.name}: stored ${g?.slice(0, 80)}, source ${w?.slice(0, 80)}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Replay of single records through the stages, in a child with a per-record time bound.

async function replayRecords(cfg: Config, c: Corpus, indexes: number[], recordTimeoutMs: number, say: (l: string) => void): Promise<{ results: Culprit[] }> {
  const dir = join(cfg.clickhouse.path, '..', 'triage');
  mkdirSync(dir, { recursive: true });
  const results: Culprit[] = [];
  let from = 0;
  while (from < indexes.length) {
    const file = join(dir, `batch-${from}.json`);
    writeFileSync(file, JSON.stringify({ cfg, records: indexes.slice(from).map((i) => ({ i, p: c.partition[i], o: c.offset[i], k: c.keys[i], v: c.values[i]!.toString('base64') })) }));
    const entry = childEntry();
    const child = fork(entry.path, ['--fuzz-triage', file], { execArgv: entry.execArgv, stdio: ['ignore', 'pipe', 'ignore', 'ipc'] });
    let current: number | undefined;
    let last = Date.now();
    let buf = '';
    let started = false;
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        last = Date.now();
        const [t, idx, ms, ...rest] = line.split(' ');
        if (t === 'ready') started = true;
        if (t === 'b') current = Number(idx);
        if (t === 'e') {
          current = undefined;
          results.push(culprit(c, Number(idx), rest.join(' '), Number(ms)));
          from++;
        }
      }
    });
    let exited = false;
    child.on('exit', () => (exited = true));
    while (!exited) {
      await new Promise((r) => setTimeout(r, 100));
      const limit = started ? recordTimeoutMs : 60_000;
      if (Date.now() - last > limit) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
        if (current !== undefined) {
          results.push(culprit(c, current, 'hang', Date.now() - last));
          say(`  record ${current} (${c.kinds[current]} ${c.details[current]}) takes more than ${recordTimeoutMs} ms`);
          from++;
        } else throw new Error(started ? 'the triage process went silent between records' : 'the triage process did not start');
        break;
      }
    }
    if (exited && current !== undefined) {
      results.push(culprit(c, current, 'crash', 0));
      from++;
    }
  }
  return { results };
}

async function triageChild(file: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { buildDecoder } = await import('../../pipeline/app.js');
  const { watchRatingStage } = await import('../../enrich/rate/stage.js');
  const { createFraudKeyer } = await import('../../enrich/fraud/index.js');
  const { encodeFraudEvent } = await import('../../pipeline/fraud.js');
  const { cfg, records } = JSON.parse(readFileSync(file, 'utf8')) as { cfg: Config; records: { i: number; p: number; o: number; k: string; v: string }[] };
  const log = createLogger('silent');
  const decode = buildDecoder(cfg, log);
  const stage = watchRatingStage(cfg.rating.referenceDir, cfg.rating.tariffFile, 0).current();
  const keyer = createFraudKeyer(stage.reference, stage.rating.normaliser);
  const w = (s: string) => process.stdout.write(s + '\n');
  w('ready');
  for (const r of records) {
    w(`b ${r.i}`);
    const t = performance.now();
    let outcome = 'ok';
    let where = 'decode';
    try {
      const value = Buffer.from(r.v, 'base64');
      const out = decode({ topic: cfg.kafka.topic, partition: r.p }, [{ key: Buffer.from(r.k), value, offset: String(r.o), timestamp: Date.now() }]);
      if (out.deadLetters.length > 0) outcome = `dead:${out.deadLetters[0]!.code}`;
      else {
        const sc: SourcedCdr = out.cdrs[0]!;
        where = 'rate';
        stage.rateBatch([sc]);
        where = 'row';
        cdrRowCompact(sc);
        where = 'fraud-key';
        const events = keyer(sc);
        where = 'fraud-encode';
        for (const e of events) encodeFraudEvent(e);
        outcome = 'stored';
      }
    } catch (err) {
      outcome = `throw:${where}:${(err as Error).message.slice(0, 200).replace(/\n/g, ' ')}`;
    }
    w(`e ${r.i} ${(performance.now() - t).toFixed(3)} ${outcome}`);
  }
  process.exit(0);
}

async function pipelineChild(): Promise<void> {
  const cfg = JSON.parse(process.env.FUZZ_CHILD_CONFIG!) as Config;
  const log = createLogger(cfg.telemetry.logLevel);
  const { startPipeline } = await import('../../pipeline/app.js');
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  const p = await startPipeline(cfg, log);
  const send = (extra: object = {}) =>
    process.send?.({
      type: 'status',
      runner: p.runner.stats,
      fraud: p.fraud ? { positions: Object.fromEntries([...p.fraud.positions].map(([k, v]) => [String(k), String(v)])), events: p.fraud.stats.events } : null,
      rss: process.memoryUsage.rss(),
      heap: process.memoryUsage().heapUsed,
      cpuUs: (({ user, system }) => user + system)(process.cpuUsage()),
      maxLoopMs: loop.max / 1e6,
      ...extra,
    });
  const timer = setInterval(() => send(), 500);
  p.done.catch((err: Error) => {
    process.send?.({ type: 'fatal', err: err.stack ?? err.message }, () => process.exit(1));
  });
  process.on('message', (m) => {
    if (m !== 'stop') return;
    void p.stop().then(
      () => {
        clearInterval(timer);
        send();
        process.send?.({ type: 'stopped' }, () => process.exit(0));
      },
      (err: Error) => process.send?.({ type: 'fatal', err: err.stack ?? err.message }, () => process.exit(1)),
    );
  });
}

/** A readable summary of a report (stdout of `cdr-pipeline fuzz`, the test's log, docs/RELIABILITY.md). */
export function formatReport(r: FuzzRunReport): string {
  const lines = [
    `topic ${r.topic}: produced ${r.produced} (${r.mutated} mutated, ${((100 * r.mutated) / r.produced).toFixed(1)}%); stored ${r.stored} CDRs, ${r.deadLetters} dead letters; accounted ${r.stored + r.deadLetters}/${r.produced}`,
    `dead letters by code: ${Object.entries(r.deadLettersByCode).sort().map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `outcomes by kind:`,
    ...Object.entries(r.outcomes).sort().map(([k, v]) => `  ${k.padEnd(22)} ${Object.entries(v).sort().map(([o, n]) => `${o} ${n}`).join(', ')}`),
    `fraud: ${r.fraud.enabled ? `events end ${r.fraud.eventsEnd}; detector positions ${r.fraud.positions}; alerts ${JSON.stringify(r.fraud.alerts)}` : 'off'}`,
    `time: produce ${r.seconds.produce.toFixed(1)} s, pipeline ${r.seconds.pipeline.toFixed(1)} s, verify ${r.seconds.verify.toFixed(1)} s; pipeline process CPU ${r.child.cpuSeconds.toFixed(1)} s, max RSS ${r.child.maxRssMb} MB, max heap ${r.child.maxHeapMb} MB, longest event-loop block ${r.child.maxEventLoopBlockMs.toFixed(0)} ms`,
  ];
  if (r.timing) lines.push(`per record (stages alone): max ${r.timing.maxMs.toFixed(1)} ms, p99.9 ${r.timing.p999Ms.toFixed(2)} ms; slowest: ${r.timing.slowest.map((s) => `${s.kind} ${s.detail} ${s.ms.toFixed(1)} ms`).join('; ')}`);
  const warn = Object.entries(r.warnings).sort((a, b) => b[1] - a[1]).slice(0, 12);
  if (warn.length) lines.push('pipeline warnings:', ...warn.map(([m, n]) => `  ${String(n).padStart(6)} x ${m}`));
  if (r.failures.length === 0) lines.push('OK: every message accounted for exactly once, every stored row equals its source and lies in its domain, nothing stalled.');
  else lines.push('FAILURES:', ...r.failures.map((f) => `  ${f}`));
  for (const e of [...r.examples, ...r.culprits]) lines.push(`  - ${e.outcome} [${e.kind}: ${e.detail}] at ${e.partition}/${e.offset}${e.ms ? ` (${e.ms.toFixed(0)} ms)` : ''}\n      hex ${e.hex}`);
  return lines.join('\n');
}

if (process.argv[2] === '--fuzz-child') void pipelineChild().catch((err: Error) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
else if (process.argv[2] === '--fuzz') void fuzzMain(process.argv.slice(3));
else if (process.argv[2] === '--fuzz-triage' && process.argv[3] && existsSync(process.argv[3])) void triageChild(process.argv[3]);

/**
 * `node dist/tools/fuzz/run.js --fuzz [--messages N] [--seed S] [--mutated-share F] [--partitions P]
 * [--no-fraud] [--time-records] [--data-dir DIR]` (KAFKA_BROKERS required). From the sources:
 * `node --import ./test/tools/ts-loader.mjs tools/fuzz/run.ts --fuzz ...`. Exit 0 when nothing failed.
 */
async function fuzzMain(args: string[]): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { values } = parseArgs({ args, options: { messages: { type: 'string' }, seed: { type: 'string' }, 'mutated-share': { type: 'string' }, partitions: { type: 'string' }, 'no-fraud': { type: 'boolean' }, 'time-records': { type: 'boolean' }, 'data-dir': { type: 'string' }, 'stall-ms': { type: 'string' }, 'timeout-ms': { type: 'string' } } });
  const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) {
    process.stderr.write('KAFKA_BROKERS is required\n');
    process.exit(2);
  }
  const log = createLogger('error');
  const report = await runFuzz({
    brokers,
    messages: Number(values.messages ?? 200_000),
    mutatedShare: Number(values['mutated-share'] ?? 0.6),
    seed: Number(values.seed ?? 11),
    partitions: Number(values.partitions ?? 6),
    dataDir: values['data-dir'] ?? mkdtempSync(join(tmpdir(), 'cdr-fuzz-')),
    fraud: values['no-fraud'] !== true,
    stallMs: Number(values['stall-ms'] ?? 30_000),
    timeoutMs: Number(values['timeout-ms'] ?? 1_800_000),
    timeRecords: values['time-records'] === true,
    log,
    progress: (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(formatReport(report) + '\n');
  process.exit(report.failures.length === 0 ? 0 : 1);
}
