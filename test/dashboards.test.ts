/**
 * Grafana dashboards (dashboards/*.json) without a Grafana server (none can run on the test machines):
 * - ClickHouse panels: every target is a SQL-editor query with a numeric format that uses only macros of
 *   the pinned grafana-clickhouse-datasource version; its SQL, expanded the way Grafana and the plugin
 *   expand it (test/tools/grafana-macros.ts), runs on the real engine (chDB) against the real schema
 *   (schemas/ddl migrations) loaded with generated CDRs and dead letters, and returns rows.
 * - Prometheus panels: every expression names only metrics and labels pipeline/telemetry.ts exports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCdrs } from '../simulators/synthetic.js';
import { schemaPath, packageRoot, type Cdr, type DeadLetter, type DeadLetterCode, type FraudAlert } from '../schemas/index.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { cdrRowJson, deadLetterRowJson } from '../sinks/clickhouse/rows.js';
import { refreshStale } from '../reports/aggregates/aggregates.js';
import { alertRow } from '../pipeline/fraud.js';
import { chPath, uniqueName } from './helpers.js';
import { CLICKHOUSE_PLUGIN_VERSION, expandQuery, macrosIn, panelIntervalMs, parseRelativeTime, SUPPORTED_MACROS, type ExpandContext, type TemplateVariable } from './tools/grafana-macros.js';
import { checkRefs, exportedSeries, metricsFromTelemetry, promqlRefs, variableQueryRefs } from './tools/promql.js';

const CLICKHOUSE = 'grafana-clickhouse-datasource';
const PROMETHEUS = 'prometheus';

interface DataSourceRef {
  type?: string;
  uid?: string;
}
interface Target {
  refId: string;
  datasource?: DataSourceRef;
  // ClickHouse
  editorType?: string;
  format?: unknown;
  rawSql?: string;
  pluginVersion?: string;
  // Prometheus
  expr?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: DataSourceRef;
  interval?: string;
  maxDataPoints?: number;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  type: string;
  name: string;
  query?: unknown;
  current?: { value?: string | string[] };
  options?: { value: string }[];
  includeAll?: boolean;
  allValue?: string | null;
  definition?: string;
}
interface Dashboard {
  uid?: string;
  title: string;
  schemaVersion: number;
  time: { from: string; to: string };
  templating: { list: Variable[] };
  panels: Panel[];
}

const dashboardsDir = join(packageRoot, 'dashboards');
const dashboards = readdirSync(dashboardsDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, d: JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8')) as Dashboard }));

/** Panels including those nested in collapsed rows; rows themselves have no queries. */
const panelsOf = (d: Dashboard): Panel[] => d.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
const queryPanels = (d: Dashboard, type: string) => panelsOf(d).filter((p) => p.datasource?.type === type);

describe('dashboards: structure', () => {
  it('finds the dashboards', () => {
    expect(dashboards.map((x) => x.file)).toEqual(['cdr-overview.json', 'fraud-alerts.json', 'pipeline-health.json', 'traffic-forecast.json']);
  });

  for (const { file, d } of dashboards) {
    it(`${file}: classic model with uid, schemaVersion and a datasource variable per datasource type`, () => {
      expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(d.schemaVersion).toBeLessThanOrEqual(41);
      const panels = panelsOf(d);
      expect(panels.length).toBeGreaterThan(0);
      expect(new Set(panels.map((p) => p.id)).size, 'panel ids must be unique').toBe(panels.length);
      for (const p of panels) {
        expect(p.gridPos.x + p.gridPos.w, `${p.title}: wider than 24 columns`).toBeLessThanOrEqual(24);
        expect(p.targets?.length ?? 0, `${p.title}: no query`).toBeGreaterThan(0);
      }
      const types = new Set(panels.map((p) => p.datasource?.type));
      for (const type of types) {
        const v = d.templating.list.find((x) => x.type === 'datasource' && x.query === type);
        expect(v, `${file}: no datasource variable for ${type}`).toBeDefined();
        for (const p of panels.filter((x) => x.datasource?.type === type)) {
          expect(p.datasource!.uid, `${p.title}`).toBe('${' + v!.name + '}');
          for (const t of p.targets!) expect(t.datasource ?? p.datasource, `${p.title}/${t.refId}`).toEqual({ type, uid: '${' + v!.name + '}' });
        }
      }
      expect([...types].every((t) => t === CLICKHOUSE || t === PROMETHEUS), [...types].join()).toBe(true);
    });
  }
});

// ------------------------------------------------------------------------------------------ ClickHouse

const chDashboards = dashboards.filter(({ d }) => queryPanels(d, CLICKHOUSE).length > 0);

