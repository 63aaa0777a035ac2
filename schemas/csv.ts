/**
 * CSV: the one reader (and field writer) of the project's CSV files — the reference data
 * (docs/REFERENCE-DATA.md, read by enrich/reference.ts), invoice lines and benchmark rates
 * (docs/RECONCILIATION.md, read by reports/reconciliation/invoices.ts) and what the generators write. It lives in the
 * contract folder so that components and the runner share it without importing each other (STYLE.md §2).
 *
 * The dialect is RFC 4180 (https://www.rfc-editor.org/rfc/rfc4180), read the way spreadsheets and billing
 * exports write it:
 * - fields are separated by commas; a field may be quoted with `"`, and `""` inside quotes is one quote;
 *   a quoted field may hold commas, quotes and line breaks (kept exactly as written, CR LF included);
 * - records end with LF, CR LF or a lone CR; the last record may lack a line break;
 * - a UTF-8 byte order mark at the start is dropped (Excel writes one); bytes that are not UTF-8 are an
 *   error (readCsvFile), never silently replaced;
 * - empty lines are skipped (a record of one empty field is written `""`);
 * - lenient where Python's csv module and most exports are: a quote inside an unquoted field is an ordinary
 *   character (`12" monitor`). Text after a closing quote (`"ab"c`) is kept but reported as a problem of the
 *   record, and so is a quoted field still open at the end of the input.
 *
 * Every record carries the physical line it starts on, so errors name the line an editor shows, also after
 * multi-line fields and skipped empty lines. The parser is incremental (push text as it arrives): a file is
 * read as a stream, never held whole, and its state survives any chunk boundary (inside a quoted field,
 * between CR and LF, in a multi-byte character).
 */
import { createReadStream } from 'node:fs';

export interface CsvRecord {
  /** 1-based physical line the record starts on (what an error message should cite). */
  line: number;
  fields: string[];
  /** A syntax problem of this record (text after a closing quote, a quote never closed); fields are best effort. */
  problem?: string;
}

const COMMA = 44;
const QUOTE = 34;
const CR = 13;
const LF = 10;

const enum State {
  /** At the start of a field: a quote opens a quoted field. */
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted field: `""` (an escaped quote) or the closing quote. */
  QuoteInQuoted,
  /** After a closing quote: a comma or a line break should follow. */
  AfterQuote,
  /** After a CR that ended a record: an LF that follows belongs to it. */
  AfterCr,
}

/** Incremental RFC 4180 parser: push() text, end() at the end of the input. */
export class CsvParser {
  private state = State.FieldStart;
  private fields: string[] = [];
  private field = '';
  /** Anything but a line break was seen in the current record (an empty line is skipped). */
  private content = false;
  private problem: string | undefined;
  private line = 1;
  private recordLine = 1;
  private started = false;
  private out: CsvRecord[] = [];

  /** The physical line the parser is on (1-based). */
  get currentLine(): number {
    return this.line;
  }

  /** Feeds more text; returns the records it completed. */
  push(text: string): CsvRecord[] {
    let i = 0;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    const n = text.length;
    while (i < n) {
      switch (this.state) {
        case State.FieldStart:
          if (text.charCodeAt(i) === QUOTE) {
            this.state = State.Quoted;
            this.content = true;
            i++;
          } else this.state = State.Unquoted;
          break;
        case State.Unquoted: {
          let k = i;
          for (; k < n; k++) {
            const c = text.charCodeAt(k);
            if (c === COMMA || c === LF || c === CR) break;
          }
          if (k > i) {
            this.field += text.slice(i, k);
            this.content = true;
          }
          i = k < n ? this.separator(text, k) : k;
          break;
        }
        case State.Quoted: {
          const j = text.indexOf('"', i);
          const stop = j < 0 ? n : j;
          // Line numbers count LF inside quoted fields (CR LF is one break; a lone CR there is a character).
          for (let k = text.indexOf('\n', i); k >= 0 && k < stop; k = text.indexOf('\n', k + 1)) this.line++;
          this.field += text.slice(i, stop);
          if (j < 0) i = n;
          else {
            this.state = State.QuoteInQuoted;
            i = j + 1;
          }
          break;
        }
        case State.QuoteInQuoted:
          if (text.charCodeAt(i) === QUOTE) {
            this.field += '"';
            this.state = State.Quoted;
            i++;
          } else this.state = State.AfterQuote;
          break;
        case State.AfterQuote: {
          const c = text.charCodeAt(i);
          if (c === COMMA || c === LF || c === CR) i = this.separator(text, i);
          else {
            this.problem ??= `text after the closing quote of field ${this.fields.length + 1}`;
            this.state = State.Unquoted;
          }
          break;
        }
        case State.AfterCr:
          if (text.charCodeAt(i) === LF) i++;
          this.state = State.FieldStart;
          break;
      }
    }
    return this.take();
  }

