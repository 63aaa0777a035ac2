/**
 * The store keeps to retention and roles (issue #17 item 5):
 * - the storage migrations (schemas/ddl/0020..0023) run on a POPULATED database (the schema as of 0011, filled
 *   with CDRs that carry NULLs, re-sent duplicates, dead letters, alerts and aggregates) and keep every row and
 *   sum; converted columns read '' where they read NULL; codecs, the time projection and monthly aggregate
 *   partitions are in place; the sink's rows (nulls included) still insert; a second run changes nothing;
 * - the aggregates, now monthly, refresh one day without touching the other days of the month;
 * - retention: TTLs from the configuration, applied idempotently, expire old data (and only old data);
 * - roles: every statement of schemas/ddl/roles/roles.sql is valid ClickHouse SQL (formatQuery), names only
 *   tables and columns that exist; CREATE ROLE is refused by embedded ClickHouse and by the server path of the
 *   tests (the HTTP endpoint executes on chDB, access management off), which is why formatQuery is the check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCdrs } from '../simulators/synthetic.js';
import { schemaPath, type DeadLetter } from '../schemas/index.js';
import { openEmbedded, openServer, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { applyRetention, DEFAULT_RETENTION, loadMigrations, migrate, retentionProblems, roleStatements, type Retention } from '../sinks/clickhouse/migrate.js';
import { cdrRowJson, deadLetterRowJson } from '../sinks/clickhouse/rows.js';
import { refreshDays, refreshStale } from '../reports/aggregates/aggregates.js';
import { ConfigError, loadConfig } from '../pipeline/config.js';
import { chPath, uniqueName } from './helpers.js';
import { startClickHouseEndpoint, type ClickHouseEndpoint } from './clickhouse-endpoint.js';

const all = loadMigrations(schemaPath('ddl'));
const before17 = all.filter((m) => m.version <= 11);
const DAY = 86_400_000;
const OCT = Date.UTC(2026, 9, 1);

/** Counts and sums a lossless migration keeps (NULL-to-'' conversions counted on both sides alike). */
const FINGERPRINT = `SELECT count() AS rows, uniqExact(recording_entity, record_id) AS ids, sum(duration_ms) AS duration, toString(sum(cost_total)) AS cost,
  countIf(ifNull(account_id, '') != '') AS with_account, countIf(ifNull(serving_region, '') = '') AS without_region,
  sum(cityHash64(served_msisdn)) AS msisdn_hash, sum(toUnixTimestamp64Milli(seizure_time)) AS seizure, countIf(answer_time IS NULL) AS unanswered,
  countIf(q850_cause IS NULL) AS no_q850, sum(cityHash64(ifNull(called_number, ''))) AS called_hash FROM cdrs`;

let conn: ClickHouseConnection;
let fingerprint: Record<string, unknown>;
const aggBefore: Record<string, string> = {};

