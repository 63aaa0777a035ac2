/**
 * `cdr-pipeline report csr --account A [--period P]` (issue #16; reports/csr/README.md): the customer service
 * record of an account as customers and porting specialists read it: the account (identity, billing and
 * service addresses), its lines (type, status, plan, recurring charge, verification from the CDRs), features
 * (order code, charge, used or not in the period), directory listing, usage per line, the audit findings of the
 * account (the reconciliation's own SQL files filtered to the account, so `report csr` and `report reconcile`
 * can never disagree) and the money at stake per month.
 *
 * Pages: the document is laid out in pages of --rows-per-page rows (default 40; a section continued on the next
 * page repeats its title and header). A CSR longer than --max-pages (default 20, the industry's CSR page limit)
 * is not produced: the answer is code 052, as a losing carrier answers a CSR request.
 */
import type { ClickHouseConnection } from '../../sinks/clickhouse/connection.js';
import { bindSql, loadSqlFile } from '../../sinks/clickhouse/sql-files.js';
import { isoDay, periodDays, refreshStale } from '../aggregates/aggregates.js';
import { emit, renderReport, renderTable, type Row, type Section } from '../output.js';
import { ReportUsageError, type Report } from '../report.js';

/** This capability's SQL files, beside its code (package-root relative). */
export const SQL_DIR = 'reports/csr/sql';
/** The audit queries are the reconciliation's (reports/reconciliation/sql/), restricted to the account. */
const RECONCILIATION_SQL_DIR = 'reports/reconciliation/sql';
/** The audit findings a CSR shows (issue #16): reconciliation query file -> what it finds. */
export const CSR_FINDING_QUERIES = ['unused_lines', 'unused_features', 'rates_above', 'misapplied_surcharges', 'bill_padding'] as const;
const FINDING_COLUMNS = ['kind', 'account_id', 'msisdn', 'record_id', 'service', 'feature_code', 'amount', 'detail'] as const;

/** Same settings as reconciliation (reports/reconciliation/reconcile.ts RECONCILE_SETTINGS). */
const SETTINGS = { do_not_merge_across_partitions_select_final: 1, join_use_nulls: 0, output_format_decimal_trailing_zeros: 1 };

export const DEFAULT_ROWS_PER_PAGE = 40;
export const DEFAULT_MAX_PAGES = 20;

export interface CsrOptions {
  account: string;
  /** 'YYYY-MM'. */
  period: string;
  unusedDays: number;
  rowsPerPage: number;
  maxPages: number;
  /** Recompute the stale aggregate days read (default true). */
  refresh?: boolean;
}

export interface CsrFinding {
  kind: string;
  msisdn: string;
  record_id: string;
  service: string;
  feature_code: string;
  amount: string;
  detail: string;
}

export interface Csr {
  account: Row;
  period: string;
  lines: Row[];
  features: Row[];
  directory: Row[];
  usage: Row[];
  findings: CsrFinding[];
  /** Per finding kind, and a last row `total`: findings and money at stake in the period (a month). */
  moneyAtStake: { kind: string; findings: number; amount: string }[];
  currency: string;
  pages: number;
}

/** A CSR request answered with a code instead of the document (001 unknown account, 052 page limit). */
export interface CsrRejection {
  code: '001' | '052';
  reason: string;
  pages?: number;
}

/** Sums exact decimal strings in micro-units (bigint); the result has 6 decimals. */
export function sumMicros(values: readonly string[]): string {
  let acc = 0n;
  for (const v of values) {
    const neg = v.startsWith('-');
    const [i = '0', f = ''] = (neg ? v.slice(1) : v).split('.');
    const x = BigInt(i) * 1_000_000n + BigInt((f + '000000').slice(0, 6));
    acc += neg ? -x : x;
  }
  const neg = acc < 0n;
  const s = (neg ? -acc : acc).toString().padStart(7, '0');
  return (neg ? '-' : '') + s.slice(0, -6) + '.' + s.slice(-6);
}

export function validateCsrOptions(o: CsrOptions): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(o.account)) throw new ReportUsageError(`--account expects an account number, got ${JSON.stringify(o.account)}`);
  try {
    periodDays(o.period);
  } catch (err) {
    throw new ReportUsageError(`--period: ${(err as Error).message}`);
  }
  if (!Number.isInteger(o.unusedDays) || o.unusedDays < 1 || o.unusedDays > 3660) throw new ReportUsageError(`--unused-days expects 1 to 3660, got ${o.unusedDays}`);
  if (!Number.isInteger(o.rowsPerPage) || o.rowsPerPage < 8 || o.rowsPerPage > 1000) throw new ReportUsageError(`--rows-per-page expects 8 to 1000, got ${o.rowsPerPage}`);
  if (!Number.isInteger(o.maxPages) || o.maxPages < 1 || o.maxPages > 10_000) throw new ReportUsageError(`--max-pages expects 1 to 10000, got ${o.maxPages}`);
}

