/**
 * The running pipeline keeps the pre-aggregates fresh (aggregates.refreshIntervalMs; reports/aggregates/aggregates.ts
 * AggregateRefresher, started by pipeline/app.ts): real Kafka, embedded ClickHouse, rating on. CDRs are
 * produced and ingested, and without any separate job agg_usage_daily and agg_traffic_hourly come to equal a
 * GROUP BY over `cdrs FINAL` and the per-day counts of what was produced — also after the whole topic is
 * produced a second time (duplicates). A refresh that fails (the table it records into is gone) is logged,
 * counted in cdr_aggregate_refreshes_total{outcome="error"}, does not stop or stall ingestion, and the next
 * refresh after the cause is fixed catches up. `report reconcile --no-refresh` names the stale days it read.
 */
import { Writable } from 'node:stream';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { cdrCodec, type Cdr } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { ensureTopic } from '../ingest/kafka.js';
import { KafkaSink } from '../sinks/kafka.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { createLogger } from '../pipeline/telemetry.js';
import { AggregateRefresher, staleDays } from '../reports/aggregates/aggregates.js';
import { reconcile } from '../reports/reconciliation/reconcile.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');

/** Both aggregates, and the same numbers computed independently from `cdrs FINAL`, at the aggregates' grain. */
async function aggregatesAndFinal(conn: ClickHouseConnection) {
  const usageOrder = ' ORDER BY d, account_id, msisdn, service, destination_class, c';
  const usage = await conn.query(
    `SELECT toString(day) AS d, account_id, msisdn, service, destination_class, toString(currency) AS c, records, answered_records, billable_seconds, toString(rated_amount) AS amount,
            toString(surcharge_amount) AS sur, roaming_records, forwarded_records, unrated_records FROM agg_usage_daily${usageOrder}`,
  );
  const usageFinal = await conn.query(
    `SELECT * FROM (
       SELECT toString(toDate(seizure_time)) AS d, ifNull(account_id, '') AS account_id, served_msisdn AS msisdn, rating_service AS service,
              if(event_type = 'DATA', 'data', ifNull(priced_number_category, ifNull(other_party_category, 'unknown'))) AS destination_class, toString(currency) AS c,
              count() AS records, countIf(disposition = 'ANSWERED') AS answered_records, sum(intDiv(billable_ms + 999, 1000)) AS billable_seconds,
              toString(sumIf(cost_total, rating_status = 'RATED')) AS amount, toString(sumIf(cost_surcharge, rating_status = 'RATED')) AS sur,
              countIf(roaming = 1) AS roaming_records, countIf(event_type = 'VOICE_FWD') AS forwarded_records, countIf(rating_status != 'RATED') AS unrated_records
       FROM cdrs FINAL GROUP BY d, account_id, msisdn, service, destination_class, c)${usageOrder}`,
  );
  const traffic = await conn.query(
    'SELECT toString(hour) AS h, destination_class, region, toString(currency) AS c, calls, answered_calls, billable_seconds, toString(revenue) AS revenue FROM agg_traffic_hourly ORDER BY h, destination_class, region, c',
  );
  const trafficFinal = await conn.query(
    `SELECT toString(toStartOfHour(seizure_time)) AS h, ifNull(priced_number_category, ifNull(other_party_category, 'unknown')) AS destination_class, ifNull(serving_region, '') AS region,
            toString(currency) AS c, count() AS calls, countIf(disposition = 'ANSWERED') AS answered_calls, sum(intDiv(billable_ms + 999, 1000)) AS billable_seconds,
            toString(sumIf(cost_total, rating_status = 'RATED')) AS revenue
     FROM cdrs FINAL WHERE event_type IN ('VOICE_MO', 'VOICE_MT', 'VOICE_FWD') GROUP BY h, destination_class, region, c ORDER BY h, destination_class, region, c`,
  );
  const perDay = Object.fromEntries((await conn.query<{ d: string; n: string }>('SELECT toString(day) AS d, sum(records) AS n FROM agg_usage_daily GROUP BY d ORDER BY d')).map((r) => [r.d, Number(r.n)]));
  return { usage, usageFinal, traffic, trafficFinal, perDay };
}

/** Per UTC day, the number of distinct CDRs produced. */
function producedPerDay(cdrs: readonly Cdr[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of cdrs) {
    const d = new Date(c.seizureTime).toISOString().slice(0, 10);
    out[d] = (out[d] ?? 0) + 1;
  }
  return out;
}