beforeAll(async () => {
  conn = await openEmbedded({ path: chPath(), database: uniqueName('store') });
  await migrate(conn, before17);
  // Two weeks of October: unrated (NULL account, region, tariff ...) and a few rated with an account; 300 re-sent.
  const cdrs = [...generateCdrs({ seed: 1717, subscribers: 200, startMs: OCT, meanGapMs: 240_000, switches: 3 }, 5000)];
  const rows = cdrs.map((cdr, i) =>
    cdrRowJson({ cdr, topic: 'cdr.raw', partition: i % 3, offset: String(i) }).replace(/\}\n$/, i % 4 === 0 ? `,"account_id":"ACC-${i % 7}","rating_status":"RATED","cost_total":"0.${(i % 90) + 10}","serving_region":"North"}\n` : '}\n'),
  );
  await conn.insert('cdrs', rows.join(''));
  await conn.insert('cdrs', rows.slice(0, 300).join(''));
  const dl: DeadLetter[] = Array.from({ length: 20 }, (_, i) => ({ code: 'AVRO_DECODE_FAILED', message: `bad ${i}`, topic: 'cdr.raw', partition: 0, offset: String(90_000 + i), timestamp: OCT + i * 1000, key: i % 2 ? null : Buffer.from(`k${i}`), value: Buffer.from([i, 1, 2]) }));
  await conn.insert('dead_letters', dl.map(deadLetterRowJson).join(''));
  // Aggregate rows as of that schema (today's refresh SQL needs later columns): three days of two tables.
  for (const day of ['2026-10-02', '2026-10-05', '2026-10-09']) {
    await conn.insert('agg_usage_daily', JSON.stringify({ day, account_id: 'ACC-1', msisdn: '447700900001', service: 'voice', destination_class: 'mobile', currency: 'GBP', records: 3, rated_amount: '1.25', refreshed_at: '2026-10-10 00:00:00' }) + '\n');
    await conn.insert('agg_traffic_hourly', JSON.stringify({ hour: `${day} 10:00:00`, destination_class: 'mobile', region: 'North', calls: 7, answered_calls: 5, billable_seconds: 300, revenue: '2.5', currency: 'GBP', refreshed_at: '2026-10-10 00:00:00' }) + '\n');
  }
  fingerprint = (await conn.query(FINGERPRINT))[0]!;
  for (const t of ['agg_usage_daily', 'agg_traffic_hourly']) {
    aggBefore[t] = JSON.stringify(await conn.query(`SELECT * EXCEPT refreshed_at FROM ${t} ORDER BY ALL`));
  }
  // The migrations of issue #17 and every later one, on the populated tables.
  await migrate(conn, all);
}, 120_000);

afterAll(async () => {
  await conn?.close();
});

