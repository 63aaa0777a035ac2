/**
 * The pre-aggregates never double count (schemas/ddl/0008_aggregates.sql, reports/aggregates/aggregates.ts): CDRs that
 * arrive again (replays, switch duplicates: same key, newer _ingested_at) and CDRs rated again (a re-rating that
 * even moves a line to another account) leave agg_usage_daily and agg_traffic_hourly equal, after a refresh,
 * to a GROUP BY over `cdrs FINAL` and to the sums of the rated CDRs computed here in memory.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage, type RatingBatchStage } from '../enrich/rate/stage.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, cdrRowCompact } from '../sinks/clickhouse/rows.js';
import { dropOrphanScratch, refreshStale, staleDays } from '../reports/aggregates/aggregates.js';
import { chPath, uniqueName } from './helpers.js';

let conn: ClickHouseConnection;
const dir = mkdtempSync(join(tmpdir(), 'agg-'));
const start = Date.UTC(2026, 9, 5);
const days = ['2026-10-05', '2026-10-06', '2026-10-07'];
let cdrs: SourcedCdr[] = [];

beforeAll(async () => {
  const traffic = createTraffic({ seed: 23, subscribers: 150, startMs: start, endMs: start + 3 * 86_400_000, scenarios: 'none' });
  writeReference(join(dir, 'a'), traffic.reference());
  cdrs = [...traffic.records()].map((cdr, i) => ({ cdr, topic: 'cdr.raw', partition: 0, offset: String(i) }));
  conn = await openEmbedded({ path: chPath(), database: uniqueName('agg') });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  await store(createRatingStage(join(dir, 'a'), ''), cdrs);
}, 120_000);
afterAll(async () => conn?.close());

async function store(stage: RatingBatchStage, batch: SourcedCdr[]): Promise<void> {
  stage.rateBatch(batch);
  await conn.insert('cdrs', batch.map(cdrRowCompact).join(''), {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
}

/** The newest rating of every CDR, in memory: day|account|msisdn -> [records, micro-units]. */
function expectedFromMemory(latest: Map<string, SourcedCdr>): Record<string, [number, bigint]> {
  const out: Record<string, [number, bigint]> = {};
  for (const sc of latest.values()) {
    const r = sc.rated!;
    const k = `${new Date(sc.cdr.seizureTime).toISOString().slice(0, 10)}|${r.account_id ?? ''}|${sc.cdr.servedMsisdn}`;
    const cur = (out[k] ??= [0, 0n]);
    cur[0]++;
    if (r.rating_status === 'RATED') cur[1] += BigInt(String(r.cost_total).replace('.', '')); // formatMicros: 6 decimals
  }
  return out;
}

async function aggregateByLine(): Promise<Record<string, [number, bigint]>> {
  const rows = await conn.query<{ k: string; n: string; amount: string }>(
    "SELECT concat(toString(day), '|', account_id, '|', msisdn) AS k, sum(records) AS n, toString(sum(rated_amount)) AS amount FROM agg_usage_daily GROUP BY k",
  );
  const micros = (s: string) => {
    const [i = '0', f = ''] = s.split('.');
    return BigInt(i) * 1_000_000n + BigInt((f + '000000').slice(0, 6));
  };
  return Object.fromEntries(rows.map((r) => [r.k, [Number(r.n), micros(r.amount)]]));
}

