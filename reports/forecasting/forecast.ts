/**
 * `cdr-pipeline report forecast` and `report backtest` (issue #5 item 4; docs/FORECASTING.md): hourly calls,
 * minutes and revenue per destination class and region from the hourly aggregate (agg_traffic_hourly),
 * forecast with weekly seasonality, trend, holidays and prediction bands by the SQL in
 * reports/forecasting/sql/ (the network's expected calls x each series' share of them, as a
 * distribution: median point, 10%..90% band, mean for sums), and stored in traffic_forecast for Grafana. The
 * backtest forecasts each of the last K weeks from the weeks before it (rolling origin) and prints sMAPE, MAPE
 * and WAPE of the model and of the seasonal-naive baseline, band coverage and the bias of the expected values.
 * The model is all SQL; this module picks the parameters and prints.
 */
import { createHash } from 'node:crypto';
import { ukBankHolidays } from '../../schemas/holidays.js';
import type { TariffBookFile } from '../../schemas/tariff.js';
import type { Config } from '../../pipeline/config.js';
import type { ClickHouseConnection } from '../../sinks/clickhouse/connection.js';
import { bindSql, loadSqlFile } from '../../sinks/clickhouse/sql-files.js';

/** This capability's SQL files, beside its code (package-root relative): analysts run the same files. */
export const SQL_DIR = 'reports/forecasting/sql';
import { emit, formatOf, renderReport, type Row } from '../output.js';
import { ReportUsageError, type Report, type ReportContext } from '../report.js';

/** Name stored with every forecast row (traffic_forecast.model). */
export const MODEL = 'topdown-median';
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface ForecastSpec {
  /** First forecast hour, UTC epoch ms (a whole hour). */
  originMs: number;
  horizonHours: number;
  /** Weeks of history before the origin the model is fitted on (at least 2). */
  historyWeeks: number;
  /** IANA time zone of the hour-of-week profile and of holiday dates. */
  tz: string;
  /** Holiday dates (YYYY-MM-DD) in addition to ref_holidays of the current reference snapshot. */
  holidays: readonly string[];
  kind: 'forecast' | 'backtest';
}

export interface ForecastRun {
  runId: string;
  /** Rows stored (series x hours). */
  rows: number;
  series: number;
  /** The network curve's trend in % of its daily level at the origin per week (null without a forecast). */
  trendPctWeek: number | null;
}

const isoHour = (ms: number) => new Date(ms).toISOString().slice(0, 19) + 'Z';
/** A DateTime('UTC') parameter value. */
const chTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
/** An Array(...) parameter value in ClickHouse's text form (elements are validated dates or run ids). */
const chArray = (items: readonly string[]) => `[${items.map((s) => `'${s.replace(/[\\']/g, '\\$&')}'`).join(',')}]`;
const loadSql = (name: string) => loadSqlFile(SQL_DIR, `${name}.sql`);

/**
 * Every option that changes the result is in the run id: kind, model, origin, horizon, history, time zone and the
 * holiday set (a hash of the holiday dates the run reads, history and horizon: a calendar with dates elsewhere
 * names the same run). The same options again: the same run, whose rows a new computation replaces; different
 * options: another run, whose rows are kept beside it. (ref_holidays, which model.sql adds, are in the set the
 * report passes: resolveHolidays.)
 */
export function runIdOf(spec: Pick<ForecastSpec, 'kind' | 'originMs' | 'horizonHours' | 'historyWeeks' | 'tz' | 'holidays'>): string {
  const from = isoHour(spec.originMs - spec.historyWeeks * 7 * DAY_MS - DAY_MS).slice(0, 10);
  const to = isoHour(spec.originMs + spec.horizonHours * HOUR_MS + DAY_MS).slice(0, 10);
  const inWindow = [...new Set(spec.holidays)].filter((d) => d >= from && d <= to).sort();
  const hol = inWindow.length === 0 ? 'none' : createHash('sha256').update(inWindow.join(',')).digest('hex').slice(0, 10);
  return `${spec.kind}/${MODEL}/${isoHour(spec.originMs)}/h${spec.horizonHours}/w${spec.historyWeeks}/tz=${spec.tz}/hol=${hol}`;
}

