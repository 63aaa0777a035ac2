/**
 * Grafana dashboards (dashboards/*.json) and Grafana alert rules (dashboards/provisioning/alerting/) without a
 * Grafana server (none can run on the test machines):
 * - ClickHouse panels: every target is a SQL-editor query with a numeric format that uses only macros of
 *   the pinned grafana-clickhouse-datasource version; its SQL, expanded the way Grafana and the plugin
 *   expand it (test/tools/grafana-macros.ts), runs on the real engine (chDB) against the real schema
 *   (schemas/ddl migrations) loaded with generated CDRs, dead letters, alerts, rated CDRs and invoices, and
 *   returns rows. Dashboards read only what the Grafana reader role is granted (schemas/ddl/roles/roles.sql)
 *   and never a subscriber identity.
 * - Known data gives known answers: the network-quality KPIs of a switch with crafted releases, the billing
 *   findings of crafted invoices, and which rows each alert rule fires for.
 * - Prometheus panels: every expression names only metrics and labels pipeline/telemetry.ts exports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCdrs } from '../simulators/synthetic.js';
import { schemaPath, packageRoot, type Cdr, type DeadLetter, type DeadLetterCode, type FraudAlert } from '../schemas/index.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { cdrRowJson, deadLetterRowJson, epochMsToCh } from '../sinks/clickhouse/rows.js';
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
  datasource?: DataSourceRef;
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
    expect(dashboards.map((x) => x.file)).toEqual(['billing-assurance.json', 'cdr-overview.json', 'fraud-alerts.json', 'network-quality.json', 'pipeline-health.json', 'traffic-forecast.json']);
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

/** Options of ClickHouse query variables, by dashboard uid and variable name: filled by running their queries. */
const queryVariableOptions = new Map<string, string[]>();

/** The dashboard's non-datasource variables as the expander sees them; `select` overrides current values. */
function variablesOf(d: Dashboard, select: Record<string, string[]> = {}): TemplateVariable[] {
  return d.templating.list
    .filter((v) => v.type !== 'datasource')
    .map((v) => {
      let options: string[];
      if (v.type === 'custom') {
        options = String(v.query)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      } else if (v.type === 'query' && v.datasource?.type === CLICKHOUSE) {
        const found = queryVariableOptions.get(`${d.uid}/${v.name}`);
        if (!found) throw new Error(`query variable ${v.name} of ${d.uid} was not run`);
        options = found;
      } else throw new Error(`variable type ${v.type} (${v.name}) is not handled by this test`);
      return { name: v.name, current: select[v.name] ?? v.current?.value ?? '$__all', options, allValue: v.allValue ?? undefined };
    });
}

/** Views of the schema (CREATE VIEW in schemas/ddl): they deduplicate inside (FINAL or GROUP BY) where needed. */
const VIEWS = new Set(
  readdirSync(schemaPath('ddl'))
    .filter((f) => f.endsWith('.sql'))
    .flatMap((f) => [...readFileSync(schemaPath('ddl', f), 'utf8').matchAll(/CREATE VIEW IF NOT EXISTS (\w+)/g)].map((m) => m[1]!)),
);
/**
 * ReplacingMergeTrees whose duplicates only FINAL hides. The pre-aggregates are not among them: each day is
 * swapped in whole, one row per group (schemas/ddl/0008_aggregates.sql), so they read the same without FINAL.
 */
const NEEDS_FINAL = new Set(['cdrs', 'dead_letters', 'fraud_alerts', 'invoice_lines', 'traffic_forecast', 'rate_benchmarks']);
/** Columns that name a subscriber: no dashboard reads them (Grafana reads through the masked views). */
const IDENTITY_COLUMNS = ['served_msisdn', 'served_imsi', 'served_imei', 'msisdn', 'calling_number', 'called_number', 'connected_number', 'translated_number', 'original_called_number', 'redirecting_number', 'other_party_e164', 'priced_number', 'key_base64', 'value_base64'];

/** What roles.sql grants the Grafana reader: table -> columns ('*' = the whole table). */
function grafanaGrants(): Map<string, Set<string>> {
  const grants = new Map<string, Set<string>>();
  const text = readFileSync(schemaPath('ddl', 'roles', 'roles.sql'), 'utf8');
  for (const m of text.matchAll(/^GRANT SELECT(?:\(([^)]*)\))? ON \{database\}\.(\w+) TO cdr_grafana_reader;$/gm)) {
    grants.set(m[2]!, new Set(m[1] ? m[1].split(',').map((c) => c.trim()) : ['*']));
  }
  return grants;
}

