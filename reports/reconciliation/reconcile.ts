/**
 * `cdr-pipeline report reconcile --period YYYY-MM`: billing reconciliation and the customer-service-record audit
 * (issue #5 item 3; docs/RECONCILIATION.md). Every query is a file under reports/reconciliation/sql/ that an
 * analyst can run as it is; this module binds the parameters, runs them, and assembles a summary (findings and
 * money at stake per kind) and the detail rows.
 *
 * The usage comparison reads the pre-aggregate agg_usage_daily; only the record-level checks (leakage, phantom
 * charges, surcharges) read `cdrs FINAL`, restricted to the period. Before reading, the aggregate days of the
 * period (and of the unused-line window) whose CDRs changed since their last refresh are recomputed, so the
 * report never reads a stale aggregate (--no-refresh skips that).
 */
import type { FindingKind } from '../../schemas/billing.js';
import { FINDING_KINDS } from '../../schemas/billing.js';
import type { ClickHouseConnection, Settings } from '../../sinks/clickhouse/connection.js';
import { bindSql, loadSqlFile } from '../../sinks/clickhouse/sql-files.js';

/** This capability's SQL files, beside its code (package-root relative): analysts run the same files. */
export const SQL_DIR = 'reports/reconciliation/sql';
import { isoDay, periodDays, refreshStale, staleDaysWithReason, type RefreshResult } from '../aggregates/aggregates.js';
import { emit, formatOf, renderReport, type Row } from '../output.js';
import { ReportUsageError, type Report } from '../report.js';

export interface ReconcileOptions {
  /** 'YYYY-MM' */
  period: string;
  /** Absolute tolerance of the usage comparison, an exact decimal string ('0.01'). */
  tolerance: string;
  /** N of the unused-line audit. */
  unusedDays: number;
  /** Recompute stale aggregate days first (default true). */
  refresh?: boolean;
}

export interface UsageRow {
  account_id: string;
  service: string;
  currency: string;
  rated_amount: string;
  billed_amount: string;
  /** Credited by care adjustments on the billed lines (care/README.md); difference = billed - adjusted - rated. */
  adjusted_amount: string;
  difference: string;
  flag: 'ok' | 'over-billed' | 'under-billed';
  rated_records: string;
  billed_lines: string;
}

/** One finding, every kind in the same shape (amount: money at stake, an exact decimal string, >= 0). */
export interface Finding {
  kind: FindingKind;
  account_id: string;
  msisdn: string;
  record_id: string;
  service: string;
  feature_code: string;
  amount: string;
  detail: string;
}

export interface Reconciliation {
  period: string;
  tolerance: string;
  unusedDays: number;
  currency: string;
  refreshed: RefreshResult | null;
  /**
   * Days of the period (and of the unused-line window) whose aggregates were older than their CDRs when the
   * report read them: empty after a refresh; with --no-refresh, the days the report may be wrong about.
   */
  staleDays: string[];
  /** Of staleDays, those built with an older reference snapshot (or before any) than the one in force. */
  referenceStaleDays: string[];
  usage: UsageRow[];
  findings: Finding[];
  summary: { kind: FindingKind; findings: number; amount: string }[];
  /** CDRs of the period that are not RATED (their value is unknown to the usage comparison). */
  unratedRecords: number;
  /** Invoice lines of the period, and benchmark rates, in ClickHouse (0: nothing imported). */
  invoiceLines: number;
  /**
   * The rate audit's coverage (docs/RECONCILIATION.md "The rate audit"): voice and data usage lines it checked,
   * those it could not map or compare (listed in `unmapped`, per reason, service and destination_class), and
   * usage lines of other services, which it does not audit.
   */
  rateAudit: { checked: number; unmapped: number; otherServices: number };
  unmapped: UnmappedLines[];
  benchmarkRates: number;
  /** Milliseconds per query file. */
  timings: Record<string, number>;
}

/** Invoice lines the rate audit did not check, grouped (rate_audit_unmapped.sql). */
export interface UnmappedLines {
  reason: string;
  service: string;
  destination_class: string;
  lines: string;
  amount: string;
  example: string;
}

/** The finding queries, in report order (files under reports/reconciliation/sql/). */
export const FINDING_QUERIES = ['leakage', 'phantom', 'double_billed', 'unused_lines', 'unused_features', 'missing_inventory', 'rates_above', 'misapplied_surcharges', 'bill_padding'] as const;

/**
 * Settings the queries run with on both connections: FINAL needs no merging across cdrs partitions (a CDR's
 * copies share its seizure month), joins fill missing sides with defaults (0, ''), as the SQL expects, and
 * money keeps its 6 decimals in the output ("0.139000", not "0.139").
 */
export const RECONCILE_SETTINGS: Settings = { do_not_merge_across_partitions_select_final: 1, join_use_nulls: 0, output_format_decimal_trailing_zeros: 1 };