function modelParams(spec: ForecastSpec): Record<string, string | number> {
  return { origin: chTime(spec.originMs), horizon_hours: spec.horizonHours, history_weeks: spec.historyWeeks, tz: spec.tz, holidays: chArray(spec.holidays) };
}

/** The model's rows for a spec, without storing them (what model.sql returns). */
export async function computeForecast(conn: ClickHouseConnection, spec: ForecastSpec): Promise<Row[]> {
  return conn.query(bindSql(loadSql('model'), modelParams(spec)));
}

/** Computes the forecast in ClickHouse and stores it in traffic_forecast (replacing the same run's rows). */
export async function writeForecast(conn: ClickHouseConnection, spec: ForecastSpec): Promise<ForecastRun> {
  validateSpec(spec);
  const runId = runIdOf(spec);
  const insert = loadSql('insert').replace('/*model*/', loadSql('model'));
  await conn.command(bindSql(insert, { ...modelParams(spec), run_id: runId, run_kind: spec.kind, model_name: MODEL }));
  const [r] = await conn.query<{ rows: string; series: string; trend: number | null }>(
    `SELECT count() AS rows, uniqExact(metric, destination_class, region, currency) AS series,
            round(100 * 7 * any(trend_per_day) / nullIf(anyIf(daily_level, target_hour = origin), 0), 2) AS trend
     FROM traffic_forecast FINAL WHERE run_id = ${sqlQuote(runId)}`,
  );
  const trend = r?.trend === null || r?.trend === undefined ? null : Number(r.trend);
  return { runId, rows: Number(r?.rows ?? 0), series: Number(r?.series ?? 0), trendPctWeek: trend !== null && Number.isFinite(trend) ? trend : null };
}

function sqlQuote(s: string): string {
  return bindSql('{v:String}', { v: s });
}

export function validateSpec(spec: ForecastSpec): void {
  if (spec.originMs % HOUR_MS !== 0) throw new ReportUsageError(`the forecast origin must be a whole hour, got ${new Date(spec.originMs).toISOString()}`);
  if (!Number.isInteger(spec.horizonHours) || spec.horizonHours < 1 || spec.horizonHours > 24 * 7 * 8) throw new ReportUsageError(`the horizon must be 1 hour to 8 weeks, got ${spec.horizonHours} hours`);
  if (!Number.isInteger(spec.historyWeeks) || spec.historyWeeks < 2 || spec.historyWeeks > 104) throw new ReportUsageError(`--weeks-of-history must be 2 to 104, got ${spec.historyWeeks}`);
  for (const d of spec.holidays) if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) throw new ReportUsageError(`holiday ${d} is not a YYYY-MM-DD date`);
}

export interface BacktestSpec {
  /** End of the last held-out week (UTC epoch ms); held-out weeks are the `weeks` weeks before it. */
  endMs: number;
  /** Held-out weeks (rolling origin: each forecast from the history weeks before it). */
  weeks: number;
  historyWeeks: number;
  tz: string;
  holidays: readonly string[];
}

export interface BacktestRow {
  metric: string;
  level: 'total' | 'class' | 'region' | 'series';
  /** Origin of the held-out week (ISO), or 'all' for the errors over every held-out week. */
  held_out: string;
  hours: number;
  smape_model: number;
  smape_naive: number;
  mape_model: number;
  mape_naive: number;
  wape_model: number;
  wape_naive: number;
  coverage: number;
  /** (sum of expected values - sum of actuals) / sum of actuals, in %; the same for seasonal-naive. */
  bias_expected: number;
  bias_naive: number;
}

export interface BacktestResult {
  origins: number[];
  runIds: string[];
  rows: BacktestRow[];
}

