/**
 * ClickHouse sink: writes one batch (CDR rows and dead letters of a contiguous offset range of one
 * partition), or several as one insert per table (writeMany: the runner's coalesced flush), and resolves only
 * when ClickHouse acknowledged every row, so the runner commits offsets after the data is safe (STYLE.md:
 * acknowledgements flow back).
 *
 * - Transient errors (network, 5xx, too many parts, timeouts) are retried with capped exponential backoff
 *   and jitter, forever until the abort signal fires: while ClickHouse is down, the batch does not resolve,
 *   consumption waits, memory stays bounded.
 * - Data errors (ClickHouse could not parse a row) isolate the refused rows; they return as SINK_REJECTED
 *   dead letters (with the source record's bytes) while every other row is inserted. ClickHouse names the
 *   row it could not parse (`(at row N)`, 1-based, exact also with parallel parsing): that row is confirmed
 *   alone, the rows before it (parsed fine) are inserted as one block, and the rest is split in halves and
 *   searched the same way. Each failed insert then finds one refused row: about 2 failed inserts per refused
 *   row and O(n log n) bytes sent, where halving alone costs ~2 log2(n/k) failed inserts per refused row.
 *   Halving stays the fallback for errors that name no row. (input_format_allow_errors_* is not used: it
 *   drops rows silently.)
 * - Format (SinkOptions.format): RowBinaryWithNamesAndTypes rows (sinks/clickhouse/rowbinary.ts) or
 *   JSONCompactEachRow text. With RowBinary a value its column cannot hold is refused while encoding, before
 *   ClickHouse sees the row (same SINK_REJECTED dead letter, no failed insert); the isolation above stays for
 *   whatever ClickHouse still refuses, and a header that does not match the table is fatal, not a data error.
 * - Fatal errors (unknown table, syntax, auth) throw: nothing is committed and the process stops loudly.
 *
 * Every insert carries insert_deduplication_token = <sink instance>:topic:partition:first-last[,...][:slice]
 * (insertToken), identical on every retry, so a retried block that ClickHouse did write is not written twice
 * (ClickHouse docs, "Deduplicating inserts on retries"). The token names this sink instance (a random id per
 * process), so a replay after a crash or by another group member is never dropped by it: a non-replicated
 * MergeTree records the block id in its deduplication log BEFORE the part is committed (MergeTreeSink:
 * deduplication_log->addPart, then renameTempPartAndAdd and transaction.commit), so a process killed in between
 * leaves a block id without its rows, and a replay of exactly that offset range was silently dropped (seen in
 * test/crash-recovery.test.ts once batches were cut at exactly sink.maxBatchRows). Replayed rows collapse in the
 * tables' ReplacingMergeTree keys instead, as billing reads them (FINAL or deduplicating views).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DeadLetter, Log, SourcedCdr } from '../../schemas/index.js';
import { DeadLetterCode } from '../../schemas/index.js';
import { ClickHouseError, type ClickHouseConnection } from './connection.js';
import { CDR_INSERT_COLUMNS, cdrRowCompact, deadLetterRowJson, deadLetterRowSanitised } from './rows.js';
import { CDR_ROWBINARY_HEADER, CdrRowBinaryEncoder } from './rowbinary.js';
import type { InsertShape } from './connection.js';

export interface SinkBatch {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  cdrs: SourcedCdr[];
  /**
   * The batch's CDRs already serialised (ClickHouseSink.encode): when given, `cdrs` is ignored and indexes in
   * the result refer to this list. The runner encodes right after rating, so its buffers hold row text, not
   * decoded object graphs (a string is one object the garbage collector never scans).
   */
  encoded?: EncodedCdr[];
  deadLetters: DeadLetter[];
}

/** A CDR as its insert row: the row text plus what a dead letter needs if ClickHouse refuses the row. */
export interface EncodedCdr {
  /** JSONCompactEachRow text with its newline, or the RowBinary bytes (sink format `rowbinary`). */
  line: string | Buffer;
  topic: string;
  partition: number;
  offset: string;
  /** The source record (original bytes for a dead letter); absent = the row text is stored instead. */
  source: SourcedCdr['source'];
}