const MONEY = /^\d{1,12}(\.\d{1,6})?$/;

export function validateOptions(o: ReconcileOptions): void {
  try {
    periodDays(o.period);
  } catch (err) {
    throw new ReportUsageError(`--period: ${(err as Error).message}`);
  }
  if (!MONEY.test(o.tolerance)) throw new ReportUsageError(`--tolerance expects a non-negative amount with at most 6 decimals, got ${o.tolerance}`);
  if (!Number.isInteger(o.unusedDays) || o.unusedDays < 1 || o.unusedDays > 3660) throw new ReportUsageError(`--unused-days expects 1 to 3660, got ${o.unusedDays}`);
}

/** Sums exact decimal strings in micro-units (bigint) and formats the total. */
export function sumMoney(values: readonly string[]): string {
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

const abs = (v: string) => (v.startsWith('-') ? v.slice(1) : v);

/** Runs the whole reconciliation of a period. */
export async function reconcile(conn: ClickHouseConnection, o: ReconcileOptions): Promise<Reconciliation> {
  validateOptions(o);
  const { fromDay, toDay } = periodDays(o.period);
  let refreshed: RefreshResult | null = null;
  // The unused-line audit looks back unusedDays from the end of the period, maybe before its start.
  const windowStart = isoDay(Date.parse(`${toDay}T00:00:00Z`) - o.unusedDays * 86_400_000);
  const readFrom = windowStart < fromDay ? windowStart : fromDay;
  let stale: { day: string; reason: 'cdrs' | 'reference' }[] = [];
  if (o.refresh !== false) refreshed = await refreshStale(conn, readFrom, toDay);
  else stale = await staleDaysWithReason(conn, readFrom, toDay);
  const params = { period: o.period, tolerance: o.tolerance, unused_days: o.unusedDays };
  const timings: Record<string, number> = {};
  const run = async <T>(name: string): Promise<T[]> => {
    const t0 = performance.now();
    const rows = await conn.query<T>(bindSql(loadSqlFile(SQL_DIR, `${name}.sql`), params), RECONCILE_SETTINGS);
    timings[name] = Math.round(performance.now() - t0);
    return rows;
  };
  const usage = await run<UsageRow>('usage');
  const findings: Finding[] = usage
    .filter((u) => u.flag !== 'ok')
    .map((u) => ({ kind: u.flag as FindingKind, account_id: u.account_id, msisdn: '', record_id: '', service: u.service, feature_code: '', amount: abs(u.difference), detail: `rated ${u.rated_amount} ${u.currency}, billed ${u.billed_amount} ${u.currency}${/^0(\.0*)?$/.test(u.adjusted_amount) ? '' : `, adjusted ${u.adjusted_amount} ${u.currency}`}` }));
  for (const q of FINDING_QUERIES) {
    for (const r of await run<Finding & Record<string, unknown>>(q)) {
      findings.push({ kind: r.kind, account_id: r.account_id, msisdn: r.msisdn, record_id: r.record_id, service: r.service, feature_code: r.feature_code, amount: r.amount, detail: r.detail });
    }
  }
  // The rate audit's coverage: what it could not map is listed, never skipped without a word.
  const unmapped = await run<UnmappedLines>('rate_audit_unmapped');
  const unmappedCount = unmapped.reduce((n, u) => n + Number(u.lines), 0);
  const [audit] = await conn.query<{ in_scope: string; other: string }>(
    bindSql(
      `SELECT countIf(service IN ('voice', 'data')) AS in_scope, countIf(service NOT IN ('voice', 'data')) AS other
       FROM invoice_lines FINAL WHERE period = {period:String} AND charge_type = 'usage'`,
      { period: o.period },
    ),
  );
  const summary = FINDING_KINDS.map((kind) => {
    const of = findings.filter((f) => f.kind === kind);
    return { kind, findings: of.length, amount: sumMoney(of.map((f) => f.amount)) };
  });
  const [meta] = await conn.query<{ unrated: string; currency: string; lines: string; benchmarks: string }>(
    bindSql(
      `SELECT sum(unrated_records) AS unrated,
              (SELECT ifNull(JSONExtractString(any(operator_json), 'currency'), '') FROM ref_operator WHERE version = (SELECT version FROM ref_current_version)) AS currency,
              (SELECT count() FROM invoice_lines WHERE period = {period:String}) AS lines,
              (SELECT count() FROM rate_benchmarks) AS benchmarks
       FROM agg_usage_daily WHERE day >= {from_day:Date} AND day < {to_day:Date}`,
      { from_day: fromDay, to_day: toDay, period: o.period },
    ),
  );
  return {
    period: o.period,
    tolerance: o.tolerance,
    unusedDays: o.unusedDays,
    currency: meta?.currency ?? '',
    refreshed,
    staleDays: stale.map((d) => d.day),
    referenceStaleDays: stale.filter((d) => d.reason === 'reference').map((d) => d.day),
    usage,
    findings,
    summary,
    unratedRecords: Number(meta?.unrated ?? 0),
    invoiceLines: Number(meta?.lines ?? 0),
    rateAudit: {
      checked: Number(audit?.in_scope ?? 0) - unmappedCount,
      unmapped: unmappedCount,
      otherServices: Number(audit?.other ?? 0),
    },
    unmapped,
    benchmarkRates: Number(meta?.benchmarks ?? 0),
    timings,
  };
}

/** A period with no invoice lines in ClickHouse: nothing to reconcile (the CLI exits 1 with the message, no report). */
export class NoInvoiceLinesError extends Error {
  override name = 'NoInvoiceLinesError';
}

export async function requireInvoiceLines(conn: ClickHouseConnection, period: string): Promise<void> {
  const [row] = await conn.query<{ lines: string }>(bindSql('SELECT count() AS lines FROM invoice_lines WHERE period = {period:String}', { period }));
  if (Number(row?.lines ?? 0) === 0) {
    throw new NoInvoiceLinesError(`no invoice lines of ${period} in ClickHouse: nothing to reconcile (every finding compares against the invoices). Import the billing system's export first: cdr-pipeline import invoices FILE`);
  }
}

/** `2026-10-03`, or `2026-10-03 .. 2026-10-09 (5 days)`. */
function staleSpan(days: readonly string[]): string {
  return days.length === 1 ? days[0]! : `${days[0]} .. ${days[days.length - 1]}, ${days.length} days`;
}

const FINDING_COLUMNS = ['kind', 'account_id', 'msisdn', 'record_id', 'service', 'feature_code', 'amount', 'detail'];
const UNMAPPED_COLUMNS = ['reason', 'service', 'destination_class', 'lines', 'amount', 'example'];
const USAGE_COLUMNS = ['account_id', 'service', 'currency', 'rated_amount', 'billed_amount', 'adjusted_amount', 'difference', 'flag', 'rated_records', 'billed_lines'];

export const reconcileReport: Report = {
  summary: 'billing reconciliation of a period: rated vs billed, leakage, phantom and double charges, service-record audit',
  help: `      --period YYYY-MM        the billing period (UTC calendar month of the CDRs' seizure time), required
      --tolerance AMOUNT      usage difference per account and service flagged beyond this (default 0.01)
      --unused-days N         a line of the inventory with no CDR in the last N days of the period is unused (default 30)
      --no-refresh            read the aggregates as they are (default: recompute the period's stale days first);
                              the report then warns about every stale day it read (CDRs changed, or built with
                              an older reference snapshot)
      --strict                exit 1 when the report read stale aggregates (with --no-refresh)
    Sections: summary (findings and money at stake per kind); usage (per account and service: rated, billed,
    difference, flag; the table lists the flagged ones); findings (over-/under-billed, leakage, phantom-charge,
    double-billed, unused-line, unused-feature, missing-from-inventory, rate-above-contract,
    rate-above-benchmark, misapplied-surcharge); rate audit, lines not checked (voice and data usage lines it
    could not map to a contract, destination, roaming zone or data network, per reason and destination_class;
    also counted in a summary line). Needs invoice lines of the period (cdr-pipeline import invoices
    FILE; without any it reports nothing and exits 1), the
    reference data (cdr-pipeline reference import DIR) and, for the rate audit, benchmark rates (cdr-pipeline
    import benchmarks). SQL: reports/reconciliation/sql/*.sql; docs/RECONCILIATION.md.`,
  async run(ctx) {
    const v = ctx.values;
    if (typeof v.period !== 'string') throw new ReportUsageError('report reconcile needs --period YYYY-MM');
    const format = formatOf(v);
    const unused = v['unused-days'];
    const unusedDays = unused === undefined ? 30 : Number(unused);
    if (typeof unused === 'string' && !/^\d+$/.test(unused)) throw new ReportUsageError(`--unused-days expects a whole number of days, got ${unused}`);
    const opts: ReconcileOptions = { period: v.period, tolerance: typeof v.tolerance === 'string' ? v.tolerance : '0.01', unusedDays, refresh: v['no-refresh'] !== true };
    validateOptions(opts);
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const conn = await connectClickHouse(ctx.cfg);
    let r: Reconciliation;
    try {
      await applyMigrations(conn, ctx.log);
      // Every finding compares against the period's invoices: without any, each rated CDR would be reported
      // as leakage and each line as unused, a report of false findings. Stop first, saying what is missing.
      await requireInvoiceLines(conn, opts.period);
      r = await reconcile(conn, opts);
    } finally {
      await conn.close();
    }
    const cur = r.currency;
    const summaryRows: Row[] = r.summary.map((s) => ({ kind: s.kind, findings: s.findings, [`amount_at_stake${cur ? `_${cur}` : ''}`]: s.amount }));
    const flagged = r.usage.filter((u) => u.flag !== 'ok');
    const notes = [
      ...(r.invoiceLines === 0 ? [`No invoice lines of ${r.period} in ClickHouse: import them first (cdr-pipeline import invoices FILE).`] : []),
      ...(r.benchmarkRates === 0 ? ['No benchmark rates: the rate audit checks contracted rates only (cdr-pipeline import benchmarks --from-tariffs).'] : []),
      `${r.usage.length - flagged.length} of ${r.usage.length} account/service pairs within the tolerance of ${r.tolerance}${cur ? ` ${cur}` : ''}.`,
      `${r.unratedRecords} CDRs of the period are not rated (their value is missing from the usage comparison).`,
      r.refreshed
        ? `Aggregates recomputed for ${r.refreshed.days.length} stale day(s) in ${r.refreshed.seconds.toFixed(1)} s.`
        : r.staleDays.length === 0
          ? 'Aggregates read as they are (--no-refresh); none of the days read was stale.'
          : `WARNING: aggregates read as they are (--no-refresh), but ${r.staleDays.length} day(s) of them are stale (${staleSpan(r.staleDays)}): ${
              r.referenceStaleDays.length === 0
                ? 'their CDRs changed since the last refresh'
                : r.referenceStaleDays.length === r.staleDays.length
                  ? 'they were built with an older reference snapshot than the one in force (reference import since)'
                  : `${r.staleDays.length - r.referenceStaleDays.length} because their CDRs changed since the last refresh, ${r.referenceStaleDays.length} (${staleSpan(r.referenceStaleDays)}) because they were built with an older reference snapshot than the one in force`
            }, so the usage comparison and the audits may be wrong for those days. Run without --no-refresh, or \`cdr-pipeline aggregate --period ${r.period}\` first.`,
      r.rateAudit.unmapped === 0
        ? `Rate audit: ${r.rateAudit.checked} voice and data usage lines checked, every one mapped to a contract or benchmark${r.rateAudit.otherServices ? `; ${r.rateAudit.otherServices} usage lines of other services (sms, incoming) are not rate-audited` : ''}.`
        : `Rate audit: ${r.rateAudit.unmapped} of ${r.rateAudit.checked + r.rateAudit.unmapped} voice and data usage lines NOT checked: they map to no contract, tariff destination, roaming zone or data network with a rate to compare (section "Rate audit: lines not checked"; docs/RECONCILIATION.md "The rate audit")${r.rateAudit.otherServices ? `; ${r.rateAudit.otherServices} usage lines of other services (sms, incoming) are not rate-audited` : ''}.`,
    ];
    if (r.staleDays.length) ctx.log.warn({ period: r.period, staleDays: r.staleDays.length, referenceStaleDays: r.referenceStaleDays.length, first: r.staleDays[0], last: r.staleDays[r.staleDays.length - 1] }, 'report read stale aggregates (--no-refresh)');
    if (r.rateAudit.unmapped > 0) ctx.log.warn({ period: r.period, unmappedLines: r.rateAudit.unmapped }, 'rate audit: invoice lines not mapped to a destination were not checked');
    const meta: Row = { period: r.period, tolerance: r.tolerance, unusedDays: r.unusedDays, currency: cur, unratedRecords: r.unratedRecords, invoiceLines: r.invoiceLines, benchmarkRates: r.benchmarkRates, refreshedDays: r.refreshed?.days ?? [], staleDays: r.staleDays, referenceStaleDays: r.referenceStaleDays, rateAudit: r.rateAudit, timingsMs: r.timings };
    const rendered = renderReport(
      format,
      [
        { title: `Billing reconciliation ${r.period}: summary`, key: 'summary', rows: summaryRows },
        { title: 'Usage: rated against billed, per account and service (flagged)', key: 'usage', rows: (format === 'table' ? flagged : r.usage) as unknown as Row[], columns: USAGE_COLUMNS },
        { title: 'Findings', key: 'findings', rows: r.findings as unknown as Row[], columns: FINDING_COLUMNS },
        { title: `Rate audit: lines not checked (${r.rateAudit.unmapped} of ${r.rateAudit.checked + r.rateAudit.unmapped} voice and data usage lines)`, key: 'rate_audit_unmapped', rows: r.unmapped as unknown as Row[], columns: UNMAPPED_COLUMNS },
      ],
      meta,
      notes,
    );
    emit(ctx, rendered);
    // --strict: a report that read stale aggregates is a failure for scripts (the warning above says why).
    return v.strict === true && r.staleDays.length > 0 ? 1 : 0;
  },
};