/** The account as field/value rows (the first section of the document). */
function accountRows(a: Row): Row[] {
  const billing = [a.billing_address_line, a.billing_city, a.billing_postcode].filter((x) => x !== '').join(', ');
  const service = [a.service_address_line, a.service_city, a.service_postcode].filter((x) => x !== '').join(', ');
  return [
    { field: 'account number', value: a.account_id },
    { field: 'customer name', value: a.name },
    { field: 'class / segment', value: `${String(a.class)} / ${String(a.segment)}` },
    { field: 'billing address', value: `${billing}${a.country ? ` (${String(a.country)})` : ''}` },
    { field: 'service address', value: service === billing ? `${service} (same as billing)` : service },
    { field: 'payment', value: a.payment_type },
    { field: 'customer since', value: a.created_date },
    { field: 'account PIN', value: `${String(a.pin)} (never shown)` },
  ];
}

/** The document's sections in order (the account first). */
export function csrSections(c: Csr): Section[] {
  const cur = c.currency ? ` ${c.currency}` : '';
  return [
    { title: `Account ${String(c.account.account_id)}`, key: 'account', rows: accountRows(c.account), columns: ['field', 'value'] },
    { title: 'Directory listing', key: 'directory', rows: c.directory },
    { title: `Lines (${c.lines.length}; verification from the CDRs up to the end of ${c.period})`, key: 'lines', rows: c.lines, columns: ['msisdn', 'line_type', 'status', 'plan', 'recurring_charge', 'installed', 'ddi_block', 'records', 'last_use', 'verification'] },
    { title: `Features (${c.features.length}; used in ${c.period}?)`, key: 'features', rows: c.features, columns: ['msisdn', 'code', 'name', 'charged', 'charge', 'since', 'target', 'used_in_period'] },
    { title: `Usage per line, ${c.period}`, key: 'usage', rows: c.usage },
    { title: `Audit findings, ${c.period}`, key: 'findings', rows: c.findings as unknown as Row[], columns: ['kind', 'msisdn', 'record_id', 'service', 'feature_code', 'amount', 'detail'] },
    { title: `Money at stake per month${cur}`, key: 'money_at_stake', rows: c.moneyAtStake as unknown as Row[], columns: ['kind', 'findings', 'amount'] },
  ];
}

export interface PagePart {
  section: Section;
  rows: Row[];
  continued: boolean;
}

/**
 * Lays sections out in pages of `rowsPerPage` rows: a section's part costs its title and header (3 rows) plus
 * its rows; a section continues on the next page with its title and header repeated; a part never starts a
 * page's last three rows with fewer than three of its rows (no orphaned headers).
 */
export function paginate(sections: readonly Section[], rowsPerPage: number): PagePart[][] {
  const pages: PagePart[][] = [];
  let page: PagePart[] = [];
  let used = 0;
  for (const s of sections) {
    let i = 0;
    do {
      const left = s.rows.length - i;
      const room = rowsPerPage - used - 3;
      if (used > 0 && room < Math.min(3, Math.max(1, left))) {
        pages.push(page);
        page = [];
        used = 0;
        continue;
      }
      const take = Math.min(room, left);
      page.push({ section: s, rows: s.rows.slice(i, i + take), continued: i > 0 });
      used += 3 + Math.max(1, take);
      i += take;
    } while (i < s.rows.length);
  }
  if (page.length) pages.push(page);
  return pages;
}