  /** End of input: completes the last record (a file need not end with a line break). */
  end(): CsvRecord[] {
    switch (this.state) {
      case State.Quoted:
        this.problem ??= `a quoted field (field ${this.fields.length + 1}) is not closed before the end of the input`;
        this.endRecord();
        break;
      case State.FieldStart:
        // After a comma the record has one more (empty) field; after a line break there is nothing left.
        if (this.fields.length > 0) this.endRecord();
        break;
      case State.AfterCr:
        break;
      default:
        this.endRecord();
    }
    this.state = State.FieldStart;
    return this.take();
  }

  /** Consumes the comma, LF or CR at text[i]; returns the next index. */
  private separator(text: string, i: number): number {
    const c = text.charCodeAt(i);
    if (c === COMMA) {
      this.fields.push(this.field);
      this.field = '';
      this.state = State.FieldStart;
      return i + 1;
    }
    this.endRecord();
    this.line++;
    this.recordLine = this.line;
    this.state = c === CR ? State.AfterCr : State.FieldStart;
    return i + 1;
  }

  private endRecord(): void {
    this.fields.push(this.field);
    if (this.content || this.fields.length > 1) {
      const rec: CsvRecord = { line: this.recordLine, fields: this.fields };
      if (this.problem !== undefined) rec.problem = this.problem;
      this.out.push(rec);
    }
    this.fields = [];
    this.field = '';
    this.content = false;
    this.problem = undefined;
  }

  private take(): CsvRecord[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}

/** Every record of a CSV text (a UTF-8 BOM at its start is dropped). */
export function parseCsv(text: string): CsvRecord[] {
  const p = new CsvParser();
  const out = p.push(text);
  for (const r of p.end()) out.push(r);
  return out;
}

/** Decodes UTF-8 bytes strictly; the message names the line where the bad bytes are. */
export class CsvEncodingError extends Error {
  constructor(readonly line: number) {
    super(`line ${line}: the file is not valid UTF-8`);
    this.name = 'CsvEncodingError';
  }
}

/** Every record of CSV bytes (UTF-8). Throws CsvEncodingError on bytes that are not UTF-8. */
export function parseCsvBytes(bytes: Uint8Array): CsvRecord[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // Find the line: decode leniently and count line breaks before the first replacement character.
    const lenient = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
    const at = lenient.indexOf('\uFFFD');
    throw new CsvEncodingError(lenient.slice(0, at < 0 ? lenient.length : at).split('\n').length);
  }
  return parseCsv(text);
}

/**
 * The records of a CSV file, streamed (the file is never held whole). `hash`, when given, receives every byte
 * of the file. Bytes that are not UTF-8 end the stream with CsvEncodingError.
 */
export async function* readCsvFile(path: string, hash?: { update(data: Uint8Array): unknown }): AsyncGenerator<CsvRecord> {
  const parser = new CsvParser();
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const decode = (chunk?: Uint8Array): string => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      // The line: where the parser is, plus the line breaks of this chunk before the first bad byte.
      const lenient = chunk ? new TextDecoder('utf-8', { ignoreBOM: true }).decode(chunk) : '';
      const at = lenient.indexOf('\uFFFD');
      throw new CsvEncodingError(parser.currentLine + (lenient.slice(0, at < 0 ? 0 : at).split('\n').length - 1));
    }
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 16 }) as AsyncIterable<Buffer>) {
    hash?.update(chunk);
    yield* parser.push(decode(chunk));
  }
  yield* parser.push(decode());
  yield* parser.end();
}

// ---------------------------------------------------------------------------------------------------------
// Header mapping

/** A header row mapped to column positions. Names are trimmed; columns may come in any order. */
export interface CsvHeader {
  readonly names: readonly string[];
  readonly index: ReadonlyMap<string, number>;
}

export interface HeaderSpec {
  /** Columns the file must have; missing ones are reported in this order. */
  required: readonly string[];
  /** Further columns the file may have. */
  optional?: readonly string[];
  /** Any other column is a problem (default: other columns are ignored). */
  strict?: boolean;
}