describe('storage migrations on a populated database', () => {
  it('keep every CDR, sum and dead letter', async () => {
    expect((await conn.query(FINGERPRINT))[0]).toEqual(fingerprint);
    expect(Number(fingerprint.rows)).toBe(5300);
    const [dl] = await conn.query<{ n: string; keys: string }>(`SELECT count() AS n, countIf(key_base64 IS NULL) AS keys FROM dead_letters`);
    expect([Number(dl!.n), Number(dl!.keys)]).toEqual([20, 10]);
  });

  it('turn Nullable into plain columns only where null meant nothing: NULL reads as empty', async () => {
    const types = new Map((await conn.query<{ name: string; type: string; compression_codec: string }>(`SELECT name, type, compression_codec FROM system.columns WHERE database = currentDatabase() AND table = 'cdrs'`)).map((c) => [c.name, c]));
    for (const c of ['account_id', 'serving_region', 'tariff_id', 'rate_id', 'line_status', 'visited_plmn']) expect(types.get(c)!.type, c).not.toContain('Nullable');
    // Null still means something here: never answered, not sent by the switch, not rated, no location.
    for (const c of ['answer_time', 'q850_cause', 'called_number', 'served_imsi', 'cell_id', 'rated_at', 'rating_segments', 'other_party_category']) expect(types.get(c)!.type, c).toContain('Nullable');
    const nullable = [...types.values()].filter((c) => c.type.includes('Nullable')).length;
    expect(nullable, 'cdrs had 50 Nullable columns').toBeLessThanOrEqual(28 + 3); // + 0040's optional v3 fields
    const [r] = await conn.query<{ empty: string; unrated: string }>(`SELECT countIf(account_id = '') AS empty, countIf(rating_status != 'RATED') AS unrated FROM cdrs`);
    expect(Number(r!.empty)).toBe(Number(r!.unrated));
    // Codecs chosen by measurement (0020): times T64 + ZSTD, identities ZSTD(3).
    expect(types.get('seizure_time')!.compression_codec).toBe('CODEC(T64, ZSTD(1))');
    expect(types.get('served_msisdn')!.compression_codec).toBe('CODEC(ZSTD(3))');
    expect(types.get('_offset')!.compression_codec).toBe('CODEC(Delta(8), ZSTD(1))');
  });

  it('the sink still inserts rows with nulls (they store as empty) and the time projection serves time ranges', async () => {
    const [cdr] = [...generateCdrs({ seed: 99, subscribers: 1, startMs: OCT + 20 * DAY, meanGapMs: 1000, switches: 1 }, 1)];
    await conn.insert('cdrs', cdrRowJson({ cdr: cdr!, topic: 'cdr.raw', partition: 0, offset: '1' }));
    const [r] = await conn.query<{ account_id: string; serving_region: string }>(`SELECT account_id, serving_region FROM cdrs WHERE record_id = '${cdr!.recordId}'`);
    expect(r).toEqual({ account_id: '', serving_region: '' });
    const [p] = await conn.query<{ n: string }>(`SELECT count() AS n FROM system.projection_parts WHERE database = currentDatabase() AND table = 'cdrs' AND name = 'p_network' AND active`);
    expect(Number(p!.n)).toBeGreaterThan(0);
    const range = `seizure_time >= toDateTime64('2026-10-03 00:00:00', 3, 'UTC') AND seizure_time < toDateTime64('2026-10-03 06:00:00', 3, 'UTC')`;
    const plan = (await conn.query<{ explain: string }>(`EXPLAIN projections = 1 SELECT count() FROM network_calls WHERE ${range}`)).map((x) => x.explain).join('\n');
    expect(plan).toContain('p_network');
    const [v] = await conn.query<{ n: string }>(`SELECT count() AS n FROM network_calls WHERE ${range}`);
    const [f] = await conn.query<{ n: string }>(`SELECT count() AS n FROM cdrs FINAL WHERE ${range}`);
    expect(Number(v!.n), 'the view counts each CDR once, as FINAL').toBe(Number(f!.n));
    expect(Number(v!.n)).toBeGreaterThan(0);
  });

  it('rebuild the aggregates with monthly partitions, every row kept; a day refreshes alone', async () => {
    for (const t of ['agg_usage_daily', 'agg_traffic_hourly']) {
      expect(JSON.stringify(await conn.query(`SELECT * EXCEPT refreshed_at FROM ${t} ORDER BY ALL`)), t).toBe(aggBefore[t]);
      const ids = (await conn.query<{ partition_id: string }>(`SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() AND table = '${t}' AND active`)).map((x) => x.partition_id);
      expect(ids, t).toEqual(['202610']);
    }
    // Refresh the month with today's code, then recompute one day: the month's other days stay exactly as
    // they were, the day equals cdrs FINAL.
    await refreshStale(conn);
    const others = `SELECT * EXCEPT refreshed_at FROM agg_usage_daily WHERE day != '2026-10-05' ORDER BY ALL`;
    const othersBefore = JSON.stringify(await conn.query(others));
    await conn.command(`ALTER TABLE cdrs DELETE WHERE toDate(seizure_time) = '2026-10-05' AND event_type = 'DATA' SETTINGS mutations_sync = 2`);
    const r = await refreshDays(conn, ['2026-10-05']);
    expect(r.days).toEqual(['2026-10-05']);
    expect(JSON.stringify(await conn.query(others))).toBe(othersBefore);
    const [agg] = await conn.query<{ n: string }>(`SELECT sum(records) AS n FROM agg_usage_daily WHERE day = '2026-10-05'`);
    const [raw] = await conn.query<{ n: string }>(`SELECT count() AS n FROM cdrs FINAL WHERE toDate(seizure_time) = '2026-10-05'`);
    expect(Number(agg!.n)).toBe(Number(raw!.n));
    expect(Number(raw!.n)).toBeGreaterThan(0);
  });

  it('a second run changes nothing', async () => {
    const r = await migrate(conn, all);
    expect(r.applied).toEqual([]);
  });
});