/** Tables a query reads (FROM and JOIN), with whether FINAL follows. */
function tablesIn(sql: string): { table: string; final: boolean }[] {
  return [...sql.matchAll(/\b(?:FROM|JOIN)\s+(\w+)(?:\s+AS\s+\w+)?(\s+FINAL)?/gi)].map((m) => ({ table: m[1]!, final: m[2] !== undefined }));
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
          // ReplacingMergeTrees of raw data are read deduplicated (FINAL), or through a view that deduplicates.
          for (const { table, final } of tablesIn(t.rawSql!)) if (NEEDS_FINAL.has(table)) expect(final, `${table} read without FINAL`).toBe(true);
        }
      });
    }
  }

  it('Grafana reads only what the reader role is granted, and no subscriber identity', () => {
    const grants = grafanaGrants();
    const sqls = chDashboards.flatMap(({ file, d }) => [
      ...queryPanels(d, CLICKHOUSE).flatMap((p) => p.targets!.map((t) => ({ where: `${file} / ${p.title}`, sql: t.rawSql! }))),
      ...d.templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `${file} / variable ${v.name}`, sql: String(v.query) })),
    ]);
    for (const rule of alertRules()) sqls.push({ where: `alert ${rule.uid}`, sql: rule.sql });
    expect(sqls.length).toBeGreaterThan(40);
    for (const { where, sql } of sqls) {
      for (const { table } of tablesIn(sql)) expect(grants.has(table), `${where}: reads ${table}, not granted to cdr_grafana_reader`).toBe(true);
      for (const c of IDENTITY_COLUMNS) expect(sql, `${where} reads ${c}`).not.toMatch(new RegExp(`\\b${c}\\b`));
    }
    // The views Grafana reads exist, and the roles file grants nothing on the raw CDRs to Grafana.
    for (const v of ['network_calls', 'cdrs_billing', 'agg_usage_daily_masked', 'fraud_alerts_masked', 'dead_letters_masked']) expect(VIEWS.has(v), v).toBe(true);
    expect(grants.has('cdrs')).toBe(false);
    expect(grants.has('dead_letters')).toBe(false);
    expect(grants.has('fraud_alerts')).toBe(false);
  });

  it('the event_type variable offers exactly the values of the cdrs.event_type enum', () => {
    const ddl = readFileSync(schemaPath('ddl', '0001_cdrs.sql'), 'utf8');
    const enumValues = [.../event_type\s+Enum8\(([^)]*)\)/.exec(ddl)![1]!.matchAll(/'(\w+)'/g)].map((m) => m[1]);
    for (const { d } of chDashboards) {
      const v = d.templating.list.find((x) => x.name === 'event_type');
      if (v) expect(String(v.query).split(',').sort()).toEqual([...enumValues].sort());
    }
  });
});

// ---------------------------------------------------------------------------------- known data, known answers

/** One crafted voice leg: only what network quality reads, plus the keys. */
function leg(o: { id: string; switch: string; region: string; atMs: number; disposition: string; causeForTerm?: number; q850: number | null; durationMs?: number; cell?: number }): string {
  return JSON.stringify({
    recording_entity: o.switch, record_id: o.id, event_type: 'VOICE_MO', served_msisdn: `44770090${o.id.slice(-4)}`,
    seizure_time: epochMsToCh(o.atMs), release_time: epochMsToCh(o.atMs + (o.durationMs ?? 0) + 5000), answer_time: o.disposition === 'ANSWERED' ? epochMsToCh(o.atMs + 5000) : null,
    duration_ms: o.durationMs ?? 0, billable_ms: o.durationMs ?? 0, cause_for_term: o.causeForTerm ?? (o.disposition === 'ANSWERED' ? 0 : 3), q850_cause: o.q850,
    disposition: o.disposition, serving_region: o.region, lac: 101, cell_id: o.cell ?? 7, _topic: 'cdr.raw', _partition: 0, _offset: 0,
  }) + '\n';
}