export interface SinkResult {
  cdrRows: number;
  deadLetterRows: number;
  /** Rows ClickHouse refused as data errors; already stored as dead letters. */
  rejected: number;
  /** Indexes (into the batch's cdrs) of the refused rows, ascending: everything else is stored. */
  rejectedIndexes: number[];
  /** Failed insert attempts because of data errors (the cost of isolating refused rows). */
  dataErrors: number;
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
  /** Jump to the row a data error names (default true); false = halving only (benchmarks, tests). */
  useErrorRowNumbers?: boolean;
  /**
   * How CDR rows travel (docs/BENCHMARKS.md "The insert format"): `rowbinary` = RowBinaryWithNamesAndTypes, over
   * HTTP as the request body, into chDB through a file and file(); `json` (default here; the pipeline's default
   * is config `sink.format`) = JSONCompactEachRow.
   */
  format?: CdrInsertFormat;
}

export type CdrInsertFormat = 'rowbinary' | 'json';

export const CDR_TABLE = 'cdrs';
/** CDRs go positional (JSONCompactEachRow): column names are not repeated per row. */
const CDR_SHAPE: InsertShape = { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS };
const CDR_BINARY_SHAPE: InsertShape = { format: 'RowBinaryWithNamesAndTypes', columns: CDR_INSERT_COLUMNS };
export const DEAD_LETTER_TABLE = 'dead_letters';

export class ClickHouseSink {
  private readonly binary: CdrRowBinaryEncoder | undefined;
  /** Prefix of this sink's deduplication tokens: retries of a write share it, replays by another process do not. */
  private readonly instance = randomBytes(6).toString('hex');

  constructor(
    private readonly conn: ClickHouseConnection,
    private readonly opts: SinkOptions,
  ) {
    this.binary = opts.format === 'rowbinary' ? new CdrRowBinaryEncoder() : undefined;
  }

  /**
   * Serialises CDRs into their insert rows (what write() would build), for a caller that buffers rows. Throws
   * (RowRefusedError) when a value cannot be stored in its column: the caller redoes the batch CDR by CDR and
   * dead-letters the refused ones (SINK_REJECTED), as write() does for rows ClickHouse refuses.
   */
  encode(cdrs: SourcedCdr[]): EncodedCdr[] {
    const out: EncodedCdr[] = new Array(cdrs.length);
    const bin = this.binary?.encode(cdrs);
    for (let i = 0; i < cdrs.length; i++) {
      const sc = cdrs[i]!;
      out[i] = { line: bin ? bin[i]! : cdrRowCompact(sc), topic: sc.topic, partition: sc.partition, offset: sc.offset, source: sc.source };
    }
    return out;
  }

  async write(batch: SinkBatch, signal?: AbortSignal): Promise<SinkResult> {
    return (await this.writeMany([batch], signal)).batches[0]!;
  }