/**
 * Maps a header record. Problems (without a line prefix): columns missing, unknown (with `strict`) or named
 * twice, a syntax problem of the header itself.
 */
export function mapHeader(rec: CsvRecord, spec: HeaderSpec): { header: CsvHeader; problems: string[] } {
  const names = rec.fields.map((f) => f.trim());
  const index = new Map<string, number>();
  const problems: string[] = [];
  if (rec.problem !== undefined) problems.push(rec.problem);
  const twice = new Set<string>();
  names.forEach((name, i) => (index.has(name) ? twice.add(name) : index.set(name, i)));
  const missing = spec.required.filter((c) => !index.has(c));
  if (missing.length) problems.push(`header lacks ${missing.join(', ')}`);
  if (spec.strict) {
    const known = new Set([...spec.required, ...(spec.optional ?? [])]);
    const unknown = names.filter((c) => !known.has(c));
    if (unknown.length) problems.push(`unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => (c === '' ? '(empty name)' : c)).join(', ')}`);
  }
  if (twice.size) problems.push(`column${twice.size > 1 ? 's' : ''} ${[...twice].join(', ')} named twice in the header`);
  return { header: { names, index }, problems };
}

/**
 * A data record as column name -> text (every column of the header), or why it is not one: its syntax
 * problem, or a field count other than the header's (a ragged row is a broken row, not a short one).
 */
export function rowOf(header: CsvHeader, rec: CsvRecord): { row: Record<string, string>; problem?: undefined } | { row?: undefined; problem: string } {
  if (rec.problem !== undefined) return { problem: rec.problem };
  if (rec.fields.length !== header.names.length) return { problem: `${rec.fields.length} field${rec.fields.length === 1 ? '' : 's'}, the header has ${header.names.length}` };
  const row: Record<string, string> = {};
  for (const [name, i] of header.index) row[name] = rec.fields[i]!;
  return { row };
}

// ---------------------------------------------------------------------------------------------------------
// Writing

/** One field as RFC 4180 text: quoted when it holds a comma, quote or line break; null and undefined are empty. */
export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One record (without the line break). */
export function csvLine(values: readonly (string | number | boolean | null | undefined)[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i ? ',' : '') + csvField(values[i]);
  return line;
}

/**
 * A request file as operators hand them over: JSON lines when the first non-blank character is `{`, else
 * CSV with a header row (`spec`). Calls `each` once per record with an accessor of its fields and the
 * record's line number; `each` adds its own problems. Returns every problem with its line number; throws
 * (through `fail`) only when the file as a whole cannot be read (encoding, no or bad header). Porting
 * requests and care adjustments share it, so both report bad files the same way.
 */
export function readRequestFile(bytes: Buffer, spec: HeaderSpec & { strictJson?: boolean }, each: (get: (field: string) => unknown, line: number, problems: string[]) => void, fail: (problems: string[]) => never): string[] {
  const problems: string[] = [];
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trimStart().startsWith('{')) {
    const known = new Set<string>([...spec.required, ...(spec.optional ?? [])]);
    text.split('\n').forEach((raw, i) => {
      if (raw.trim() === '') return;
      let o: unknown;
      try {
        o = JSON.parse(raw);
      } catch (err) {
        problems.push(`line ${i + 1}: not JSON (${(err as Error).message})`);
        return;
      }
      if (typeof o !== 'object' || o === null || Array.isArray(o)) {
        problems.push(`line ${i + 1}: not a JSON object`);
        return;
      }
      if (spec.strictJson) {
        const unknown = Object.keys(o).filter((k) => !known.has(k));
        if (unknown.length) problems.push(`line ${i + 1}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
      }
      each((k) => (o as Record<string, unknown>)[k], i + 1, problems);
    });
    return problems;
  }
  let records: CsvRecord[];
  try {
    records = parseCsvBytes(bytes);
  } catch (err) {
    return fail([`line ${(err as { line?: number }).line ?? '?'}: not valid UTF-8`]);
  }
  const head = records[0];
  if (!head) return fail(['empty (a header row is required)']);
  const { header, problems: hp } = mapHeader(head, spec);
  if (hp.length) return fail(hp.map((p) => `line ${head.line}: ${p}`));
  for (const rec of records.slice(1)) {
    const { row, problem } = rowOf(header, rec);
    if (!row) {
      problems.push(`line ${rec.line}: ${problem}`);
      continue;
    }
    each((k) => row[k], rec.line, problems);
  }
  return problems;
}
