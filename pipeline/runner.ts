/**
 * The runner wires source → stages → sink and carries acknowledgements back: Kafka offsets are committed
 * only after ClickHouse acknowledged every row up to them (STYLE.md §5). Components never see each other;
 * they meet here through the contract types in schemas/.
 *
 * Batching: each partition has a buffer that fills from fetched batches. A buffer that reaches maxBatchRows
 * or maxBatchBytes is flushed alone, at once; a fetched batch that would take it past either limit is split at
 * a record (the rest starts the next buffer), so no insert exceeds maxBatchRows. Otherwise a flush tick (every
 * quarter of flushIntervalMs, at most 50 ms apart) that finds a buffer flushIntervalMs old flushes EVERY
 * buffered partition with no flush in flight, coalesced: one insert per table for all of them (packed up to
 * maxBatchRows / maxBatchBytes per insert), then each partition's offsets are committed. So the number of
 * inserts per second is ~1 / flushIntervalMs whatever the partition count, and a shorter interval (for
 * latency) costs inserts, not inserts x partitions. A partition whose previous flush is still in flight keeps
 * buffering until it returns (a slow insert makes the next one larger instead of queueing more). Flushes that
 * share a partition run one after another, so its commits only move forward.
 * A fetched batch goes through decode, rate, serialise and fraud prepare in chunks of STAGE_CHUNK records, and
 * the buffer holds only the results: row text and encoded fraud events, not decoded objects (issue #15).
 *
 * Backpressure: every row consumed counts against a budget (maxBufferedRows, maxBufferedBytes of source
 * bytes) until its flush has finished, whatever triggered the flush (size or age). When a batch takes the
 * total over the budget, its partition is paused (kafkajs consumer.pause: no more fetches for it, the group
 * session and heartbeats go on, eachBatch returns at once) and every paused partition resumes once the total
 * is back under the budget. Batches kafkajs fetched before the pause are still delivered and buffered, so
 * memory stays under budget + one fetch per partition: maxBytesPerPartition, or the first record batch at the
 * fetch position when that is larger (Kafka returns one whole record batch whatever the limit; KIP-74). A
 * batch is counted whole, after its stage chunks, before the pause check. A source without pause/resume
 * (files) is held by its handler waiting instead.
 *
 * Poison: one rule in every stage. A record a stage cannot process (rating throws, fraud keying throws, its
 * fraud event cannot be encoded, ClickHouse refuses the row) leaves as a coded dead letter with its original
 * bytes, and the batch goes on. Stages run on the whole batch; only when one throws is the batch redone
 * record by record to find the culprits (the fast path pays nothing for the rule). Only transient failures
 * (network, broker, ClickHouse availability) are retried; anything else stops the process without
 * committing. Fraud events are published only for rows ClickHouse stored.
 */
import { DeadLetterCode, RecordStageError, type BatchContext, type DeadLetter, type FetchedBatch, type Log, type Source, type SourcedCdr } from '../schemas/index.js';
import type { Decoder } from '../enrich/decode.js';
import type { ClickHouseSink, EncodedCdr, SinkResult } from '../sinks/clickhouse/sink.js';
import type { Metrics } from './telemetry.js';

/** Fraud-event publishing, split so that poison (keying, encoding) is told apart from transport errors. */
export interface FraudEventsStage {
  /**
   * Keys and encodes the fraud events of `cdrs`: one opaque item per CDR, in order. No I/O. Throws when a CDR
   * cannot be keyed or encoded (a RecordStageError carries the dead-letter code).
   */
  prepare(cdrs: SourcedCdr[]): unknown[];
  /** Publishes prepared items (of stored CDRs only). Errors are classified like dead-letter publishing. */
  send(prepared: unknown[]): Promise<void>;
}

export interface RunnerOptions {
  /**
   * The rating and enrichment stage: sets `rated` on every CDR of the batch and returns counts per outcome
   * (`rated`, or `unrated:<REASON>`; bounded labels). A CDR it throws on is dead-lettered (RATING_FAILED).
   */
  rate?: (cdrs: SourcedCdr[]) => Record<string, number>;
  /**
   * Publishes a stored batch's dead letters to the dead-letter topic before the offsets are committed
   * (at-least-once: a crash in between publishes them again; consumers key them by source coordinates).
   */
  publishDeadLetters?: (deadLetters: DeadLetter[]) => Promise<void>;
  /**
   * Fraud events of a batch: prepared before the insert (a CDR whose events cannot be made is dead-lettered
   * instead of stored), published after it for the stored rows, before the offsets are committed. A crash in
   * between publishes them again: the detector recognises the duplicates by record id.
   */
  fraudEvents?: FraudEventsStage;
  /** Graceful stop: how long to wait for the sink before giving up on unacknowledged batches (default 30 s). */
  shutdownTimeoutMs?: number;
  /** Backoff for transient publish failures (retried until they pass, like the sink). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  maxBatchRows: number;
  maxBatchBytes: number;
  flushIntervalMs: number;
  heartbeatIntervalMs: number;
  /** Budget of rows consumed but not yet flushed and committed (buffered + in flight), all partitions. */
  maxBufferedRows?: number;
  /** The same budget in source (record value) bytes. */
  maxBufferedBytes?: number;
  /** A partition whose committed offset has not moved for this long while records wait makes the runner not ready (default 120 s). */
  commitStallMs?: number;
  /** Backpressured with no write acknowledged for this long makes the runner not ready (default max(5 s, 5 flush intervals)). */
  sinkStallMs?: number;
  /** How often the source's end offsets are read for lag while nothing is fetched (default 10 s; 0 = never). */
  endOffsetsIntervalMs?: number;
}