  /**
   * Writes several batches (of different partitions, or consecutive ranges of one) as ONE insert per table: the
   * runner coalesces the partitions due at a flush tick, so a shorter flush interval does not multiply inserts
   * by the partition count. A refused row is isolated in the combined block as in write() and returned with
   * its own batch (index into that batch's rows, dead letter with its own topic/partition/offset and bytes).
   * `total` sums the batches (its rejectedIndexes index the concatenated rows); dataErrors and retries are
   * counted there only, since the inserts are shared.
   *
   * The deduplication token names this sink and every batch's range (sorted by the caller), so a retried insert
   * of the same batches is dropped by ClickHouse; a replay after a crash relies on the tables' ReplacingMergeTree
   * keys (see the header).
   */
  async writeMany(batches: readonly SinkBatch[], signal?: AbortSignal): Promise<{ total: SinkResult; batches: SinkResult[] }> {
    const token = `${this.instance}:${insertToken(batches)}`;
    const total: SinkResult = { cdrRows: 0, deadLetterRows: 0, rejected: 0, rejectedIndexes: [], dataErrors: 0, retries: 0, deadLetters: [] };
    const results: SinkResult[] = batches.map(() => ({ cdrRows: 0, deadLetterRows: 0, rejected: 0, rejectedIndexes: [], dataErrors: 0, retries: 0, deadLetters: [] }));
    // The batches' rows end to end; starts[b] = index of batch b's first row.
    const rows: (EncodedCdr | SourcedCdr)[] = [];
    const lines: (string | Buffer)[] = [];
    const starts: number[] = [];
    const refusedAtEncode = new Map<number, string>();
    for (const batch of batches) {
      const base = rows.length;
      starts.push(base);
      if (batch.encoded) {
        for (const e of batch.encoded) {
          rows.push(e);
          lines.push(e.line);
        }
      } else if (batch.cdrs.length > 0) {
        const local = new Map<number, string>();
        const enc = this.binary ? this.encodeIsolating(batch.cdrs, local) : batch.cdrs.map(cdrRowCompact);
        for (let i = 0; i < batch.cdrs.length; i++) {
          rows.push(batch.cdrs[i]!);
          lines.push(enc[i]!);
        }
        for (const [i, why] of local) refusedAtEncode.set(base + i, why);
      }
    }
    const perBatchRejected: DeadLetter[][] = batches.map(() => []);
    if (lines.length > 0) {
      const shape = typeof lines[0] !== 'string' ? CDR_BINARY_SHAPE : CDR_SHAPE;
      const bad = refusedAtEncode.size === 0 ? await this.insertIsolating(CDR_TABLE, lines, token, total, signal, 0, shape) : await this.insertSkipping(lines, refusedAtEncode, token, total, signal, shape);
      const indexes = [...bad.keys()].sort((a, b) => a - b);
      let b = 0;
      for (const i of indexes) {
        while (b + 1 < starts.length && starts[b + 1]! <= i) b++;
        const sc = rows[i]!;
        // The source record's own bytes when the runner kept them (replayable); else the decoded CDR as JSON
        // (or, for an encoded row, the row text).
        const fallbackKey = 'cdr' in sc ? Buffer.from(sc.cdr.servedMsisdn) : null;
        const fallbackValue = 'cdr' in sc ? Buffer.from(JSON.stringify(sc.cdr)) : Buffer.from(lines[i]!);
        perBatchRejected[b]!.push({
          code: DeadLetterCode.SINK_REJECTED,
          message: bad.get(i)!,
          topic: sc.topic,
          partition: sc.partition,
          offset: sc.offset,
          timestamp: sc.source?.timestamp ?? Date.now(),
          key: sc.source ? sc.source.key : fallbackKey,
          value: sc.source ? sc.source.value : fallbackValue,
        });
        results[b]!.rejectedIndexes.push(i - starts[b]!);
      }
      total.cdrRows = lines.length - bad.size;
      total.rejected = bad.size;
      total.rejectedIndexes = indexes;
      for (let k = 0; k < batches.length; k++) {
        const n = (k + 1 < starts.length ? starts[k + 1]! : rows.length) - starts[k]!;
        results[k]!.rejected = results[k]!.rejectedIndexes.length;
        results[k]!.cdrRows = n - results[k]!.rejected;
      }
    }
    // Each batch's dead letters (the runner's, then its refused rows), in batch order: one insert.
    const deadOf = batches.map((batch, k) => (perBatchRejected[k]!.length ? batch.deadLetters.concat(perBatchRejected[k]!) : batch.deadLetters));
    const dead = deadOf.length === 1 ? deadOf[0]! : deadOf.flat();
    if (dead.length > 0) {
      const bad = await this.insertIsolating(DEAD_LETTER_TABLE, dead.map(deadLetterRowJson), token, total, signal);
      if (bad.size > 0) {
        // A dead-letter row is built from the source's coordinates and bytes, its time clamped; if ClickHouse
        // still refuses one (a field no one foresaw), it is stored in a sanitised form (ASCII message and
        // topic, bytes and coordinates as they are) rather than stopping the pipeline on one record.
        const idx = [...bad.keys()].sort((a, b) => a - b);
        this.opts.log.warn({ rows: idx.length, err: [...bad.values()][0] }, 'dead_letters refused rows; storing them in a sanitised form');
        const again = await this.insertIsolating(DEAD_LETTER_TABLE, idx.map((i) => deadLetterRowSanitised(dead[i]!, bad.get(i)!)), `${token}:sanitised`, total, signal);
        // Coordinates, a code, base64 and an ASCII message: refused even so means a schema or server problem.
        if (again.size > 0) throw new ClickHouseError(`dead_letters rejected ${again.size} rows even in sanitised form: ${[...again.values()][0]}`, 'fatal', undefined);
      }
      total.deadLetterRows = dead.length;
      total.deadLetters = dead;
      for (let k = 0; k < batches.length; k++) {
        results[k]!.deadLetters = deadOf[k]!;
        results[k]!.deadLetterRows = deadOf[k]!.length;
      }
    }
    if (results.length === 1) {
      results[0]!.dataErrors = total.dataErrors;
      results[0]!.retries = total.retries;
    }
    return { total, batches: results };
  }

