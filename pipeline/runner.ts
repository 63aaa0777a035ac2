/**
 * The runner wires source → stages → sink and carries acknowledgements back: Kafka offsets are committed
 * only after ClickHouse acknowledged every row up to them (STYLE.md §5). Components never see each other;
 * they meet here through the contract types in schemas/.
 *
 * Batching: each partition has a buffer that fills from fetched batches and is flushed when it reaches
 * maxBatchRows or maxBatchBytes, or when it is flushIntervalMs old (perf.md §1.1: ~1 insert per second,
 * 10k-100k rows per insert). Flushes of one partition run one after another, so commits only move forward.
 * When the sink is slow or down, a full buffer makes the fetch loop wait (heartbeats continue): consumption
 * pauses and memory stays bounded to about two buffers per partition.
 */
import type { BatchContext, DeadLetter, FetchedBatch, Log, Source, SourcedCdr } from '../schemas/index.js';
import type { Decoder } from '../enrich/decode.js';
import type { ClickHouseSink, SinkResult } from '../sinks/clickhouse/sink.js';
import type { Metrics } from './telemetry.js';

export interface RunnerOptions {
  /**
   * The rating and enrichment stage: sets `rated` on every CDR of the batch and returns counts per outcome
   * (`rated`, or `unrated:<REASON>`; bounded labels).
   */
  rate?: (cdrs: SourcedCdr[]) => Record<string, number>;
  /**
   * Publishes a stored batch's dead letters to the dead-letter topic before the offsets are committed
   * (at-least-once: a crash in between publishes them again; consumers key them by source coordinates).
   */
  publishDeadLetters?: (deadLetters: DeadLetter[]) => Promise<void>;
  /**
   * Publishes a stored batch's fraud events (the repartition topic of the detector) before the offsets are
   * committed; retried like dead letters. A crash in between publishes them again: the detector recognises
   * the duplicates by record id.
   */
  publishFraudEvents?: (cdrs: SourcedCdr[]) => Promise<void>;
  /** Graceful stop: how long to wait for the sink before giving up on unacknowledged batches (default 30 s). */
  shutdownTimeoutMs?: number;
  /** Backoff for publishDeadLetters failures (retried until they pass, like the sink). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  maxBatchRows: number;
  maxBatchBytes: number;
  flushIntervalMs: number;
  heartbeatIntervalMs: number;
}

interface Buffer_ {
  topic: string;
  partition: number;
  generation: number;
  firstOffset: string;
  lastOffset: string;
  cdrs: SourcedCdr[];
  deadLetters: DeadLetter[];
  bytes: number;
  createdAt: number;
  maxTimestamp: number;
}

export interface RunnerStats {
  consumed: number;
  stored: number;
  deadLetters: number;
  flushes: number;
  commits: number;
}

export class Runner {
  private readonly buffers = new Map<string, Buffer_>();
  /** Per-partition chain of flushes, so a partition's inserts and commits happen in offset order. */
  private readonly chains = new Map<string, Promise<void>>();
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private fatal: ((err: Error) => void) | undefined;
  private joined = false;
  private stopping = false;
  readonly stats: RunnerStats = { consumed: 0, stored: 0, deadLetters: 0, flushes: 0, commits: 0 };

  constructor(
    private readonly source: Source,
    private readonly decode: Decoder,
    private readonly sink: ClickHouseSink,
    private readonly metrics: Metrics,
    private readonly log: Log,
    private readonly opts: RunnerOptions,
  ) {}

  get ready(): boolean {
    return this.joined && !this.stopping;
  }