/** The dashboard's non-datasource variables as the expander sees them; `select` overrides current values. */
function variablesOf(d: Dashboard, select: Record<string, string[]> = {}): TemplateVariable[] {
  return d.templating.list
    .filter((v) => v.type !== 'datasource')
    .map((v) => {
      if (v.type !== 'custom') throw new Error(`variable type ${v.type} (${v.name}) is not handled by this test`);
      const options = String(v.query)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      return { name: v.name, current: select[v.name] ?? v.current?.value ?? '$__all', options, allValue: v.allValue ?? undefined };
    });
}

function contextFor(d: Dashboard, p: Panel, nowMs: number, select: Record<string, string[]> = {}): ExpandContext {
  const fromMs = parseRelativeTime(d.time.from, nowMs);
  const toMs = parseRelativeTime(d.time.to, nowMs);
  return { fromMs, toMs, intervalMs: panelIntervalMs(fromMs, toMs, p.interval, p.maxDataPoints), variables: variablesOf(d, select) };
}

describe('ClickHouse panels: targets', () => {
  for (const { file, d } of chDashboards) {
    for (const p of queryPanels(d, CLICKHOUSE)) {
      it(`${file} / ${p.title}: SQL editor, numeric format, supported macros`, () => {
        for (const t of p.targets!) {
          expect(t.editorType).toBe('sql');
          expect(t.format === 0 || t.format === 1, `format ${String(t.format)} must be 0 (time series) or 1 (table)`).toBe(true);
          expect(p.type === 'timeseries' ? 0 : 1, `${p.type} panel with format ${String(t.format)}`).toBe(t.format);
          expect(t.rawSql?.trim().length ?? 0).toBeGreaterThan(0);
          expect(t.rawSql, 'no trailing semicolon (Grafana sends one statement)').not.toMatch(/;\s*$/);
          if (t.pluginVersion !== undefined) expect(t.pluginVersion).toBe(CLICKHOUSE_PLUGIN_VERSION);
          const unsupported = macrosIn(t.rawSql!).filter((m) => !SUPPORTED_MACROS.has(m));
          expect(unsupported, `macros not in plugin ${CLICKHOUSE_PLUGIN_VERSION}`).toEqual([]);
          // cdrs and dead_letters are ReplacingMergeTrees: counts read them deduplicated.
          for (const table of t.rawSql!.matchAll(/\bFROM\s+(\w+)(\s+FINAL)?/gi)) expect(table[2], `${table[1]} read without FINAL`).toBeDefined();
        }
      });
    }
  }

  it('the event_type variable offers exactly the values of the cdrs.event_type enum', () => {
    const ddl = readFileSync(schemaPath('ddl', '0001_cdrs.sql'), 'utf8');
    const enumValues = [.../event_type\s+Enum8\(([^)]*)\)/.exec(ddl)![1]!.matchAll(/'(\w+)'/g)].map((m) => m[1]);
    for (const { d } of chDashboards) {
      const v = d.templating.list.find((x) => x.name === 'event_type');
      if (v) expect(String(v.query).split(',').sort()).toEqual([...enumValues].sort());
    }
  });
});