/** Builds the CSR of an account for a period, or the code it is refused with. */
export async function buildCsr(conn: ClickHouseConnection, o: CsrOptions): Promise<Csr | CsrRejection> {
  validateCsrOptions(o);
  const { fromDay, toDay } = periodDays(o.period);
  if (o.refresh !== false) {
    const windowStart = isoDay(Date.parse(`${toDay}T00:00:00Z`) - o.unusedDays * 86_400_000);
    await refreshStale(conn, windowStart < fromDay ? windowStart : fromDay, toDay);
  }
  const params = { account: o.account, period: o.period, unused_days: o.unusedDays };
  const q = (file: string) => conn.query<Row>(bindSql(loadSqlFile(SQL_DIR, file), params), SETTINGS);
  const [account] = await q('account.sql');
  if (!account) return { code: '001', reason: `account ${o.account} not found in the reference snapshot in force` };
  const lines = await q('lines.sql');
  const features = await q('features.sql');
  const directory = await q('directory.sql');
  const usage = await q('usage.sql');
  const findings: CsrFinding[] = [];
  for (const name of CSR_FINDING_QUERIES) {
    const sql = `SELECT ${FINDING_COLUMNS.join(', ')} FROM (${loadSqlFile(RECONCILIATION_SQL_DIR, `${name}.sql`)}) WHERE account_id = {account:String}`;
    for (const r of await conn.query<CsrFinding>(bindSql(sql, params), SETTINGS)) findings.push({ kind: r.kind, msisdn: r.msisdn, record_id: r.record_id, service: r.service, feature_code: r.feature_code, amount: r.amount, detail: r.detail });
  }
  const kinds = [...new Set(findings.map((f) => f.kind))];
  const moneyAtStake = kinds.map((kind) => {
    const of = findings.filter((f) => f.kind === kind);
    return { kind, findings: of.length, amount: sumMicros(of.map((f) => f.amount)) };
  });
  moneyAtStake.push({ kind: 'total', findings: findings.length, amount: sumMicros(findings.map((f) => f.amount)) });
  const [cur] = await conn.query<{ currency: string }>(`SELECT ifNull(JSONExtractString(any(operator_json), 'currency'), '') AS currency FROM ref_operator WHERE version = (SELECT version FROM ref_current_version)`);
  const csr: Csr = { account, period: o.period, lines, features, directory, usage, findings, moneyAtStake, currency: cur?.currency ?? '', pages: 0 };
  csr.pages = paginate(csrSections(csr), o.rowsPerPage).length;
  if (csr.pages > o.maxPages) return { code: '052', reason: `account exceeds the maximum page limit (${o.maxPages} pages): its CSR has ${csr.pages}`, pages: csr.pages };
  return csr;
}

const esc = (v: unknown) =>
  String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

function columnsOf(s: Section): string[] {
  return s.columns ?? Object.keys(s.rows[0] ?? {});
}

/** Paged text: each page headed "CSR <account> <period>, page n of m"; continued sections say so. */
export function renderCsrTable(c: Csr, rowsPerPage: number): string {
  const pages = paginate(csrSections(c), rowsPerPage);
  return pages
    .map((parts, n) => {
      const head = `=== Customer service record ${String(c.account.account_id)}, ${c.period}: page ${n + 1} of ${pages.length} ===`;
      const body = parts.map((p) => `${p.section.title}${p.continued ? ' (continued)' : ''}\n${p.rows.length ? renderTable(p.rows, columnsOf(p.section)) : '(none)'}`);
      return [head, ...body].join('\n\n');
    })
    .join('\n\n\f\n');
}