/** A counter or gauge of the /metrics text (0 when absent). */
function metric(body: string, series: string): number {
  const line = body.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

it('run refreshes the stale days on its own timer: the aggregates match the raw rows; a failing refresh is counted and ingestion goes on', async () => {
  const name = uniqueName('aggrun');
  const refDir = mkdtempSync(join(tmpdir(), 'aggrun-ref-'));
  const start = Date.UTC(2026, 9, 5);
  const traffic = createTraffic({ seed: 31, subscribers: 200, startMs: start, endMs: start + 2 * 86_400_000, scenarios: 'none' });
  writeReference(refDir, traffic.reference());
  const cdrs = [...traffic.records()];
  const half = cdrs.filter((c) => c.seizureTime < start + 86_400_000);
  const rest = cdrs.filter((c) => c.seizureTime >= start + 86_400_000);
  expect(half.length).toBeGreaterThan(1000);
  expect(rest.length).toBeGreaterThan(1000);

  await ensureTopic(brokers, name, 3, quietLog);
  const producer = new KafkaSink({ brokers, clientId: 'test', log: quietLog });
  await producer.connect();
  const codec = cdrCodec();
  const produce = async (batch: readonly Cdr[]) => {
    for (let i = 0; i < batch.length; i += 2000) await producer.send(name, batch.slice(i, i + 2000).map((c) => ({ key: c.servedMsisdn, value: codec.encode(c) })));
  };

  // Error lines of the pipeline's log, to see the failure reported.
  const errors: string[] = [];
  const log = createLogger(
    'error',
    {},
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        errors.push(chunk.toString());
        cb();
      },
    }),
  );
  const base = loadConfig({ env: {} });
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, deadLetterTopic: '' },
    rating: { referenceSource: 'files', referenceDir: refDir, tariffFile: '', reloadIntervalMs: 0 },
    fraud: { ...base.fraud, enabled: false },
    clickhouse: { ...base.clickhouse, path: chPath(), database: name },
    sink: { ...base.sink, flushIntervalMs: 100 },
    aggregates: { refreshIntervalMs: 300 },
    telemetry: { ...base.telemetry, metricsPort: 0, logLevel: 'silent' },
  };
  const p = await startPipeline(cfg, log);
  const metrics = async () => (await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)).text();
  let failedRefreshes = 0;
  try {
    expect(p.aggregates).toBeDefined();
    // 1. Ingest the first day; the periodic refresh alone brings the aggregates up to date.
    await produce(half);
    await waitFor('the first day stored', async () => p.runner.stats.stored >= half.length, 120_000);
    await waitFor('the periodic refresh to cover the first day', async () => (await staleDays(p.conn)).length === 0 && (await aggregatesAndFinal(p.conn)).perDay[new Date(start).toISOString().slice(0, 10)] === half.length, 60_000);
    let a = await aggregatesAndFinal(p.conn);
    expect(a.usage.length).toBeGreaterThan(200);
    expect(a.usage).toEqual(a.usageFinal);
    expect(a.traffic).toEqual(a.trafficFinal);
    expect(a.perDay).toEqual(producedPerDay(half));
    let body = await metrics();
    expect(metric(body, 'cdr_aggregate_refreshes_total{outcome="ok"}')).toBeGreaterThanOrEqual(1);
    expect(metric(body, 'cdr_aggregate_refreshes_total{outcome="error"}')).toBe(0);
    expect(metric(body, 'cdr_aggregate_day_refreshes_total')).toBeGreaterThanOrEqual(1);
    expect(metric(body, 'cdr_aggregate_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);

    // 2. The refresh breaks (the fingerprint table is gone). Ingestion goes on: the second day is stored
    //    while every refresh fails, each failure logged and counted.
    await p.conn.command('RENAME TABLE agg_refreshes TO agg_refreshes_away');
    await produce(rest);
    await waitFor('the second day stored while the refresh fails', async () => p.runner.stats.stored >= cdrs.length, 120_000);
    await waitFor('failed refreshes counted', async () => metric(await metrics(), 'cdr_aggregate_refreshes_total{outcome="error"}') >= 2, 30_000);
    expect(errors.some((l) => l.includes('periodic aggregate refresh failed'))).toBe(true);
    expect(p.runner.ready).toBe(true);
    failedRefreshes = metric(await metrics(), 'cdr_aggregate_refreshes_total{outcome="error"}');

    // 3. Fixed: the next refresh catches up with the second day. Then every CDR arrives a second time
    //    (duplicates, same ReplacingMergeTree key): the refreshed aggregates do not count them twice.
    await p.conn.command('RENAME TABLE agg_refreshes_away TO agg_refreshes');
    await produce(cdrs);
    await waitFor('the duplicates stored', async () => p.runner.stats.stored >= 2 * cdrs.length, 120_000);
    await waitFor('the periodic refresh to catch up', async () => {
      if ((await staleDays(p.conn)).length > 0) return false;
      const x = await aggregatesAndFinal(p.conn);
      return JSON.stringify(x.perDay) === JSON.stringify(producedPerDay(cdrs));
    }, 60_000);
    a = await aggregatesAndFinal(p.conn);
    expect(a.usage).toEqual(a.usageFinal);
    expect(a.traffic).toEqual(a.trafficFinal);
    expect(a.perDay).toEqual(producedPerDay(cdrs));
    // (The raw row count is not stable: background merges collapse duplicates at their own pace.)
    const [final] = await p.conn.query<{ n: string }>('SELECT count() AS n FROM cdrs FINAL');
    expect(Number(final!.n)).toBe(cdrs.length);
    body = await metrics();
    expect(metric(body, 'cdr_aggregate_refreshes_total{outcome="error"}')).toBeGreaterThanOrEqual(failedRefreshes);
    expect(metric(body, 'cdr_aggregate_day_refreshes_total')).toBeGreaterThanOrEqual(3);
  } finally {
    await producer.disconnect();
    await p.stop();
  }
  await expect(p.done).resolves.toBeUndefined();

  // 4. After the run: rows that arrive (a replay of the first day) make that day stale; reconcile without a
  //    refresh names it, and by default it refreshes it first.
  const conn = await openEmbedded({ path: chPath(), database: name });
  try {
    const day1 = new Date(start).toISOString().slice(0, 10);
    await conn.command(`INSERT INTO cdrs SELECT * REPLACE (now64(3, 'UTC') AS _ingested_at) FROM cdrs WHERE toDate(seizure_time) = '${day1}' LIMIT 100`);
    const stale = await reconcile(conn, { period: '2026-10', tolerance: '0.01', unusedDays: 30, refresh: false });
    expect(stale.refreshed).toBeNull();
    // (The second day may read stale too: a background merge that collapsed its duplicates changed its row
    // count, which costs one extra refresh; docs/RECONCILIATION.md.)
    expect(stale.staleDays).toContain(day1);
    const fresh = await reconcile(conn, { period: '2026-10', tolerance: '0.01', unusedDays: 30 });
    expect(fresh.refreshed!.days).toContain(day1);
    expect(fresh.staleDays).toEqual([]);
  } finally {
    await conn.close();
  }
}, 300_000);