interface Buffer_ {
  topic: string;
  partition: number;
  generation: number;
  firstOffset: string;
  lastOffset: string;
  /**
   * The CDRs as insert rows (serialised right after rating: the buffer holds text, not decoded object graphs)
   * and, in the same order, their prepared fraud events (when fraud is on).
   */
  rows: EncodedCdr[];
  prepared: unknown[];
  deadLetters: DeadLetter[];
  /** Records consumed into this buffer (cdrs + dead letters + records dropped by nothing: the budget's unit). */
  records: number;
  bytes: number;
  createdAt: number;
  maxTimestamp: number;
}

/** Offsets of an owned partition, for lag against the committed offset and the stuck-commit check. */
interface PartitionState {
  topic: string;
  partition: number;
  /** Next offset to commit (the committed position; the first fetch position until the first commit). */
  committed: bigint | undefined;
  /** The end of the partition, from fetched batches and periodic end-offset reads. */
  highWatermark: bigint | undefined;
  /** When the committed offset last moved, or when records started waiting (epoch ms). */
  since: number;
}

export interface RunnerStats {
  consumed: number;
  stored: number;
  deadLetters: number;
  flushes: number;
  commits: number;
  /** Times a partition was paused because the budget was exceeded. */
  pauses: number;
}

export class Runner {
  private readonly buffers = new Map<string, Buffer_>();
  /** Per-partition chain of flushes, so a partition's inserts and commits happen in offset order. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Flushes in flight per partition (a tick leaves such a partition's buffer to grow until they return). */
  private readonly inFlight = new Map<string, number>();
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private fatal: ((err: Error) => void) | undefined;
  private joined = false;
  private stopping = false;
  /** Rows and source bytes consumed and not yet through their flush (buffered + in flight). */
  private pendingRows = 0;
  private pendingBytes = 0;
  private readonly pendingByPartition = new Map<string, number>();
  /** Partitions this runner paused for the budget. */
  private readonly paused = new Map<string, { topic: string; partition: number }>();
  /** Handlers of a source without pause() waiting for the budget. */
  private budgetWaiters: (() => void)[] = [];
  private waitingForBudget = 0;
  private readonly partitions = new Map<string, PartitionState>();
  private commitStalled = false;
  private lastEndOffsetsRead = 0;
  readonly stats: RunnerStats = { consumed: 0, stored: 0, deadLetters: 0, flushes: 0, commits: 0, pauses: 0 };
  private readonly maxBufferedRows: number;
  private readonly maxBufferedBytes: number;
  private readonly commitStallMs: number;
  private readonly sinkStallMs: number;
  /** When the sink last acknowledged a write (epoch ms). */
  private lastAckAt = Date.now();

  constructor(
    private readonly source: Source,
    private readonly decode: Decoder,
    private readonly sink: ClickHouseSink,
    private readonly metrics: Metrics,
    private readonly log: Log,
    private readonly opts: RunnerOptions,
  ) {
    this.maxBufferedRows = opts.maxBufferedRows ?? Math.max(2 * opts.maxBatchRows, 1);
    this.maxBufferedBytes = opts.maxBufferedBytes ?? Math.max(2 * opts.maxBatchBytes, 1);
    this.commitStallMs = opts.commitStallMs ?? 120_000;
    this.sinkStallMs = opts.sinkStallMs ?? Math.max(5000, 5 * opts.flushIntervalMs);
  }

  /**
   * Ready: in the group, not stopping, no partition's commits stuck, and not held back by a sink that stopped
   * acknowledging (paused with no write acknowledged for sinkStallMs). Backpressure while the sink keeps
   * acknowledging is catching up at the sink's pace, not a fault.
   */
  get ready(): boolean {
    return this.joined && !this.stopping && !this.commitStalled && !(this.backpressured && Date.now() - this.lastAckAt >= this.sinkStallMs);
  }

  /** True while consumption waits for the sink (partitions paused, or a handler held) because of the budget. */
  get backpressured(): boolean {
    return this.paused.size > 0 || this.waitingForBudget > 0;
  }

  /** Rows and bytes consumed but not yet flushed and committed. */
  get pending(): { rows: number; bytes: number } {
    return { rows: this.pendingRows, bytes: this.pendingBytes };
  }