/** Origins of the held-out weeks: the same local wall-clock time 1..K weeks before the end, oldest first. */
async function weekOrigins(conn: ClickHouseConnection, endMs: number, weeks: number, tz: string): Promise<number[]> {
  const rows = await conn.query<{ o: string }>(
    bindSql(`SELECT toUnixTimestamp(toTimeZone({end:DateTime('UTC')}, {tz:String}) - toIntervalWeek(number + 1)) AS o FROM numbers({weeks:UInt32}) ORDER BY o`, { end: chTime(endMs), tz, weeks }),
  );
  return rows.map((r) => Number(r.o) * 1000);
}

/** Forecasts each held-out week from the weeks before it, stores the runs (kind backtest) and measures them. */
export async function backtest(conn: ClickHouseConnection, spec: BacktestSpec): Promise<BacktestResult> {
  if (!Number.isInteger(spec.weeks) || spec.weeks < 1 || spec.weeks > 52) throw new ReportUsageError(`--weeks must be 1 to 52, got ${spec.weeks}`);
  const origins = await weekOrigins(conn, spec.endMs, spec.weeks, spec.tz);
  const runIds: string[] = [];
  for (let i = 0; i < origins.length; i++) {
    const originMs = origins[i]!;
    const next = origins[i + 1] ?? spec.endMs;
    const horizonHours = Math.round((next - originMs) / HOUR_MS);
    const run = await writeForecast(conn, { originMs, horizonHours, historyWeeks: spec.historyWeeks, tz: spec.tz, holidays: spec.holidays, kind: 'backtest' });
    runIds.push(run.runId);
  }
  const raw = await conn.query<Record<string, string | number | null>>(bindSql(loadSql('backtest'), { run_ids: chArray(runIds) }));
  const num = (v: unknown) => (v === null || v === undefined ? Number.NaN : Number(v));
  const rows = raw.map((r) => ({
    metric: String(r.metric),
    level: String(r.level) as BacktestRow['level'],
    held_out: String(r.held_out),
    hours: num(r.hours),
    smape_model: num(r.smape_model),
    smape_naive: num(r.smape_naive),
    mape_model: num(r.mape_model),
    mape_naive: num(r.mape_naive),
    wape_model: num(r.wape_model),
    wape_naive: num(r.wape_naive),
    coverage: num(r.coverage),
    bias_expected: num(r.bias_expected),
    bias_naive: num(r.bias_naive),
  }));
  return { origins, runIds, rows };
}

// ------------------------------------------------------------------------------------------ defaults

export interface DataSpan {
  /** First and last hour in agg_traffic_hourly (UTC epoch ms). */
  firstMs: number;
  lastMs: number;
}

export async function dataSpan(conn: ClickHouseConnection): Promise<DataSpan | undefined> {
  const [r] = await conn.query<{ n: string; first: number; last: number }>('SELECT count() AS n, toUnixTimestamp(min(hour)) AS first, toUnixTimestamp(max(hour)) AS last FROM agg_traffic_hourly');
  if (!r || Number(r.n) === 0) return undefined;
  return { firstMs: Number(r.first) * 1000, lastMs: Number(r.last) * 1000 };
}

/**
 * Local midnight of the day after the last complete day: the default origin (today's partial data is forecast).
 * In a zone whose offset is not whole hours it is the UTC hour that local midnight falls in (the aggregate is
 * per UTC hour).
 */
export async function defaultOrigin(conn: ClickHouseConnection, span: DataSpan, tz: string): Promise<number> {
  const [r] = await conn.query<{ o: string }>(
    bindSql(`SELECT toUnixTimestamp(toStartOfHour(toTimeZone(toStartOfDay({last:DateTime('UTC')} + toIntervalHour(1), {tz:String}), 'UTC'))) AS o`, { last: chTime(span.lastMs), tz }),
  );
  return Number(r!.o) * 1000;
}

/** The operator's time zone from the current reference snapshot, else UTC. */
export async function operatorTimeZone(conn: ClickHouseConnection): Promise<string> {
  return (await referenceTimeZone(conn)) ?? 'UTC';
}