describe('retention', () => {
  const ttlOf = async (table: string) => / TTL (.*?)(?: SETTINGS |$)/.exec((await conn.query<{ e: string }>(`SELECT engine_full AS e FROM system.tables WHERE database = currentDatabase() AND name = '${table}'`))[0]!.e)?.[1] ?? '';

  it('applies a TTL per table from the configuration, once; 0 removes it', async () => {
    const changed = await applyRetention(conn, DEFAULT_RETENTION);
    expect(changed).toEqual(expect.arrayContaining(['cdrs', 'dead_letters', 'fraud_alerts', 'agg_usage_daily', 'agg_traffic_hourly', 'agg_refreshes', 'agg_line_use_daily', 'port_responses', 'care_adjustments', 'usage_notifications']));
    expect(await ttlOf('cdrs')).toBe('toDateTime(seizure_time) + toIntervalDay(1095)');
    expect(await ttlOf('dead_letters')).toBe('toDateTime(dead_at) + toIntervalDay(90)');
    expect(await ttlOf('agg_usage_daily')).toBe('day + toIntervalDay(1095)');
    expect(await ttlOf('agg_line_use_daily')).toBe('day + toIntervalDay(1095)');
    // Audit records (port answers, credits): 7 years; notifications: from the end of their period, past the CDRs.
    expect(await ttlOf('port_responses')).toBe('toDateTime(answered_at) + toIntervalDay(2555)');
    expect(await ttlOf('care_adjustments')).toBe('toDateTime(requested_at) + toIntervalDay(2555)');
    expect(await ttlOf('usage_notifications')).toBe('addMonths(toStartOfMonth(crossed_at), 1) + toIntervalDay(1125)');
    expect(await applyRetention(conn, DEFAULT_RETENTION), 'already in force: nothing to change').toEqual([]);
    expect(await applyRetention(conn, { ...DEFAULT_RETENTION, deadLettersDays: 0 })).toEqual(['dead_letters', 'dead_letter_replays']);
    expect(await ttlOf('dead_letters')).toBe('');
  });

  it('expires whole old months and keeps the rest', async () => {
    const old = [...generateCdrs({ seed: 5, subscribers: 5, startMs: Date.UTC(2020, 0, 10), meanGapMs: 60_000, switches: 1 }, 50)];
    await conn.insert('cdrs', old.map((cdr, i) => cdrRowJson({ cdr, topic: 'cdr.raw', partition: 0, offset: String(i) })).join(''));
    const count = async () => Number((await conn.query<{ n: string }>(`SELECT count() AS n FROM cdrs`))[0]!.n);
    const before = await count();
    await applyRetention(conn, { ...DEFAULT_RETENTION, cdrsDays: 1000, aggregatesDays: 1000 });
    await conn.command('OPTIMIZE TABLE cdrs FINAL');
    const after = await count();
    expect(before - after, 'the 2020 CDRs expired').toBeGreaterThanOrEqual(50);
    expect(Number((await conn.query<{ n: string }>(`SELECT count() AS n FROM cdrs WHERE seizure_time < '2021-01-01'`))[0]!.n)).toBe(0);
    expect(Number((await conn.query<{ n: string }>(`SELECT count() AS n FROM cdrs WHERE seizure_time >= '2026-10-01'`))[0]!.n)).toBeGreaterThan(4000);
  });

  it('expires old port answers, adjustments and notifications (a notification by its period) and keeps the rest', async () => {
    const t = (iso: string) => iso.replace('T', ' ').replace('Z', '');
    const port = (id: string, at: string) => JSON.stringify({ request_id: id, answered_at: t(at), received_at: t(at), due_at: t(at), outcome: 'accepted', codes: [], reason: '', account_id: 'A1', telephone_numbers: ['447700900001'], requesting_company: 'X', contact_name: 'Y', loa: true, pin_supplied: true, pin_matched: true, source: 'f' }) + '\n';
    const adj = (id: string, at: string) => JSON.stringify({ adjustment_id: id, state: 2, status: 'applied', submission: 's', period: at.slice(0, 7), account_id: 'A1', msisdn: '447700900001', invoice_id: 'I', line_no: 1, charge_type: 'usage', service: 'voice', record_id: 'r', original_amount: '1', amount: '1', currency: 'GBP', reason: 'r', note: '', agent: 'a', role: 'agent', requested_at: t(at), queued_because: '', decided_by: 'a', decided_role: 'agent', decided_at: t(at), source: '' }) + '\n';
    const note = (id: string, period: string, crossed: string, detected: string) => JSON.stringify({ notification_id: id, state: 2, owner: '', msisdn: '447700900001', account_id: 'A1', period, measure: 'total-spend', threshold_pct: 100, cap: '10', threshold: '10', value: '11', unit: 'GBP', crossed_at: t(crossed), record_id: 'r', detected_at: t(detected), published_at: t(detected) }) + '\n';
    const now = new Date();
    const recent = new Date(now.getTime() - 20 * DAY).toISOString();
    // 2020-02-01 + 1125 days = 2023-03-02: expired today; with 3000 days it is kept.
    await applyRetention(conn, { ...DEFAULT_RETENTION, cdrsDays: 1000, aggregatesDays: 1000, usageNotificationsDays: 3000 });
    await conn.insert('port_responses', port('old', '2019-03-01T10:00:00.000Z') + port('new', recent));
    await conn.insert('care_adjustments', adj('old', '2019-03-01T10:00:00.000Z') + adj('new', recent));
    // Crossed 2020-01-30, detected in February: expires 2020-02-01 + N days, whatever the detection time.
    await conn.insert('usage_notifications', note('old', '2020-01', '2020-01-30T10:00:00.000Z', '2020-02-03T10:00:00.000Z') + note('new', recent.slice(0, 7), recent, recent));
    await conn.command('OPTIMIZE TABLE usage_notifications FINAL');
    const ids = async (table: string, key: string) => (await conn.query<{ id: string }>(`SELECT ${key} AS id FROM ${table} ORDER BY id`)).map((r) => r.id);
    expect(await ids('usage_notifications', 'notification_id')).toEqual(['new', 'old']);
    await applyRetention(conn, { ...DEFAULT_RETENTION, cdrsDays: 1000, aggregatesDays: 1000 });
    // A part merged under the longer TTL keeps its TTL information until rewritten: MATERIALIZE TTL recomputes it
    // (docs/components/clickhouse-sink.md "Retention": an immediate purge after shortening a retention).
    for (const table of ['port_responses', 'care_adjustments', 'usage_notifications']) await conn.command(`ALTER TABLE ${table} MATERIALIZE TTL`, { mutations_sync: 2 });
    expect(await ids('port_responses', 'request_id')).toEqual(['new']);
    expect(await ids('care_adjustments', 'adjustment_id')).toEqual(['new']);
    expect(await ids('usage_notifications', 'notification_id')).toEqual(['new']);
  });

  it('refuses notifications that expire before the CDRs of their period', () => {
    expect(retentionProblems({ ...DEFAULT_RETENTION, usageNotificationsDays: 1095 }).join()).toMatch(/usageNotificationsDays \(1095\) must be longer than retention.cdrsDays \(1095\)/);
    expect(retentionProblems({ ...DEFAULT_RETENTION, cdrsDays: 0, aggregatesDays: 0, usageNotificationsDays: 5000 }).join()).toMatch(/cdrsDays \(forever\)/);
    expect(retentionProblems({ ...DEFAULT_RETENTION, cdrsDays: 0, aggregatesDays: 0, usageNotificationsDays: 0 })).toEqual([]);
    // Keeping CDRs longer than the default notification retention needs both raised.
    expect(() => loadConfig({ env: { CDR_RETENTION_CDRS_DAYS: '1500' } })).toThrow(/usageNotificationsDays/);
    const cfg = loadConfig({ env: { CDR_RETENTION_CDRS_DAYS: '1500', CDR_RETENTION_USAGE_NOTIFICATIONS_DAYS: '1600', CDR_RETENTION_PORT_RESPONSES_DAYS: '3650', CDR_RETENTION_CARE_ADJUSTMENTS_DAYS: '0' } });
    expect(cfg.retention).toEqual({ ...DEFAULT_RETENTION, cdrsDays: 1500, usageNotificationsDays: 1600, portResponsesDays: 3650, careAdjustmentsDays: 0 });
  });

  it('refuses aggregates that outlive their CDRs, in code and in the configuration', () => {
    const r: Retention = { ...DEFAULT_RETENTION, cdrsDays: 400, aggregatesDays: 800 };
    expect(retentionProblems(r).join()).toMatch(/aggregatesDays .* must not exceed retention.cdrsDays/);
    expect(retentionProblems(DEFAULT_RETENTION)).toEqual([]);
    expect(() => loadConfig({ env: { CDR_RETENTION_CDRS_DAYS: '400' } })).toThrow(ConfigError);
    const cfg = loadConfig({ env: { CDR_RETENTION_CDRS_DAYS: '400', CDR_RETENTION_AGGREGATES_DAYS: '400', CDR_RETENTION_DEAD_LETTERS_DAYS: '30' } });
    expect(cfg.retention).toEqual({ cdrsDays: 400, deadLettersDays: 30, fraudAlertsDays: 1095, aggregatesDays: 400, portResponsesDays: 2555, careAdjustmentsDays: 2555, usageNotificationsDays: 1125 });
  });
});

