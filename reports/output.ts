/**
 * Output of the analyst reports: rows as an aligned text table, CSV (RFC 4180) or JSON, to stdout or to
 * `--out FILE`. Values are printed as ClickHouse returned them: money and 64-bit integers arrive as exact
 * decimal strings (connection.ts quotes them) and are never turned into binary floats on the way out.
 */
import { writeFileSync } from 'node:fs';
import { ReportUsageError, type ReportContext } from './report.js';

export type ReportFormat = 'table' | 'csv' | 'json';
export type Row = Record<string, unknown>;

export function formatOf(values: ReportContext['values']): ReportFormat {
  const f = values.format ?? 'table';
  if (f !== 'table' && f !== 'csv' && f !== 'json') throw new ReportUsageError(`--format expects table, csv or json, got ${String(f)}`);
  return f;
}

function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const NUMERIC = /^-?\d+(\.\d+)?$/;

/** An aligned text table; numeric columns are right-aligned. */
export function renderTable(rows: readonly Row[], columns: readonly string[] = Object.keys(rows[0] ?? {})): string {
  if (rows.length === 0) return '(no rows)';
  const cells = rows.map((r) => columns.map((c) => text(r[c])));
  const width = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const right = columns.map((_c, i) => cells.every((row) => row[i] === '' || NUMERIC.test(row[i]!)));
  const line = (vals: readonly string[]) => vals.map((v, i) => (right[i] ? v.padStart(width[i]!) : v.padEnd(width[i]!))).join('  ').trimEnd();
  return [line(columns), line(width.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** CSV with a header line; fields with a comma, quote or line break are quoted (RFC 4180). */
export function renderCsv(rows: readonly Row[], columns: readonly string[] = Object.keys(rows[0] ?? {})): string {
  const field = (v: unknown) => {
    const s = text(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.map(field).join(','), ...rows.map((r) => columns.map((c) => field(r[c])).join(','))].join('\n');
}

export interface Section {
  title: string;
  /** Key of the section in the JSON document. */
  key: string;
  rows: Row[];
  columns?: string[];
}

/**
 * Renders a report of one or more sections: table (titled blocks), CSV (one block per section, separated
 * by a blank line, each with its header) or one JSON document `{ <key>: rows, ... }` plus `meta`.
 */
export function renderReport(format: ReportFormat, sections: readonly Section[], meta: Row = {}, notes: readonly string[] = []): string {
  if (format === 'json') return JSON.stringify({ ...meta, ...Object.fromEntries(sections.map((s) => [s.key, s.rows])) }, null, 2);
  if (format === 'csv') return sections.map((s) => renderCsv(s.rows, s.columns)).join('\n\n');
  const parts = sections.map((s) => `${s.title}\n${renderTable(s.rows, s.columns)}`);
  return [...parts, ...notes].join('\n\n');
}

/** Writes the rendered report to --out FILE, or to the context's output. */
export function emit(ctx: ReportContext, rendered: string): void {
  if (typeof ctx.values.out === 'string') writeFileSync(ctx.values.out, rendered + '\n');
  else ctx.out(rendered);
}