async function referenceTimeZone(conn: ClickHouseConnection): Promise<string | undefined> {
  const [r] = await conn.query<{ tz: string }>("SELECT JSONExtractString(any(operator_json), 'timezone') AS tz FROM ref_operator WHERE version = (SELECT version FROM ref_current_version)");
  return r?.tz ? r.tz : undefined;
}

/** The tariff book rating uses (rating.tariffFile, else the bundled one), or undefined when it cannot be read. */
async function ratingTariffBook(cfg: Config | undefined): Promise<{ path: string; book: TariffBookFile } | undefined> {
  const { defaultTariffPath, loadTariffBook } = await import('../../enrich/rate/index.js');
  const path = cfg?.rating.tariffFile || defaultTariffPath();
  try {
    return { path, book: loadTariffBook(path) };
  } catch {
    return undefined;
  }
}

export interface ResolvedTimeZone {
  tz: string;
  source: 'option' | 'reference data' | 'tariff book' | 'default';
  /** Set when the zone is not the operator's from reference data: which zone was used and how to fix that. */
  warning?: string;
}

/**
 * The time zone of a report: --time-zone, else the operator's (ref_operator of the snapshot in force), else the
 * zone of the tariff book rating prices time bands in, else UTC. Without reference data the report says so in
 * its output and on stderr, with the fix (docs/FORECASTING.md "Defaults").
 */
export async function resolveTimeZone(conn: ClickHouseConnection, cfg: Config | undefined, option: string | boolean | undefined): Promise<ResolvedTimeZone> {
  if (typeof option === 'string' && option !== '') return { tz: option, source: 'option' };
  const fromRef = await referenceTimeZone(conn);
  if (fromRef) return { tz: fromRef, source: 'reference data' };
  const tb = await ratingTariffBook(cfg);
  const fix = 'import the operator\'s reference data (cdr-pipeline reference import DIR; its operator.json names the zone) or pass --time-zone <IANA zone, e.g. Europe/London>';
  if (tb?.book.timezone) {
    return { tz: tb.book.timezone, source: 'tariff book', warning: `WARNING: no reference data in ClickHouse: times, days and holidays are in ${tb.book.timezone}, the time zone of the tariff book (${tb.path}), not the operator's. To fix: ${fix}.` };
  }
  return { tz: 'UTC', source: 'default', warning: `WARNING: no reference data in ClickHouse and no tariff book time zone: times, days and holidays are in UTC, not the operator's time zone. To fix: ${fix}.` };
}

/**
 * The operator's holiday calendar, as rating uses it (docs/FORECASTING.md "Defaults"): the tariff book's calendar
 * named after the operator's country (rating merges ref_holidays into the calendar of their country; without
 * reference data, the calendars the book's band schedules name), plus ref_holidays of the operator's country in
 * the snapshot in force. Dates YYYY-MM-DD in [fromMs, toMs) (UTC days; holiday dates are local dates).
 */
export async function operatorHolidays(conn: ClickHouseConnection, cfg: Config | undefined, fromMs: number, toMs: number): Promise<{ dates: string[]; sources: string[] }> {
  const from = isoHour(fromMs - DAY_MS).slice(0, 10);
  const to = isoHour(toMs + DAY_MS).slice(0, 10);
  const [op] = await conn.query<{ country: string }>("SELECT JSONExtractString(any(operator_json), 'country') AS country FROM ref_operator WHERE version = (SELECT version FROM ref_current_version)");
  const country = op?.country ?? '';
  const out = new Set<string>();
  const sources: string[] = [];
  const ref = await conn.query<{ d: string }>(
    bindSql(`SELECT DISTINCT date AS d FROM ref_holidays WHERE version = (SELECT version FROM ref_current_version) AND country = {country:String} ORDER BY d`, { country }),
  );
  for (const r of ref) if (r.d >= from && r.d < to) out.add(r.d);
  if (ref.length) sources.push(`ref_holidays (${country})`);
  const tb = await ratingTariffBook(cfg);
  if (tb) {
    const calendars = tb.book.calendars ?? {};
    let names = country !== '' && country in calendars ? [country] : [];
    if (names.length === 0) {
      // No reference data (or no calendar of the operator's country): the calendars the band schedules use.
      const used = new Set<string>();
      for (const rules of Object.values(tb.book.bandSchedules ?? {})) for (const r of rules) if (r.holidays !== undefined && r.holidays !== false) used.add(r.holidays === true ? 'default' : r.holidays);
      names = [...used].filter((n) => n in calendars);
    }
    for (const n of names) for (const d of calendars[n] ?? []) if (d >= from && d < to) out.add(d);
    if (names.length) sources.push(`tariff book calendar ${names.join(', ')} (${tb.path})`);
  }
  return { dates: [...out].sort(), sources };
}

