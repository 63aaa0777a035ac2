/**
 * The fraud detector as a streaming service (issue #6), wired from existing components:
 *
 *   runner (after ClickHouse acknowledged a batch, before committing its offsets)
 *     -> keyer: rated CDR -> fraud events keyed by entity -> fraud-events topic (repartition)
 *   KafkaSource(fraud-events, group <group>-fraud) -> Detector -> alert versions
 *     -> alerts topic (Avro, key alertId) and ClickHouse fraud_alerts (ReplacingMergeTree on version)
 *     -> commit the partition's LOW WATERMARK: the oldest event any live window still needs.
 *
 * State survives restarts and reassignment without a checkpoint: whoever owns a fraud-events partition
 * reads it from its committed low watermark, so the windows are rebuilt from Kafka; open alerts are
 * restored from ClickHouse so an episode continues under the same alertId and versions already stored
 * are not published again. Everything is deterministic per entity (windows use record times), so a replay
 * produces the same alert ids and versions.
 */
import avro from 'avsc';
import { readFileSync } from 'node:fs';
import type { FetchedBatch, FraudAlert, FraudEvent, Log, SourcedCdr } from '../schemas/index.js';
import { DeadLetterCode, RecordStageError, schemaPath, type DeadLetter } from '../schemas/index.js';
import { Detector, SourceMerge, loadRuleBook, type FraudKeyer } from '../enrich/fraud/index.js';
import { KafkaSource, ensureTopic, topicEndOffsets } from '../ingest/kafka.js';
import { KafkaSink, type OutRecord } from '../sinks/kafka.js';
import { ClickHouseError, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { deadLetterRowJson, epochMsToCh } from '../sinks/clickhouse/rows.js';
import type { Config } from './config.js';
import { kafkaConnection, kafkaSecurity } from './config.js';
import type { KafkaSecurity } from '../schemas/security.js';
import type { Metrics } from './telemetry.js';

let eventType: avro.Type | undefined;
let alertType: avro.Type | undefined;
const types = () => {
  eventType ??= avro.Type.forSchema(JSON.parse(readFileSync(schemaPath('avro', 'fraud-event.avsc'), 'utf8')) as avro.Schema);
  alertType ??= avro.Type.forSchema(JSON.parse(readFileSync(schemaPath('avro', 'fraud-alert.avsc'), 'utf8')) as avro.Schema);
  return { eventType, alertType };
};

export function encodeFraudEvent(e: FraudEvent): Buffer {
  return types().eventType.toBuffer(e);
}
export function decodeFraudEvent(b: Buffer): FraudEvent {
  return types().eventType.fromBuffer(b) as FraudEvent;
}
export function encodeFraudAlert(a: FraudAlert): Buffer {
  return types().alertType.toBuffer(a);
}
export function decodeFraudAlert(b: Buffer): FraudAlert {
  return types().alertType.fromBuffer(b) as FraudAlert;
}

/** The fraud_alerts row of an alert version. */
export function alertRow(a: FraudAlert): Record<string, unknown> {
  return {
    alert_id: a.alertId,
    version: a.version,
    rule: a.rule,
    fraud_type: a.fraudType,
    entity_kind: a.entityKind,
    entity: a.entity,
    severity: a.severity,
    score: a.score,
    status: a.status,
    first_seen: epochMsToCh(a.firstSeen),
    last_seen: epochMsToCh(a.lastSeen),
    detected_at: epochMsToCh(a.detectedAt),
    window_start: epochMsToCh(a.windowStart),
    window_end: epochMsToCh(a.windowEnd),
    exposure: a.exposure,
    currency: a.currency,
    record_ids: a.evidence.recordIds,
    counts: a.evidence.counts,
    facts: a.evidence.facts,
    events_partition: a.eventsPartition,
    events_offset: a.eventsOffset,
  };
}

/** What DateTime64(3, 'UTC') can hold: 1900-01-01 00:00:00.000 to 2299-12-31 23:59:59.999 (ClickHouse docs, DateTime64). */
export const STORABLE_MIN_MS = Date.UTC(1900, 0, 1);
export const STORABLE_MAX_MS = Date.UTC(2300, 0, 1) - 1;
const storable = (t: number) => Number.isSafeInteger(t) && t >= STORABLE_MIN_MS && t <= STORABLE_MAX_MS;

/** Why a fraud event cannot feed the detector (its times could never be stored in an alert), or null. */
export function outOfRange(e: FraudEvent): string | null {
  if (!storable(e.start)) return `start ${e.start} outside DateTime64(3)`;
  if (!storable(e.end)) return `end ${e.end} outside DateTime64(3)`;
  return null;
}

/** Why an alert version cannot be encoded or stored, or null. Names fields only, never their values' owners. */
export function alertProblem(a: FraudAlert): string | null {
  for (const k of ['firstSeen', 'lastSeen', 'detectedAt', 'windowStart', 'windowEnd'] as const) if (!storable(a[k])) return `${k} ${a[k]} outside DateTime64(3)`;
  if (!/^-?\d{1,12}\.\d{6}$/.test(a.exposure)) return 'exposure outside Decimal(18, 6)';
  if (!Number.isInteger(a.version) || a.version < 1 || a.version > 0xffffffff) return `version ${a.version} outside UInt32`;
  if (!Number.isFinite(a.score)) return 'score not finite';
  const paths: string[] = [];
  if (!types().alertType.isValid(a, { errorHook: (path) => paths.push(path.join('.')) })) return `does not fit the alert schema: ${paths.slice(0, 3).join(', ')}`;
  return null;
}

const ms = (s: string) => Date.parse(s.includes('T') ? `${s}Z` : `${s.replace(' ', 'T')}Z`);

/** Alerts as stored (latest version of each). */
export async function readAlerts(conn: ClickHouseConnection, where = '1'): Promise<FraudAlert[]> {
  const rows = await conn.query<Record<string, unknown>>(
    `SELECT alert_id, version, rule, fraud_type, entity_kind, entity, severity, score, status, toString(first_seen) AS first_seen, toString(last_seen) AS last_seen, toString(detected_at) AS detected_at, toString(window_start) AS window_start, toString(window_end) AS window_end, toString(exposure) AS exposure, currency, record_ids, counts, facts, events_partition, toString(events_offset) AS events_offset FROM fraud_alerts FINAL WHERE ${where} ORDER BY detected_at, alert_id`,
  );
  return rows.map((r) => ({
    alertId: String(r.alert_id),
    version: Number(r.version),
    rule: String(r.rule),
    fraudType: r.fraud_type as FraudAlert['fraudType'],
    entityKind: r.entity_kind as FraudAlert['entityKind'],
    entity: String(r.entity),
    severity: r.severity as FraudAlert['severity'],
    score: Number(r.score),
    status: r.status as FraudAlert['status'],
    firstSeen: ms(String(r.first_seen)),
    lastSeen: ms(String(r.last_seen)),
    detectedAt: ms(String(r.detected_at)),
    windowStart: ms(String(r.window_start)),
    windowEnd: ms(String(r.window_end)),
    exposure: String(r.exposure),
    currency: String(r.currency),
    evidence: { recordIds: r.record_ids as string[], counts: Object.fromEntries(Object.entries(r.counts as Record<string, unknown>).map(([k, v]) => [k, Number(v)])), facts: r.facts as Record<string, string> },
    eventsPartition: Number(r.events_partition),
    eventsOffset: Number(r.events_offset),
  }));
}

/**
 * The fraud events of one prepare() call, encoded into one buffer: event j's Kafka key (`GROUP:key`, UTF-8)
 * is bytes [at[2j], at[2j+1]) and its Avro value [at[2j+1], at[2j+2]); its group is groups[group[j]]. One
 * allocation per batch instead of a Buffer, a key string and an object per event: prepared events wait in
 * the runner's buffers until the flush, and a buffer is one object the garbage collector never scans.
 */
export interface PreparedEventBlock {
  bytes: Buffer;
  at: Uint32Array;
  group: Uint8Array;
  groups: string[];
}

/**
 * The encoded fraud events of one CDR (events [first, first + count) of its block), with the CDR's partition
 * (its source) and release time: after the events of a stored batch, each source's progress goes to every
 * fraud-events partition (see SourceMerge).
 */
export interface PreparedFraudEvents {
  source: number;
  end: number;
  block: PreparedEventBlock;
  first: number;
  count: number;
}

/** Scratch space prepare() encodes into (grown as needed, reused): only the used bytes are copied out. */
let scratch = Buffer.allocUnsafe(1 << 20);

/**
 * Key of a progress marker on the fraud-events topic (event keys are `GROUP:key`, never starting with '#').
 * Its value is JSON `{"source":n,"end":ms}`: source n has delivered every event released up to `end`.
 */
export const PROGRESS_KEY = '#progress';

export function encodeProgress(source: number, end: number): Buffer {
  return Buffer.from(JSON.stringify({ source, end }));
}

/** A progress marker's value, or null when it is not one. */
export function decodeProgress(b: Buffer): { source: number; end: number } | null {
  try {
    const v = JSON.parse(b.toString('utf8')) as { source?: unknown; end?: unknown };
    return Number.isSafeInteger(v.source) && (v.source as number) >= 0 && (v.source as number) < MAX_SOURCES && Number.isSafeInteger(v.end) ? { source: v.source as number, end: v.end as number } : null;
  } catch {
    return null;
  }
}

/**
 * Key of a block of fraud events on the fraud-events topic (`fraud.eventBlocks`; event keys are `GROUP:key`,
 * never starting with '#'). The value, little-endian:
 *
 *   u8 version (1) | u32 source | f64 end | u32 count | count x (f64 at | u32 length | Avro fraud event)
 *
 * `source` is the CDR partition every event of the block came from; `at` each event's CDR release time (the
 * SourceMerge's order); `end`, when not NaN, is the source's progress (a progress marker: every event of the
 * source released up to `end` has been delivered to this partition), carried by the last block of a stored
 * batch for each partition. Offsets of a block's events are the block's offset: the low watermark and a
 * replay go by blocks (a restart may re-read the events of a block before the one it needs, as it re-reads
 * other entities' events after it).
 */
export const BLOCK_KEY = '#events';
const BLOCK_VERSION = 1;
const BLOCK_HEADER_BYTES = 1 + 4 + 8 + 4;
const ENTRY_HEADER_BYTES = 8 + 4;
/** A block's bytes at most (more events: more blocks): well below the broker's message.max.bytes (1 MiB default). */
export const BLOCK_MAX_BYTES = 256 * 1024;
/**
 * Sources (CDR partitions) a record may name: a marker or block naming source 4,000,000,000 would make the
 * merge walk that many sources on every release.
 */
export const MAX_SOURCES = 1 << 16;

/** A block's header once its whole framing has been checked, or why it cannot be read. */
export function readBlockHeader(v: Buffer): { source: number; end: number; count: number } | string {
  if (v.length < BLOCK_HEADER_BYTES) return `event block of ${v.length} bytes, shorter than its header`;
  if (v.readUInt8(0) !== BLOCK_VERSION) return `event block version ${v.readUInt8(0)} unknown`;
  const source = v.readUInt32LE(1);
  if (source >= MAX_SOURCES) return `event block source ${source} beyond ${MAX_SOURCES}`;
  const end = v.readDoubleLE(5);
  if (!Number.isNaN(end) && !Number.isSafeInteger(end)) return 'event block end not a whole millisecond';
  const count = v.readUInt32LE(13);
  // The publisher sends a block without events only to carry a progress marker: one carrying neither is not its.
  if (count === 0 && Number.isNaN(end)) return 'event block without events and without progress';
  let pos = BLOCK_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (pos + ENTRY_HEADER_BYTES > v.length) return `event block truncated at event ${i} of ${count}`;
    if (!Number.isSafeInteger(v.readDoubleLE(pos))) return `event block: event ${i} without a release time`;
    pos += ENTRY_HEADER_BYTES + v.readUInt32LE(pos + 8);
    if (pos > v.length) return `event block truncated at event ${i} of ${count}`;
  }
  if (pos !== v.length) return `event block: ${v.length - pos} bytes after its ${count} events`;
  return { source, end, count };
}

