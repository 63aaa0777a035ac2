/**
 * `cdr-pipeline report subscriber --msisdn N --period P` (issue #5 item 5): a subscriber's records of a period
 * for customer care, each with its exact price and the explanation of the price, and the totals per service.
 * The number is normalised as the pipeline normalises party numbers (enrich/normalise.ts, with the operator
 * and numbering plan of the current reference snapshot in ClickHouse, else rating.referenceDir), so
 * "07911 123456", "+44 7911 123456" and "447911123456" find the same line. SQL:
 * reports/subscriber/sql/.
 */
import { COLUMNS, type CountryRecord, type NumberRangeRecord, type OperatorRecord } from '../../schemas/reference.js';
import { Normaliser } from '../../enrich/normalise.js';
import type { ClickHouseConnection } from '../../sinks/clickhouse/connection.js';
import { bindSql, loadSqlFile } from '../../sinks/clickhouse/sql-files.js';

/** This capability's SQL files, beside its code (package-root relative): analysts run the same files. */
export const SQL_DIR = 'reports/subscriber/sql';
import { periodDays } from '../aggregates/aggregates.js';
import { resolveTimeZone } from '../forecasting/forecast.js';
import { emit, formatOf, renderReport, type Row } from '../output.js';
import { ReportUsageError, type Report, type ReportContext } from '../report.js';

const DAY_MS = 86_400_000;

export interface Period {
  /** [fromMs, toMs) in UTC. */
  fromMs: number;
  toMs: number;
  label: string;
}

/**
 * `YYYY-MM` (a calendar month, UTC days as the aggregates and reconciliation use), `YYYY-MM-DD` (one day) or
 * `YYYY-MM-DD..YYYY-MM-DD` (both days included).
 */
export function parsePeriod(arg: string | boolean | undefined): Period {
  if (typeof arg !== 'string' || arg === '') throw new ReportUsageError('--period is required: YYYY-MM, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD');
  const day = (s: string) => {
    const t = /^\d{4}-\d{2}-\d{2}$/.test(s) ? Date.parse(`${s}T00:00:00Z`) : Number.NaN;
    if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== s) throw new ReportUsageError(`--period: ${s} is not a date YYYY-MM-DD`);
    return t;
  };
  if (/^\d{4}-\d{2}$/.test(arg)) {
    let p: { fromDay: string; toDay: string };
    try {
      p = periodDays(arg);
    } catch (err) {
      throw new ReportUsageError(`--period: ${(err as Error).message}`);
    }
    return { fromMs: day(p.fromDay), toMs: day(p.toDay), label: arg };
  }
  const [a, b, extra] = arg.split('..');
  if (extra !== undefined || a === undefined) throw new ReportUsageError(`--period expects YYYY-MM, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD, got ${arg}`);
  const fromMs = day(a);
  const toMs = day(b ?? a) + DAY_MS;
  if (toMs <= fromMs) throw new ReportUsageError(`--period ${arg} ends before it starts`);
  return { fromMs, toMs, label: arg };
}

/**
 * A normaliser for subscriber numbers from the reference data the pipeline rates with: the operator, its
 * numbering plan and the countries of the current snapshot in ClickHouse (`reference import`).
 */
export async function normaliserFromClickHouse(conn: ClickHouseConnection): Promise<Normaliser | undefined> {
  const current = '(SELECT version FROM ref_current_version)';
  const [op] = await conn.query<{ operator_json: string }>(`SELECT operator_json FROM ref_operator WHERE version = ${current} LIMIT 1`);
  if (!op) return undefined;
  const select = (cols: readonly string[]) => cols.map((c) => `${c.replace(/([A-Z])/g, '_$1').toLowerCase()} AS ${c}`).join(', ');
  const plan = await conn.query<NumberRangeRecord>(`SELECT ${select(COLUMNS.numberingPlan)} FROM ref_numbering_plan WHERE version = ${current}`);
  const countries = await conn.query<CountryRecord>(`SELECT ${select(COLUMNS.countries)} FROM ref_countries WHERE version = ${current}`);
  return new Normaliser({ operator: JSON.parse(op.operator_json) as OperatorRecord, numberingPlan: plan.map((r) => ({ ...r, highRisk: Boolean(r.highRisk) })), countries });
}

/**
 * The subscriber number as stored in served_msisdn (E.164 digits). With a normaliser, national and
 * formatted forms are resolved with the home dialling rules; without one only international forms are.
 */