/** The aggregates and an independent GROUP BY over cdrs FINAL, both at the aggregates' grain. */
async function compareWithFinal(): Promise<void> {
  const usage = `SELECT toString(day) AS d, account_id, msisdn, service, destination_class, toString(currency) AS c, records, billable_seconds, toString(rated_amount) AS amount, toString(surcharge_amount) AS sur, forwarded_records, unrated_records FROM agg_usage_daily`;
  const usageFinal = `SELECT toString(toDate(seizure_time)) AS d, ifNull(account_id, '') AS account_id, served_msisdn AS msisdn, rating_service AS service,
      if(event_type = 'DATA', 'data', ifNull(priced_number_category, ifNull(other_party_category, 'unknown'))) AS destination_class, toString(currency) AS c,
      count() AS records, sum(intDiv(billable_ms + 999, 1000)) AS billable_seconds, toString(sumIf(cost_total, rating_status = 'RATED')) AS amount,
      toString(sumIf(cost_surcharge, rating_status = 'RATED')) AS sur, countIf(event_type = 'VOICE_FWD') AS forwarded_records, countIf(rating_status != 'RATED') AS unrated_records
    FROM cdrs FINAL GROUP BY d, account_id, msisdn, service, destination_class, c`;
  const order = ' ORDER BY d, account_id, msisdn, service, destination_class, c';
  const a = await conn.query(usage + order);
  expect(a.length).toBeGreaterThan(500);
  expect(a).toEqual(await conn.query(`SELECT * FROM (${usageFinal})${order}`));
  // With or without FINAL, the aggregate reads the same: each day is one swapped-in partition.
  expect(await conn.query(usage + ' FINAL' + order)).toEqual(a);

  const traffic = `SELECT toString(hour) AS h, destination_class, region, toString(currency) AS c, calls, answered_calls, billable_seconds, toString(revenue) AS revenue FROM agg_traffic_hourly ORDER BY h, destination_class, region, c`;
  const trafficFinal = `SELECT toString(toStartOfHour(seizure_time)) AS h, ifNull(priced_number_category, ifNull(other_party_category, 'unknown')) AS destination_class, ifNull(serving_region, '') AS region, toString(currency) AS c,
      count() AS calls, countIf(disposition = 'ANSWERED') AS answered_calls, sum(intDiv(billable_ms + 999, 1000)) AS billable_seconds, toString(sumIf(cost_total, rating_status = 'RATED')) AS revenue
    FROM cdrs FINAL WHERE event_type IN ('VOICE_MO', 'VOICE_MT', 'VOICE_FWD') GROUP BY h, destination_class, region, c ORDER BY h, destination_class, region, c`;
  const t = await conn.query(traffic);
  expect(t.length).toBeGreaterThan(100);
  expect(t).toEqual(await conn.query(trafficFinal));
}

it('a refresh equals a GROUP BY over cdrs FINAL and the in-memory sums of the rated CDRs', async () => {
  expect(await staleDays(conn)).toEqual(days);
  const r = await refreshStale(conn);
  expect(r.days).toEqual(days);
  await compareWithFinal();
  expect(await aggregateByLine()).toEqual(expectedFromMemory(new Map(cdrs.map((c) => [c.cdr.recordId, c]))));
  expect(await staleDays(conn)).toEqual([]);
});

it('replayed and duplicated CDRs (same key, newer _ingested_at) are not counted twice', async () => {
  const before = await aggregateByLine();
  // A replay of a third of the day-2 records: new offsets (a new block), same ReplacingMergeTree key.
  const replay = cdrs.filter((c, i) => c.cdr.seizureTime >= start + 86_400_000 && c.cdr.seizureTime < start + 2 * 86_400_000 && i % 3 === 0).map((c, i) => ({ ...c, offset: String(1_000_000 + i) }));
  expect(replay.length).toBeGreaterThan(500);
  await store(createRatingStage(join(dir, 'a'), ''), replay);
  const [raw] = await conn.query<{ raw: string; final: string }>('SELECT (SELECT count() FROM cdrs) AS raw, (SELECT count() FROM cdrs FINAL) AS final');
  expect(Number(raw!.raw)).toBe(cdrs.length + replay.length);
  expect(Number(raw!.final)).toBe(cdrs.length);
  // Only the day that received rows is stale; an insert-triggered sum would now count those rows twice.
  expect(await staleDays(conn)).toEqual([days[1]]);
  expect((await refreshStale(conn)).days).toEqual([days[1]]);
  await compareWithFinal();
  expect(await aggregateByLine()).toEqual(before);
});

