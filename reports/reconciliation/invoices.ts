/**
 * Invoice lines and benchmark rates in and out of files (docs/RECONCILIATION.md "File formats"):
 * - `cdr-pipeline import invoices FILE`: the billing system's export (CSV, header row, schemas/billing.ts
 *   INVOICE_COLUMNS) is validated completely first (every bad row reported with its line number, nothing
 *   imported), then inserted in chunks. Every row carries the file's hash (source_sha): a file whose rows are
 *   all stored already is not inserted again, so importing the same file twice changes nothing, and a partly
 *   imported file (a crash mid-way) is inserted again whole, its repeated rows collapsing on the key
 *   (ReplacingMergeTree, read FINAL). Lines of the same invoices from an earlier, different file are then
 *   deleted: a corrected export replaces its invoices as a whole.
 * - `cdr-pipeline import benchmarks FILE | --from-tariffs`: the benchmark per-minute rates.
 * - the CSV writer the invoice generator uses.
 * Files are read as a stream (schemas/csv.ts, the project's one CSV reader), so a month of invoice lines never
 * has to fit in one string.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { BENCHMARK_COLUMNS, CHARGE_TYPES, INVOICE_COLUMNS, PRICE_UNITS, QUANTITY_UNITS, USAGE_SERVICES, type BenchmarkRate, type InvoiceLine } from '../../schemas/billing.js';
import { csvLine, CsvEncodingError, mapHeader, readCsvFile, rowOf, type CsvHeader, type HeaderSpec } from '../../schemas/csv.js';
import type { Log } from '../../schemas/index.js';
import { sqlString, type ClickHouseConnection } from '../../sinks/clickhouse/connection.js';

/** A file that does not validate: every problem with its line number; nothing was imported. */
export class InvoiceFileError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
    readonly total: number,
  ) {
    super(`${path}: ${total} problem${total === 1 ? '' : 's'}, nothing imported:\n  - ${problems.join('\n  - ')}${total > problems.length ? `\n  ... and ${total - problems.length} more` : ''}`);
    this.name = 'InvoiceFileError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// CSV

/** Buffered CSV file writer (header first). */
export class CsvWriter {
  private readonly fd: number;
  private buf = '';
  rows = 0;

  constructor(
    path: string,
    private readonly columns: readonly string[],
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'w');
    this.buf = columns.join(',') + '\n';
  }

  write(row: Readonly<Record<string, string | number>>): void {
    this.buf += csvLine(this.columns.map((c) => row[c])) + '\n';
    this.rows++;
    if (this.buf.length > 1 << 20) this.flush();
  }

  private flush(): void {
    writeSync(this.fd, this.buf);
    this.buf = '';
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/**
 * The data rows of a CSV file (column name -> text) with their line numbers. Every problem of the file itself
 * (header, CSV syntax, a row whose field count differs from the header's, bytes that are not UTF-8) goes to
 * `note` as `line N: ...`; a bad header ends the file there.
 */
async function* csvRows(path: string, spec: HeaderSpec, note: (problem: string) => void, hash?: ReturnType<typeof createHash>): AsyncGenerator<{ line: number; rec: Record<string, string> }> {
  let header: CsvHeader | undefined;
  try {
    for await (const r of readCsvFile(path, hash)) {
      if (!header) {
        const m = mapHeader(r, spec);
        for (const p of m.problems) note(`line ${r.line}: ${p}`);
        if (m.problems.length) return;
        header = m.header;
        continue;
      }
      const x = rowOf(header, r);
      if (x.row) yield { line: r.line, rec: x.row };
      else note(`line ${r.line}: ${x.problem}`);
    }
  } catch (err) {
    if (!(err instanceof CsvEncodingError)) throw err;
    note(err.message);
    return;
  }
  if (!header) note('line 1: the file is empty (a header row is required)');
}

// ---------------------------------------------------------------------------------------------------------
// Validation

const MONEY = /^-?\d{1,12}(\.\d{1,6})?$/;
const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;
const DIGITS = /^\d{1,20}$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$/;
const MAX_PROBLEMS = 100;

/** A validated invoice line as the invoice_lines row (JSONEachRow). */
function toRow(rec: Record<string, string>, line: number, problems: string[]): Record<string, string | number | null> | null {
  const bad = (col: string, why: string) => problems.push(`line ${line}: ${col} ${why}: ${JSON.stringify(rec[col] ?? '')}`);
  const before = problems.length;
  for (const c of ['invoice_id', 'account_id'] as const) if (rec[c] === '' || rec[c]!.length > 128) bad(c, rec[c] === '' ? 'is empty' : 'is longer than 128 characters');
  if (!PERIOD.test(rec.period!)) bad('period', 'must be YYYY-MM');
  const lineNo = Number(rec.line_no);
  if (!/^\d{1,10}$/.test(rec.line_no!) || lineNo < 1 || lineNo > 4_294_967_295) bad('line_no', 'must be a whole number from 1');
  const ct = rec.charge_type!;
  if (!(CHARGE_TYPES as readonly string[]).includes(ct)) bad('charge_type', `must be one of ${CHARGE_TYPES.join(', ')}`);
  const perLine = ct === 'usage' || ct === 'surcharge' || ct === 'recurring' || ct === 'feature';
  if (rec.msisdn !== '' && !DIGITS.test(rec.msisdn!)) bad('msisdn', 'must be E.164 digits');
  else if (perLine && rec.msisdn === '') bad('msisdn', `is required for ${ct} lines`);
  if ((ct === 'usage' || ct === 'surcharge') && !USAGE_SERVICES.includes(rec.service!)) bad('service', `must be one of ${USAGE_SERVICES.join(', ')} on ${ct} lines`);
  else if (rec.service !== '' && !USAGE_SERVICES.includes(rec.service!)) bad('service', `must be empty or one of ${USAGE_SERVICES.join(', ')}`);
  if (rec.record_id!.length > 128) bad('record_id', 'is longer than 128 characters');
  if (rec.event_time !== '' && (!ISO_INSTANT.test(rec.event_time!) || Number.isNaN(Date.parse(rec.event_time!)))) bad('event_time', 'must be an ISO 8601 instant with a zone (2026-10-05T08:15:00Z) or empty');
  if (rec.number !== '' && !DIGITS.test(rec.number!)) bad('number', 'must be digits');
  if (!MONEY.test(rec.quantity!)) bad('quantity', 'must be a decimal number with at most 6 decimals');
  if (!QUANTITY_UNITS.includes(rec.unit!)) bad('unit', `must be one of ${QUANTITY_UNITS.join(', ')}`);
  if (rec.unit_price !== '' && !MONEY.test(rec.unit_price!)) bad('unit_price', 'must be an exact decimal amount (at most 6 decimals) or empty');
  if (rec.price_unit !== '' && !PRICE_UNITS.includes(rec.price_unit!)) bad('price_unit', `must be empty or one of ${PRICE_UNITS.join(', ')}`);
  if (rec.unit_price !== '' && rec.price_unit === '') bad('price_unit', 'is required with a unit_price');
  if (!MONEY.test(rec.amount!)) bad('amount', 'must be an exact decimal amount (at most 6 decimals)');
  if (!/^[A-Z]{3}$/.test(rec.currency!)) bad('currency', 'must be an ISO 4217 code');
  if (ct === 'feature' && rec.feature_code === '') bad('feature_code', 'is required on feature lines');
  if (problems.length > before) return null;
  const eventMs = rec.event_time === '' ? null : Date.parse(rec.event_time!);
  return {
    ...rec,
    line_no: lineNo,
    event_time: eventMs === null ? null : new Date(eventMs).toISOString().replace('T', ' ').replace('Z', ''),
    unit_price: rec.unit_price === '' ? null : rec.unit_price!,
  };
}

export interface InvoiceImport {
  path: string;
  sha: string;
  lines: number;
  invoices: number;
  accounts: number;
  periods: string[];
  byChargeType: Record<string, number>;
  /** Total billed per currency, exact decimal strings. */
  amounts: Record<string, string>;
  /** Lines of the same invoices from other files that the import replaced. */
  replaced: number;
  /** The same file was imported before: nothing changed. */
  alreadyImported: boolean;
}

/** Sums exact decimal strings in integer micro-units (bigint). */
function addMicros(acc: bigint, amount: string): bigint {
  const neg = amount.startsWith('-');
  const [i = '0', f = ''] = (neg ? amount.slice(1) : amount).split('.');
  const v = BigInt(i) * 1_000_000n + BigInt((f + '000000').slice(0, 6));
  return neg ? acc - v : acc + v;
}

function formatBig(v: bigint): string {
  const neg = v < 0n;
  const s = (neg ? -v : v).toString().padStart(7, '0');
  return (neg ? '-' : '') + s.slice(0, -6) + '.' + s.slice(-6);
}

/**
 * Validates an invoice CSV completely, then imports it (see the module comment). Throws InvoiceFileError when
 * any row is bad: nothing is imported then.
 */
export async function importInvoices(conn: ClickHouseConnection, path: string, log: Log, chunkRows = 100_000): Promise<InvoiceImport> {
  // Pass 1: validate every row, hash the file, collect the counts.
  const problems: string[] = [];
  let total = 0;
  const note = (p: string) => {
    total++;
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const hash = createHash('sha256');
  let lines = 0;
  const invoices = new Map<string, { account: string; period: string; lineNos: Set<number>; firstLine: number }>();
  const accounts = new Set<string>();
  const periods = new Set<string>();
  const byChargeType: Record<string, number> = {};
  const amounts = new Map<string, bigint>();
  const scratch: string[] = [];
  const spec: HeaderSpec = { required: INVOICE_COLUMNS, strict: true };
  for await (const { line, rec } of csvRows(path, spec, note, hash)) {
    scratch.length = 0;
    const row = toRow(rec, line, scratch);
    for (const p of scratch) note(p);
    if (!row) continue;
    lines++;
    const inv = invoices.get(rec.invoice_id!);
    if (!inv) invoices.set(rec.invoice_id!, { account: rec.account_id!, period: rec.period!, lineNos: new Set([Number(rec.line_no)]), firstLine: line });
    else if (inv.account !== rec.account_id || inv.period !== rec.period) note(`line ${line}: invoice ${rec.invoice_id} belongs to account ${inv.account}, period ${inv.period} (line ${inv.firstLine}), not ${rec.account_id}, ${rec.period}`);
    else if (inv.lineNos.has(Number(rec.line_no))) note(`line ${line}: invoice ${rec.invoice_id} line_no ${rec.line_no} appears twice`);
    else inv.lineNos.add(Number(rec.line_no));
    accounts.add(rec.account_id!);
    periods.add(rec.period!);
    byChargeType[rec.charge_type!] = (byChargeType[rec.charge_type!] ?? 0) + 1;
    amounts.set(rec.currency!, addMicros(amounts.get(rec.currency!) ?? 0n, rec.amount!));
  }
  if (total > 0) throw new InvoiceFileError(path, problems, total);
  const sha = hash.digest('hex').slice(0, 32);
  const [seen] = await conn.query<{ n: string }>(`SELECT count() AS n FROM invoice_lines WHERE source_sha = ${sqlString(sha)}`);
  const alreadyImported = Number(seen?.n ?? 0) >= lines && lines > 0;

  // Pass 2: insert in chunks (unless every row of this file is stored already).
  let body = '';
  let rows = 0;
  const flush = async () => {
    if (rows === 0) return;
    await conn.insert('invoice_lines', body);
    body = '';
    rows = 0;
  };
  // The file was validated whole above; a problem now means it changed while being imported.
  const changed = (p: string) => {
    throw new Error(`${path} changed during the import (${p}); import it again`);
  };
  for await (const { line, rec } of alreadyImported ? [] : csvRows(path, spec, changed)) {
    scratch.length = 0;
    const row = toRow(rec, line, scratch);
    if (!row) changed(scratch[0]!);
    row!.source_sha = sha;
    body += JSON.stringify(row) + '\n';
    if (++rows >= chunkRows) await flush();
  }
  await flush();

  // Lines of these invoices that came from another file are gone now: the new export is the invoice.
  let replaced = 0;
  const periodList = [...periods].sort();
  const inThisFile = `(period, invoice_id) IN (SELECT period, invoice_id FROM invoice_lines WHERE source_sha = ${sqlString(sha)})`;
  const periodFilter = `period IN (${periodList.map(sqlString).join(', ')})`;
  const [other] = await conn.query<{ n: string }>(`SELECT count() AS n FROM invoice_lines WHERE ${periodFilter} AND source_sha != ${sqlString(sha)} AND ${inThisFile}`);
  if (Number(other?.n ?? 0) > 0) {
    replaced = Number(other!.n);
    await conn.command(`DELETE FROM invoice_lines WHERE ${periodFilter} AND source_sha != ${sqlString(sha)} AND ${inThisFile}`);
  }
  const result: InvoiceImport = {
    path,
    sha,
    lines,
    invoices: invoices.size,
    accounts: accounts.size,
    periods: periodList,
    byChargeType,
    amounts: Object.fromEntries([...amounts].map(([c, v]) => [c, formatBig(v)])),
    replaced,
    alreadyImported,
  };
  log.info({ ...result }, 'invoice lines imported');
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Benchmark rates

/** Validates a benchmark-rates CSV (schemas/billing.ts BENCHMARK_COLUMNS); throws InvoiceFileError. */
export async function readBenchmarks(path: string): Promise<BenchmarkRate[]> {
  const problems: string[] = [];
  let total = 0;
  const note = (p: string) => {
    total++;
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const out: BenchmarkRate[] = [];
  const keys = new Map<string, number>();
  for await (const { line, rec: fields } of csvRows(path, { required: BENCHMARK_COLUMNS }, note)) {
    const rec = fields as unknown as BenchmarkRate;
    const before = total;
    if (!USAGE_SERVICES.includes(rec.service)) note(`line ${line}: service must be one of ${USAGE_SERVICES.join(', ')}: ${JSON.stringify(rec.service)}`);
    if (rec.destination_class === '') note(`line ${line}: destination_class is empty`);
    if (!PRICE_UNITS.includes(rec.price_unit)) note(`line ${line}: price_unit must be one of ${PRICE_UNITS.join(', ')}: ${JSON.stringify(rec.price_unit)}`);
    if (!MONEY.test(rec.rate) || rec.rate.startsWith('-')) note(`line ${line}: rate must be a non-negative exact decimal (at most 6 decimals): ${JSON.stringify(rec.rate)}`);
    const key = `${rec.service}|${rec.destination_class}|${rec.price_unit}`;
    if (keys.has(key)) note(`line ${line}: ${rec.service} ${rec.destination_class} per ${rec.price_unit} is also on line ${keys.get(key)}`);
    keys.set(key, line);
    if (total === before) out.push(rec);
  }
  if (total > 0) throw new InvoiceFileError(path, problems, total);
  return out;
}

/** Stores benchmark rates (a newer import of the same service, class and unit replaces the rate). */
export async function importBenchmarks(conn: ClickHouseConnection, rates: readonly BenchmarkRate[], source: string): Promise<number> {
  if (rates.length === 0) return 0;
  const now = new Date().toISOString().replace('T', ' ').replace('Z', '');
  await conn.insert('rate_benchmarks', rates.map((r) => JSON.stringify({ service: r.service, destination_class: r.destination_class, price_unit: r.price_unit, rate: r.rate, source: r.description ? `${source}: ${r.description}` : source, imported_at: now }) + '\n').join(''));
  return rates.length;
}

export function writeBenchmarks(path: string, rates: readonly BenchmarkRate[]): void {
  const w = new CsvWriter(path, BENCHMARK_COLUMNS);
  for (const r of rates) w.write(r as unknown as Record<string, string>);
  w.close();
}

/** Writes invoice lines to a CSV file as they come (the invoice generator's `emit`). */
export function invoiceWriter(path: string): { emit(line: InvoiceLine): void; close(): number } {
  const w = new CsvWriter(path, INVOICE_COLUMNS);
  return {
    emit: (line) => w.write(line as unknown as Record<string, string | number>),
    close: () => {
      w.close();
      return w.rows;
    },
  };
}

/** A destination_class value of imported invoice lines that names nothing the rate audit knows. */
export interface UnknownDestination {
  destination_class: string;
  service: string;
  lines: number;
}

/**
 * Validates the destination_class of the usage and surcharge lines of an imported file (by its hash) against
 * the reference data (docs/RECONCILIATION.md "The rate audit"): `known` (the tariff book's destination ids,
 * roaming zones, data networks and `*`), the contract descriptions of the snapshot in force and the benchmark
 * classes. Returns the values found in none, most frequent first; the rate audit cannot map those lines.
 */
export async function unknownDestinations(conn: ClickHouseConnection, sha: string, known: ReadonlySet<string>): Promise<UnknownDestination[]> {
  const names = [...known].map(sqlString).join(', ') || "''";
  const rows = await conn.query<{ destination_class: string; service: string; lines: string }>(
    `SELECT toString(destination_class) AS destination_class, toString(service) AS service, count() AS lines
     FROM invoice_lines FINAL
     WHERE source_sha = ${sqlString(sha)} AND charge_type IN ('usage', 'surcharge') AND destination_class != ''
       AND destination_class NOT IN (${names})
       AND destination_class NOT IN (SELECT ifNull(description, '') FROM ref_contracted_rates WHERE version = (SELECT version FROM ref_current_version))
       AND destination_class NOT IN (SELECT destination_class FROM rate_benchmarks)
     GROUP BY destination_class, service
     ORDER BY lines DESC, destination_class, service`,
  );
  return rows.map((r) => ({ destination_class: r.destination_class, service: r.service, lines: Number(r.lines) }));
}