  /** Runs until stop() or a fatal error; the promise rejects on a fatal error (nothing more is committed). */
  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.fatal = (err) => {
        if (this.stopping) return;
        this.stopping = true;
        this.abort.abort();
        clearInterval(this.timer);
        clearInterval(this.watchTimer);
        this.releaseBudgetWaiters();
        this.updateReady();
        reject(err);
      };
      // The tick's period adds to the latency (a buffer waits up to one period past flushIntervalMs): a quarter
      // of the interval, at most 50 ms (a tick with nothing due only compares a few timestamps), at least 10.
      this.timer = setInterval(() => this.flushAged(), Math.max(10, Math.min(50, Math.floor(this.opts.flushIntervalMs / 4))));
      this.watchTimer = setInterval(() => this.watch(), 1000);
      this.source
        .start((b, ctx) => this.onBatch(b, ctx), {
          onRebalance: () => this.onRebalance(),
          onAssigned: (a) => this.onAssigned(a),
          onCrash: (err) => this.fatal?.(err),
        })
        .then(() => {
          if (!this.stopping) this.log.info({}, 'consuming');
        }, (err: Error) => this.fatal?.(err));
      // Set now, not once the source started: a stop during the first group join (source.start still
      // pending) must settle run() too, or the process waits for ever.
      this.resolveRun = resolve;
    });
  }
  private resolveRun: (() => void) | undefined;

  private key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  private onAssigned(assignment: Record<string, number[]>): void {
    this.joined = true;
    // Partitions no longer ours stop exporting their offsets; ours start from their committed offset,
    // which the first fetched batch tells (kafkajs fetches from the committed offset after a join).
    const owned = new Set<string>();
    for (const [topic, parts] of Object.entries(assignment)) for (const p of parts) owned.add(this.key(topic, p));
    for (const [k, st] of this.partitions) {
      if (owned.has(k)) continue;
      this.partitions.delete(k);
      const labels = { topic: st.topic, partition: String(st.partition) };
      this.metrics.consumerLag.remove(labels);
      this.metrics.committedOffset.remove(labels);
      this.metrics.commitStalled.remove(labels);
    }
    for (const k of owned) {
      const [topic, p] = k.split('\u0000') as [string, string];
      this.partitions.set(k, { topic, partition: Number(p), committed: undefined, highWatermark: undefined, since: Date.now() });
    }
    this.updateReady();
    this.log.info({ assignment }, 'partitions assigned');
  }

  private async onBatch(b: FetchedBatch, ctx: BatchContext): Promise<void> {
    if (this.stopping) return;
    // Confluent framing: look up unseen writer schema ids first (waits, heartbeating, while the registry is
    // down). False: the source stopped meanwhile; the batch is left uncommitted and is read again.
    if (this.decode.prepare && !(await this.decode.prepare(b.records, ctx))) return;
    const n = b.records.length;
    let bytes = 0;
    for (const r of b.records) bytes += r.value?.length ?? 0;
    this.stats.consumed += n;
    this.metrics.sourceRecords.inc({ topic: b.topic }, n);
    this.metrics.sourceBytes.inc({ topic: b.topic }, bytes);
    const k = this.key(b.topic, b.partition);
    let st = this.partitions.get(k);
    if (!st) {
      st = { topic: b.topic, partition: b.partition, committed: undefined, highWatermark: undefined, since: Date.now() };
      this.partitions.set(k, st);
    }
    st.committed ??= BigInt(b.firstOffset);
    const hw = BigInt(b.highWatermark);
    if (st.highWatermark === undefined || hw > st.highWatermark) st.highWatermark = hw;
    this.exportLag(st);

    // Records arrive in offset order per partition; a buffer covers [firstOffset, lastOffset] contiguously.
    // A fetch holds up to maxBytesPerPartition (~20k CDRs at 4 MiB): the stages run on chunks of it, so the
    // decoded and rated objects of one chunk are all that is alive at a time. Whole fetches kept ~20 MB of
    // object graphs alive across the young generation's collections, which promoted them to the old
    // generation and made V8's concurrent marking the largest cost after ClickHouse (issue #15).
    // A chunk also ends where the buffer becomes full (maxBatchRows records, or maxBatchBytes of source bytes
    // with its last record): that buffer is flushed and the rest of the fetch starts the next one.
    const coords = b.writerSchema === undefined ? { topic: b.topic, partition: b.partition } : { topic: b.topic, partition: b.partition, writerSchema: b.writerSchema };
    const times = { decode: 0, rate: 0, serialise: 0, fraud: 0 };
    const outcomes: Record<string, number> = {};
    const recs = b.records;
    let from = 0;
    do {
      let buf = this.buffers.get(k);
      if (!buf) {
        buf = { topic: b.topic, partition: b.partition, generation: this.generation, firstOffset: from === 0 ? b.firstOffset : recs[from]!.offset, lastOffset: b.lastOffset, rows: [], prepared: [], deadLetters: [], records: 0, bytes: 0, createdAt: Date.now(), maxTimestamp: 0 };
        this.buffers.set(k, buf);
      }
      let to = Math.min(n, from + Math.min(STAGE_CHUNK, Math.max(1, this.opts.maxBatchRows - buf.records)));
      let chunkBytes = 0;
      let chunkTs = 0;
      for (let i = from; i < to; i++) {
        const r = recs[i]!;
        chunkBytes += r.value?.length ?? 0;
        if (r.timestamp > chunkTs) chunkTs = r.timestamp;
        if (buf.bytes + chunkBytes >= this.opts.maxBatchBytes) to = i + 1;
      }
      if (to > from) this.stageChunk(b, coords, from === 0 && to === n ? recs : recs.slice(from, to), buf, times, outcomes);
      buf.lastOffset = to === n ? b.lastOffset : recs[to - 1]!.offset;
      buf.records += to - from;
      buf.bytes += chunkBytes;
      if (chunkTs > buf.maxTimestamp) buf.maxTimestamp = chunkTs;
      this.addPending(k, to - from, chunkBytes);
      if (buf.records >= this.opts.maxBatchRows || buf.bytes >= this.opts.maxBatchBytes) this.flush([buf]);
      from = to;
    } while (from < n);
    for (const [stage, seconds] of Object.entries(times)) if (seconds > 0) this.metrics.stageDuration.observe({ stage }, seconds);
    for (const [outcome, c] of Object.entries(outcomes)) this.metrics.stageRecords.inc({ stage: 'rate', outcome }, c);

    if (this.overBudget()) await this.holdBack(b.topic, b.partition, ctx);
  }

  /**
   * decode -> rate -> serialise -> fraud prepare for one chunk of a fetched batch, into the partition's buffer:
   * the row text (what the sink inserts) and the encoded fraud events, so the decoded and rated objects die
   * young instead of waiting in the buffer for the flush. A record a stage cannot process is a coded dead
   * letter in the same buffer: rating throws (RATING_FAILED), its row cannot be built (SINK_REJECTED), its
   * fraud events cannot be keyed or encoded (FRAUD_KEYING_FAILED, FRAUD_EVENT_INVALID).
   */
  private stageChunk(b: FetchedBatch, coords: Parameters<Decoder>[0], records: FetchedBatch['records'], buf: Buffer_, times: Record<'decode' | 'rate' | 'serialise' | 'fraud', number>, outcomes: Record<string, number>): void {
    const n = records.length;
    const t0 = performance.now();
    const { cdrs, deadLetters } = this.decode(coords, records);
    times.decode += (performance.now() - t0) / 1000;
    this.metrics.stageRecords.inc({ stage: 'decode', outcome: 'ok' }, cdrs.length);
    // Each CDR keeps a reference to its source record (no copy), so a later stage can dead-letter its bytes.
    // The decoder emits CDRs in record order: one forward walk.
    for (let i = 0, j = 0; i < cdrs.length; i++) {
      const sc = cdrs[i]!;
      if (sc.source) continue;
      while (j < n && records[j]!.offset !== sc.offset) j++;
      if (j < n) sc.source = records[j++];
    }
    if (deadLetters.length > 0) {
      this.metrics.stageRecords.inc({ stage: 'decode', outcome: 'dead_letter' }, deadLetters.length);
      this.countDeadLetters(b.topic, b.partition, 'decode', deadLetters);
    }
    let kept = cdrs;
    if (this.opts.rate && cdrs.length > 0) {
      // Rating never drops a CDR it can price or not (UNRATED with its reason); one it throws on is poison.
      const rate = this.opts.rate;
      const t1 = performance.now();
      const r = this.perRecord('rate', DeadLetterCode.RATING_FAILED, cdrs, (batch) => rate(batch), (acc, out) => {
        for (const [o, c] of Object.entries(out)) acc[o] = (acc[o] ?? 0) + c;
        return acc;
      }, {} as Record<string, number>);
      times.rate += (performance.now() - t1) / 1000;
      for (const [outcome, c] of Object.entries(r.result)) outcomes[outcome] = (outcomes[outcome] ?? 0) + c;
      if (r.poison.length > 0) {
        kept = r.kept;
        for (const d of r.poison) deadLetters.push(d);
        this.metrics.stageRecords.inc({ stage: 'rate', outcome: 'dead_letter' }, r.poison.length);
        this.countDeadLetters(b.topic, b.partition, 'rate', r.poison);
      }
    }
    if (kept.length > 0) {
      const t2 = performance.now();
      const enc = this.perRecord('serialise', DeadLetterCode.SINK_REJECTED, kept, (batch) => this.sink.encode(batch), pushAll, [] as EncodedCdr[]);
      times.serialise += (performance.now() - t2) / 1000;
      let rows = enc.result;
      if (enc.poison.length > 0) {
        kept = enc.kept;
        for (const d of enc.poison) deadLetters.push(d);
        this.metrics.stageRecords.inc({ stage: 'serialise', outcome: 'dead_letter' }, enc.poison.length);
        this.countDeadLetters(b.topic, b.partition, 'serialise', enc.poison);
      }
      if (this.opts.fraudEvents && kept.length > 0) {
        const fe = this.opts.fraudEvents;
        const t3 = performance.now();
        const fr = this.perRecord('fraud', DeadLetterCode.FRAUD_EVENT_INVALID, kept, (batch) => fe.prepare(batch), pushAll, [] as unknown[]);
        times.fraud += (performance.now() - t3) / 1000;
        if (fr.poison.length > 0) {
          const ok = new Set(fr.kept);
          const all = kept;
          rows = rows.filter((_, i) => ok.has(all[i]!));
          for (const d of fr.poison) deadLetters.push(d);
          this.metrics.stageRecords.inc({ stage: 'fraud', outcome: 'dead_letter' }, fr.poison.length);
          this.countDeadLetters(b.topic, b.partition, 'fraud', fr.poison);
        }
        for (const p of fr.result) buf.prepared.push(p);
      }
      for (const r of rows) buf.rows.push(r);
    }
    for (const d of deadLetters) buf.deadLetters.push(d);
  }

  /**
   * Runs a per-record stage on the whole batch; if it throws, redoes it record by record to isolate the
   * records it cannot process, which become dead letters (the RecordStageError's code, else `code`).
   */
  private perRecord<R, A>(stage: string, code: DeadLetterCode, cdrs: SourcedCdr[], run: (batch: SourcedCdr[]) => R, merge: (acc: A, r: R) => A, init: A): { kept: SourcedCdr[]; poison: DeadLetter[]; result: A; results: R[] } {
    try {
      const r = run(cdrs);
      return { kept: cdrs, poison: [], result: merge(init, r), results: [r] };
    } catch {
      const kept: SourcedCdr[] = [];
      const poison: DeadLetter[] = [];
      const results: R[] = [];
      let acc = init;
      for (const sc of cdrs) {
        let r: R;
        try {
          r = run([sc]);
        } catch (err) {
          poison.push(deadLetterOf(sc, err instanceof RecordStageError ? err.code : code, `${stage}: ${errorMessage(err)}`));
          continue;
        }
        kept.push(sc);
        results.push(r);
        acc = merge(acc, r);
      }
      return { kept, poison, result: acc, results };
    }
  }

  private countDeadLetters(topic: string, partition: number, stage: string, dls: DeadLetter[]): void {
    const byCode: Record<string, number> = {};
    for (const d of dls) byCode[d.code] = (byCode[d.code] ?? 0) + 1;
    for (const [code, count] of Object.entries(byCode)) this.metrics.deadLetters.inc({ code }, count);
    this.log.warn({ topic, partition, stage, byCode, offsets: dls.slice(0, 20).map((d) => d.offset) }, 'records sent to the dead-letter path');
  }

  private addPending(k: string, rows: number, bytes: number): void {
    this.pendingRows += rows;
    this.pendingBytes += bytes;
    this.pendingByPartition.set(k, (this.pendingByPartition.get(k) ?? 0) + rows);
    this.metrics.sinkBufferedRows.set(this.pendingRows);
    this.metrics.sinkBufferedBytes.set(this.pendingBytes);
  }

  private releasePending(k: string, rows: number, bytes: number): void {
    this.pendingRows -= rows;
    this.pendingBytes -= bytes;
    const left = (this.pendingByPartition.get(k) ?? 0) - rows;
    if (left > 0) this.pendingByPartition.set(k, left);
    else this.pendingByPartition.delete(k);
    this.metrics.sinkBufferedRows.set(this.pendingRows);
    this.metrics.sinkBufferedBytes.set(this.pendingBytes);
    if (!this.overBudget()) this.resumeAll();
  }

  private overBudget(): boolean {
    return this.pendingRows > this.maxBufferedRows || this.pendingBytes > this.maxBufferedBytes;
  }

  /** Over budget: pause this partition (the handler returns), or hold the handler for a source that cannot pause. */
  private async holdBack(topic: string, partition: number, ctx: BatchContext): Promise<void> {
    // Over budget with nothing in flight (buffers below maxBatchRows, not yet aged): nothing would ever bring
    // the total down, so the buffers go to the sink now.
    let buffered = 0;
    for (const buf of this.buffers.values()) buffered += buf.records;
    if (buffered >= this.pendingRows) this.flushAll();
    if (this.source.pause) {
      const k = this.key(topic, partition);
      if (!this.paused.has(k)) {
        this.source.pause(topic, partition);
        this.paused.set(k, { topic, partition });
        this.stats.pauses++;
        if (this.paused.size === 1) this.log.info({ topic, partition, pendingRows: this.pendingRows, pendingBytes: this.pendingBytes, maxBufferedRows: this.maxBufferedRows, maxBufferedBytes: this.maxBufferedBytes }, 'sink behind: pausing consumption');
      }
      this.updateBackpressure();
      return;
    }
    this.waitingForBudget++;
    this.updateBackpressure();
    const hb = setInterval(() => void ctx.heartbeat().catch(() => undefined), this.opts.heartbeatIntervalMs);
    try {
      while (this.overBudget() && !this.stopping) await new Promise<void>((r) => this.budgetWaiters.push(r));
    } finally {
      clearInterval(hb);
      this.waitingForBudget--;
      this.updateBackpressure();
    }
  }

  private resumeAll(): void {
    if (this.paused.size > 0) {
      const parts = [...this.paused.values()];
      this.paused.clear();
      for (const p of parts) this.source.resume?.(p.topic, p.partition);
      this.log.info({ partitions: parts.length, pendingRows: this.pendingRows }, 'sink caught up: resuming consumption');
    }
    this.releaseBudgetWaiters();
    this.updateBackpressure();
  }

  private releaseBudgetWaiters(): void {
    const w = this.budgetWaiters;
    this.budgetWaiters = [];
    for (const r of w) r();
  }

  private updateBackpressure(): void {
    this.metrics.sinkBackpressure.set(this.backpressured ? 1 : 0);
    this.updateReady();
  }

  private updateReady(): void {
    this.metrics.ready.set(this.ready ? 1 : 0);
  }

  private exportLag(st: PartitionState): void {
    if (st.committed === undefined || st.highWatermark === undefined) return;
    const lag = st.highWatermark - st.committed;
    this.metrics.consumerLag.set({ topic: st.topic, partition: String(st.partition) }, lag > 0n ? Number(lag) : 0);
  }

  /**
   * Once a second: the stuck-commit check (records wait on a partition whose committed offset has not moved
   * for commitStallMs makes the runner not ready), and now and then the partitions' end offsets for lag.
   */
  private watch(): void {
    const now = Date.now();
    let stalled = false;
    for (const [k, st] of this.partitions) {
      const waiting = (this.pendingByPartition.get(k) ?? 0) > 0 || (st.committed !== undefined && st.highWatermark !== undefined && st.highWatermark > st.committed);
      if (!waiting) st.since = now;
      const seconds = (now - st.since) / 1000;
      this.metrics.commitStalled.set({ topic: st.topic, partition: String(st.partition) }, seconds);
      if (now - st.since >= this.commitStallMs) stalled = true;
    }
    if (stalled !== this.commitStalled) {
      this.commitStalled = stalled;
      if (stalled) this.log.warn({ commitStallMs: this.commitStallMs }, 'a partition has records waiting but its committed offset has not moved: not ready');
      else this.log.info({}, 'commits moving again');
    }
    this.updateReady();
    const every = this.opts.endOffsetsIntervalMs ?? 10_000;
    if (every > 0 && this.source.endOffsets && now - this.lastEndOffsetsRead >= every && this.partitions.size > 0) {
      this.lastEndOffsetsRead = now;
      void this.readEndOffsets().catch((err: Error) => this.log.debug({ err: err.message }, 'reading end offsets failed'));
    }
  }

  private async readEndOffsets(): Promise<void> {
    const topics = new Set([...this.partitions.values()].map((s) => s.topic));
    for (const topic of topics) {
      const ends = await this.source.endOffsets!(topic);
      for (const [p, end] of ends) {
        const st = this.partitions.get(this.key(topic, p));
        if (!st) continue;
        const hw = BigInt(end);
        if (st.highWatermark === undefined || hw > st.highWatermark) st.highWatermark = hw;
        this.exportLag(st);
      }
    }
  }

  /**
   * The flush tick: when a buffer of a partition with no flush in flight is flushIntervalMs old, every such
   * partition's buffer goes to the sink, coalesced (flushAll). Also run when a flush returns, so a buffer that
   * came due while its partition was busy does not wait for the next tick.
   */
  private flushAged(): void {
    const now = Date.now();
    for (const [k, buf] of this.buffers) {
      if (now - buf.createdAt >= this.opts.flushIntervalMs && !this.inFlight.has(k)) {
        this.flushAll(false);
        return;
      }
    }
  }

  /**
   * Flushes the buffers (all, or only of partitions with no flush in flight) in as few inserts as the limits
   * allow: packed in (topic, partition) order up to maxBatchRows records and maxBatchBytes source bytes each.
   */
  private flushAll(busyToo = true): void {
    const bufs = [...this.buffers.entries()].filter(([k]) => busyToo || !this.inFlight.has(k)).map(([, buf]) => buf);
    bufs.sort((x, y) => (x.topic === y.topic ? x.partition - y.partition : x.topic < y.topic ? -1 : 1));
    let group: Buffer_[] = [];
    let rows = 0;
    let bytes = 0;
    for (const buf of bufs) {
      if (group.length > 0 && (rows + buf.records > this.opts.maxBatchRows || bytes + buf.bytes > this.opts.maxBatchBytes)) {
        this.flush(group);
        group = [];
        rows = 0;
        bytes = 0;
      }
      group.push(buf);
      rows += buf.records;
      bytes += buf.bytes;
    }
    if (group.length > 0) this.flush(group);
  }

  /**
   * Detaches the buffers (one per partition) and chains their one insert and the partitions' commits after
   * every earlier flush of any of those partitions.
   */
  private flush(group: Buffer_[]): Promise<void> {
    const keys = group.map((buf) => this.key(buf.topic, buf.partition));
    for (let i = 0; i < group.length; i++) if (this.buffers.get(keys[i]!) === group[i]) this.buffers.delete(keys[i]!);
    const prev = keys.map((k) => this.chains.get(k)).filter((p): p is Promise<void> => p !== undefined);
    for (const k of keys) this.inFlight.set(k, (this.inFlight.get(k) ?? 0) + 1);
    const next = (prev.length === 0 ? Promise.resolve() : prev.length === 1 ? prev[0]! : Promise.all(prev))
      .then(() => this.writeAndCommit(group))
      .catch((err: Error) => {
        // While stopping, fatal() is a no-op: say what happened to the batch (it is not committed).
        if (this.stopping) this.log.warn({ partitions: group.map((buf) => `${buf.topic}:${buf.partition}`), err: err.message }, 'a batch failed during shutdown; it is read again after the restart');
        this.fatal?.(err);
      })
      .finally(() => {
        for (let i = 0; i < group.length; i++) {
          const k = keys[i]!;
          const left = (this.inFlight.get(k) ?? 1) - 1;
          if (left > 0) this.inFlight.set(k, left);
          else this.inFlight.delete(k);
          this.releasePending(k, group[i]!.records, group[i]!.bytes);
        }
        if (!this.stopping) this.flushAged();
      });
    for (const k of keys) this.chains.set(k, next);
    return next;
  }

  private async writeAndCommit(group: Buffer_[]): Promise<void> {
    // After an abort (fatal error, or shutdown past its grace period) nothing is written or committed: a
    // later batch committed past an abandoned one would skip the abandoned records for good.
    if (this.abort.signal.aborted) return;
    // Rows and fraud events were made when the records were consumed (onBatch): a CDR whose events could not
    // be keyed or encoded is a dead letter in this same write instead of a row (stored + dead letters =
    // consumed, and the detector sees every stored CDR).
    const t0 = performance.now();
    const { total, batches } = await this.sink.writeMany(
      group.map((buf) => ({ topic: buf.topic, partition: buf.partition, firstOffset: buf.firstOffset, lastOffset: buf.lastOffset, cdrs: [], encoded: buf.rows, deadLetters: buf.deadLetters })),
      this.abort.signal,
    );
    this.metrics.stageDuration.observe({ stage: 'sink' }, (performance.now() - t0) / 1000);
    this.lastAckAt = Date.now();
    this.stats.flushes++;
    this.stats.stored += total.cdrRows;
    this.stats.deadLetters += total.deadLetterRows;
    if (total.rejected > 0) this.metrics.deadLetters.inc({ code: DeadLetterCode.SINK_REJECTED }, total.rejected);
    if (this.opts.publishDeadLetters && total.deadLetters.length > 0) await this.withRetry('dead letters', total.deadLetters.length, () => this.opts.publishDeadLetters!(total.deadLetters));
    if (this.opts.fraudEvents) {
      // Only rows ClickHouse stored reach the detector: the group's partitions in one send (the publisher keeps
      // them apart by source partition).
      let stored: unknown[] = [];
      for (let i = 0; i < group.length; i++) {
        const prepared = group[i]!.prepared;
        const refusedIdx = batches[i]!.rejectedIndexes;
        if (refusedIdx.length === 0) {
          stored = group.length === 1 ? prepared : stored.concat(prepared);
          continue;
        }
        const refused = new Set(refusedIdx);
        for (let j = 0; j < prepared.length; j++) if (!refused.has(j)) stored.push(prepared[j]);
      }
      const fe = this.opts.fraudEvents;
      if (stored.length > 0) await this.withRetry('fraud events', stored.length, () => fe.send(stored));
    }
    if (this.abort.signal.aborted) return;
    await Promise.all(group.map((buf, i) => this.commit(buf, batches[i]!)));
  }

  /** Commits a stored buffer's partition past it, unless the partition was revoked since it was consumed. */
  private async commit(buf: Buffer_, res: SinkResult): Promise<void> {
    if (buf.generation !== this.generation) {
      // The partition may belong to another member now; it re-reads from the committed offset, and the
      // rows written twice collapse in ClickHouse's ReplacingMergeTree keys (sinks/clickhouse/sink.ts).
      this.log.info({ topic: buf.topic, partition: buf.partition }, 'flushed a batch from before a rebalance; not committing');
      return;
    }
    const next = BigInt(buf.lastOffset) + 1n;
    try {
      await this.source.commit(buf.topic, buf.partition, next.toString());
      this.stats.commits++;
      this.metrics.committedOffset.set({ topic: buf.topic, partition: String(buf.partition) }, Number(next));
      const st = this.partitions.get(this.key(buf.topic, buf.partition));
      if (st) {
        st.committed = next;
        st.since = Date.now();
        if (st.highWatermark === undefined || st.highWatermark < next) st.highWatermark = next;
        this.exportLag(st);
      }
      if (buf.maxTimestamp > 0) this.metrics.lastProcessed.set(buf.maxTimestamp / 1000);
      this.log.debug({ topic: buf.topic, partition: buf.partition, first: buf.firstOffset, last: buf.lastOffset, cdrs: res.cdrRows, deadLetters: res.deadLetterRows }, 'batch stored and committed');
    } catch (err) {
      // A commit refused during a rebalance is harmless: the data is stored, the next owner re-reads and
      // ClickHouse deduplicates. Anything else is logged the same way; offsets are retried by the next flush.
      this.log.warn({ topic: buf.topic, partition: buf.partition, err: (err as Error).message }, 'offset commit failed; the next flush commits past it');
    }
  }

  /** Retries transient publish failures with backoff; anything else (a missing topic, a bug) is fatal. */
  private async withRetry(what: string, count: number, publish: () => Promise<void>): Promise<void> {
    let delay = this.opts.retryInitialMs ?? 200;
    for (let attempt = 1; ; attempt++) {
      try {
        await publish();
        return;
      } catch (err) {
        if (this.abort.signal.aborted) throw err;
        if (!isTransientPublishError(err)) throw new Error(`publishing ${what} failed permanently: ${errorMessage(err)}`, { cause: err });
        this.log.warn({ attempt, count, err: errorMessage(err), retryInMs: delay }, `publishing ${what} failed; retrying`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.opts.retryMaxMs ?? 10_000);
      }
    }
  }

  private onRebalance(): void {
    this.generation++;
    let dropped = 0;
    for (const [k, buf] of this.buffers) {
      dropped += buf.records;
      this.releasePending(k, buf.records, buf.bytes);
    }
    this.buffers.clear();
    this.joined = false;
    this.updateReady();
    if (dropped > 0) this.log.info({ dropped }, 'rebalance: dropped unflushed records; they are re-read from the committed offsets');
  }

  /** Graceful stop: stop fetching, flush and commit everything buffered, then leave the group. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.updateReady();
    clearInterval(this.timer);
    clearInterval(this.watchTimer);
    this.releaseBudgetWaiters();
    this.flushAll();
    // A sink that does not recover within the grace period (ClickHouse down at shutdown) is abandoned:
    // nothing more is committed, and the unacknowledged records are read again after the restart.
    const graceMs = this.opts.shutdownTimeoutMs ?? 30_000;
    const deadline = Date.now() + graceMs;
    const grace = setTimeout(() => {
      this.log.warn({ shutdownTimeoutMs: this.opts.shutdownTimeoutMs }, 'the sink did not acknowledge within the shutdown grace period; stopping without committing the rest');
      this.abort.abort();
    }, graceMs);
    await Promise.all([...this.chains.values()]);
    clearTimeout(grace);
    // Leaving the group is bounded by the same grace period: everything acknowledged is committed by now,
    // and a member that does not get to leave is dropped by the group when its session expires.
    let leaveTimer: NodeJS.Timeout | undefined;
    const left = await Promise.race([
      this.source.stop().then(() => true),
      new Promise<false>((r) => (leaveTimer = setTimeout(() => r(false), Math.max(0, deadline - Date.now())))),
    ]);
    clearTimeout(leaveTimer);
    if (!left) this.log.warn({ shutdownTimeoutMs: graceMs }, 'the source did not stop within the shutdown grace period; stopping without leaving the group');
    this.metrics.ready.set(0);
    this.resolveRun?.();
  }
}

/** Records per chunk of a fetched batch that go through decode, rate, serialise and fraud prepare together. */
const STAGE_CHUNK = 1000;