describe('roles', () => {
  const statements = roleStatements(schemaPath('ddl'), 'cdr');
  let endpoint: ClickHouseEndpoint | undefined;

  afterAll(async () => {
    await endpoint?.close();
  });

  it('six roles, every statement valid ClickHouse SQL (formatQuery)', async () => {
    const roles = statements.filter((s) => s.startsWith('CREATE ROLE')).map((s) => s.split(' ').pop());
    expect(roles).toEqual(['cdr_pipeline_writer', 'cdr_grafana_reader', 'cdr_billing_analyst', 'cdr_fraud_analyst', 'cdr_care_agent', 'cdr_porting_agent']);
    for (const s of statements) {
      const [r] = await conn.query<{ f: string }>(`SELECT formatQuery(${"'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'"}) AS f`);
      expect(r!.f.length, s).toBeGreaterThan(0);
    }
    expect(() => roleStatements(schemaPath('ddl'), 'cdr; DROP TABLE x')).toThrow(RangeError);
  });

  it('grants name only tables and columns of the schema, on the configured database, never the whole database', async () => {
    const tables = new Set((await conn.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase()`)).map((t) => t.name));
    const grants = statements.filter((s) => s.startsWith('GRANT'));
    expect(grants.length).toBeGreaterThan(50);
    for (const g of grants) {
      const m = /^GRANT (.+) ON cdr\.(`?)([\w*]+)\2 TO (cdr_\w+)$/.exec(g);
      expect(m, g).not.toBeNull();
      const table = m![3]!;
      if (table.endsWith('*')) {
        expect(table, 'wildcards only for the aggregate refresh scratch tables').toMatch(/^agg_\w+__refresh_\*$/);
        continue;
      }
      expect(tables.has(table), `${g}: no table ${table}`).toBe(true);
      const cols = /SELECT\(([^)]*)\)/.exec(m![1]!)?.[1];
      if (cols) {
        const known = new Set((await conn.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${table}'`)).map((c) => c.name));
        for (const c of cols.split(',').map((x) => x.trim())) expect(known.has(c), `${table}.${c}`).toBe(true);
      }
    }
    // Least privilege: the writer writes what the pipeline stores, the billing analyst imports, the care agent
    // records adjustments; the readers write nothing; Grafana and care read only columns of cdrs (care) or none.
    const writes = (role: string) => grants.filter((g) => g.endsWith(` TO ${role}`) && /\bINSERT\b|ALTER DELETE|CREATE TABLE|DROP TABLE/.test(g)).map((g) => /ON cdr\.`?([\w*]+)/.exec(g)![1]);
    expect(writes('cdr_grafana_reader')).toEqual([]);
    expect(writes('cdr_fraud_analyst')).toEqual([]);
    expect(writes('cdr_care_agent')).toEqual(['care_adjustments']);
    expect(writes('cdr_billing_analyst')).not.toContain('cdrs');
    expect(writes('cdr_pipeline_writer')).not.toContain('invoice_lines');
    expect(grants.filter((g) => / ON cdr\.cdrs TO cdr_(grafana_reader|care_agent)$/.test(g) && !g.startsWith('GRANT SELECT('))).toEqual([]);
    // The tables with identities added after the access review (0031-0033, 0050): who may touch them at all.
    const holders = (table: string) => grants.filter((g) => g.includes(` ON cdr.${table} TO `)).map((g) => `${/ TO (\w+)$/.exec(g)![1]}: ${g.slice(6, g.indexOf(' ON '))}`).sort();
    expect(writes('cdr_porting_agent')).toEqual(['port_responses']);
    expect(holders('port_responses')).toEqual(['cdr_grafana_reader: SELECT(answered_at, received_at, due_at, outcome, codes, loa, pin_supplied, pin_matched)', 'cdr_porting_agent: SELECT, INSERT']);
    expect(holders('care_adjustments')).toEqual([
      'cdr_billing_analyst: SELECT',
      'cdr_care_agent: SELECT, INSERT',
      'cdr_grafana_reader: SELECT(adjustment_id, state, status, period, account_id, charge_type, service, original_amount, amount, currency, reason, requested_at)',
    ]);
    expect(holders('usage_notifications')).toEqual(['cdr_care_agent: SELECT', 'cdr_grafana_reader: SELECT(state, period, measure, threshold_pct, unit, crossed_at, detected_at, published_at)', 'cdr_pipeline_writer: SELECT, INSERT']);
    expect(holders('agg_line_use_daily').map((h) => h.split(':')[0])).toEqual(['cdr_billing_analyst', 'cdr_pipeline_writer']);
    // Column grants to Grafana never name a subscriber's number, a contact, or an id derived from the number.
    for (const g of grants.filter((x) => x.endsWith(' TO cdr_grafana_reader') && x.startsWith('GRANT SELECT('))) expect(g, g).not.toMatch(/\b(msisdn|imsi|imei|telephone_numbers|contact_name|notification_id|called_number|calling_number)\b/);
    // The porting desk and the main job read the reference snapshot as reference-store.ts loads it (every table).
    for (const t of ['ref_current_version', 'ref_operator', 'ref_accounts', 'ref_lines', 'ref_features', 'ref_directory_listings', 'ref_holidays']) {
      expect(grants, t).toContain(`GRANT SELECT ON cdr.${t} TO cdr_porting_agent`);
      expect(grants, t).toContain(`GRANT SELECT ON cdr.${t} TO cdr_pipeline_writer`);
    }
  });

  it('CREATE ROLE needs access management: refused on embedded ClickHouse and on the tests\' server path', async () => {
    await expect(conn.command(statements[0]!)).rejects.toThrow(/ACCESS_DENIED|Not enough privileges/);
    endpoint = await startClickHouseEndpoint({ path: chPath() });
    const server = await openServer({ url: endpoint.url, username: 'default', password: 'x', database: uniqueName('store_srv'), requestTimeoutMs: 10_000, createDatabase: true });
    try {
      await expect(server.command(statements[0]!)).rejects.toThrow(/ACCESS_DENIED|Not enough privileges/);
    } finally {
      await server.close();
    }
  });
});