  /** Binary rows of CDRs this sink encodes itself; a CDR a column cannot hold is refused here (its slot stays empty). */
  private encodeIsolating(cdrs: SourcedCdr[], refused: Map<number, string>): Buffer[] {
    try {
      return this.binary!.encode(cdrs);
    } catch {
      return cdrs.map((sc, i) => {
        try {
          return this.binary!.encode([sc])[0]!;
        } catch (e) {
          refused.set(i, e instanceof Error ? e.message : String(e));
          return Buffer.alloc(0);
        }
      });
    }
  }

  /** insertIsolating over the rows not refused at encoding; indexes stay those of `lines`. */
  private async insertSkipping(lines: readonly (string | Buffer)[], refused: Map<number, string>, token: string, result: SinkResult, signal: AbortSignal | undefined, shape: InsertShape): Promise<Map<number, string>> {
    const keep: number[] = [];
    for (let i = 0; i < lines.length; i++) if (!refused.has(i)) keep.push(i);
    const bad = await this.insertIsolating(CDR_TABLE, keep.map((i) => lines[i]!), `${token}:encodable`, result, signal, 0, shape);
    const out = new Map(refused);
    for (const [j, why] of bad) out.set(keep[j]!, why);
    return out;
  }

  /**
   * Inserts `lines` as one block; on a data error isolates the refused lines (see the header: jump to the row
   * ClickHouse names, halving as the fallback), each slice with its own deterministic token. Returns the
   * indexes of refused lines with the reason.
   */
  private async insertIsolating(table: string, lines: readonly (string | Buffer)[], token: string, result: SinkResult, signal: AbortSignal | undefined, base = 0, shape?: InsertShape): Promise<Map<number, string>> {
    const bad = new Map<number, string>();
    await this.isolate(table, lines, 0, lines.length, token, result, signal, shape, bad, base);
    return bad;
  }