/**
 * Two switches in the last 10 minutes, 60 voice seizures each (above the alert rules' minimum of 50):
 *   MSC-BAD (region Badshire): 20 answered (2 of them dropped, causeForTerm 4, 30 s; the rest 60 s), 10 busy
 *     (Q.850 17), 8 no answer (19), 6 congestion (34, 42, 44: 2 each), 16 failed (41, temporary failure)
 *     -> ASR 1/3, NER 38/60, dropped 10 %, congestion 10 %, MHT (18 x 60 + 2 x 30) / 20 = 57 s; stored twice.
 *   MSC-GOOD (region Goodshire): 50 answered (60 s), 10 busy -> ASR 5/6, NER 1, dropped 0, congestion 0.
 */
async function insertNetworkScenario(conn: ClickHouseConnection, nowMs: number): Promise<void> {
  const rows: string[] = [];
  const at = (i: number) => nowMs - 10 * 60_000 + i * 5_000;
  const bad = (i: number, disposition: string, q850: number, extra: { causeForTerm?: number; durationMs?: number } = {}) =>
    rows.push(leg({ id: `nq-bad-${String(i).padStart(4, '0')}`, switch: 'MSC-BAD', region: 'Badshire', atMs: at(i), disposition, q850, ...extra }));
  let i = 0;
  for (let k = 0; k < 18; k++) bad(i++, 'ANSWERED', 16, { durationMs: 60_000 });
  for (let k = 0; k < 2; k++) bad(i++, 'ANSWERED', 16, { durationMs: 30_000, causeForTerm: 4 });
  for (let k = 0; k < 10; k++) bad(i++, 'BUSY', 17);
  for (let k = 0; k < 8; k++) bad(i++, 'NO_ANSWER', 19);
  for (const q of [34, 34, 42, 42, 44, 44]) bad(i++, 'CONGESTION', q);
  for (let k = 0; k < 16; k++) bad(i++, 'FAILED', 41);
  const badRows = rows.splice(0);
  for (let k = 0; k < 60; k++) {
    rows.push(leg({ id: `nq-good-${String(k).padStart(4, '0')}`, switch: 'MSC-GOOD', region: 'Goodshire', atMs: at(k), disposition: k < 50 ? 'ANSWERED' : 'BUSY', q850: k < 50 ? 16 : 17, durationMs: k < 50 ? 60_000 : 0, cell: 8 }));
  }
  await conn.insert('cdrs', [...badRows, ...rows].join(''));
  await conn.insert('cdrs', badRows.join('')); // a switch re-sent them: each counts once
}

/** The billing scenario's month: the last whole UTC month before now (always inside now-90d, never in the future). */
function billingMonth(nowMs: number): { period: string; startMs: number } {
  const d = new Date(nowMs);
  const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1);
  return { period: new Date(startMs).toISOString().slice(0, 7), startMs };
}

/**
 * Rated CDRs and invoice lines of one month for two accounts of the inventory (reference snapshot v-dash):
 *   R1 ACC-1 voice 1.50, R2 ACC-1 voice 2.25, R3 ACC-2 sms 0.10, R4 ACC-2 voice 3.00, R5 ACC-1 voice 0.40 (no surcharge)
 *   L1 R1 1.50, L2 and L3 R2 2.25 twice (double billing: 2.25), L4 R3 0.10, L5 R9 5.00 (no such CDR: phantom),
 *   L6 surcharge on R5 0.75 (misapplied), L7 R5 0.40; R4 is billed by no line (leakage 3.00).
 * Rated: voice 7.15, sms 0.10. Billed (usage + surcharge): voice 12.15, sms 0.10.
 */
