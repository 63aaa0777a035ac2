/**
 * Forecast options that change the result (issue #18), on chDB with a synthetic hourly aggregate and no
 * reference data:
 * - holidays come from the operator's calendar by default (the tariff book calendar rating uses): a bank holiday
 *   in the horizon is forecast as one without any flag, and `--holidays none` forecasts it as an ordinary day;
 * - run ids include every option that changes the result: two backtests that differ only in the time zone keep
 *   separate rows in traffic_forecast, and so do two forecasts that differ only in the holiday set;
 * - without reference data the report says which time zone it used and how to fix that, in its output (beside
 *   the tables, not only in the header) and in JSON.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaPath } from '../schemas/index.js';
import { openEmbedded, sqlString, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { backtestReport, forecastReport, runIdOf } from '../reports/forecasting/forecast.js';
import type { ReportValues } from '../reports/index.js';
import { chPath, quietLog, uniqueName } from './helpers.js';

const HOUR = 3_600_000;
let conn: ClickHouseConnection;
let cfg: Config;

beforeAll(async () => {
  conn = await openEmbedded({ path: chPath(), database: uniqueName('fcopts') });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  // Five weeks of one series (Monday 27 July .. Sunday 30 August 2026, UTC hours): weekdays 100 calls at the
  // day's peak, Saturdays 60, Sundays 40. Monday 31 August is a bank holiday of the tariff book's GB calendar.
  const rows: string[] = [];
  for (let t = Date.UTC(2026, 6, 27); t < Date.UTC(2026, 7, 31); t += HOUR) {
    const d = new Date(t);
    const dow = d.getUTCDay();
    const peak = dow === 0 ? 40 : dow === 6 ? 60 : 100;
    const h = d.getUTCHours();
    const calls = Math.round(peak * (h >= 8 && h < 20 ? 1 : 0.2));
    rows.push(JSON.stringify({ hour: d.toISOString().slice(0, 19).replace('T', ' '), destination_class: 'mobile', region: 'London', calls, answered_calls: calls, billable_seconds: calls * 90, revenue: (calls * 0.05).toFixed(2), currency: 'GBP', refreshed_at: '2026-09-01 00:00:00' }));
  }
  await conn.insert('agg_traffic_hourly', rows.join('\n') + '\n');
  const base = loadConfig({ env: {} });
  cfg = { ...base, clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath(), database: conn.database }, telemetry: { ...base.telemetry, logLevel: 'silent', metricsPort: -1 } };
}, 60_000);

afterAll(async () => {
  await conn?.close();
});

async function run(report: typeof forecastReport, values: ReportValues): Promise<string> {
  const lines: string[] = [];
  const code = await report.run({ cfg, log: quietLog, values, args: [], out: (l) => lines.push(l) });
  expect(code).toBe(0);
  return lines.join('\n');
}

type Doc = { run_id: string; time_zone: string; time_zone_source: string; holidays: string[]; warnings: string[]; by_day: { day: string; calls: string; holiday: number | string }[] };
const FROM = '2026-08-30T23:00:00Z'; // Monday 31 August 00:00 in Europe/London

describe('forecast options', () => {
  it('a bank holiday of the operator\'s calendar changes the forecast without a flag', async () => {
    const dflt = JSON.parse(await run(forecastReport, { from: FROM, horizon: '48h', format: 'json' })) as Doc;
    const none = JSON.parse(await run(forecastReport, { from: FROM, horizon: '48h', format: 'json', holidays: 'none' })) as Doc;
    const day = (d: Doc, date: string) => d.by_day.find((x) => x.day === date)!;
    expect(dflt.holidays).toContain('2026-08-31');
    expect(Number(day(dflt, '2026-08-31').holiday)).toBe(1);
    expect(Number(day(none, '2026-08-31').holiday)).toBe(0);
    // Forecast as a Sunday (40 at the peak) rather than a Monday (100).
    expect(Number(day(dflt, '2026-08-31').calls)).toBeLessThan(0.6 * Number(day(none, '2026-08-31').calls));
    // The ordinary Tuesday is the same either way; the runs are two runs.
    expect(Number(day(dflt, '2026-09-01').calls)).toBeCloseTo(Number(day(none, '2026-09-01').calls), 3);
    expect(dflt.run_id).not.toBe(none.run_id);
    const [n] = await conn.query<{ runs: string }>(`SELECT uniqExact(run_id) AS runs FROM traffic_forecast FINAL WHERE run_id IN (${sqlString(dflt.run_id)}, ${sqlString(none.run_id)})`);
    expect(Number(n!.runs)).toBe(2);
  });

  it('two backtests with different options keep separate rows', async () => {
    const base = { from: '2026-08-31T00:00:00Z', weeks: '1', 'weeks-of-history': '2', format: 'json' };
    const utc = JSON.parse(await run(backtestReport, { ...base, 'time-zone': 'UTC' })) as { run_ids: string[] };
    const london = JSON.parse(await run(backtestReport, { ...base, 'time-zone': 'Europe/London' })) as { run_ids: string[] };
    expect(utc.run_ids).toHaveLength(1);
    expect(utc.run_ids[0]).not.toBe(london.run_ids[0]);
    expect(utc.run_ids[0]).toContain('tz=UTC');
    const counts = await conn.query<{ run_id: string; n: string }>(
      `SELECT run_id, count() AS n FROM traffic_forecast FINAL WHERE run_id IN (${[...utc.run_ids, ...london.run_ids].map(sqlString).join(', ')}) GROUP BY run_id ORDER BY run_id`,
    );
    expect(counts).toHaveLength(2);
    // Each run keeps its 168 hours x 3 metrics x 4 series (mobile/London and the totals).
    for (const c of counts) expect(Number(c.n)).toBe(168 * 3 * 4);
  });

  it('the run id names the time zone and the holiday set of the run\'s window', () => {
    const spec = { kind: 'forecast' as const, originMs: Date.parse(FROM), horizonHours: 48, historyWeeks: 4 };
    const a = runIdOf({ ...spec, tz: 'Europe/London', holidays: ['2026-08-31'] });
    expect(runIdOf({ ...spec, tz: 'Europe/London', holidays: ['2026-08-31', '2030-01-01'] })).toBe(a); // outside the window
    expect(runIdOf({ ...spec, tz: 'Europe/London', holidays: [] })).not.toBe(a);
    expect(runIdOf({ ...spec, tz: 'UTC', holidays: ['2026-08-31'] })).not.toBe(a);
  });

  it('without reference data the report says which time zone it used and how to fix that', async () => {
    const doc = JSON.parse(await run(forecastReport, { from: FROM, horizon: '24h', format: 'json' })) as Doc;
    expect(doc.time_zone).toBe('Europe/London');
    expect(doc.time_zone_source).toBe('tariff book');
    expect(doc.warnings.join(' ')).toMatch(/no reference data in ClickHouse.*Europe\/London.*cdr-pipeline reference import DIR.*--time-zone/);
    const table = await run(forecastReport, { from: FROM, horizon: '24h' });
    // Beside the results, at the end, not only in the header line.
    expect(table.trimEnd().split('\n').slice(-3).join('\n')).toMatch(/WARNING: no reference data in ClickHouse/);
    // With a zone given, nothing to warn about.
    const given = JSON.parse(await run(forecastReport, { from: FROM, horizon: '24h', format: 'json', 'time-zone': 'Europe/London' })) as Doc;
    expect(given.warnings).toEqual([]);
    expect(given.run_id).toBe(doc.run_id);
  });
});