function pushAll<T>(acc: T[], items: readonly T[]): T[] {
  for (const it of items) acc.push(it);
  return acc;
}

/** A dead letter for a decoded CDR a later stage cannot process: its source record's bytes when known. */
export function deadLetterOf(sc: SourcedCdr, code: DeadLetterCode, message: string): DeadLetter {
  return {
    code,
    message: message.slice(0, 500),
    topic: sc.topic,
    partition: sc.partition,
    offset: sc.offset,
    timestamp: sc.source?.timestamp ?? Date.now(),
    key: sc.source ? sc.source.key : null,
    value: sc.source ? sc.source.value : Buffer.from(JSON.stringify(sc.cdr)),
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Transient = worth retrying: an error of the Kafka client marked retriable (kafkajs sets `retriable` on
 * every error; after its own retries it throws KafkaJSNumberOfRetriesExceeded, not retriable itself, with the
 * retriable cause). A missing topic (UNKNOWN_TOPIC_OR_PARTITION, which kafkajs calls retriable) is not: it
 * does not fix itself, and retrying it for ever only hides it (the start-up check creates or refuses it).
 * Errors without the flag (a bug, an encoding error) are not transient either.
 */
export function isTransientPublishError(err: unknown): boolean {
  let transient = false;
  const seen = new Set<unknown>();
  for (let e = err as { retriable?: unknown; type?: unknown; cause?: unknown; originalError?: unknown } | undefined; e && typeof e === 'object' && !seen.has(e); e = (e.cause ?? e.originalError) as typeof e) {
    seen.add(e);
    if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION' || e.type === 'TOPIC_AUTHORIZATION_FAILED' || e.type === 'MESSAGE_TOO_LARGE' || e.type === 'INVALID_TOPIC_EXCEPTION') return false;
    if (e.retriable === true) transient = true;
  }
  return transient;
}