async function insertBillingScenario(conn: ClickHouseConnection, nowMs: number): Promise<void> {
  const { period, startMs } = billingMonth(nowMs);
  await conn.insert('reference_versions', JSON.stringify({ version: 'v-dash', source: 'test', row_counts: { accounts: 2 } }) + '\n');
  await conn.insert('ref_accounts', ['ACC-1', 'ACC-2'].map((a) => JSON.stringify({ version: 'v-dash', account_id: a, class: 'business' }) + '\n').join(''));
  const cdr = (id: string, account: string, service: string, cost: string, hour: number) =>
    JSON.stringify({
      recording_entity: 'MSC-BILL', record_id: id, event_type: service === 'sms' ? 'SMS_MO' : 'VOICE_MO', served_msisdn: `4477001000${id.slice(-1)}`,
      seizure_time: epochMsToCh(startMs + hour * 3600_000), release_time: epochMsToCh(startMs + hour * 3600_000 + 60_000), duration_ms: 60_000, billable_ms: 60_000,
      disposition: 'ANSWERED', rating_status: 'RATED', rating_service: service, account_id: account, currency: 'GBP', cost_total: cost, cost_usage: cost,
      _topic: 'cdr.raw', _partition: 0, _offset: 0,
    }) + '\n';
  await conn.insert('cdrs', [cdr('bill-R1', 'ACC-1', 'voice', '1.5', 10), cdr('bill-R2', 'ACC-1', 'voice', '2.25', 11), cdr('bill-R3', 'ACC-2', 'sms', '0.1', 12), cdr('bill-R4', 'ACC-2', 'voice', '3', 13), cdr('bill-R5', 'ACC-1', 'voice', '0.4', 14)].join(''));
  const line = (no: number, account: string, chargeType: string, service: string, record: string, amount: string) =>
    JSON.stringify({ invoice_id: `INV-${account}`, account_id: account, period, line_no: no, msisdn: '447700100001', charge_type: chargeType, service, record_id: record, quantity: '60', unit: 'second', price_unit: 'minute', amount, currency: 'GBP', source_sha: 'test' }) + '\n';
  await conn.insert(
    'invoice_lines',
    [line(1, 'ACC-1', 'usage', 'voice', 'bill-R1', '1.5'), line(2, 'ACC-1', 'usage', 'voice', 'bill-R2', '2.25'), line(3, 'ACC-1', 'usage', 'voice', 'bill-R2', '2.25'),
     line(4, 'ACC-2', 'usage', 'sms', 'bill-R3', '0.1'), line(5, 'ACC-2', 'usage', 'voice', 'bill-R9', '5'), line(6, 'ACC-1', 'surcharge', 'voice', 'bill-R5', '0.75'),
     line(7, 'ACC-1', 'usage', 'voice', 'bill-R5', '0.4')].join(''),
  );
  // Care credited the phantom line (applied, after approval: two states, FINAL keeps the decision) and refused
  // a credit on R1.
  const adj = (id: string, state: number, status: string, line: number, amount: string, original: string) =>
    JSON.stringify({ adjustment_id: id, state, status, period, account_id: 'ACC-2', msisdn: '447700100001', invoice_id: 'INV-ACC-2', line_no: line, charge_type: 'usage', service: 'voice', original_amount: original, amount, currency: 'GBP', reason: 'billing-error', agent: 'agent-1', role: 'care', requested_at: epochMsToCh(startMs + 20 * 86_400_000) }) + '\n';
  await conn.insert('care_adjustments', [adj('adj-1', 1, 'pending-approval', 5, '5', '5'), adj('adj-1', 2, 'applied', 5, '5', '5'), adj('adj-2', 2, 'rejected', 1, '1.5', '1.5')].join(''));
}

interface AlertRule {
  uid: string;
  title: string;
  datasourceUid: string;
  fromSeconds: number;
  sql: string;
  format: unknown;
  evaluator: { type: string; params: number[] };
  condition: string;
  thresholdRef: string;
  thresholdOf: string;
}

/** The Grafana-managed alert rules of dashboards/provisioning/alerting/*.yml, with their query and threshold. */
function alertRules(): AlertRule[] {
  const dir = join(packageRoot, 'dashboards', 'provisioning', 'alerting');
  const out: AlertRule[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yml')).sort()) {
    const doc = parseYaml(readFileSync(join(dir, f), 'utf8')) as {
      groups: { rules: { uid: string; title: string; condition: string; data: { refId: string; datasourceUid: string; relativeTimeRange?: { from: number }; model: Record<string, unknown> }[] }[] }[];
    };
    for (const rule of doc.groups.flatMap((g) => g.rules)) {
      const query = rule.data.find((x) => x.datasourceUid !== '__expr__')!;
      const threshold = rule.data.find((x) => x.datasourceUid === '__expr__' && x.model.type === 'threshold')!;
      const cond = (threshold.model.conditions as { evaluator: { type: string; params: number[] } }[])[0]!;
      out.push({
        uid: rule.uid, title: rule.title, datasourceUid: query.datasourceUid, fromSeconds: query.relativeTimeRange?.from ?? 0, sql: String(query.model.rawSql), format: query.model.format,
        evaluator: cond.evaluator, condition: rule.condition, thresholdRef: threshold.refId, thresholdOf: String(threshold.model.expression),
      });
    }
  }
  return out;
}