/** `--holidays`: `uk` (England and Wales bank holidays), `none`, and/or dates YYYY-MM-DD, comma separated. */
export function parseHolidays(arg: string | undefined, fromMs: number, toMs: number): string[] {
  if (arg === undefined || arg === '') return [];
  const out = new Set<string>();
  for (const item of arg.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (item === 'none') continue;
    if (item === 'uk') {
      for (let y = new Date(fromMs).getUTCFullYear(); y <= new Date(toMs).getUTCFullYear(); y++) {
        for (const h of ukBankHolidays(y)) out.add(new Date(h.day * DAY_MS).toISOString().slice(0, 10));
      }
      continue;
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(item) || Number.isNaN(Date.parse(item))) throw new ReportUsageError(`--holidays: ${item} is not uk, none or a YYYY-MM-DD date`);
    out.add(item);
  }
  return [...out].sort();
}

/** `--horizon`: hours (`36h`, or a bare number), days (`7d`) or weeks (`2w`). */
export function parseHorizon(arg: string | boolean | undefined): number {
  if (arg === undefined) return 168;
  const m = typeof arg === 'string' ? /^(\d+)\s*([hdw]?)$/.exec(arg.trim()) : null;
  if (!m) throw new ReportUsageError(`--horizon expects hours, days or weeks (36h, 7d, 2w), got ${String(arg)}`);
  return Number(m[1]) * (m[2] === 'd' ? 24 : m[2] === 'w' ? 168 : 1);
}

function intOption(v: string | boolean | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < 0) throw new ReportUsageError(`--${name} expects a non-negative integer, got ${String(v)}`);
  return n;
}

function instantOption(v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) throw new ReportUsageError(`--${name} expects an ISO time, got ${String(v)}`);
  if (t % HOUR_MS !== 0) throw new ReportUsageError(`--${name} must be a whole hour, got ${String(v)}`);
  return t;
}

interface Common {
  tz: string;
  tzSource: ResolvedTimeZone['source'];
  originMs: number;
  historyWeeks: number;
  holidays: string[];
  holidaySources: string[];
  span: DataSpan;
  /** Said in the output (table notes, JSON `warnings`) and on stderr. */
  warnings: string[];
  /** Stale aggregate days read (--no-refresh); --strict makes that exit 1. */
  staleDays: number;
}