/** Print-ready HTML: one <section class="page"> per page, a page break after each (CSS paged media). */
export function renderCsrHtml(c: Csr, rowsPerPage: number): string {
  const pages = paginate(csrSections(c), rowsPerPage);
  const table = (p: PagePart) => {
    const cols = columnsOf(p.section);
    if (!p.rows.length) return '<p class="none">(none)</p>';
    return `<table><thead><tr>${cols.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${p.rows.map((r) => `<tr>${cols.map((h) => `<td>${esc(r[h])}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  };
  const body = pages
    .map(
      (parts, n) =>
        `<section class="page"><header>Customer service record ${esc(c.account.account_id)}, ${esc(c.period)} &mdash; page ${n + 1} of ${pages.length}</header>\n${parts.map((p) => `<h2>${esc(p.section.title)}${p.continued ? ' (continued)' : ''}</h2>\n${table(p)}`).join('\n')}</section>`,
    )
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CSR ${esc(c.account.account_id)} ${esc(c.period)}</title>
<style>
@page { size: A4 landscape; margin: 12mm; }
body { font: 9pt sans-serif; }
section.page { page-break-after: always; break-after: page; }
section.page:last-child { page-break-after: auto; break-after: auto; }
header { font-weight: bold; border-bottom: 1px solid #000; margin-bottom: 4mm; }
h2 { font-size: 10pt; margin: 3mm 0 1mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 1px 4px; text-align: left; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
</style></head>
<body>
${body}
</body></html>`;
}

export type CsrFormat = 'table' | 'json' | 'csv' | 'html';

export function renderCsr(c: Csr, format: CsrFormat, rowsPerPage: number): string {
  if (format === 'table') return renderCsrTable(c, rowsPerPage);
  if (format === 'html') return renderCsrHtml(c, rowsPerPage);
  return renderReport(format, csrSections(c), { account_id: c.account.account_id, period: c.period, currency: c.currency, pages: c.pages });
}

export function renderRejection(r: CsrRejection, account: string, format: CsrFormat): string {
  if (format === 'json') return JSON.stringify({ account_id: account, rejected: true, code: r.code, reason: r.reason, ...(r.pages !== undefined ? { pages: r.pages } : {}) }, null, 2);
  if (format === 'csv') return `account_id,code,reason\n${account},${r.code},"${r.reason.replace(/"/g, '""')}"`;
  if (format === 'html') return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>CSR ${esc(account)}</title></head><body><p>CSR request for ${esc(account)} rejected: ${esc(r.code)} ${esc(r.reason)}</p></body></html>`;
  return `CSR request for ${account} rejected: ${r.code} ${r.reason}`;
}

/** The latest month with rated usage for the account (the CSR's default period), else the current month. */
async function defaultPeriod(conn: ClickHouseConnection, account: string): Promise<string> {
  const [r] = await conn.query<{ p: string }>(bindSql(`SELECT formatDateTime(max(day), '%Y-%m') AS p FROM agg_usage_daily WHERE account_id = {account:String} AND records > 0 HAVING count() > 0`, { account }));
  return r?.p && r.p !== '1970-01' ? r.p : new Date().toISOString().slice(0, 7);
}

const intOption = (v: string | boolean | undefined, dflt: number, name: string) => {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new ReportUsageError(`--${name} expects a whole number, got ${String(v)}`);
  return Number(v);
};

export const csrReport: Report = {
  summary: 'the customer service record (CSR) of an account: lines, features, directory listing, usage, audit findings, money at stake',
  help: `      --account A             the account number (accounts.csv accountId), required
      --period YYYY-MM        the month of usage and audit (default: the account's latest month with usage)
      --format table|json|csv|html   html is print-ready (one page per printed page); default table
      --unused-days N         idle this many days at the end of the period = unused line (default 30, as reconcile)
      --rows-per-page N       rows per page (default ${DEFAULT_ROWS_PER_PAGE})
      --max-pages N           page limit (default ${DEFAULT_MAX_PAGES}); a longer CSR is answered with code 052
      --no-refresh            read the aggregates as they are
    Sections: account (identity, billing and service addresses, account number; the PIN is never shown),
    directory listing, lines (type, status, plan, recurring charge, verification: active, idle N days or never
    used), features (order code, charge, used in the period), usage per line, audit findings (unused lines and
    features, rates above contract or benchmark, misapplied surcharges, bill padding: the reconciliation's SQL
    restricted to the account) and the money at stake per month. An unknown account is answered 001, an
    account over the page limit 052 (exit code 1). SQL: reports/csr/sql/; reports/csr/README.md.`,
  async run(ctx) {
    const v = ctx.values;
    if (typeof v.account !== 'string' || v.account === '') throw new ReportUsageError('report csr needs --account A');
    const f = v.format ?? 'table';
    if (f !== 'table' && f !== 'json' && f !== 'csv' && f !== 'html') throw new ReportUsageError(`--format expects table, json, csv or html, got ${String(f)}`);
    const format = f as CsrFormat;
    const opts: CsrOptions = {
      account: v.account,
      period: typeof v.period === 'string' ? v.period : '2000-01',
      unusedDays: intOption(v['unused-days'], 30, 'unused-days'),
      rowsPerPage: intOption(v['rows-per-page'], DEFAULT_ROWS_PER_PAGE, 'rows-per-page'),
      maxPages: intOption(v['max-pages'], DEFAULT_MAX_PAGES, 'max-pages'),
      refresh: v['no-refresh'] !== true,
    };
    validateCsrOptions(opts);
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const conn = await connectClickHouse(ctx.cfg);
    let r: Csr | CsrRejection;
    try {
      await applyMigrations(conn, ctx.log);
      if (typeof v.period !== 'string') opts.period = await defaultPeriod(conn, opts.account);
      r = await buildCsr(conn, opts);
    } finally {
      await conn.close();
    }
    if ('code' in r) {
      emit(ctx, renderRejection(r, opts.account, format));
      return 1;
    }
    emit(ctx, renderCsr(r, format, opts.rowsPerPage));
    return 0;
  },
};
