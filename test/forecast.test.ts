/**
 * Traffic forecasting (issue #5 item 4; docs/FORECASTING.md) on the real engine (chDB):
 * - the model (reports/forecasting/sql/model.sql) on a synthetic series with a known trend, weekly
 *   profile and holiday effect recovers them, and its expected values add up over classes and regions;
 * - on generated traffic (seven weeks with a trend and two bank holidays, rated and stored the real way, the
 *   hourly aggregate refreshed from cdrs FINAL as `cdr-pipeline aggregate` does), the backtest over three
 *   held-out weeks (rolling origin) beats the seasonal-naive baseline on sMAPE, MAPE and WAPE at every level
 *   (total, class, region, class x region) for calls, minutes and revenue; the 10%..90% bands hold 80-97 % of
 *   the actuals, and the expected values (what sums read) are unbiased;
 * - a forecast run is stored in traffic_forecast and running it again replaces it;
 * - the report commands run end to end; the server connection (@clickhouse/client over HTTP) computes the
 *   same; the SQL files run as analysts run them, with ClickHouse's own query parameters.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import { openEmbedded, openServer, sqlString, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import { bindSql, loadSqlFile } from '../sinks/clickhouse/sql-files.js';
import { importReference } from '../pipeline/reference-store.js';
import { refreshStale } from '../reports/aggregates/aggregates.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { backtest, backtestReport, computeForecast, dataSpan, defaultOrigin, forecastReport, operatorTimeZone, writeForecast, type BacktestRow, type ForecastSpec } from '../reports/forecasting/forecast.js';
import type { ReportValues } from '../reports/index.js';
import { startClickHouseEndpoint, type ClickHouseEndpoint } from './clickhouse-endpoint.js';
import { chPath, quietLog, uniqueName } from './helpers.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const migrations = loadMigrations(schemaPath('ddl'));
const open: ClickHouseConnection[] = [];
let endpoint: ClickHouseEndpoint | undefined;

afterAll(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await endpoint?.close();
});

async function database(prefix: string): Promise<ClickHouseConnection> {
  const conn = await openEmbedded({ path: chPath(), database: uniqueName(prefix) });
  open.push(conn);
  await migrate(conn, migrations);
  return conn;
}

const chTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/**
 * Forecast rows from two computations of the same statement: equal keys and equal numbers up to the last bits
 * (ClickHouse sums Float64 window partitions on several threads, so the order of additions may differ).
 */