async function commonOptions(conn: ClickHouseConnection, ctx: ReportContext, historyNeededWeeks: (weeks: number) => number): Promise<Common> {
  const v = ctx.values;
  const { refreshStale, isoDay } = await import('../aggregates/aggregates.js');
  // The model reads agg_traffic_hourly: on first use it is filled from cdrs, and the days of the history that
  // changed since their last refresh (late or replayed CDRs, re-rating) are recomputed before the forecast
  // (unless --no-refresh).
  const refresh = v['no-refresh'] !== true;
  let span = await dataSpan(conn);
  if (!span && refresh) {
    await refreshStale(conn, undefined, undefined, ctx.log);
    span = await dataSpan(conn);
  }
  if (!span) throw new Error('no traffic to forecast from: agg_traffic_hourly and cdrs have no voice calls');
  const zone = await resolveTimeZone(conn, ctx.cfg, v['time-zone']);
  const tz = zone.tz;
  const warnings: string[] = [];
  if (zone.warning) {
    warnings.push(zone.warning);
    ctx.log.warn({ timeZone: tz, source: zone.source }, 'no reference data in ClickHouse: the report is not in the operator\'s time zone (import the reference data or pass --time-zone)');
  }
  const originMs = instantOption(v.from, 'from') ?? (await defaultOrigin(conn, span, tz));
  const historyWeeks = intOption(v['weeks-of-history'], 4, 'weeks-of-history');
  const needFrom = originMs - historyNeededWeeks(historyWeeks) * 7 * DAY_MS;
  const { staleDaysWithReason } = await import('../aggregates/aggregates.js');
  let staleRead: { day: string; reason: 'cdrs' | 'reference' }[] = [];
  if (refresh) await refreshStale(conn, isoDay(needFrom), isoDay(originMs + DAY_MS), ctx.log);
  else {
    staleRead = await staleDaysWithReason(conn, isoDay(needFrom), isoDay(originMs + DAY_MS));
    if (staleRead.length) {
      const ref = staleRead.filter((d) => d.reason === 'reference').length;
      warnings.push(
        `WARNING: agg_traffic_hourly read as it is (--no-refresh), but ${staleRead.length} day(s) of the history are stale (${staleRead[0]!.day} .. ${staleRead[staleRead.length - 1]!.day}; ${ref} of them built with an older reference snapshot than the one in force, ${staleRead.length - ref} with CDRs changed since): run without --no-refresh, or \`cdr-pipeline aggregate\` first.`,
      );
      ctx.log.warn({ staleDays: staleRead.length, referenceStaleDays: ref }, 'report read stale aggregates (--no-refresh)');
    }
  }
  if (needFrom < span.firstMs) ctx.log.warn({ needFrom: isoHour(needFrom), dataFrom: isoHour(span.firstMs) }, 'less history in agg_traffic_hourly than asked for: the first weeks are fitted on partial data');
  // Holidays: the operator's calendar (the one rating uses) by default; --holidays adds dates or `uk`, and
  // `none` leaves the calendar out (ref_holidays still count: model.sql reads them).
  const arg = typeof v.holidays === 'string' ? v.holidays : undefined;
  const items = (arg ?? '').split(',').map((x) => x.trim());
  const calendar = await operatorHolidays(conn, ctx.cfg, needFrom, originMs + 60 * DAY_MS);
  const base = items.includes('none') ? await refHolidaysOnly(conn, needFrom, originMs + 60 * DAY_MS) : calendar.dates;
  const holidays = [...new Set([...base, ...parseHolidays(arg, needFrom, originMs + 60 * DAY_MS)])].sort();
  return { tz, tzSource: zone.source, originMs, historyWeeks, holidays, holidaySources: items.includes('none') ? ['ref_holidays'] : calendar.sources, span, warnings, staleDays: staleRead.length };
}

/** ref_holidays of the operator's country alone (what model.sql adds whatever the parameter). */
async function refHolidaysOnly(conn: ClickHouseConnection, fromMs: number, toMs: number): Promise<string[]> {
  const from = isoHour(fromMs - DAY_MS).slice(0, 10);
  const to = isoHour(toMs + DAY_MS).slice(0, 10);
  const rows = await conn.query<{ d: string }>(
    `SELECT DISTINCT date AS d FROM ref_holidays WHERE version = (SELECT version FROM ref_current_version)
       AND country = (SELECT JSONExtractString(any(operator_json), 'country') FROM ref_operator WHERE version = (SELECT version FROM ref_current_version)) ORDER BY d`,
  );
  return rows.map((r) => r.d).filter((d) => d >= from && d < to);
}