/** Why a fraud-events record is refused: its dead-letter code and reason. */
export interface Refusal {
  code: DeadLetterCode;
  message: string;
}

/**
 * What a CDR the decoder accepted can carry (decode.minTimestampMs, decode.maxFutureSkewMs, decode.maxDurationMs),
 * applied again to the times on the fraud-events topic: the SourceMerge and the detector take a partition's
 * clock from them, so one release time years ahead (the DateTime64 range alone lets 2299 through) would stop
 * the merge holding any source back and make every later event late, and the event itself would be held for
 * ever, its offset pinning the partition's commit. `sources`: the CDR topic's partitions (a block naming
 * another source would hold the release back like a silent partition).
 */
export interface EventLimits {
  sources: number;
  minMs: number;
  maxMs: number;
}

/** Hosts' clocks differ: a time up to this far past the limits of the consuming host is still taken. */
export const CLOCK_SLACK_MS = 3_600_000;

/** The limits of a config at this moment (the upper one moves with the wall clock, as the decoder's does). */
export function eventLimits(cfg: Pick<Config, 'decode'>, sources: number, now = Date.now()): EventLimits {
  const d = cfg.decode;
  return { sources, minMs: Math.max(STORABLE_MIN_MS, d.minTimestampMs), maxMs: Math.min(STORABLE_MAX_MS, now + d.maxFutureSkewMs + d.maxDurationMs + CLOCK_SLACK_MS) };
}

