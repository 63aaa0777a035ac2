/**
 * Traffic forecasting (issue #5 item 4; docs/FORECASTING.md) on the real engine (chDB):
 * - the model (sinks/clickhouse/sql/forecast/model.sql) on a synthetic series with a known trend, weekly
 *   profile and holiday effect recovers them;
 * - on generated traffic (seven weeks with a trend and two bank holidays, rated and stored the real way, the
 *   hourly aggregate refreshed from cdrs FINAL as `cdr-pipeline aggregate` does), the backtest over three
 *   held-out weeks (rolling origin) beats the seasonal-naive baseline, and the prediction bands hold most
 *   actuals;
 * - a forecast run is stored in traffic_forecast and running it again replaces it;
 * - the report commands run end to end; the server connection (@clickhouse/client over HTTP) computes the
 *   same; the SQL files run as analysts run them, with ClickHouse's own query parameters.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTraffic, writeReference } from '../ingest/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import { openEmbedded, openServer, sqlString, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import { bindSql, loadSqlFile } from '../sinks/clickhouse/sql-files.js';
import { importReference } from '../pipeline/reference-store.js';
import { refreshStale } from '../pipeline/aggregates.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { backtest, backtestReport, computeForecast, dataSpan, defaultOrigin, forecastReport, operatorTimeZone, writeForecast, type BacktestRow, type ForecastSpec } from '../pipeline/report-forecast.js';
import type { ReportValues } from '../pipeline/report.js';
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
type Fc = { target_hour: string; destination_class: string; region: string; metric: string; currency: string; point: number; lower: number; upper: number; daily_level: number; seasonal_index: number; holiday_factor: number; trend_per_day: number; holiday: number };

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

  it('recovers the trend and the level', () => {
    const north = series('mobile', 'north', 'calls');
    const atOrigin = north[0]!;
    // Daily level of an average weekday at the origin, and the growth per day.
    expect(atOrigin.daily_level / level0).toBeCloseTo(1, 2);
    expect(atOrigin.trend_per_day / (level0 * growthPerDay)).toBeGreaterThan(0.97);
    expect(atOrigin.trend_per_day / (level0 * growthPerDay)).toBeLessThan(1.03);
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
    // Noise-free history: the band is narrow.
    const ordinary = north.filter((r) => r.holiday === 0);
    expect(Math.max(...ordinary.map((r) => (r.upper - r.lower) / r.point))).toBeLessThan(0.02);
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

  it('beats seasonal-naive on the held-out weeks (rolling origin); prints both errors', () => {
    expect(result.origins.map((o) => new Date(o).toISOString())).toEqual(['2026-05-10T23:00:00.000Z', '2026-05-17T23:00:00.000Z', '2026-05-24T23:00:00.000Z']);
    const show = (r: BacktestRow) =>
      `${r.metric.padEnd(8)} ${r.level.padEnd(7)} sMAPE ${r.smape_model.toFixed(1).padStart(6)} vs ${r.smape_naive.toFixed(1).padStart(6)}   MAPE ${r.mape_model.toFixed(1).padStart(6)} vs ${r.mape_naive.toFixed(1).padStart(6)}   WAPE ${r.wape_model.toFixed(1).padStart(6)} vs ${r.wape_naive.toFixed(1).padStart(6)}   band coverage ${r.coverage.toFixed(1)} %`;
    process.stdout.write(`\nbacktest, 3 held-out weeks, model vs seasonal-naive (%):\n${result.rows.filter((r) => r.held_out === 'all').map(show).join('\n')}\n`);
    for (const metric of ['calls', 'minutes', 'revenue']) {
      const total = pooled(metric, 'total');
      expect(total.hours).toBe(3 * 168);
      // The network total, hour by hour: sMAPE (the measure) and the volume-weighted error.
      expect(total.smape_model, `${metric} sMAPE`).toBeLessThan(total.smape_naive);
      expect(total.wape_model, `${metric} WAPE`).toBeLessThan(total.wape_naive);
      // Every level, volume-weighted (sMAPE and MAPE are not meaningful on sparse hourly series: docs/FORECASTING.md).
      for (const level of ['class', 'region', 'series']) expect(pooled(metric, level).wape_model, `${metric} ${level} WAPE`).toBeLessThan(pooled(metric, level).wape_naive);
      // Each held-out week on its own, for the total.
      for (const w of result.rows.filter((r) => r.metric === metric && r.level === 'total' && r.held_out !== 'all')) expect(w.wape_model, `${metric} ${w.held_out}`).toBeLessThan(w.wape_naive);
    }
    // MAPE where it is meaningful (no near-zero hours): calls and minutes of the total.
    for (const metric of ['calls', 'minutes']) expect(pooled(metric, 'total').mape_model).toBeLessThan(pooled(metric, 'total').mape_naive);
  });

  it('holds most actuals inside the 10 %..90 % band', () => {
    for (const metric of ['calls', 'minutes', 'revenue']) {
      for (const level of ['total', 'class', 'series']) {
        const c = pooled(metric, level).coverage;
        expect(c, `${metric} ${level}`).toBeGreaterThan(65);
        expect(c, `${metric} ${level}`).toBeLessThan(97);
      }
    }
  });

  it('forecasts the bank holiday like a holiday, where seasonal-naive repeats an ordinary Monday', async () => {
    const run = result.runIds[2]!;
    const [r] = await conn.query<{ fc: number; actual: number; naive: number; holiday: number }>(
      `SELECT
         (SELECT sum(toFloat64(point)) FROM traffic_forecast FINAL WHERE run_id = ${sqlString(run)} AND metric = 'calls' AND destination_class = '*' AND region = '*' AND toDate(target_hour, 'Europe/London') = '2026-05-25') AS fc,
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
    // Money-like columns are Decimal with at most 6 decimals; the point is level x index x holiday factor.
    const [r] = await conn.query<{ text: string; product: number; scale: number }>(
      `SELECT toString(point) AS text, daily_level * seasonal_index * holiday_factor AS product, toTypeName(point) = 'Decimal(18, 6)' AS scale
       FROM traffic_forecast FINAL WHERE run_id = ${sqlString(first.runId)} AND metric = 'revenue' AND destination_class = '*' AND region = '*' AND point > 0 LIMIT 1`,
    );
    expect(Number(r!.scale)).toBe(1);
    expect(r!.text).toMatch(/^\d+(\.\d{1,6})?$/);
    expect(Math.abs(Number(r!.text) - Number(r!.product))).toBeLessThanOrEqual(0.0000005 + 1e-9);
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
    expect(doc.run_id).toBe('forecast/seasonal-trend/2026-05-31T23:00:00Z/h168/w4');
    expect(doc.by_day.map((d) => d.day)).toEqual(['2026-06-01', '2026-06-02', '2026-06-03', '2026-06-04', '2026-06-05', '2026-06-06', '2026-06-07']);
    for (const d of doc.by_day) {
      expect(Number(d.calls)).toBeGreaterThan(100);
      expect(d.revenue).toMatch(/^\d+\.\d{1,6}$|^\d+$/);
    }
    expect(doc.by_class[0]!.destination_class).toBe('*');
    const table = await runReport(forecastReport, { horizon: '2d', from: '2026-05-24T23:00:00Z' });
    expect(table).toContain('forecast/seasonal-trend/2026-05-24T23:00:00Z/h48/w4');
    expect(table).toMatch(/2026-05-25 +\d/);
    const csv = await runReport(backtestReport, { format: 'csv', weeks: '1' });
    expect(csv.split('\n')[0]).toBe('metric,level,held_out,hours,smape_model,smape_naive,mape_model,mape_naive,wape_model,wape_naive,coverage');
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
    const model = loadSqlFile('forecast', 'model.sql');
    const set = Object.entries(params).map(([k, v]) => `SET param_${k} = ${sqlString(v)}; `).join('');
    const viaParams = await conn.query(`${set}${model}`);
    const viaBinding = await conn.query(bindSql(model, params));
    expect(viaParams.length).toBeGreaterThan(1000);
    expectSameForecast(viaParams, viaBinding);
    // The holiday given as a parameter is forecast as one.
    expect(viaBinding.every((r) => Number((r as { holiday: number }).holiday) === 1)).toBe(true);
  });
});