  /** Runs until stop() or a fatal error; the promise rejects on a fatal error (nothing more is committed). */
  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.fatal = (err) => {
        if (this.stopping) return;
        this.stopping = true;
        this.abort.abort();
        clearInterval(this.timer);
        reject(err);
      };
      this.timer = setInterval(() => this.flushAged(), Math.max(50, Math.floor(this.opts.flushIntervalMs / 4)));
      this.source
        .start((b, ctx) => this.onBatch(b, ctx), {
          onRebalance: () => this.onRebalance(),
          onAssigned: (a) => {
            this.joined = true;
            this.metrics.ready.set(1);
            this.log.info({ assignment: a }, 'partitions assigned');
          },
          onCrash: (err) => this.fatal?.(err),
        })
        .then(() => {
          this.log.info({}, 'consuming');
          this.resolveRun = resolve;
        }, (err: Error) => this.fatal?.(err));
    });
  }
  private resolveRun: (() => void) | undefined;

  private key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  private async onBatch(b: FetchedBatch, ctx: BatchContext): Promise<void> {
    if (this.stopping) return;
    // Confluent framing: look up unseen writer schema ids first (waits, heartbeating, while the registry is
    // down). False: the source stopped meanwhile; the batch is left uncommitted and is read again.
    if (this.decode.prepare && !(await this.decode.prepare(b.records, ctx))) return;
    const n = b.records.length;
    let bytes = 0;
    let maxTs = 0;
    for (const r of b.records) {
      bytes += r.value?.length ?? 0;
      if (r.timestamp > maxTs) maxTs = r.timestamp;
    }
    this.stats.consumed += n;
    this.metrics.sourceRecords.inc({ topic: b.topic }, n);
    this.metrics.sourceBytes.inc({ topic: b.topic }, bytes);
    this.metrics.consumerLag.set({ topic: b.topic, partition: String(b.partition) }, Math.max(0, Number(BigInt(b.highWatermark) - BigInt(b.lastOffset) - 1n)));

    const t0 = performance.now();
    const { cdrs, deadLetters } = this.decode(b.writerSchema === undefined ? { topic: b.topic, partition: b.partition } : { topic: b.topic, partition: b.partition, writerSchema: b.writerSchema }, b.records);
    this.metrics.stageDuration.observe({ stage: 'decode' }, (performance.now() - t0) / 1000);
    this.metrics.stageRecords.inc({ stage: 'decode', outcome: 'ok' }, cdrs.length);
    if (this.opts.rate && cdrs.length > 0) {
      // Rating never drops a CDR: an unratable one is stored UNRATED with its reason.
      const t1 = performance.now();
      const outcomes = this.opts.rate(cdrs);
      this.metrics.stageDuration.observe({ stage: 'rate' }, (performance.now() - t1) / 1000);
      for (const [outcome, n] of Object.entries(outcomes)) this.metrics.stageRecords.inc({ stage: 'rate', outcome }, n);
    }
    if (deadLetters.length > 0) {
      this.metrics.stageRecords.inc({ stage: 'decode', outcome: 'dead_letter' }, deadLetters.length);
      const byCode: Record<string, number> = {};
      for (const d of deadLetters) byCode[d.code] = (byCode[d.code] ?? 0) + 1;
      for (const [code, count] of Object.entries(byCode)) this.metrics.deadLetters.inc({ code }, count);
      this.log.warn({ topic: b.topic, partition: b.partition, byCode, offsets: deadLetters.slice(0, 20).map((d) => d.offset) }, 'records sent to the dead-letter path');
    }

    const k = this.key(b.topic, b.partition);
    let buf = this.buffers.get(k);
    if (!buf) {
      buf = { topic: b.topic, partition: b.partition, generation: this.generation, firstOffset: b.firstOffset, lastOffset: b.lastOffset, cdrs: [], deadLetters: [], bytes: 0, createdAt: Date.now(), maxTimestamp: 0 };
      this.buffers.set(k, buf);
    }
    // Records arrive in offset order per partition; the buffer covers [firstOffset, lastOffset] contiguously.
    for (const c of cdrs) buf.cdrs.push(c);
    for (const d of deadLetters) buf.deadLetters.push(d);
    buf.lastOffset = b.lastOffset;
    buf.bytes += bytes;
    if (maxTs > buf.maxTimestamp) buf.maxTimestamp = maxTs;
    this.metrics.sinkBufferedRows.inc(n);

    if (buf.cdrs.length + buf.deadLetters.length >= this.opts.maxBatchRows || buf.bytes >= this.opts.maxBatchBytes) {
      const done = this.flush(k);
      // Backpressure: wait for this partition's flushes while keeping the group session alive.
      this.metrics.sinkBackpressure.set(1);
      const hb = setInterval(() => void ctx.heartbeat().catch(() => undefined), this.opts.heartbeatIntervalMs);
      try {
        await done;
      } finally {
        clearInterval(hb);
        this.metrics.sinkBackpressure.set(0);
      }
    }
  }

  private flushAged(): void {
    const now = Date.now();
    for (const [k, buf] of this.buffers) {
      if (now - buf.createdAt >= this.opts.flushIntervalMs) void this.flush(k);
    }
  }

  /** Detach the partition's buffer and chain its insert and commit after the partition's previous flush. */
  private flush(k: string): Promise<void> {
    const buf = this.buffers.get(k);
    const prev = this.chains.get(k) ?? Promise.resolve();
    if (!buf) return prev;
    this.buffers.delete(k);
    const next = prev.then(() => this.writeAndCommit(buf)).catch((err: Error) => this.fatal?.(err));
    this.chains.set(k, next);
    return next;
  }

  private async writeAndCommit(buf: Buffer_): Promise<void> {
    const rows = buf.cdrs.length + buf.deadLetters.length;
    // After an abort (fatal error, or shutdown past its grace period) nothing is written or committed: a
    // later batch committed past an abandoned one would skip the abandoned records for good.
    if (this.abort.signal.aborted) {
      this.metrics.sinkBufferedRows.dec(rows);
      return;
    }
    const t0 = performance.now();
    let res: SinkResult;
    try {
      res = await this.sink.write(
        { topic: buf.topic, partition: buf.partition, firstOffset: buf.firstOffset, lastOffset: buf.lastOffset, cdrs: buf.cdrs, deadLetters: buf.deadLetters },
        this.abort.signal,
      );
    } finally {
      this.metrics.sinkBufferedRows.dec(rows);
    }
    this.metrics.stageDuration.observe({ stage: 'sink' }, (performance.now() - t0) / 1000);
    this.stats.flushes++;
    this.stats.stored += res.cdrRows;
    this.stats.deadLetters += res.deadLetterRows;
    if (res.rejected > 0) this.metrics.deadLetters.inc({ code: 'SINK_REJECTED' }, res.rejected);
    if (this.opts.publishDeadLetters && res.deadLetters.length > 0) await this.withRetry('dead letters', res.deadLetters.length, () => this.opts.publishDeadLetters!(res.deadLetters));
    if (this.opts.publishFraudEvents && buf.cdrs.length > 0) await this.withRetry('fraud events', buf.cdrs.length, () => this.opts.publishFraudEvents!(buf.cdrs));
    if (buf.generation !== this.generation) {
      // The partition may belong to another member now; it re-reads from the committed offset, and the
      // rows written here are deduplicated in ClickHouse (same block token, ReplacingMergeTree key).
      this.log.info({ topic: buf.topic, partition: buf.partition }, 'flushed a batch from before a rebalance; not committing');
      return;
    }
    if (this.abort.signal.aborted) return;
    const next = (BigInt(buf.lastOffset) + 1n).toString();
    try {
      await this.source.commit(buf.topic, buf.partition, next);
      this.stats.commits++;
      this.metrics.committedOffset.set({ topic: buf.topic, partition: String(buf.partition) }, Number(next));
      if (buf.maxTimestamp > 0) this.metrics.lastProcessed.set(buf.maxTimestamp / 1000);
      this.log.debug({ topic: buf.topic, partition: buf.partition, first: buf.firstOffset, last: buf.lastOffset, cdrs: res.cdrRows, deadLetters: res.deadLetterRows }, 'batch stored and committed');
    } catch (err) {
      // A commit refused during a rebalance is harmless: the data is stored, the next owner re-reads and
      // ClickHouse deduplicates. Anything else is logged the same way; offsets are retried by the next flush.
      this.log.warn({ topic: buf.topic, partition: buf.partition, err: (err as Error).message }, 'offset commit failed; the next flush commits past it');
    }
  }

  private async withRetry(what: string, count: number, publish: () => Promise<void>): Promise<void> {
    let delay = this.opts.retryInitialMs ?? 200;
    for (let attempt = 1; ; attempt++) {
      try {
        await publish();
        return;
      } catch (err) {
        if (this.abort.signal.aborted) throw err;
        this.log.warn({ attempt, count, err: (err as Error).message, retryInMs: delay }, `publishing ${what} failed; retrying`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.opts.retryMaxMs ?? 10_000);
      }
    }
  }

  private onRebalance(): void {
    this.generation++;
    let dropped = 0;
    for (const buf of this.buffers.values()) dropped += buf.cdrs.length + buf.deadLetters.length;
    this.buffers.clear();
    this.metrics.sinkBufferedRows.dec(dropped);
    this.joined = false;
    this.metrics.ready.set(0);
    if (dropped > 0) this.log.info({ dropped }, 'rebalance: dropped unflushed records; they are re-read from the committed offsets');
  }

  /** Graceful stop: stop fetching, flush and commit everything buffered, then leave the group. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    for (const k of [...this.buffers.keys()]) void this.flush(k);
    // A sink that does not recover within the grace period (ClickHouse down at shutdown) is abandoned:
    // nothing more is committed, and the unacknowledged records are read again after the restart.
    const grace = setTimeout(() => {
      this.log.warn({ shutdownTimeoutMs: this.opts.shutdownTimeoutMs }, 'the sink did not acknowledge within the shutdown grace period; stopping without committing the rest');
      this.abort.abort();
    }, this.opts.shutdownTimeoutMs ?? 30_000);
    await Promise.all([...this.chains.values()]);
    clearTimeout(grace);
    await this.source.stop();
    this.metrics.ready.set(0);
    this.resolveRun?.();
  }
}