/** Why an event (with its CDR's release time `at`) cannot feed the detector under `lim`, or null. */
export function implausible(e: FraudEvent, at: number, lim: EventLimits): string | null {
  const bad = outOfRange(e) ?? badSource(e);
  if (bad) return bad;
  if ((e.source ?? 0) >= lim.sources) return `source ${e.source ?? 0} is not a partition of the CDR topic (${lim.sources})`;
  // Written out (no array per event: this runs for every event the detector takes).
  const { minMs, maxMs } = lim;
  if (!(e.start >= minMs && e.start <= maxMs)) return `start ${e.start} outside ${minMs}..${maxMs} (decode limits)`;
  if (!(e.end >= minMs && e.end <= maxMs)) return `end ${e.end} outside ${minMs}..${maxMs} (decode limits)`;
  if (!(at >= minMs && at <= maxMs)) return `release time ${at} outside ${minMs}..${maxMs} (decode limits)`;
  return null;
}

/** A block read: its header, the events that can feed the detector, and those refused (by index). */
export interface ReadBlock {
  source: number;
  end: number;
  count: number;
  events: { at: number; event: FraudEvent }[];
  refused: ({ index: number } & Refusal)[];
}

/**
 * Reads a block (BLOCK_KEY) under `lim`. A block whose framing is broken, whose source is not a CDR partition or
 * whose progress is outside the limits is refused whole (nothing of it is used); otherwise each event that
 * cannot be read, is not of the block's source, or has a time outside the limits is refused alone. Never
 * throws; the work is linear in the block's bytes (every entry takes at least ENTRY_HEADER_BYTES). With
 * `take`, the events are handed to it in order instead of collected (no object per event on the hot path).
 */
export function readBlock(v: Buffer, lim: EventLimits, take?: (at: number, event: FraudEvent) => void): ReadBlock | Refusal {
  const head = readBlockHeader(v);
  if (typeof head === 'string') return { code: DeadLetterCode.FRAUD_EVENT_UNREADABLE, message: head };
  if (head.source >= lim.sources) return { code: DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE, message: `event block source ${head.source} is not a partition of the CDR topic (${lim.sources})` };
  if (!Number.isNaN(head.end) && !(head.end >= lim.minMs && head.end <= lim.maxMs)) return { code: DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE, message: `event block progress ${head.end} outside ${lim.minMs}..${lim.maxMs} (decode limits)` };
  const type = types().eventType;
  const out: ReadBlock = { ...head, events: [], refused: [] };
  let pos = BLOCK_HEADER_BYTES;
  for (let i = 0; i < head.count; i++) {
    const at = v.readDoubleLE(pos);
    const from = pos + ENTRY_HEADER_BYTES;
    const to = from + v.readUInt32LE(pos + 8);
    pos = to;
    let ev: FraudEvent | undefined;
    let problem: Refusal | undefined;
    try {
      // An entry shorter than its event reads on into the next entry's bytes (avsc stops at the buffer's end):
      // it then ends elsewhere than `to` and is refused.
      const d = type.decode(v, from);
      if (d.offset === to) ev = d.value as FraudEvent;
      else problem = { code: DeadLetterCode.FRAUD_EVENT_UNREADABLE, message: `event ${i} of the block: not a fraud event of ${to - from} bytes` };
    } catch (err) {
      problem = { code: DeadLetterCode.FRAUD_EVENT_UNREADABLE, message: `event ${i} of the block: not a fraud event: ${(err as Error).message.slice(0, 80)}` };
    }
    if (ev) {
      const bad = (ev.source ?? 0) !== head.source ? `source ${ev.source ?? 0}, in a block of source ${head.source}` : implausible(ev, at, lim);
      if (bad) problem = { code: DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE, message: `event ${i} of the block: ${bad}` };
    }
    if (problem || !ev) out.refused.push({ index: i, ...(problem ?? { code: DeadLetterCode.FRAUD_EVENT_UNREADABLE, message: `event ${i} of the block unreadable` }) });
    else if (take) take(at, ev);
    else out.events.push({ at, event: ev });
  }
  return out;
}