async function withConnection<T>(ctx: ReportContext, fn: (conn: ClickHouseConnection) => Promise<T>): Promise<T> {
  const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
  const conn = await connectClickHouse(ctx.cfg);
  try {
    await applyMigrations(conn, ctx.log);
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

function holidayNote(c: Common): string {
  return `Holidays (${c.holidays.length} in the history and horizon, ${c.tz}): ${c.holidays.join(', ') || 'none'}; from ${c.holidaySources.join(' + ') || 'no calendar'}.`;
}

/** 0, or 1 with --strict when stale aggregates were read (the output said which). */
function strictExit(ctx: ReportContext, c: Common): number {
  return ctx.values.strict === true && c.staleDays > 0 ? 1 : 0;
}

const commonHelp = (from: string) => `      --from ISO              ${from} (default: local midnight after the last
                              complete day in agg_traffic_hourly)
      --weeks-of-history N    weeks of history the model is fitted on (default 4, at least 2)
      --holidays LIST         holidays besides the operator's calendar (by default the calendar rating uses:
                              the tariff book's calendar of the operator's country, plus ref_holidays): uk
                              (England and Wales bank holidays), YYYY-MM-DD dates, comma separated; none =
                              leave the tariff book's calendar out (ref_holidays still count)
      --time-zone TZ          time zone of the weekly profile and holiday dates (default: the operator's, from
                              the reference data in ClickHouse; else the tariff book's, else UTC, and the
                              report then says so and how to fix it)
      --strict                exit 1 when the report read stale aggregates (with --no-refresh)
      --no-refresh            read agg_traffic_hourly as it is (default: recompute the history's stale days first)`;

export const forecastReport: Report = {
  summary: 'hourly calls, minutes and revenue per class and region for the next days, with bands (traffic_forecast)',
  help: `      --horizon N[h|d|w]      how far ahead (default 7d; up to 8 weeks)
${commonHelp('first forecast hour')}
    Model (SQL in reports/forecasting/sql/, docs/FORECASTING.md): the network's expected calls per hour
    (daily level with a linear trend x seasonal index x holiday factor) x each series' share of them, taken
    from the history's hours of the same day type and hour of day: point = the median (0 in mostly empty
    hours), 10%..90% band, expected = the mean (what sums read). Stored in traffic_forecast (run_kind
    forecast); the same origin, horizon and history replace the earlier rows. Prints the expected traffic per
    day (all classes and regions) and per destination class.`,
  async run(ctx) {
    const format = formatOf(ctx.values);
    const horizonHours = parseHorizon(ctx.values.horizon);
    return withConnection(ctx, async (conn) => {
      const c = await commonOptions(conn, ctx, (w) => w);
      const spec: ForecastSpec = { originMs: c.originMs, horizonHours, historyWeeks: c.historyWeeks, tz: c.tz, holidays: c.holidays, kind: 'forecast' };
      const run = await writeForecast(conn, spec);
      const byDay = await conn.query<Row>(bindSql(loadSql('by-day'), { run_id: run.runId, tz: c.tz }));
      const byClass = await conn.query<Row>(bindSql(loadSql('by-class'), { run_id: run.runId }));
      const meta = { run_id: run.runId, model: MODEL, origin: isoHour(c.originMs), horizon_hours: horizonHours, history_weeks: c.historyWeeks, time_zone: c.tz, time_zone_source: c.tzSource, holidays: c.holidays, holiday_sources: c.holidaySources, series: run.series, rows: run.rows, network_trend_pct_week: run.trendPctWeek, warnings: c.warnings };
      const trend = run.trendPctWeek === null ? '' : `, network trend ${run.trendPctWeek >= 0 ? '+' : ''}${run.trendPctWeek.toFixed(2)} % a week`;
      const header = `Forecast ${run.runId}: ${run.series} series x ${horizonHours} hours from ${isoHour(c.originMs)} (${c.tz}), fitted on ${c.historyWeeks} weeks${trend}; stored in traffic_forecast (${run.rows} rows)`;
      emit(
        ctx,
        format === 'table'
          ? `${header}\n${c.warnings.map((w) => `${w}\n`).join('')}\n${renderReport(format, [
              { title: 'Per day, all classes and regions (expected)', key: 'by_day', rows: byDay },
              { title: `Per destination class over ${horizonHours} hours, expected (all regions; '*' = all classes)`, key: 'by_class', rows: byClass },
            ], {}, [holidayNote(c), ...c.warnings])}`
          : renderReport(format, [
              { title: 'by day', key: 'by_day', rows: byDay },
              { title: 'by class', key: 'by_class', rows: byClass },
            ], meta),
      );
      return strictExit(ctx, c);
    });
  },
};

export const backtestReport: Report = {
  summary: 'errors of the forecast and of seasonal-naive on held-out weeks (rolling origin)',
  help: `      --weeks K               held-out weeks, each forecast from the history before it (default 3)
${commonHelp('end of the last held-out week')}
    Prints sMAPE, MAPE and WAPE (in %) of the model's point forecast and of the seasonal-naive baseline (the same
    hour one week earlier) per metric and level (total, class, region, series), per held-out week and over all,
    the share of actuals inside the model's 10%..90% band, and the bias of the sums (model: expected values).
    The held-out forecasts are kept in traffic_forecast (run_kind backtest) for Grafana.`,
  async run(ctx) {
    const format = formatOf(ctx.values);
    const weeks = intOption(ctx.values.weeks, 3, 'weeks');
    return withConnection(ctx, async (conn) => {
      const c = await commonOptions(conn, ctx, (w) => w + weeks);
      const r = await backtest(conn, { endMs: c.originMs, weeks, historyWeeks: c.historyWeeks, tz: c.tz, holidays: c.holidays });
      const pooled = r.rows.filter((x) => x.held_out === 'all');
      const perWeek = r.rows.filter((x) => x.held_out !== 'all');
      const verdict = [
        'Model against seasonal-naive, all held-out weeks (docs/FORECASTING.md):',
        ...pooled.map((x) => {
          const better = (['smape', 'mape', 'wape'] as const).filter((m) => x[`${m}_model`] < x[`${m}_naive`]).map((m) => m.toUpperCase().replace('SMAPE', 'sMAPE'));
          const worse = (['smape', 'mape', 'wape'] as const).filter((m) => !(x[`${m}_model`] < x[`${m}_naive`])).map((m) => m.toUpperCase().replace('SMAPE', 'sMAPE'));
          return `  ${x.metric.padEnd(8)}${x.level.padEnd(8)}model better on ${better.join(', ') || '-'}${worse.length ? `; seasonal-naive on ${worse.join(', ')}` : ''}`;
        }),
      ];
      const meta = { model: MODEL, baseline: 'seasonal-naive (same hour one week earlier)', held_out_weeks: r.origins.map(isoHour), history_weeks: c.historyWeeks, time_zone: c.tz, time_zone_source: c.tzSource, holidays: c.holidays, holiday_sources: c.holidaySources, run_ids: r.runIds, warnings: c.warnings };
      emit(
        ctx,
        format === 'table'
          ? `Backtest of ${MODEL} against seasonal-naive: ${weeks} held-out weeks from ${isoHour(r.origins[0]!)}, each fitted on the ${c.historyWeeks} weeks before it (${c.tz})\n\n${renderReport(
              format,
              [
                { title: 'Errors over all held-out weeks (%; lower is better)', key: 'all', rows: pooled as unknown as Row[] },
                { title: 'Per held-out week', key: 'weeks', rows: perWeek as unknown as Row[] },
              ],
              {},
              [verdict.join('\n'), holidayNote(c), ...c.warnings],
            )}`
          : renderReport(format, [
              { title: 'all', key: 'all', rows: pooled as unknown as Row[] },
              { title: 'weeks', key: 'weeks', rows: perWeek as unknown as Row[] },
            ], meta),
      );
      return strictExit(ctx, c);
    });
  },
};