/** Grafana's threshold expression on one value (gt, lt, within_range, outside_range). */
function crosses(e: { type: string; params: number[] }, v: number): boolean {
  const [a = 0, b = 0] = e.params;
  switch (e.type) {
    case 'gt': return v > a;
    case 'lt': return v < a;
    case 'within_range': return v > a && v < b;
    case 'outside_range': return v < a || v > b;
    default: throw new Error(`threshold type ${e.type} is not handled by this test`);
  }
}

describe('Grafana alert rules (provisioning/alerting): structure', () => {
  const rules = alertRules();
  const datasources = parseYaml(readFileSync(join(packageRoot, 'dashboards', 'provisioning', 'datasources', 'datasources.yml'), 'utf8')) as { datasources: { uid: string; type: string }[] };

  it('rules for ASR, NER, dropped calls and congestion on the provisioned ClickHouse data source', () => {
    expect(rules.map((r) => r.uid).sort()).toEqual(['nq-asr-low-region', 'nq-congestion-switch', 'nq-dropped-calls-region', 'nq-ner-low-region']);
    const ch = datasources.datasources.find((x) => x.type === CLICKHOUSE)!;
    for (const r of rules) {
      expect(r.datasourceUid, r.uid).toBe(ch.uid);
      expect(r.condition, `${r.uid}: the condition is the threshold`).toBe(r.thresholdRef);
      expect(r.thresholdOf, r.uid).toBe('A');
      expect(r.format, `${r.uid}: table format (labels from string columns)`).toBe(1);
      expect(r.fromSeconds, r.uid).toBe(900);
      expect(macrosIn(r.sql).every((m) => SUPPORTED_MACROS.has(m)), r.uid).toBe(true);
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
    await insertNetworkScenario(conn, nowMs);
    await insertBillingScenario(conn, nowMs);
    await refreshStale(conn);
    for (const { d } of chDashboards) {
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const rows = await conn.query<Record<string, unknown>>(String(v.query));
        queryVariableOptions.set(`${d.uid}/${v.name}`, rows.map((r) => String(Object.values(r)[0])));
      }
    }
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

    // Panels filtered by a multi-value variable ($__conditionalAll), with a selection instead of All: the
    // event types VOICE_MO and VOICE_MT, or the region of the network scenario (it has rows in the range).
    const selections: Record<string, { values: string[]; phrase: string }> = {
      event_type: { values: ['VOICE_MO', 'VOICE_MT'], phrase: "event_type IN ('VOICE_MO','VOICE_MT')" },
      region: { values: ['Badshire', 'Goodshire'], phrase: "region IN ('Badshire','Goodshire')" },
    };
    for (const p of queryPanels(d, CLICKHOUSE)) {
      for (const [name, sel] of Object.entries(selections)) {
        if (!p.targets!.some((t) => t.rawSql!.includes(`$__conditionalAll(${name} IN`))) continue;
        it(`${file} / ${p.title} (${name} = ${sel.values.join(', ')})`, async () => {
          const [r] = await runPanel(d, p, { [name]: sel.values });
          expect(r!.sql).toContain(sel.phrase);
        });
      }
    }
  }

  it('the CDR and dead-letter counts are exact despite re-inserted rows (deduplicating views)', async () => {
    const { d } = chDashboards.find(({ file }) => file === 'cdr-overview.json')!;
    const panel = (title: string) => queryPanels(d, CLICKHOUSE).find((p) => p.title === title)!;
    const ctx = contextFor(d, panel('CDRs'), Date.now());
    const fromS = Math.floor(ctx.fromMs / 1000);
    const toS = Math.floor(ctx.toMs / 1000);
    const expected = cdrs.filter((c) => c.seizureTime >= fromS * 1000 && c.seizureTime <= toS * 1000).length;
    expect(expected).toBeGreaterThan(4000);
    const [cdrCount] = await runPanel(d, panel('CDRs'));
    // ... plus the 120 legs of the network scenario (the last 10 minutes; MSC-BAD's stored twice).
    expect(Number(cdrCount!.rows[0]!.cdrs)).toBe(expected + 120);
    const [dlCount] = await runPanel(d, panel('Dead letters'));
    expect(Number(dlCount!.rows[0]!.dead_letters)).toBe(deadLetters.length);
    const [asr] = await runPanel(d, panel('Answer-seizure ratio'));
    const value = Number(asr!.rows[0]!.asr);
    expect(value).toBeGreaterThan(0.5); // the generator answers about 80 % of voice calls
    // The hourly panels read the pre-aggregate: the same answer as the deduplicated raw rows of those hours.
    const hours = `toStartOfHour(seizure_time) >= toDateTime(${fromS}) AND toStartOfHour(seizure_time) <= toDateTime(${toS}) AND event_type IN ('VOICE_MO', 'VOICE_MT', 'VOICE_FWD')`;
    const [raw] = await conn.query<{ asr: number }>(`SELECT countIf(disposition = 'ANSWERED') / count() AS asr FROM cdrs FINAL WHERE ${hours}`);
    expect(asr!.sql).toContain('FROM agg_traffic_hourly');
    expect(value).toBeCloseTo(Number(raw!.asr), 9);
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
  const dash = (file: string) => chDashboards.find((x) => x.file === file)!.d;
  const titled = (d: Dashboard, title: string) => queryPanels(d, CLICKHOUSE).find((p) => p.title === title)!;
  const num = (v: unknown) => Number(v);

  it('network quality: ASR, NER, dropped calls, congestion and holding time per switch, each CDR once', async () => {
    const d = dash('network-quality.json');
    const [r] = await runPanel(d, titled(d, 'By ${breakdown}'), { breakdown: ['switch'] });
    const row = (sw: string) => r!.rows.find((x) => x.switch === sw)!;
    const bad = row('MSC-BAD');
    expect(num(bad.seizures), 'stored twice, counted once').toBe(60);
    expect(num(bad.asr)).toBeCloseTo(20 / 60, 9);
    expect(num(bad.ner)).toBeCloseTo(38 / 60, 9);
    expect(num(bad.dropped_rate)).toBeCloseTo(2 / 20, 9);
    expect(num(bad.congestion)).toBeCloseTo(6 / 60, 9);
    expect(num(bad.mht_seconds)).toBe(57);
    const good = row('MSC-GOOD');
    expect([num(good.seizures), num(good.asr), num(good.ner), num(good.dropped_rate), num(good.congestion), num(good.mht_seconds)]).toEqual([60, 50 / 60, 1, 0, 0, 60]);
    // The worst first (lowest NER): the bad switch leads.
    expect(r!.rows[0]!.switch).toBe('MSC-BAD');
    // The region filter, and the cell breakdown (LAC/cell id).
    const [seizures] = await runPanel(d, titled(d, 'Seizures'), { region: ['Badshire'] });
    expect(seizures!.sql).toContain("region IN ('Badshire')");
    expect(num(seizures!.rows[0]!.seizures)).toBe(60);
    const [cells] = await runPanel(d, titled(d, 'By ${breakdown}'), { breakdown: ['cell'], region: ['Goodshire'] });
    expect(cells!.rows.map((x) => [x.cell, num(x.seizures)])).toEqual([['101/8', 60]]);
    const [worst] = await runPanel(d, titled(d, 'Worst cells'));
    expect(worst!.rows[0]!.region).toBe('Badshire');
  });

  it('network-quality alert rules fire for the degraded region and switch only', async () => {
    const nowMs = Date.now();
    const fired = new Map<string, string[]>();
    for (const rule of alertRules()) {
      const sql = expandQuery(rule.sql, { fromMs: nowMs - rule.fromSeconds * 1000, toMs: nowMs, intervalMs: 60_000, variables: [] });
      const rows = await conn.query<Record<string, unknown>>(sql);
      // Grafana's table-to-alert conversion: string columns are labels, the one numeric column is the value.
      const labels = rows.map((x) => Object.entries(x).filter(([, v]) => typeof v === 'string').map(([, v]) => String(v)).join(','));
      const values = rows.map((x) => Object.values(x).filter((v) => typeof v === 'number'));
      for (const v of values) expect(v.length, `${rule.uid}: one numeric column per row`).toBe(1);
      expect(labels.sort(), `${rule.uid}: every group with enough seizures is evaluated`).toEqual(rule.uid.endsWith('-switch') ? ['MSC-BAD', 'MSC-GOOD'] : ['Badshire', 'Goodshire']);
      fired.set(rule.uid, rows.filter((_, i) => crosses(rule.evaluator, values[i]![0] as number)).map((x) => Object.values(x).find((v) => typeof v === 'string') as string));
    }
    expect(Object.fromEntries(fired)).toEqual({
      'nq-asr-low-region': ['Badshire'],
      'nq-ner-low-region': ['Badshire'],
      'nq-dropped-calls-region': ['Badshire'],
      'nq-congestion-switch': ['MSC-BAD'],
    });
  });

  it('billing: rated vs billed per service and month, leakage, phantom and double charges, findings with money at stake', async () => {
    const d = dash('billing-assurance.json');
    const { period } = billingMonth(Date.now());
    const [cmp] = await runPanel(d, titled(d, 'Rated vs billed per service and month'));
    expect(cmp!.rows.filter((x) => x.month === period).map((x) => [x.service, num(x.rated), num(x.billed), num(x.difference), num(x.rated_records), num(x.billed_lines)])).toEqual([
      ['voice', 7.15, 12.15, 5, 4, 6],
      ['sms', 0.1, 0.1, 0, 1, 1],
    ]);
    const [rated] = await runPanel(d, titled(d, 'Rated'));
    expect(rated!.rows.map((x) => [x.currency, num(x.rated)])).toEqual([['GBP', 7.25]]);
    const [billed] = await runPanel(d, titled(d, 'Billed (usage and surcharges)'));
    expect(billed!.rows.map((x) => [x.currency, num(x.billed)])).toEqual([['GBP', 12.25]]);
    const [leak] = await runPanel(d, titled(d, 'Leakage'));
    expect(leak!.rows.map((x) => [x.currency, String(x.leakage)])).toEqual([['GBP', '3']]);
    const [over] = await runPanel(d, titled(d, 'Phantom and double charges'));
    expect(over!.rows.map((x) => [x.currency, String(x.overcharged)])).toEqual([['GBP', '7.25']]);
    const [findings] = await runPanel(d, titled(d, 'Audit findings with money at stake'));
    expect(findings!.rows.filter((x) => x.month === period).map((x) => [x.kind, num(x.findings), String(x.money_at_stake)])).toEqual([
      ['phantom-charge', 1, '5'],
      ['leakage', 1, '3'],
      ['double-billed', 1, '2.25'],
      ['misapplied-surcharge', 1, '0.75'],
    ]);
    const [accounts] = await runPanel(d, titled(d, 'Accounts with leakage or over-charging'));
    expect(accounts!.rows.map((x) => [x.account_id, String(x.leakage), String(x.overcharged)])).toEqual([
      ['ACC-2', '3', '5'],
      ['ACC-1', '0', '2.25'],
    ]);
    const [adjustments] = await runPanel(d, titled(d, 'Care adjustments'));
    expect(adjustments!.rows.filter((x) => x.month === period).map((x) => [x.status, x.reason, num(x.adjustments), String(x.credited)])).toEqual([
      ['applied', 'billing-error', 1, '5'],
      ['rejected', 'billing-error', 1, '1.5'],
    ]);
    const [series] = await runPanel(d, titled(d, 'Rated vs billed per month'));
    expect(series!.rows.map((x) => [x.currency, x.rated, x.billed])).toContainEqual(['GBP', 7.25, 12.25]);
  });

  it('dashboards read only the columns granted on tables with column grants', async () => {
    const grants = grafanaGrants();
    for (const [table, cols] of grants) {
      if (cols.has('*')) continue;
      const all = (await conn.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${table}'`)).map((c) => c.name);
      const hidden = all.filter((c) => !cols.has(c));
      expect(hidden.length, table).toBeGreaterThan(0);
      for (const { file, d } of chDashboards) {
        for (const p of queryPanels(d, CLICKHOUSE)) {
          for (const t of p.targets!) {
            if (!tablesIn(t.rawSql!).some((x) => x.table === table)) continue;
            for (const c of hidden) expect(t.rawSql, `${file} / ${p.title} reads ${table}.${c}, not granted`).not.toMatch(new RegExp(`\\b${c}\\b`));
          }
        }
      }
    }
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