/** Kafka's default partitioner hash (murmur2 as the Java client and kafkajs's DefaultPartitioner compute it) of bytes [from, to). */
export function murmur2(b: Buffer, from = 0, to = b.length): number {
  const len = to - from;
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ len;
  const n4 = from + (len & ~3);
  for (let i = from; i < n4; i += 4) {
    let k = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last 1-3 bytes (Java's switch falling through cases 3, 2, 1).
  const rest = len & 3;
  if (rest > 0) {
    if (rest === 3) h ^= b[n4 + 2]! << 16;
    if (rest >= 2) h ^= b[n4 + 1]! << 8;
    h ^= b[n4]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

function grow(min: number): void {
  let size = scratch.length;
  while (size < min) size *= 2;
  const next = Buffer.allocUnsafe(size);
  scratch.copy(next);
  scratch = next;
}

/** Publishes the fraud events of a stored batch (the runner calls it before committing the batch). */
export class FraudEventPublisher {
  private readonly producer: KafkaSink;
  /** Partitions of the fraud-events topic (progress markers go to each). */
  private partitions = 0;
  /** Bytes of a block at most: blockBytes, halved when the broker refuses a block as too large. */
  private blockLimit: number;
  constructor(
    private readonly topic: string,
    private readonly brokers: string[],
    clientId: string,
    private readonly keyer: () => FraudKeyer,
    private readonly metrics: Metrics,
    private readonly log: Log,
    private readonly security?: KafkaSecurity,
    /**
     * > 0: publish each partition's events of a stored batch as event blocks of at most this many bytes
     * (BLOCK_KEY; `fraud.eventBlocks` gives BLOCK_MAX_BYTES) instead of one Kafka record per event. 0 here
     * (the format every detector version reads); the pipeline turns blocks on from its config.
     */
    private readonly blockBytes = 0,
  ) {
    this.blockLimit = blockBytes;
    this.producer = new KafkaSink({ brokers, security, clientId: `${clientId}-fraud-events`, log: log.child({ component: 'fraud-events' }) });
  }
  async connect(): Promise<void> {
    await this.producer.connect();
    this.partitions = (await topicEndOffsets(this.security ? { brokers: this.brokers, security: this.security } : this.brokers, this.topic, this.log)).size;
  }
  /**
   * Keys and encodes the events of each CDR (no I/O): one list per CDR, in order. Throws a RecordStageError
   * (FRAUD_KEYING_FAILED, FRAUD_EVENT_INVALID) for a CDR that cannot be keyed or whose event does not fit the
   * event schema; the runner dead-letters that CDR.
   */
  prepare(cdrs: SourcedCdr[]): PreparedFraudEvents[] {
    const key = this.keyer();
    const type = types().eventType;
    const out: PreparedFraudEvents[] = new Array(cdrs.length);
    const at: number[] = [0];
    const groupIdx: number[] = [];
    const groups: string[] = [];
    const groupOf = new Map<string, number>();
    let pos = 0;
    let n = 0;
    const block: PreparedEventBlock = { bytes: scratch, at: new Uint32Array(0), group: new Uint8Array(0), groups };
    for (let i = 0; i < cdrs.length; i++) {
      let events: FraudEvent[];
      try {
        events = key(cdrs[i]!);
      } catch (err) {
        throw new RecordStageError(DeadLetterCode.FRAUD_KEYING_FAILED, `fraud keying: ${(err as Error).message}`);
      }
      const c = cdrs[i]!;
      out[i] = { source: c.partition, end: c.cdr.releaseTime, block, first: n, count: events.length };
      for (const e of events) {
        const k = `${e.group}:${e.key}`;
        // Key then value, growing the scratch buffer when either does not fit (avsc's encode() returns a
        // negative number, the bytes missing, and leaves the buffer unusable past pos).
        for (;;) {
          const kEnd = pos + scratch.write(k, pos, 'utf8');
          if (kEnd - pos !== Buffer.byteLength(k) || kEnd >= scratch.length) {
            grow(pos + Buffer.byteLength(k) + 1024);
            continue;
          }
          let vEnd: number;
          try {
            vEnd = type.encode(e, scratch, kEnd);
          } catch (err) {
            throw new RecordStageError(DeadLetterCode.FRAUD_EVENT_INVALID, `fraud event encoding: ${(err as Error).message}`);
          }
          if (vEnd < 0) {
            grow(scratch.length - vEnd + 1024);
            continue;
          }
          at.push(kEnd, vEnd);
          pos = vEnd;
          break;
        }
        let g = groupOf.get(e.group);
        if (g === undefined) {
          g = groups.length;
          groups.push(e.group);
          groupOf.set(e.group, g);
        }
        groupIdx.push(g);
        n++;
      }
    }
    block.bytes = Buffer.from(scratch.subarray(0, pos));
    block.at = Uint32Array.from(at);
    block.group = Uint8Array.from(groupIdx);
    return out;
  }
  /** Publishes prepared events (the runner retries transient errors), in one send per stored batch. */
  async send(prepared: PreparedFraudEvents[]): Promise<void> {
    if (this.blockBytes > 0) return this.sendBlocks(prepared);
    const out: OutRecord[] = [];
    const byGroup: Record<string, number> = {};
    const progress = new Map<number, number>();
    // Kafka record timestamps never later than now: a broker refuses a timestamp beyond its
    // log.message.timestamp.after.max.ms (1 h by default in Kafka 4) for the whole request, and a release
    // stamped hours ahead stopped the pipeline. The decoder refuses releases beyond decode.maxFutureSkewMs;
    // this holds whatever that is set to. The event itself keeps its true times.
    const now = Date.now();
    for (const msgs of prepared) {
      const { bytes, at, group, groups } = msgs.block;
      for (let j = msgs.first; j < msgs.first + msgs.count; j++) {
        // The record's timestamp is its CDR's release time: the detector's SourceMerge orders by it.
        out.push({ key: bytes.subarray(at[2 * j]!, at[2 * j + 1]!), value: bytes.subarray(at[2 * j + 1]!, at[2 * j + 2]!), timestamp: msgs.end < now ? msgs.end : now });
        const g = groups[group[j]!]!;
        byGroup[g] = (byGroup[g] ?? 0) + 1;
      }
      if (msgs.end > (progress.get(msgs.source) ?? -Infinity)) progress.set(msgs.source, msgs.end);
    }
    // After the events (same producer, in order): each source's progress to every partition, so the
    // detector's SourceMerge moves on for a source that had nothing for a partition in this batch.
    for (const [source, end] of progress) for (let p = 0; p < this.partitions; p++) out.push({ key: PROGRESS_KEY, value: encodeProgress(source, end), partition: p });
    // A stored batch of 50,000 CDRs yields megabytes of events: the sink sends them in requests below the
    // broker's message.max.bytes. An event the broker refuses for itself (too large, a timestamp out of the
    // topic's range, failed validation) is isolated, counted (cdr_fraud_refused_total{code=FRAUD_EVENT_INVALID})
    // and logged with its partition, never retried for ever: its CDR is stored, the detector does not see it.
    await this.producer.sendIsolating(this.topic, out, (r, err) => {
      this.metrics.fraudRefused.inc({ code: DeadLetterCode.FRAUD_EVENT_INVALID });
      this.log.error({ bytes: r.value.length, timestamp: r.timestamp, err: err.message }, 'the broker refused a fraud event; its CDR is stored but not seen by the detector');
    });
    for (const [g, n] of Object.entries(byGroup)) this.metrics.fraudEventsPublished.inc({ group: g }, n);
  }
  /**
   * Block mode: per source (CDR partition) and fraud-events partition, the stored batch's events in one record
   * (several when they exceed blockBytes), the last carrying the source's progress (the progress marker,
   * folded in; a partition without events gets a block of none). The partition of each event is the one the
   * per-event records have (Kafka's default partitioner on its key, murmur2), so an entity's events land where
   * they always did. Measured (issue #15, --cpu-prof of `bench`): per-event records cost ~7 µs of main-thread
   * CPU per CDR in kafkajs's producer (partitioner, record encoding, CRC, Long arithmetic) and ~1 µs more in
   * its fetch decoder, plus their garbage (the detector itself: 5-6 µs); a block is one record.
   */
  private async sendBlocks(prepared: PreparedFraudEvents[]): Promise<void> {
    const n = Math.max(1, this.partitions);
    const byGroup: Record<string, number> = {};
    const progress = new Map<number, number>();
    // Lanes per (source, partition): the prepared items and event indexes, in prepared (CDR) order.
    const lanes = new Map<number, { items: PreparedFraudEvents[]; js: number[] }>();
    for (const msgs of prepared) {
      const { bytes, at, group, groups } = msgs.block;
      for (let j = msgs.first; j < msgs.first + msgs.count; j++) {
        const p = (murmur2(bytes, at[2 * j]!, at[2 * j + 1]!) & 0x7fffffff) % n;
        const id = msgs.source * n + p;
        let lane = lanes.get(id);
        if (!lane) lanes.set(id, (lane = { items: [], js: [] }));
        lane.items.push(msgs);
        lane.js.push(j);
        const g = groups[group[j]!]!;
        byGroup[g] = (byGroup[g] ?? 0) + 1;
      }
      if (msgs.end > (progress.get(msgs.source) ?? -Infinity)) progress.set(msgs.source, msgs.end);
    }
    const now = Date.now();
    const out: OutRecord[] = [];
    const eventsIn = new Map<Buffer, number>();
    for (const [source, end] of [...progress].sort((a, b) => a[0] - b[0])) {
      for (let p = 0; p < n; p++) {
        const lane = lanes.get(source * n + p);
        const items = lane?.items ?? [];
        const js = lane?.js ?? [];
        let i = 0;
        do {
          // As many events as fit in blockBytes (at least one), sized exactly, then copied once.
          let size = BLOCK_HEADER_BYTES;
          let k = i;
          for (; k < items.length; k++) {
            const a = items[k]!.block.at;
            const j = js[k]!;
            const add = ENTRY_HEADER_BYTES + a[2 * j + 2]! - a[2 * j + 1]!;
            if (k > i && size + add > this.blockLimit) break;
            size += add;
          }
          const last = k === items.length;
          const v = Buffer.allocUnsafe(size);
          v.writeUInt8(BLOCK_VERSION, 0);
          v.writeUInt32LE(source, 1);
          v.writeDoubleLE(last ? end : NaN, 5);
          v.writeUInt32LE(k - i, 13);
          let pos = BLOCK_HEADER_BYTES;
          let maxAt = last ? end : -Infinity;
          for (let e = i; e < k; e++) {
            const it = items[e]!;
            const a = it.block.at;
            const j = js[e]!;
            const from = a[2 * j + 1]!;
            const to = a[2 * j + 2]!;
            // The CDR's true release time: the detector's SourceMerge orders by it (the record's timestamp,
            // which per-event records had to cap at now for the broker, is not used for a block's events).
            v.writeDoubleLE(it.end, pos);
            v.writeUInt32LE(to - from, pos + 8);
            it.block.bytes.copy(v, pos + ENTRY_HEADER_BYTES, from, to);
            pos += ENTRY_HEADER_BYTES + to - from;
            if (it.end > maxAt) maxAt = it.end;
          }
          eventsIn.set(v, k - i);
          // Never later than now: the broker refuses timestamps beyond log.message.timestamp.after.max.ms.
          out.push({ key: BLOCK_KEY, value: v, partition: p, timestamp: maxAt < now ? maxAt : now });
          i = k;
        } while (i < items.length);
      }
    }
    // A block the broker refuses as too large (a topic whose max.message.bytes is below blockBytes) is split in
    // halves and sent again, down to single events, and later batches use blocks of at most half its size:
    // its events are delayed, not lost. (Halves sent after the batch's other blocks: those of its lane may
    // then arrive behind the lane's progress, and the detector takes them as they come, counted in
    // cdr_fraud_events_out_of_order_total; once per shrink of the bound.) Anything else refused is counted
    // and logged, never retried: its CDRs are stored, the detector does not see its events.
    let next = out;
    while (next.length > 0) {
      const again: OutRecord[] = [];
      await this.producer.sendIsolating(this.topic, next, (r, err) => {
        const events = eventsIn.get(r.value) ?? 0;
        if (events > 1 && tooLarge(err)) {
          const limit = Math.max(4096, r.value.length >> 1);
          if (limit < this.blockLimit) {
            this.blockLimit = limit;
            this.log.warn({ bytes: r.value.length, events, partition: r.partition, blockBytes: limit }, 'the broker refused a block of fraud events as too large: split and sent again; blocks are smaller from now on');
          }
          for (const half of splitBlock(r.value)) {
            eventsIn.set(half.value, half.count);
            again.push({ ...r, value: half.value });
          }
          return;
        }
        this.metrics.fraudRefused.inc({ code: DeadLetterCode.FRAUD_EVENT_INVALID }, events);
        this.log.error({ bytes: r.value.length, events, partition: r.partition, timestamp: r.timestamp, err: err.message }, 'the broker refused a block of fraud events; their CDRs are stored but not seen by the detector');
        // Its progress still goes (alone), or the partition would wait for the source's next batch.
        if (events > 0 && !Number.isNaN(r.value.readDoubleLE(5))) {
          const marker = Buffer.from(r.value.subarray(0, BLOCK_HEADER_BYTES));
          marker.writeUInt32LE(0, 13);
          eventsIn.set(marker, 0);
          again.push({ ...r, value: marker });
        }
      });
      next = again;
    }
    for (const [g, c] of Object.entries(byGroup)) this.metrics.fraudEventsPublished.inc({ group: g }, c);
  }
  async publish(cdrs: SourcedCdr[]): Promise<void> {
    await this.send(this.prepare(cdrs));
  }
  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

/** True when the broker refused a record for its size (kafkajs error types, also when wrapped). */
function tooLarge(err: unknown): boolean {
  for (let e = err as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined, n = 0; e && typeof e === 'object' && n < 8; e = (e.cause ?? e.originalError) as typeof e, n++) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
  }
  return false;
}

/** A block the publisher made, as two: the first half of its events without progress, the rest with its progress. */
export function splitBlock(v: Buffer): { value: Buffer; count: number }[] {
  const count = v.readUInt32LE(13);
  const half = count >> 1;
  let mid = BLOCK_HEADER_BYTES;
  for (let i = 0; i < half; i++) mid += ENTRY_HEADER_BYTES + v.readUInt32LE(mid + 8);
  const a = Buffer.allocUnsafe(mid);
  v.copy(a, 0, 0, mid);
  a.writeDoubleLE(NaN, 5);
  a.writeUInt32LE(half, 13);
  const b = Buffer.allocUnsafe(BLOCK_HEADER_BYTES + v.length - mid);
  v.copy(b, 0, 0, BLOCK_HEADER_BYTES);
  v.copy(b, BLOCK_HEADER_BYTES, mid);
  b.writeUInt32LE(count - half, 13);
  return [
    { value: a, count: half },
    { value: b, count: count - half },
  ];
}

/** Why an event's source cannot be a CDR partition the merge tracks, or null. */
function badSource(e: FraudEvent): string | null {
  const s = e.source ?? 0;
  return Number.isInteger(s) && s >= 0 && s < MAX_SOURCES ? null : `source ${s} outside 0..${MAX_SOURCES - 1}`;
}

/** Events a partition's SourceMerge holds at most (about 1 KB each decoded): memory stays bounded whatever a source does. */
const MAX_HELD_EVENTS = 50_000;
/**
 * How far (traffic time) a CDR partition may lag behind the fastest and still hold the release back. A stored
 * batch read from a backlog spans hours to days of traffic (50,000 CDRs of one partition are ~12 h at 20,000
 * subscribers, two days at 5,000), and within the hold the order is the events' own; so it is long, and
 * memory is bounded by MAX_HELD_EVENTS instead. A partition silent for longer (a broken upstream) delays
 * alerts until the others are this far ahead or the held events reach the bound; its later records are then
 * taken as they come (counted in cdr_fraud_events_out_of_order_total).
 */
export const HOLD_MS = 7 * 86_400_000;

export interface FraudServiceOptions {
  cfg: Config;
  conn: ClickHouseConnection;
  metrics: Metrics;
  log: Log;
}

/** Consumes the fraud-events topic, detects, publishes and stores alerts, commits low watermarks. */
export class FraudService {
  private readonly source: KafkaSource;
  private readonly alerts: KafkaSink | undefined;
  private readonly detector: Detector;
  private readonly owned = new Set<number>();
  /** Highest version of each alert already stored: a replay does not publish it again. */
  private readonly published = new Map<string, number>();
  private restoring: Promise<void> | undefined;
  private readonly log: Log;
  readonly stats = { events: 0, alertVersions: 0, commits: 0, refused: 0 };
  /** Per fraud-events partition: its events put in release order (SourceMerge) before the detector. */
  private readonly merges = new Map<number, SourceMerge>();
  /** Partitions of the CDR topic: the sources every fraud-events partition waits for. */
  private sources = 1;
  /** Per fraud-events partition: the next offset after the last batch processed (how far detection got). */
  readonly positions = new Map<number, bigint>();
  private stopped = false;

  constructor(private readonly o: FraudServiceOptions) {
    const { cfg } = o;
    this.log = o.log.child({ component: 'fraud' });
    // `ordered`: the SourceMerge hands the detector each partition's events in release order.
    this.detector = new Detector(loadRuleBook(cfg.fraud.rulesFile), { maxLatenessMs: cfg.fraud.maxLatenessMinutes * 60_000, ordered: true });
    this.source = new KafkaSource({
      brokers: cfg.kafka.brokers,
      security: kafkaSecurity(cfg),
      clientId: `${cfg.kafka.clientId}-fraud`,
      groupId: cfg.fraud.groupId || `${cfg.kafka.groupId}-fraud`,
      topics: [cfg.fraud.eventsTopic],
      fromBeginning: true,
      sessionTimeoutMs: cfg.kafka.sessionTimeoutMs,
      heartbeatIntervalMs: cfg.kafka.heartbeatIntervalMs,
      maxBytesPerPartition: cfg.kafka.maxBytesPerPartition,
      maxWaitTimeMs: cfg.kafka.maxWaitTimeMs,
      minBytes: cfg.kafka.minBytes,
      log: this.log,
    });
    if (cfg.fraud.alertsTopic !== '') this.alerts = new KafkaSink({ brokers: cfg.kafka.brokers, security: kafkaSecurity(cfg), clientId: `${cfg.kafka.clientId}-fraud-alerts`, log: this.log });
  }

  async start(onFatal: (err: Error) => void): Promise<void> {
    const { cfg } = this.o;
    await ensureTopic(kafkaConnection(cfg), cfg.fraud.eventsTopic, cfg.kafka.partitions, this.log);
    // Every partition of the CDR topic feeds every fraud-events partition: the merge waits for all of them.
    this.sources = Math.max(1, (await topicEndOffsets(kafkaConnection(cfg), cfg.kafka.topic, this.log)).size);
    if (this.alerts) {
      await ensureTopic(kafkaConnection(cfg), cfg.fraud.alertsTopic, 1, this.log);
      await this.alerts.connect();
    }
    await this.source.start((b) => this.onBatch(b), {
      onRebalance: () => {
        // Windows are rebuilt by the partitions' next owners from the committed low watermarks.
        this.detector.dropPartitions(() => false);
        this.merges.clear();
        this.owned.clear();
      },
      onAssigned: (a) => {
        // After every join kafkajs resumes each assigned partition from its committed offset (our low
        // watermark), also for partitions this member kept: so all in-memory state goes, and the replay
        // rebuilds it. Keeping it would be wrong when another member owned a partition in between (its
        // episodes moved on without us) — kafkajs does not announce every rejoin with REBALANCING.
        this.detector.dropPartitions(() => false);
        this.merges.clear();
        this.owned.clear();
        for (const p of a[cfg.fraud.eventsTopic] ?? []) this.owned.add(p);
        this.restoring = this.restore();
        this.restoring.catch(() => undefined); // onBatch awaits it and fails the batch; never an unhandled rejection
      },
      onCrash: onFatal,
    });
  }

  /** Open alerts from ClickHouse: episodes continue under their ids; stored versions are not re-sent. */
  private async restore(): Promise<void> {
    // Alerts whose episodes may still matter: open ones, and closed ones recent enough that their events
    // could be in a replayed window (so they neither reopen nor get published again).
    // Qualified: readAlerts selects toString(last_seen) AS last_seen, and the alias would shadow the column here.
    const stored = await readAlerts(this.o.conn, `fraud_alerts.last_seen > (SELECT max(last_seen) FROM fraud_alerts) - INTERVAL 30 DAY`);
    for (const a of stored) if ((this.published.get(a.alertId) ?? 0) < a.version) this.published.set(a.alertId, a.version);
    this.detector.restore(stored);
    this.log.info({ storedAlerts: stored.length, open: stored.filter((a) => a.status !== 'CLOSED').length, partitions: [...this.owned] }, 'fraud detector assigned; alerts restored');
  }

  private mergeOf(partition: number): SourceMerge {
    let m = this.merges.get(partition);
    if (!m) this.merges.set(partition, (m = new SourceMerge({ sources: this.sources, holdMs: HOLD_MS, maxBuffered: MAX_HELD_EVENTS })));
    return m;
  }

  private async onBatch(b: FetchedBatch): Promise<void> {
    if (this.stopped) return;
    if (this.restoring) await this.restoring;
    const t0 = performance.now();
    const out = new Map<string, FraudAlert>();
    const before = this.detector.stats();
    const merge = this.mergeOf(b.partition);
    const disorder = merge.stats.behind + merge.stats.forced;
    const dead: DeadLetter[] = [];
    let processed = 0;
    const detect = (offset: number, ev: FraudEvent) => {
      processed++;
      for (const a of this.detector.process(b.partition, offset, ev)) out.set(`${a.alertId}/${a.version}`, a);
      // Swept as the events go (at most once per minute of traffic time): when episodes close and versions
      // are published depends on the events alone, not on where a fetch happened to end.
      for (const a of this.detector.sweep(b.partition)) out.set(`${a.alertId}/${a.version}`, a);
    };
    let events = 0;
    let lim = eventLimits(this.o.cfg, this.sources);
    let refreshed = false;
    for (const r of b.records) {
      if (!r.value) {
        // A tombstone: nothing the publisher writes; kept as a dead letter (its key) rather than skipped unseen.
        dead.push(this.refusedEvent(b, r, DeadLetterCode.FRAUD_EVENT_UNREADABLE, 'record without a value'));
        continue;
      }
      const key = r.key !== null && r.key.length > 0 && r.key[0] === 0x23 /* '#' */ ? r.key.toString('latin1') : '';
      if (key === BLOCK_KEY) {
        // A source beyond the CDR topic's partitions as known: the topic may have grown since (asked once per batch).
        if (r.value.length >= 5 && r.value.readUInt32LE(1) >= lim.sources && r.value.readUInt32LE(1) < MAX_SOURCES && !refreshed) {
          refreshed = true;
          lim = eventLimits(this.o.cfg, await this.refreshSources());
        }
        events += this.takeBlock(b, r, r.value, merge, detect, dead, lim);
        continue;
      }
      if (key === PROGRESS_KEY) {
        const pr = decodeProgress(r.value);
        if (pr && pr.source >= lim.sources && !refreshed) {
          refreshed = true;
          lim = eventLimits(this.o.cfg, await this.refreshSources());
        }
        if (!pr) dead.push(this.refusedEvent(b, r, DeadLetterCode.FRAUD_EVENT_UNREADABLE, 'progress marker without source and end'));
        else if (pr.source >= lim.sources || !(pr.end >= lim.minMs && pr.end <= lim.maxMs)) dead.push(this.refusedEvent(b, r, DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE, `progress marker of source ${pr.source} at ${pr.end}: outside the CDR topic's partitions (${lim.sources}) or ${lim.minMs}..${lim.maxMs} (decode limits)`));
        else merge.mark(pr.source, pr.end);
        continue;
      }
      events++;
      let ev: FraudEvent;
      try {
        ev = decodeFraudEvent(r.value);
      } catch (err) {
        // Our own topic: a record we cannot read is a bug or a foreign producer; dead-lettered, never retried.
        dead.push(this.refusedEvent(b, r, DeadLetterCode.FRAUD_EVENT_UNREADABLE, `not a fraud event: ${(err as Error).message.slice(0, 80)}`));
        continue;
      }
      if ((ev.source ?? 0) >= lim.sources && (ev.source ?? 0) < MAX_SOURCES && !refreshed) {
        refreshed = true;
        lim = eventLimits(this.o.cfg, await this.refreshSources());
      }
      // The record's timestamp is its CDR's release time (FraudEventPublisher.send); a broker that stamps
      // append time instead (message.timestamp.type=LogAppendTime) makes it arrival order.
      const at = Number.isFinite(r.timestamp) && r.timestamp > 0 ? r.timestamp : ev.end;
      // An event no alert could store, or with a time no decoded CDR can have (a year-2200 release the
      // DateTime64 range lets through), would move the partition's clock ahead and make every later event
      // late: refused here, with its bytes.
      const bad = implausible(ev, at, lim);
      if (bad) {
        dead.push(this.refusedEvent(b, r, DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE, bad));
        continue;
      }
      const now = merge.push(Number(r.offset), ev, at);
      if (now) detect(now.offset, now.event);
    }
    for (const m of merge.release()) detect(m.offset, m.event);
    if (dead.length > 0) await this.deadLetter(dead);
    const st = this.detector.stats();
    const m = this.o.metrics;
    const dup = st.duplicates - before.duplicates;
    const late = st.late - before.late;
    m.fraudEventsProcessed.inc({ outcome: 'duplicate' }, dup);
    m.fraudEventsProcessed.inc({ outcome: 'late' }, late);
    m.fraudEventsProcessed.inc({ outcome: 'ok' }, processed - dup - late);
    m.fraudEntities.set(st.entities);
    m.fraudStateEvents.set(st.events);
    let held = 0;
    for (const x of this.merges.values()) held += x.size;
    m.fraudHeldEvents.set(held);
    m.fraudOutOfOrder.inc(merge.stats.behind + merge.stats.forced - disorder);
    this.stats.events += events;
    if (out.size > 0) await this.publish([...out.values()]);
    m.fraudDetectDuration.observe((performance.now() - t0) / 1000);
    const next = BigInt(b.lastOffset) + 1n;
    if (next > (this.positions.get(b.partition) ?? 0n)) this.positions.set(b.partition, next);
    // The oldest offset still needed: by a live window, an unpublished episode, or an event still held.
    const low = Math.min(this.detector.lowWatermark(b.partition, Number(next)), merge.minOffset());
    await this.source.commit(b.topic, b.partition, String(low)).then(
      () => void this.stats.commits++,
      (err: Error) => this.log.warn({ partition: b.partition, err: err.message }, 'fraud-events commit failed; the next batch commits past it'),
    );
  }

  /**
   * The events of a block (BLOCK_KEY) into the partition's merge, then the source's progress it carries.
   * A block refused whole (readBlock) is dead-lettered and nothing of it is used; events of a readable block
   * that are refused are counted each and the others go on; the block's bytes are then dead-lettered once
   * (dead_letters is keyed by topic, partition and offset). Returns the events.
   */
  private takeBlock(b: FetchedBatch, r: FetchedBatch['records'][number], v: Buffer, merge: SourceMerge, detect: (offset: number, ev: FraudEvent) => void, dead: DeadLetter[], lim: EventLimits): number {
    const offset = Number(r.offset);
    const blk = readBlock(v, lim, (at, event) => {
      const now = merge.push(offset, event, at);
      if (now) detect(now.offset, now.event);
    });
    if ('code' in blk) {
      dead.push(this.refusedEvent(b, r, blk.code, blk.message));
      return 0;
    }
    if (!Number.isNaN(blk.end)) merge.mark(blk.source, blk.end);
    const first = blk.refused[0];
    if (first) {
      // Counted per event; one dead letter for the block's bytes.
      for (const x of blk.refused) this.o.metrics.fraudRefused.inc({ code: x.code });
      this.stats.refused += blk.refused.length;
      const message = `${blk.refused.length} of ${blk.count} events refused; first: ${first.message}`;
      this.log.error({ code: first.code, partition: b.partition, offset: r.offset, reason: message }, 'fraud events refused (the block is dead-lettered, its other events go on; never retried)');
      dead.push({ code: first.code, message, topic: b.topic, partition: b.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value });
    }
    return blk.count;
  }

  /**
   * The CDR topic's partitions, read again (a record named a source beyond those known: the topic may have
   * grown). When the broker cannot say, the count known stays (the record is refused rather than the
   * partition stalled).
   */
  private async refreshSources(): Promise<number> {
    try {
      const n = (await topicEndOffsets(kafkaConnection(this.o.cfg), this.o.cfg.kafka.topic, this.log)).size;
      if (n > this.sources) {
        this.log.info({ sources: n, was: this.sources }, 'the CDR topic has more partitions: sources added');
        this.sources = n;
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not read the CDR topic's partitions; the count known stays");
    }
    return this.sources;
  }

  /** A record of the fraud-events topic refused as poison: its bytes go to dead_letters; logged without them. */
  private refusedEvent(b: FetchedBatch, r: FetchedBatch['records'][number], code: DeadLetterCode, message: string): DeadLetter {
    this.o.metrics.fraudRefused.inc({ code });
    this.stats.refused++;
    this.log.error({ code, partition: b.partition, offset: r.offset, reason: message }, 'fraud event refused (dead-lettered, never retried)');
    return { code, message, topic: b.topic, partition: b.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value };
  }

  /** Stores refused events in dead_letters (ReplacingMergeTree on topic, partition, offset: a replay stores them once). */
  private async deadLetter(dead: DeadLetter[]): Promise<void> {
    await this.retrying('storing refused fraud events', () => this.o.conn.insert('dead_letters', dead.map(deadLetterRowJson).join('')));
  }

  /** Retries transient failures with backoff, for ever (they pass when the dependency is back); throws the rest. */
  private async retrying(what: string, f: () => Promise<void>): Promise<void> {
    const { cfg } = this.o;
    let delay = cfg.sink.retryInitialMs;
    for (;;) {
      try {
        await f();
        return;
      } catch (err) {
        if (this.stopped) throw err;
        if (err instanceof ClickHouseError && err.errorClass !== 'transient') throw err;
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, `${what} failed; retrying`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, cfg.sink.retryMaxMs);
      }
    }
  }

  /**
   * Topic first, then ClickHouse: a crash in between re-sends the same (alertId, version), never a new alert.
   * An alert version that cannot be encoded or stored is poison: refused with FRAUD_ALERT_UNSTORABLE, counted
   * and skipped (no clamping); only transient failures (broker, ClickHouse availability) are retried.
   */
  private async publish(all: FraudAlert[]): Promise<void> {
    const { cfg } = this.o;
    const fresh = all.filter((a) => a.version > (this.published.get(a.alertId) ?? 0));
    if (fresh.length === 0) return;
    let alerts: { a: FraudAlert; value: Buffer }[] = [];
    for (const a of fresh) {
      const problem = alertProblem(a);
      if (problem) this.refuseAlert(a, problem);
      else alerts.push({ a, value: encodeFraudAlert(a) });
    }
    if (alerts.length > 0) {
      let sent = false;
      await this.retrying('publishing fraud alerts', async () => {
        if (this.alerts && !sent) await this.alerts.send(cfg.fraud.alertsTopic, alerts.map(({ a, value }) => ({ key: a.alertId, value, headers: { version: String(a.version) } })));
        sent = true;
        const refused = await this.insertAlerts(alerts.map(({ a }) => a));
        if (refused.size > 0) alerts = alerts.filter(({ a }) => !refused.has(a));
      });
    }
    for (const { a } of alerts) this.published.set(a.alertId, a.version);
    this.stats.alertVersions += alerts.length;
    for (const { a } of alerts) this.o.metrics.fraudAlerts.inc({ rule: a.rule, severity: a.severity, status: a.status });
    const opened = alerts.filter(({ a }) => a.version === 1);
    // Alert ids, not entities: an entity is an MSISDN or an IMSI, and those never go to logs.
    if (opened.length) this.log.warn({ alerts: opened.map(({ a }) => ({ alertId: a.alertId, rule: a.rule, entityKind: a.entityKind, severity: a.severity, exposure: a.exposure })) }, 'fraud alerts raised');
  }

  /**
   * Inserts alert rows; rows ClickHouse refuses as data (a 'data' error: parse, type, range) are isolated by
   * halving (O(bad rows x log n) inserts), refused and returned. Transient errors are thrown (retried by the
   * caller, which then inserts the same rows again: fraud_alerts is a ReplacingMergeTree on the version).
   */
  private async insertAlerts(alerts: FraudAlert[]): Promise<Set<FraudAlert>> {
    const refused = new Set<FraudAlert>();
    const go = async (xs: FraudAlert[]): Promise<void> => {
      try {
        await this.o.conn.insert('fraud_alerts', xs.map((a) => JSON.stringify(alertRow(a))).join('\n'), { insert_deduplicate: 0 });
      } catch (err) {
        if (!(err instanceof ClickHouseError) || err.errorClass !== 'data') throw err;
        if (xs.length === 1) {
          this.refuseAlert(xs[0]!, `refused by fraud_alerts (ClickHouse code ${err.code ?? '?'})`);
          refused.add(xs[0]!);
          return;
        }
        const half = xs.length >> 1;
        await go(xs.slice(0, half));
        await go(xs.slice(half));
      }
    };
    await go(alerts);
    return refused;
  }

  private refuseAlert(a: FraudAlert, reason: string): void {
    const code = DeadLetterCode.FRAUD_ALERT_UNSTORABLE;
    this.o.metrics.fraudRefused.inc({ code });
    this.stats.refused++;
    // No entity (an MSISDN or IMSI) and no values: the alert id, rule and what is wrong.
    this.log.error({ code, alertId: a.alertId, version: a.version, rule: a.rule, reason }, 'fraud alert refused (not published, never retried)');
  }

  /** True once every fraud event published so far has been through the detector (for demos and evaluations). */
  async caughtUp(): Promise<boolean> {
    const end = await topicEndOffsets(kafkaConnection(this.o.cfg), this.o.cfg.fraud.eventsTopic, this.log);
    for (const [p, high] of end) if ((this.positions.get(p) ?? 0n) < high) return false;
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.source.stop();
    await this.alerts?.disconnect().catch(() => undefined);
  }
}