function expectSameForecast(a: Record<string, unknown>[], b: Record<string, unknown>[]): void {
  const key = (r: Record<string, unknown>) => [r.metric, r.destination_class, r.region, r.currency, r.target_hour].join('|');
  const sorted = (rows: Record<string, unknown>[]) => [...rows].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  const [x, y] = [sorted(a), sorted(b)];
  expect(x.map(key)).toEqual(y.map(key));
  for (let i = 0; i < x.length; i++) {
    for (const [k, v] of Object.entries(x[i]!)) {
      const w = y[i]![k];
      if (typeof v === 'number' && typeof w === 'number') expect(Math.abs(v - w), `${key(x[i]!)} ${k}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(v)));
      else expect(w, `${key(x[i]!)} ${k}`).toEqual(v);
    }
  }
}
type Fc = { target_hour: string; destination_class: string; region: string; metric: string; currency: string; point: number; lower: number; upper: number; expected: number; network: number; daily_level: number; seasonal_index: number; holiday_factor: number; share: number; trend_per_day: number; holiday: number };

// ------------------------------------------------------------------------------------------ the model

describe('the model on a synthetic series with known trend, weekly profile and holiday', () => {
  // Monday 1 June 2026, UTC; four weeks of history with a holiday on Monday 25 May, and a holiday ahead on
  // Monday 8 June. Two regions (south = half of north); minutes = 1.5 x calls; revenue = 0.05 per call.
  const origin = Date.UTC(2026, 5, 1);
  const level0 = 240_000; // calls a day on an average weekday at the origin
  const growthPerDay = 0.004; // +0.4 % of level0 a day (2.8 % a week)
  const dowFactor = [1, 1.02, 1.04, 1.02, 1.1, 0.8, 0.6]; // Monday .. Sunday
  const hodShape = Array.from({ length: 24 }, (_, h) => 0.2 + Math.exp(-(((h - 11) / 3) ** 2)) + 0.8 * Math.exp(-(((h - 19) / 2.5) ** 2)));
  const hodSum = hodShape.reduce((a, b) => a + b, 0);
  const meanDow = dowFactor.reduce((a, b) => a + b, 0) / 7;
  const holidayFactor = 0.8;
  const holidays = ['2026-05-25', '2026-06-08'];
  const regions = { north: 1, south: 0.5 };
  /** The true hourly calls of north: level x weekday factor (relative to an average weekday) x hour shape. */
  const truth = (t: number) => {
    const x = Math.floor((t - origin) / DAY);
    const date = new Date(t);
    const dow = (date.getUTCDay() + 6) % 7;
    const holiday = holidays.includes(date.toISOString().slice(0, 10));
    const f = holiday ? dowFactor[6]! * holidayFactor : dowFactor[dow]!;
    return ((level0 * (1 + growthPerDay * x)) / meanDow) * f * (hodShape[date.getUTCHours()]! / hodSum);
  };
  let conn: ClickHouseConnection;
  let rows: Fc[];
  const spec: ForecastSpec = { originMs: origin, horizonHours: 14 * 24, historyWeeks: 4, tz: 'UTC', holidays, kind: 'forecast' };

  beforeAll(async () => {
    conn = await database('fc_synth');
    const lines: string[] = [];
    for (let t = origin - 28 * DAY; t < origin; t += HOUR) {
      for (const [region, share] of Object.entries(regions)) {
        const calls = Math.round(truth(t) * share);
        lines.push(JSON.stringify({ hour: chTime(t), destination_class: 'mobile', region, calls, answered_calls: calls, billable_seconds: calls * 90, revenue: ((calls * 5) / 100).toFixed(2), currency: 'GBP', refreshed_at: '2026-06-01 00:00:00' }));
      }
    }
    await conn.insert('agg_traffic_hourly', lines.join('\n') + '\n');
    rows = (await computeForecast(conn, spec)) as unknown as Fc[];
  });

  const series = (dc: string, rg: string, metric: string) => rows.filter((r) => r.destination_class === dc && r.region === rg && r.metric === metric);

  it('forecasts every series and total for every hour of the horizon', () => {
    // (mobile, north), (mobile, south), (mobile, *), (*, north), (*, south), (*, *) x calls, minutes, revenue.
    expect(rows.length).toBe(6 * 3 * spec.horizonHours);
    expect(new Set(rows.filter((r) => r.metric === 'revenue').map((r) => r.currency))).toEqual(new Set(['GBP']));
  });

  it('recovers the trend and the level of the network curve, and each series\' share of it', () => {
    // The network curve is the calls of all classes and regions: north + south = 1.5 x north.
    const network = level0 * 1.5;
    for (const r of rows.filter((x) => x.target_hour === rows[0]!.target_hour)) {
      // Daily level of an average weekday at the origin, and the growth per day (the same on every row: the
      // network curve is shared, the series differ by their share).
      expect(r.daily_level / network).toBeCloseTo(1, 2);
      expect(r.trend_per_day / (network * growthPerDay)).toBeGreaterThan(0.97);
      expect(r.trend_per_day / (network * growthPerDay)).toBeLessThan(1.03);
    }
    const share = (dc: string, rg: string, metric: string) => series(dc, rg, metric)[0]!.share;
    expect(share('mobile', 'north', 'calls')).toBeCloseTo(2 / 3, 2);
    expect(share('*', 'south', 'calls')).toBeCloseTo(1 / 3, 2);
    expect(share('*', '*', 'calls')).toBeCloseTo(1, 2);
  });

  it('recovers the hour-of-week profile: every hour of the next two weeks within 1 %, the holiday like a Sunday x its factor', () => {
    const north = series('mobile', 'north', 'calls');
    let worst = 0;
    for (const r of north) {
      const t = Date.parse(r.target_hour);
      worst = Math.max(worst, Math.abs(r.point / truth(t) - 1));
      expect(r.lower).toBeLessThanOrEqual(r.point);
      expect(r.upper).toBeGreaterThanOrEqual(r.point);
    }
    expect(worst).toBeLessThan(0.01);
    const holiday = north.filter((r) => r.holiday === 1);
    expect(holiday.length).toBe(24);
    expect(holiday.every((r) => r.target_hour.startsWith('2026-06-08'))).toBe(true);
    expect(holiday[0]!.holiday_factor).toBeCloseTo(holidayFactor, 2);
    // Noise-free history: the band is narrow, and the median is the mean.
    const ordinary = north.filter((r) => r.holiday === 0);
    expect(Math.max(...ordinary.map((r) => (r.upper - r.lower) / r.point))).toBeLessThan(0.02);
    for (const r of north) expect(r.point / r.expected).toBeCloseTo(1, 2);
  });

  it('treats hours before the aggregate starts as unknown, not as hours without traffic', async () => {
    // Six weeks asked for, four stored: the same fit as four weeks (not a level dragged down by two empty weeks).
    const six = (await computeForecast(conn, { ...spec, historyWeeks: 6 })) as unknown as Fc[];
    const four = series('mobile', 'north', 'calls');
    const sixNorth = six.filter((r) => r.destination_class === 'mobile' && r.region === 'north' && r.metric === 'calls');
    expect(sixNorth.length).toBe(four.length);
    for (let i = 0; i < four.length; i++) expect(sixNorth[i]!.point / four[i]!.point).toBeCloseTo(1, 9);
    // No whole ordinary day before the origin: nothing to fit, no forecast (rather than a guess).
    expect(await computeForecast(conn, { ...spec, originMs: origin - 27 * DAY - 12 * HOUR })).toEqual([]);
  });

  it('keeps the metrics and the hierarchy consistent: minutes 1.5 x calls, revenue 0.05 a call, totals = sum of regions', () => {
    const calls = series('mobile', 'north', 'calls');
    const minutes = series('mobile', 'north', 'minutes');
    const revenue = series('mobile', 'north', 'revenue');
    const total = series('*', '*', 'calls');
    const south = series('mobile', 'south', 'calls');
    for (let i = 0; i < calls.length; i++) {
      expect(minutes[i]!.point / calls[i]!.point).toBeCloseTo(1.5, 3);
      expect(revenue[i]!.point / calls[i]!.point).toBeCloseTo(0.05, 4);
      expect(total[i]!.point / (calls[i]!.point + south[i]!.point)).toBeCloseTo(1, 2);
    }
  });

  it('keeps the expected values coherent: each total is the sum of its parts, every hour', () => {
    for (const metric of ['calls', 'minutes', 'revenue']) {
      const byKey = new Map(rows.filter((r) => r.metric === metric).map((r) => [`${r.destination_class}|${r.region}|${r.target_hour}`, r.expected]));
      for (const r of series('*', '*', metric)) {
        const parts = (['north', 'south'] as const).map((rg) => byKey.get(`mobile|${rg}|${r.target_hour}`)!);
        expect(Math.abs(parts[0]! + parts[1]! - r.expected), `${metric} ${r.target_hour}`).toBeLessThanOrEqual(1e-9 * r.expected);
        expect(Math.abs(byKey.get(`mobile|*|${r.target_hour}`)! - r.expected)).toBeLessThanOrEqual(1e-9 * r.expected);
        // The expected value is the network curve times the series' share.
        expect(Math.abs(r.daily_level * r.seasonal_index * r.holiday_factor * r.share - r.expected)).toBeLessThanOrEqual(1e-9 * r.expected);
      }
    }
  });
});

// ------------------------------------------------------------------------------------------ generated traffic

describe('generated traffic with a trend and bank holidays, rated and stored the real way', () => {
  // Monday 13 April 2026 00:00 BST, seven weeks: bank holidays on Monday 4 May (in the history of the first
  // held-out week) and Monday 25 May (in the last held-out week).
  const start = Date.UTC(2026, 3, 12, 23);
  const end = start + 49 * DAY;
  const subscribers = 400;
  let conn: ClickHouseConnection;
  let cfg: Config;
  let voiceCdrs = 0;
  let result: Awaited<ReturnType<typeof backtest>>;
  let tz: string;
  let origin: number;

  beforeAll(async () => {
    const refDir = mkdtempSync(join(tmpdir(), 'fc-ref-'));
    const traffic = createTraffic({ seed: 5, subscribers, startMs: start, endMs: end, scenarios: 'none', params: { 'clean.trendPerWeek': '0.02' } });
    writeReference(refDir, traffic.reference());
    const stage = createRatingStage(refDir, '');
    conn = await database('fc_gen');
    await importReference(conn, refDir, quietLog);
    const sink = new ClickHouseSink(conn, { retryInitialMs: 10, retryMaxMs: 100, log: quietLog });
    let offset = 0;
    let resent: SourcedCdr[] = [];
    for (const batch of traffic.batches(50_000)) {
      const sc: SourcedCdr[] = batch.map((cdr, i) => ({ cdr, topic: 'cdr.raw', partition: 0, offset: String(offset + i) }));
      stage.rateBatch(sc);
      await sink.write({ topic: 'cdr.raw', partition: 0, firstOffset: String(offset), lastOffset: String(offset + sc.length - 1), cdrs: sc, deadLetters: [] });
      voiceCdrs += batch.filter((c) => c.eventType.startsWith('VOICE')).length;
      if (resent.length === 0) resent = sc.slice(10_000, 12_000);
      offset += sc.length;
    }
    // The switch re-sent 2000 CDRs (other partition and offsets): stored twice, counted once (FINAL).
    const again = resent.map((s, i) => ({ ...s, partition: 1, offset: String(i) }));
    await sink.write({ topic: 'cdr.raw', partition: 1, firstOffset: '0', lastOffset: String(again.length - 1), cdrs: again, deadLetters: [] });
    await refreshStale(conn, undefined, undefined, quietLog);
    tz = await operatorTimeZone(conn);
    origin = await defaultOrigin(conn, (await dataSpan(conn))!, tz);
    result = await backtest(conn, { endMs: origin, weeks: 3, historyWeeks: 4, tz, holidays: [] });
    const base = loadConfig({ env: {} });
    cfg = { ...base, clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath(), database: conn.database }, telemetry: { ...base.telemetry, logLevel: 'silent', metricsPort: -1 } };
  }, 240_000);

  const pooled = (metric: string, level: string) => result.rows.find((r) => r.metric === metric && r.level === level && r.held_out === 'all')!;

  it('reads the aggregate the refresh built from cdrs FINAL: every voice CDR once', async () => {
    const [r] = await conn.query<{ calls: string; raw: string }>('SELECT (SELECT sum(calls) FROM agg_traffic_hourly FINAL) AS calls, (SELECT count() FROM cdrs) AS raw');
    expect(Number(r!.calls)).toBe(voiceCdrs);
    expect(Number(r!.raw)).toBeGreaterThan(voiceCdrs); // SMS, data and the re-sent copies are stored too
    expect(tz).toBe('Europe/London');
    expect(new Date(origin).toISOString()).toBe('2026-05-31T23:00:00.000Z'); // Monday 1 June 00:00 BST
  });

  it('beats seasonal-naive on sMAPE, MAPE and WAPE at every level, for calls, minutes and revenue; prints both errors', () => {
    expect(result.origins.map((o) => new Date(o).toISOString())).toEqual(['2026-05-10T23:00:00.000Z', '2026-05-17T23:00:00.000Z', '2026-05-24T23:00:00.000Z']);
    const show = (r: BacktestRow) =>
      `${r.metric.padEnd(8)} ${r.level.padEnd(7)} sMAPE ${r.smape_model.toFixed(1).padStart(6)} vs ${r.smape_naive.toFixed(1).padStart(6)}   MAPE ${r.mape_model.toFixed(1).padStart(6)} vs ${r.mape_naive.toFixed(1).padStart(6)}   WAPE ${r.wape_model.toFixed(1).padStart(6)} vs ${r.wape_naive.toFixed(1).padStart(6)}   band coverage ${r.coverage.toFixed(1)} %   bias ${r.bias_expected.toFixed(1)} vs ${r.bias_naive.toFixed(1)} %`;
    process.stdout.write(`\nbacktest, 3 held-out weeks, model vs seasonal-naive (%):\n${result.rows.filter((r) => r.held_out === 'all').map(show).join('\n')}\n`);
    for (const metric of ['calls', 'minutes', 'revenue']) {
      expect(pooled(metric, 'total').hours).toBe(3 * 168);
      // Every level, every measure: sMAPE (the measure), MAPE (hours with traffic) and WAPE (by volume).
      for (const level of ['total', 'class', 'region', 'series']) {
        const r = pooled(metric, level);
        expect(r.hours, `${metric} ${level}`).toBeGreaterThanOrEqual(3 * 168);
        for (const m of ['smape', 'mape', 'wape'] as const) expect(r[`${m}_model`], `${metric} ${level} ${m}`).toBeLessThan(r[`${m}_naive`]);
      }
      // Each held-out week on its own (the last one has the bank holiday), every level, sMAPE and WAPE.
      const weeks = result.rows.filter((r) => r.metric === metric && r.held_out !== 'all');
      expect(weeks.length).toBe(3 * 4);
      for (const w of weeks) {
        expect(w.smape_model, `${metric} ${w.level} ${w.held_out} sMAPE`).toBeLessThan(w.smape_naive);
        expect(w.wape_model, `${metric} ${w.level} ${w.held_out} WAPE`).toBeLessThan(w.wape_naive);
      }
    }
  });

  it('holds 80-97 % of the actuals inside the 10 %..90 % band, and sums of expected values are unbiased', () => {
    for (const metric of ['calls', 'minutes', 'revenue']) {
      for (const level of ['total', 'class', 'region', 'series']) {
        // At least the stated 80 %; up to about 96 % on the sparse region and class x region series, whose
        // counts are discrete (in an hour that is empty 95 % of the time the band is [0, 0] and holds 95 %).
        const c = pooled(metric, level).coverage;
        expect(c, `${metric} ${level}`).toBeGreaterThanOrEqual(80);
        expect(c, `${metric} ${level}`).toBeLessThanOrEqual(level === 'total' || level === 'class' ? 95 : 97);
      }
      // The expected values summed over the three weeks: within 3 % of what happened, at every level (the
      // hourly medians, summed, would be far too low for revenue: docs/FORECASTING.md).
      for (const level of ['total', 'class', 'region']) expect(Math.abs(pooled(metric, level).bias_expected), `${metric} ${level} bias`).toBeLessThan(3);
    }
  });

  it('forecasts the bank holiday like a holiday, where seasonal-naive repeats an ordinary Monday', async () => {
    const run = result.runIds[2]!;
    const [r] = await conn.query<{ fc: number; actual: number; naive: number; holiday: number }>(
      `SELECT
         (SELECT sum(toFloat64(expected)) FROM traffic_forecast FINAL WHERE run_id = ${sqlString(run)} AND metric = 'calls' AND destination_class = '*' AND region = '*' AND toDate(target_hour, 'Europe/London') = '2026-05-25') AS fc,
         (SELECT min(holiday) FROM traffic_forecast FINAL WHERE run_id = ${sqlString(run)} AND toDate(target_hour, 'Europe/London') = '2026-05-25') AS holiday,
         (SELECT sum(calls) FROM agg_traffic_hourly FINAL WHERE toDate(hour, 'Europe/London') = '2026-05-25') AS actual,
         (SELECT sum(calls) FROM agg_traffic_hourly FINAL WHERE toDate(hour, 'Europe/London') = '2026-05-18') AS naive`,
    );
    expect(Number(r!.holiday)).toBe(1);
    const actual = Number(r!.actual);
    expect(Math.abs(Number(r!.fc) / actual - 1)).toBeLessThan(0.1);
    expect(Number(r!.naive) / actual).toBeGreaterThan(1.4);
  });

  it('sees the growth: the fitted trend of all calls is positive', async () => {
    const rows = await conn.query<{ pct: number }>(
      `SELECT 100 * 7 * any(trend_per_day) / anyIf(daily_level, target_hour = origin) AS pct FROM traffic_forecast FINAL
       WHERE run_id IN (${result.runIds.map(sqlString).join(', ')}) AND metric = 'calls' AND destination_class = '*' AND region = '*' GROUP BY run_id`,
    );
    expect(rows.length).toBe(3);
    const mean = rows.reduce((a, r) => a + Number(r.pct), 0) / rows.length;
    expect(mean).toBeGreaterThan(0);
    expect(mean).toBeLessThan(4);
  });

  it('stores a forecast run in traffic_forecast; running it again replaces it', async () => {
    const spec: ForecastSpec = { originMs: origin, horizonHours: 168, historyWeeks: 4, tz, holidays: [], kind: 'forecast' };
    const first = await writeForecast(conn, spec);
    expect(first.rows).toBe(first.series * 168);
    expect(first.series).toBeGreaterThan(100);
    const second = await writeForecast(conn, spec);
    expect(second).toEqual(first);
    const count = async (final: boolean) => Number((await conn.query<{ n: string }>(`SELECT count() AS n FROM traffic_forecast ${final ? 'FINAL' : ''} WHERE run_id = ${sqlString(first.runId)}`))[0]!.n);
    expect(await count(true)).toBe(first.rows);
    await conn.command('OPTIMIZE TABLE traffic_forecast FINAL');
    expect(await count(false)).toBe(first.rows);
    // Money-like columns are Decimal with at most 6 decimals; the expected value is level x index x holiday
    // factor x share; the band holds the point.
    const [r] = await conn.query<{ text: string; product: number; scale: number }>(
      `SELECT toString(expected) AS text, daily_level * seasonal_index * holiday_factor * share AS product,
              toTypeName(point) = 'Decimal(18, 6)' AND toTypeName(expected) = 'Decimal(18, 6)' AS scale
       FROM traffic_forecast FINAL WHERE run_id = ${sqlString(first.runId)} AND metric = 'revenue' AND destination_class = '*' AND region = '*' AND expected > 0 LIMIT 1`,
    );
    expect(Number(r!.scale)).toBe(1);
    expect(r!.text).toMatch(/^\d+(\.\d{1,6})?$/);
    expect(Math.abs(Number(r!.text) - Number(r!.product))).toBeLessThanOrEqual(0.0000005 + 1e-9);
    const [band] = await conn.query<{ outside: string; zero_points: string; rows: string }>(
      `SELECT countIf(NOT (lower <= point AND point <= upper)) AS outside, countIf(point = 0) AS zero_points, count() AS rows
       FROM traffic_forecast FINAL WHERE run_id = ${sqlString(first.runId)}`,
    );
    expect(Number(band!.outside)).toBe(0);
    // Sparse series: many hours whose median is no traffic at all.
    expect(Number(band!.zero_points)).toBeGreaterThan(Number(band!.rows) / 10);
  });

  async function runReport(report: typeof forecastReport, values: ReportValues): Promise<string> {
    const lines: string[] = [];
    const code = await report.run({ cfg, log: quietLog, values, args: [], out: (l) => lines.push(l) });
    expect(code).toBe(0);
    return lines.join('\n');
  }

  it('runs `report forecast` and `report backtest` end to end', async () => {
    const doc = JSON.parse(await runReport(forecastReport, { format: 'json', horizon: '7d' })) as { run_id: string; origin: string; by_day: { day: string; calls: string; revenue: string }[]; by_class: { destination_class: string }[] };
    expect(doc.origin).toBe('2026-05-31T23:00:00Z');
    expect(doc.run_id).toMatch(/^forecast\/topdown-median\/2026-05-31T23:00:00Z\/h168\/w4\/tz=Europe\/London\/hol=[0-9a-f]{10}$/);
    expect(doc.by_day.map((d) => d.day)).toEqual(['2026-06-01', '2026-06-02', '2026-06-03', '2026-06-04', '2026-06-05', '2026-06-06', '2026-06-07']);
    for (const d of doc.by_day) {
      expect(Number(d.calls)).toBeGreaterThan(100);
      expect(d.revenue).toMatch(/^\d+\.\d{1,6}$|^\d+$/);
    }
    expect(doc.by_class[0]!.destination_class).toBe('*');
    const table = await runReport(forecastReport, { horizon: '2d', from: '2026-05-24T23:00:00Z' });
    expect(table).toContain('forecast/topdown-median/2026-05-24T23:00:00Z/h48/w4');
    expect(table).toMatch(/network trend [+-]\d+\.\d{2} % a week/);
    expect(table).toMatch(/2026-05-25 +\d/);
    const csv = await runReport(backtestReport, { format: 'csv', weeks: '1' });
    expect(csv.split('\n')[0]).toBe('metric,level,held_out,hours,smape_model,smape_naive,mape_model,mape_naive,wape_model,wape_naive,coverage,bias_expected,bias_naive');
    expect(csv).toContain('calls,total,all,168,');
  });

  it('computes the same forecast and backtest over the server connection (@clickhouse/client, HTTP)', async () => {
    endpoint = await startClickHouseEndpoint({ path: chPath() });
    const server = await openServer({ url: endpoint.url, username: 'default', password: 'x', database: conn.database, requestTimeoutMs: 60_000, createDatabase: true });
    open.push(server);
    expect((await migrate(server, migrations)).applied).toEqual([]);
    const again = await backtest(server, { endMs: origin, weeks: 3, historyWeeks: 4, tz, holidays: [] });
    expect(again.rows).toEqual(result.rows);
    const spec: ForecastSpec = { originMs: origin, horizonHours: 24, historyWeeks: 4, tz, holidays: [], kind: 'forecast' };
    expectSameForecast(await computeForecast(server, spec), await computeForecast(conn, spec));
  });

  it('runs the SQL files as an analyst does, with ClickHouse query parameters', async () => {
    const params: Record<string, string> = { origin: chTime(origin), horizon_hours: '24', history_weeks: '4', tz, holidays: "['2026-06-01']" };
    const model = loadSqlFile('reports/forecasting/sql', 'model.sql');
    const set = Object.entries(params).map(([k, v]) => `SET param_${k} = ${sqlString(v)}; `).join('');
    const viaParams = await conn.query(`${set}${model}`);
    const viaBinding = await conn.query(bindSql(model, params));
    expect(viaParams.length).toBeGreaterThan(1000);
    expectSameForecast(viaParams, viaBinding);
    // The holiday given as a parameter is forecast as one.
    expect(viaBinding.every((r) => Number((r as { holiday: number }).holiday) === 1)).toBe(true);
  });
});