it('a refresher keeps going after a failed refresh and stops cleanly, waiting for the refresh in flight', async () => {
  // A connection whose first fingerprint query fails and whose second one is slow.
  let calls = 0;
  let release: () => void = () => undefined;
  const conn = {
    kind: 'embedded',
    database: 'x',
    query: async () => {
      calls++;
      if (calls === 1) throw new Error('Code: 210. NETWORK_ERROR');
      await new Promise<void>((r) => (release = r));
      return [];
    },
    command: async () => undefined,
    insert: async () => undefined,
    ping: async () => true,
    close: async () => undefined,
  } as unknown as ClickHouseConnection;
  const seen: string[] = [];
  const r = new AggregateRefresher(conn, { intervalMs: 20, log: quietLog, onRefresh: (x) => seen.push(`ok ${x.days.length}`), onError: (e) => seen.push(`error ${e.message}`) });
  r.start();
  await waitFor('the second refresh to start', async () => calls >= 2, 5_000, 5);
  expect(seen).toEqual(['error Code: 210. NETWORK_ERROR']);
  let stopped = false;
  const stopping = r.stop().then(() => (stopped = true));
  await new Promise((res) => setTimeout(res, 50));
  expect(stopped).toBe(false); // waits for the refresh in flight
  release();
  await stopping;
  expect(seen).toEqual(['error Code: 210. NETWORK_ERROR', 'ok 0']);
  await new Promise((res) => setTimeout(res, 100));
  expect(calls).toBe(2); // nothing scheduled after stop()
  expect(() => new AggregateRefresher(conn, { intervalMs: 0, log: quietLog })).toThrow(RangeError);
});
