/**
 * ClickHouse sink: writes one batch (CDR rows and dead letters of a contiguous offset range of one
 * partition) and resolves only when ClickHouse acknowledged every row, so the runner commits offsets after
 * the data is safe (STYLE.md: acknowledgements flow back).
 *
 * - Transient errors (network, 5xx, too many parts, timeouts) are retried with capped exponential backoff
 *   and jitter, forever until the abort signal fires: while ClickHouse is down, the batch does not resolve,
 *   consumption waits, memory stays bounded.
 * - Data errors (ClickHouse could not parse a row) split the batch in halves until the bad rows are
 *   isolated; they return as SINK_REJECTED dead letters while every other row is inserted.
 * - Fatal errors (unknown table, syntax, auth) throw: nothing is committed and the process stops loudly.
 *
 * Every insert carries insert_deduplication_token = topic:partition:first-last[:slice], identical on every
 * retry, so a retried block that ClickHouse did write is not written twice (ClickHouse docs, "Deduplicating
 * inserts on retries"; the same token scheme as ClickHouse's Kafka Connect sink and ClickPipes).
 */
import type { DeadLetter, Log, SourcedCdr } from '../../schemas/index.js';
import { DeadLetterCode } from '../../schemas/index.js';
import { ClickHouseError, type ClickHouseConnection } from './connection.js';
import { CDR_INSERT_COLUMNS, cdrRowCompact, deadLetterRowJson } from './rows.js';
import type { InsertShape } from './connection.js';

export interface SinkBatch {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  cdrs: SourcedCdr[];
  deadLetters: DeadLetter[];
}

export interface SinkResult {
  cdrRows: number;
  deadLetterRows: number;
  /** Rows ClickHouse refused as data errors; already stored as dead letters. */
  rejected: number;
  /** Every dead letter stored for this batch (the decoder's and the refused rows), for the dead-letter topic. */
  deadLetters: DeadLetter[];
  /** Insert attempts that failed transiently and were retried. */
  retries: number;
}

export interface SinkOptions {
  retryInitialMs: number;
  retryMaxMs: number;
  log: Log;
  /** Called for every acknowledged insert and every failed attempt (telemetry hooks; no library here). */
  onInsert?: (table: string, rows: number, seconds: number) => void;
  onError?: (table: string, err: ClickHouseError) => void;
}

export const CDR_TABLE = 'cdrs';
/** CDRs go positional (JSONCompactEachRow): column names are not repeated per row. */
const CDR_SHAPE: InsertShape = { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS };
export const DEAD_LETTER_TABLE = 'dead_letters';

export class ClickHouseSink {
  constructor(
    private readonly conn: ClickHouseConnection,
    private readonly opts: SinkOptions,
  ) {}

  async write(batch: SinkBatch, signal?: AbortSignal): Promise<SinkResult> {
    const token = `${batch.topic}:${batch.partition}:${batch.firstOffset}-${batch.lastOffset}`;
    const result: SinkResult = { cdrRows: 0, deadLetterRows: 0, rejected: 0, retries: 0, deadLetters: [] };
    const rejected: DeadLetter[] = [];
    if (batch.cdrs.length > 0) {
      const lines = batch.cdrs.map(cdrRowCompact);
      const bad = await this.insertIsolating(CDR_TABLE, lines, token, result, signal, 0, CDR_SHAPE);
      for (const [i, reason] of bad) {
        const sc = batch.cdrs[i]!;
        rejected.push({
          code: DeadLetterCode.SINK_REJECTED,
          message: reason,
          topic: sc.topic,
          partition: sc.partition,
          offset: sc.offset,
          timestamp: Date.now(),
          key: Buffer.from(sc.cdr.servedMsisdn),
          value: Buffer.from(JSON.stringify(sc.cdr)),
        });
      }
      result.cdrRows = lines.length - bad.size;
      result.rejected = bad.size;
    }
    const dead = rejected.length ? batch.deadLetters.concat(rejected) : batch.deadLetters;
    if (dead.length > 0) {
      const bad = await this.insertIsolating(DEAD_LETTER_TABLE, dead.map(deadLetterRowJson), token, result, signal);
      if (bad.size > 0) {
        // A dead letter row is built by us from validated fields; ClickHouse refusing it is a bug.
        throw new ClickHouseError(`dead_letters rejected ${bad.size} rows: ${[...bad.values()][0]}`, 'fatal', undefined);
      }
      result.deadLetterRows = dead.length;
      result.deadLetters = dead;
    }
    return result;
  }

  /**
   * Inserts `lines` as one block; on a data error splits in halves (each half with its own deterministic
   * token) until the refused lines are isolated. Returns the indexes of refused lines with the reason.
   */
  private async insertIsolating(table: string, lines: string[], token: string, result: SinkResult, signal: AbortSignal | undefined, base = 0, shape?: InsertShape): Promise<Map<number, string>> {
    try {
      await this.insertWithRetry(table, lines.join(''), `${token}:${table}:${base}+${lines.length}`, lines.length, result, signal, shape);
      return new Map();
    } catch (err) {
      if (!(err instanceof ClickHouseError) || err.errorClass !== 'data') throw err;
      if (lines.length === 1) return new Map([[base, err.message.slice(0, 500)]]);
      const mid = lines.length >>> 1;
      const left = await this.insertIsolating(table, lines.slice(0, mid), token, result, signal, base, shape);
      const right = await this.insertIsolating(table, lines.slice(mid), token, result, signal, base + mid, shape);
      for (const [k, v] of right) left.set(k, v);
      return left;
    }
  }

  private async insertWithRetry(table: string, body: string, token: string, rows: number, result: SinkResult, signal: AbortSignal | undefined, shape?: InsertShape): Promise<void> {
    let delay = this.opts.retryInitialMs;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        await this.conn.insert(table, body, { insert_deduplicate: 1, insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 }, shape);
        this.opts.onInsert?.(table, rows, (performance.now() - started) / 1000);
        return;
      } catch (e) {
        const err = e instanceof ClickHouseError ? e : new ClickHouseError(String(e), 'fatal', undefined, e);
        this.opts.onError?.(table, err);
        if (err.errorClass !== 'transient') throw err;
        if (signal?.aborted) throw new ClickHouseError(`insert abandoned at shutdown after ${attempt} attempts: ${err.message}`, 'transient', err.code, err);
        result.retries++;
        this.opts.log.warn({ table, attempt, rows, code: err.code, err: err.message.slice(0, 300), retryInMs: delay }, 'ClickHouse insert failed; retrying');
        await sleep(delay * (0.5 + Math.random() * 0.5), signal);
        delay = Math.min(delay * 2, this.opts.retryMaxMs);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