describe('ClickHouse panels: every query runs on the real schema and returns rows', () => {
  let conn: ClickHouseConnection;
  const cdrs: Cdr[] = [];
  const deadLetters: DeadLetter[] = [];

  beforeAll(async () => {
    const nowMs = Date.now();
    conn = await openEmbedded({ path: chPath(), database: uniqueName('dashboards') });
    await migrate(conn, loadMigrations(schemaPath('ddl')));
    // About four hours of traffic ending before now, inside the dashboards' default range (now-6h .. now).
    cdrs.push(...generateCdrs({ seed: 20261122, subscribers: 300, startMs: nowMs - 5 * 3600_000, meanGapMs: 3000, switches: 4 }, 5000));
    const rows = cdrs.map((cdr, i) => cdrRowJson({ cdr, topic: 'cdr.raw', partition: i % 6, offset: String(i) }));
    await conn.insert('cdrs', rows.join(''));
    // The same CDRs again (a switch re-sent them, or a replay): duplicates until a merge; FINAL hides them.
    await conn.insert('cdrs', rows.slice(0, 250).join(''));

    const codes: DeadLetterCode[] = ['AVRO_DECODE_FAILED', 'FUTURE_TIMESTAMP', 'MISSING_PARTY'];
    for (let i = 0; i < 12; i++) {
      deadLetters.push({
        code: codes[i % codes.length]!,
        message: `test dead letter ${i}`,
        topic: 'cdr.raw',
        partition: i % 6,
        offset: String(100_000 + i),
        timestamp: nowMs - 30 * 60_000 + i * 1000,
        key: Buffer.from(`key-${i}`),
        value: Buffer.from([0x00, 0xde, 0xad, 0xbe, 0xef, i]),
      });
    }
    // dead_at defaults to now64(3): these are dead-lettered "now", inside the range.
    await conn.insert('dead_letters', deadLetters.map(deadLetterRowJson).join(''));
    await conn.insert('dead_letters', deadLetters.slice(0, 3).map(deadLetterRowJson).join(''));
    // The hourly aggregate, filled from cdrs FINAL the way `cdr-pipeline aggregate` does (reports/aggregates/aggregates.ts),
    // and a forecast run for the next hours (traffic_forecast, schemas/ddl/0009), for the forecast dashboard.
    await refreshStale(conn);
    const hour = Math.floor(nowMs / 3600_000) * 3600_000;
    const forecastRows = ['calls', 'minutes', 'revenue'].flatMap((metric) =>
      [-2, -1, 0, 1, 2, 3].map((h) => {
        const at = new Date(hour + h * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
        return { run_id: 'forecast/test', run_kind: 'forecast', model: 'seasonal-trend', origin: at.slice(0, 11) + '00:00:00', history_weeks: 4, target_hour: at, destination_class: '*', region: '*', metric, currency: metric === 'revenue' ? 'GBP' : '', point: '12.5', lower: '10', upper: '15.25', daily_level: 300, seasonal_index: 1, holiday_factor: 1, trend_per_day: 0, holiday: 0 };
      }),
    );
    await conn.insert('traffic_forecast', forecastRows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    // Fraud alerts (schemas/ddl/0006), one of them in two versions (FINAL keeps the latest), for the fraud dashboard.
    const alert = (id: string, rule: string, version: number, status: FraudAlert['status'], severity: FraudAlert['severity'], exposure: string, agoMin: number): FraudAlert => ({
      alertId: id, version, rule, fraudType: 'IRSF', entityKind: 'MSISDN', entity: `4477009${id.slice(-5)}`, severity, score: 0.9, status,
      firstSeen: nowMs - agoMin * 60_000, lastSeen: nowMs - (agoMin - 20) * 60_000, detectedAt: nowMs - (agoMin - 3) * 60_000,
      windowStart: nowMs - agoMin * 60_000, windowEnd: nowMs - (agoMin - 20) * 60_000, exposure, currency: 'GBP',
      evidence: { recordIds: ['r-1', 'r-2', 'r-3', 'r-4'], counts: { events: 4 }, facts: { note: 'test' } }, eventsPartition: 0, eventsOffset: 100 + version,
    });
    const alerts = [
      alert('a0000000000000000000001', 'irsf.high_risk', 1, 'OPEN', 'HIGH', '12.500000', 120),
      alert('a0000000000000000000001', 'irsf.high_risk', 2, 'UPDATED', 'CRITICAL', '612.500000', 120),
      alert('a0000000000000000000002', 'wangiri.burst', 1, 'OPEN', 'MEDIUM', '0.000000', 60),
      alert('a0000000000000000000003', 'forwarding.high_risk_spike', 3, 'CLOSED', 'HIGH', '88.200000', 200),
    ];
    await conn.insert('fraud_alerts', alerts.map((a) => JSON.stringify(alertRow(a))).join('\n') + '\n');
    // $__timeFilter compares with toDateTime(whole seconds): a row from the current second is after `to`
    // (as in Grafana, where it shows on the next refresh). Let the clock pass into the next second.
    await new Promise((resolve) => setTimeout(resolve, 1050 - (Date.now() % 1000)));
  });

  afterAll(async () => {
    await conn?.close();
  });

  async function runPanel(d: Dashboard, p: Panel, select: Record<string, string[]> = {}) {
    const out: { sql: string; rows: Record<string, unknown>[] }[] = [];
    for (const t of p.targets!) {
      // The range is resolved when the query runs, as Grafana does (dead letters got dead_at = insert time).
      const sql = expandQuery(t.rawSql!, contextFor(d, p, Date.now(), select));
      expect(sql, 'unexpanded macro or variable').not.toMatch(/\$/);
      let rows: Record<string, unknown>[];
      try {
        rows = await conn.query(sql);
      } catch (err) {
        throw new Error(`${p.title}/${t.refId} failed: ${(err as Error).message}\n--- SQL as sent:\n${sql}`);
      }
      expect(rows.length, `${p.title}/${t.refId} returned no rows:\n${sql}`).toBeGreaterThan(0);
      if (t.format === 0) expect(Object.keys(rows[0]!)[0], `${p.title}: a time series query starts with its time column`).toBe('time');
      out.push({ sql, rows });
    }
    return out;
  }

  for (const { file, d } of chDashboards) {
    for (const p of queryPanels(d, CLICKHOUSE)) {
      it(`${file} / ${p.title} (variables at their defaults)`, async () => {
        await runPanel(d, p);
      });
    }

    const filtered = queryPanels(d, CLICKHOUSE).filter((p) => p.targets!.some((t) => t.rawSql!.includes('$__conditionalAll')));
    for (const p of filtered) {
      it(`${file} / ${p.title} (event_type = VOICE_MO, VOICE_MT)`, async () => {
        const [r] = await runPanel(d, p, { event_type: ['VOICE_MO', 'VOICE_MT'] });
        expect(r!.sql).toContain("event_type IN ('VOICE_MO','VOICE_MT')");
      });
    }
  }

  it('the CDR and dead-letter counts are exact despite re-inserted rows (FINAL)', async () => {
    const { d } = chDashboards.find(({ file }) => file === 'cdr-overview.json')!;
    const panel = (title: string) => queryPanels(d, CLICKHOUSE).find((p) => p.title === title)!;
    const ctx = contextFor(d, panel('CDRs'), Date.now());
    const fromS = Math.floor(ctx.fromMs / 1000);
    const toS = Math.floor(ctx.toMs / 1000);
    const expected = cdrs.filter((c) => c.seizureTime >= fromS * 1000 && c.seizureTime <= toS * 1000).length;
    expect(expected).toBeGreaterThan(4000);
    const [cdrCount] = await runPanel(d, panel('CDRs'));
    expect(Number(cdrCount!.rows[0]!.cdrs)).toBe(expected);
    const [dlCount] = await runPanel(d, panel('Dead letters'));
    expect(Number(dlCount!.rows[0]!.dead_letters)).toBe(deadLetters.length);
    const [asr] = await runPanel(d, panel('Answer-seizure ratio'));
    const value = Number(asr!.rows[0]!.asr);
    expect(value).toBeGreaterThan(0.5); // the generator answers about 80 % of voice calls
    expect(value).toBeLessThan(1);
  });

  it('the fraud dashboard counts each alert once, at its latest version (FINAL), with exact exposure', async () => {
    const { d } = chDashboards.find(({ file }) => file === 'fraud-alerts.json')!;
    const panel = (title: string) => queryPanels(d, CLICKHOUSE).find((p) => p.title === title)!;
    const [open] = await runPanel(d, panel('Open alerts'));
    expect(Number(open!.rows[0]!.open), 'the UPDATED irsf alert and the OPEN wangiri one; the closed one is not open').toBe(2);
    const [high] = await runPanel(d, panel('Critical or high, open'));
    expect(Number(high!.rows[0]!.critical_high), 'the irsf alert escalated to CRITICAL in version 2').toBe(1);
    const [exposure] = await runPanel(d, panel('Exposure of alerts in range'));
    expect(exposure!.rows.map((r) => [r.currency, String(r.exposure)])).toEqual([['GBP', '700.7']]);
    const [list] = await runPanel(d, panel('Alerts (latest version)'));
    expect(list!.rows.map((r) => [r.rule, r.version, r.severity, r.status])).toEqual([
      ['irsf.high_risk', 2, 'CRITICAL', 'UPDATED'],
      ['wangiri.burst', 1, 'MEDIUM', 'OPEN'],
      ['forwarding.high_risk_spike', 3, 'HIGH', 'CLOSED'],
    ]);
    const [ttd] = await runPanel(d, panel('Median time to detect'));
    expect(Number(ttd!.rows[0]!.minutes), 'detected 3 minutes after each first record').toBe(3);
  });
});

// ------------------------------------------------------------------------------------------ Prometheus

describe('Prometheus panels: expressions use only exported metrics', () => {
  const series = exportedSeries(metricsFromTelemetry(join(packageRoot, 'pipeline', 'telemetry.ts')));

  it('reads the metric catalogue from pipeline/telemetry.ts', () => {
    for (const name of ['cdr_source_records_total', 'cdr_sink_insert_duration_seconds_bucket', 'cdr_last_record_processed_timestamp_seconds', 'cdr_pipeline_ready']) {
      expect(series.has(name), name).toBe(true);
    }
  });

  for (const { file, d } of dashboards.filter(({ d }) => queryPanels(d, PROMETHEUS).length > 0)) {
    for (const p of queryPanels(d, PROMETHEUS)) {
      it(`${file} / ${p.title}`, () => {
        for (const t of p.targets!) {
          expect(t.expr?.length ?? 0, `${p.title}/${t.refId}: no expr`).toBeGreaterThan(0);
          expect(checkRefs(promqlRefs(t.expr!), series), t.expr).toEqual([]);
          // Counter rates follow the scrape interval Grafana knows about.
          for (const m of t.expr!.matchAll(/\b(rate|irate|increase)\([^[]*\[([^\]]+)\]/g)) expect(m[2], t.expr).toBe('$__rate_interval');
        }
      });
    }

    it(`${file}: variable queries`, () => {
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
        expect(checkRefs(variableQueryRefs(q), series), q).toEqual([]);
      }
    });
  }
});