it('a re-rating replaces the old values, even when it moves a line to another account', async () => {
  // The inventory is corrected: a line with traffic moves to another account, and every PAYG price doubles.
  const lines = readFileSync(join(dir, 'a', 'lines.csv'), 'utf8').trimEnd().split('\n');
  const header = lines[0]!.split(',');
  const msisdnCol = header.indexOf('msisdn');
  const accountCol = header.indexOf('accountId');
  const moved = cdrs.find((c) => c.rated?.rating_status === 'RATED' && c.rated.account_id !== null && !String(c.rated.account_id).startsWith('PLMN-'))!;
  const oldAccount = String(moved.rated!.account_id);
  const newAccount = lines.slice(1).map((l) => l.split(',')[accountCol]!).find((a) => a !== oldAccount)!;
  const edited = lines.map((l, i) => {
    const f = l.split(',');
    if (i > 0 && f[msisdnCol] === moved.cdr.servedMsisdn) f[accountCol] = newAccount;
    return f.join(',');
  });
  writeReference(join(dir, 'b'), createTraffic({ seed: 23, subscribers: 150, startMs: start, endMs: start + 3 * 86_400_000, scenarios: 'none' }).reference());
  writeFileSync(join(dir, 'b', 'lines.csv'), edited.join('\n') + '\n');
  const book = JSON.parse(readFileSync(schemaPath('tariffs', 'default.json'), 'utf8')) as { rates: Record<string, { price?: string }> };
  for (const id of ['PAYG_UK_PEAK', 'PAYG_UK_OFFPEAK', 'PAYG_UK_WEEKEND']) book.rates[id]!.price = (Number(book.rates[id]!.price) * 2).toFixed(4);
  writeFileSync(join(dir, 'b', 'tariffs.json'), JSON.stringify(book));
  const rerated = cdrs.map((c) => ({ ...c, rated: undefined }));
  await store(createRatingStage(join(dir, 'b'), join(dir, 'b', 'tariffs.json')), rerated);
  expect(await staleDays(conn)).toEqual(days);
  await refreshStale(conn);
  await compareWithFinal();
  const expected = expectedFromMemory(new Map(rerated.map((c) => [c.cdr.recordId, c])));
  expect(await aggregateByLine()).toEqual(expected);
  // The line's old groups are gone, not left beside the new ones.
  const [left] = await conn.query<{ n: string }>(`SELECT count() AS n FROM agg_usage_daily WHERE msisdn = '${moved.cdr.servedMsisdn}' AND account_id = '${oldAccount}'`);
  expect(Number(left!.n)).toBe(0);
  const [now] = await conn.query<{ n: string }>(`SELECT count() AS n FROM agg_usage_daily WHERE msisdn = '${moved.cdr.servedMsisdn}' AND account_id = '${newAccount}'`);
  expect(Number(now!.n)).toBeGreaterThan(0);
  // And the doubled PAYG prices are what the aggregate holds now.
  expect(expected).not.toEqual(expectedFromMemory(new Map(cdrs.map((c) => [c.cdr.recordId, c]))));
});

it('scratch tables a killed refresh left behind are dropped once they are six hours old, not before', async () => {
  const now = Date.now();
  const old = `agg_usage_daily__refresh_${(now - 7 * 3600_000).toString(36)}_deadbeef`;
  const recent = `agg_traffic_hourly__refresh_${(now - 600_000).toString(36)}_cafebabe`;
  await conn.command(`CREATE TABLE ${old} AS agg_usage_daily`);
  await conn.command(`CREATE TABLE ${recent} AS agg_traffic_hourly`);
  const tables = async () => (await conn.query<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%\\_\\_refresh\\_%' ORDER BY name")).map((r) => r.name);
  expect(await tables()).toEqual([recent, old].sort());
  await refreshStale(conn);
  expect(await tables(), 'the old one is an orphan; the recent one may belong to a refresh in progress').toEqual([recent]);
  expect(await dropOrphanScratch(conn, undefined, now + 6 * 3600_000)).toEqual([recent]);
  expect(await tables()).toEqual([]);
});