  private async isolate(table: string, lines: readonly (string | Buffer)[], lo: number, hi: number, token: string, result: SinkResult, signal: AbortSignal | undefined, shape: InsertShape | undefined, bad: Map<number, string>, base: number): Promise<void> {
    if (hi <= lo) return;
    try {
      await this.insertWithRetry(table, join(lines, lo, hi, shape), `${token}:${table}:${base + lo}+${hi - lo}`, hi - lo, result, signal, shape);
      return;
    } catch (err) {
      if (!(err instanceof ClickHouseError) || err.errorClass !== 'data') throw err;
      // The binary header does not match the table (a migration changed a column's type; ClickHouse checks
      // input_format_with_types_use_header): no row is at fault, and every slice would fail alike. Stop loudly.
      if (/while reading header/i.test(err.message)) throw new ClickHouseError(`${table}: the insert header does not match the table (sinks/clickhouse/rowbinary.ts CDR_COLUMN_TYPES): ${err.message}`, 'fatal', err.code, err);
      result.dataErrors++;
      if (hi - lo === 1) {
        bad.set(base + lo, rejectionReason(err.message));
        return;
      }
      const row = this.opts.useErrorRowNumbers === false ? undefined : errorRow(err.message);
      if (row !== undefined && row >= 1 && row <= hi - lo) {
        const at = lo + row - 1;
        // The named row alone: confirms it (and gives its own reason) rather than trusting the number blindly.
        await this.isolate(table, lines, at, at + 1, token, result, signal, shape, bad, base);
        // Rows before it were parsed: almost always one good block.
        await this.isolate(table, lines, lo, at, token, result, signal, shape, bad, base);
        // The rest is unknown: halves keep the bytes re-sent at O(n log n) however many rows are refused.
        const rest = hi - (at + 1);
        if (rest <= 1 || rest < 64) {
          await this.isolate(table, lines, at + 1, hi, token, result, signal, shape, bad, base);
        } else {
          const mid = at + 1 + (rest >>> 1);
          await this.isolate(table, lines, at + 1, mid, token, result, signal, shape, bad, base);
          await this.isolate(table, lines, mid, hi, token, result, signal, shape, bad, base);
        }
        return;
      }
      const mid = lo + ((hi - lo) >>> 1);
      await this.isolate(table, lines, lo, mid, token, result, signal, shape, bad, base);
      await this.isolate(table, lines, mid, hi, token, result, signal, shape, bad, base);
    }
  }

  private async insertWithRetry(table: string, body: string | Buffer, token: string, rows: number, result: SinkResult, signal: AbortSignal | undefined, shape?: InsertShape): Promise<void> {
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

/**
 * The ranges part of a write's insert_deduplication_token: `topic:partition:first-last` for one batch, the
 * batches' ranges joined by `,` for several, hashed (sha256) when that gets long: the token travels in the
 * query's SETTINGS (in the URL over HTTP), and a group of hundreds of partitions would make it kilobytes.
 */
export function insertToken(batches: readonly Pick<SinkBatch, 'topic' | 'partition' | 'firstOffset' | 'lastOffset'>[]): string {
  const token = batches.map((b) => `${b.topic}:${b.partition}:${b.firstOffset}-${b.lastOffset}`).join(',');
  return token.length <= 512 ? token : `sha256:${createHash('sha256').update(token).digest('hex')}`;
}

function join(lines: readonly (string | Buffer)[], lo: number, hi: number, shape: InsertShape | undefined): string | Buffer {
  if (shape?.format === 'RowBinaryWithNamesAndTypes') {
    const parts: Buffer[] = [CDR_ROWBINARY_HEADER];
    for (let i = lo; i < hi; i++) parts.push(lines[i] as Buffer);
    return Buffer.concat(parts);
  }
  return lo === 0 && hi === lines.length ? lines.join('') : lines.slice(lo, hi).join('');
}

/** The 1-based row a ClickHouse parse error names: `... (at row N)` (src/Processors/Formats/IRowInputFormat.cpp). */
export function errorRow(message: string): number | undefined {
  const m = /\(at row (\d+)\)/.exec(message);
  return m?.[1] ? Number(m[1]) : undefined;
}

/**
 * The reason stored with a refused row: ClickHouse's message up to the row marker. The diagnostics after it
 * ("Row N: Column 0, parsed text: ...") quote neighbouring rows, subscriber numbers included.
 */
export function rejectionReason(message: string): string {
  const m = /\(at row \d+\)/.exec(message);
  const cut = m ? message.slice(0, m.index + m[0].length) : message.split('\n: \nRow ')[0]!;
  return cut.slice(0, 500);
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