export function normaliseMsisdn(raw: string, normaliser: Normaliser | undefined): string {
  const s = raw.trim();
  if (s === '') throw new ReportUsageError('--msisdn is required');
  if (normaliser) {
    const n = normaliser.normalise(s, normaliser.home);
    if (!n || !/^\d{3,15}$/.test(n.e164)) throw new ReportUsageError(`--msisdn ${raw} is not a subscriber number`);
    return n.e164;
  }
  const compact = s.replace('(0)', '').replace(/[\s\-().]/g, '');
  const m = /^(?:\+|00)?(\d{6,15})$/.exec(compact);
  if (!m || (compact.startsWith('0') && !compact.startsWith('00'))) {
    throw new ReportUsageError(`--msisdn ${raw}: without reference data in ClickHouse or rating.referenceDir only international numbers (+44..., 0044..., 44...) can be looked up`);
  }
  return m[1]!;
}

export interface SubscriberLookup {
  msisdn: string;
  records: Row[];
  totals: Row[];
  /** Care adjustments of the line in the periods looked up (care/README.md), every state. */
  adjustments: Row[];
}

const chTime = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

export async function lookupSubscriber(conn: ClickHouseConnection, msisdn: string, period: Period, tz: string): Promise<SubscriberLookup> {
  const params = { msisdn, from: chTime(period.fromMs), to: chTime(period.toMs), tz };
  const records = await conn.query<Row>(bindSql(loadSqlFile(SQL_DIR, 'records.sql'), params));
  const totals = await conn.query<Row>(bindSql(loadSqlFile(SQL_DIR, 'totals.sql'), params));
  const adjustments = await conn.query<Row>(bindSql(loadSqlFile(SQL_DIR, 'adjustments.sql'), params));
  return { msisdn, records, totals, adjustments };
}

async function normaliserFor(conn: ClickHouseConnection, ctx: ReportContext): Promise<Normaliser | undefined> {
  const fromCh = await normaliserFromClickHouse(conn);
  if (fromCh) return fromCh;
  if (ctx.cfg.rating.referenceDir === '') return undefined;
  const { loadReferenceDir } = await import('../../enrich/reference.js');
  const ref = loadReferenceDir(ctx.cfg.rating.referenceDir);
  return new Normaliser({ operator: ref.operator, numberingPlan: ref.numberingPlan, networks: ref.networks, countries: ref.countries });
}

export const subscriberReport: Report = {
  summary: "customer care: a subscriber's records with exact price and its explanation, totals per service",
  help: `      --msisdn N              the subscriber, as dialled or in international form (07911 123456, +447911123456)
      --period P              YYYY-MM (UTC month), YYYY-MM-DD, or YYYY-MM-DD..YYYY-MM-DD (both days included)
      --time-zone TZ          time zone of the printed times (default: the operator's; else UTC)
    The line's records in any role (docs/RECONCILIATION.md "Lines in use"): as served party, and as the
    extension (DDI) a switch wrote beside its PBX trunk's pilot number (column line_role).
    Every record once (cdrs FINAL: a duplicate from the switch or a replay shows once) with time, type, other
    party, duration, billed usage, price (exact), what care adjustments credited on it (adjusted), tariff, rate,
    band and the explanation of the price; then the totals per service and overall (exact Decimal sums); then the
    care adjustments of the line in the periods looked up (applied, queued for approval, rejected: who, why,
    when, original and credited amounts).`,
  async run(ctx) {
    const format = formatOf(ctx.values);
    const period = parsePeriod(ctx.values.period);
    const raw = typeof ctx.values.msisdn === 'string' ? ctx.values.msisdn : '';
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const conn = await connectClickHouse(ctx.cfg);
    try {
      await applyMigrations(conn, ctx.log);
      const msisdn = normaliseMsisdn(raw, await normaliserFor(conn, ctx));
      const zone = await resolveTimeZone(conn, ctx.cfg, ctx.values['time-zone']);
      const tz = zone.tz;
      if (zone.warning) ctx.log.warn({ timeZone: tz, source: zone.source }, 'no reference data in ClickHouse: times are not in the operator\'s time zone (import the reference data or pass --time-zone)');
      const r = await lookupSubscriber(conn, msisdn, period, tz);
      const meta = { msisdn, input: raw, period: period.label, from: new Date(period.fromMs).toISOString(), to: new Date(period.toMs).toISOString(), time_zone: tz, time_zone_source: zone.source, warnings: zone.warning ? [zone.warning] : [] };
      const sections = [
        { title: `Records (${r.records.length}; times in ${tz})`, key: 'records', rows: r.records },
        { title: 'Totals per service', key: 'totals', rows: r.totals },
        { title: `Care adjustments (${r.adjustments.length}; cdr-pipeline adjust)`, key: 'adjustments', rows: r.adjustments },
      ];
      emit(
        ctx,
        format === 'table'
          ? `Subscriber ${msisdn}${raw.trim() !== msisdn ? ` (as given: ${raw.trim()})` : ''}, period ${period.label} [${meta.from} .. ${meta.to})\n\n${renderReport(format, sections, {}, meta.warnings)}`
          : renderReport(format, sections, meta),
      );
      return 0;
    } finally {
      await conn.close();
    }
  },
};
