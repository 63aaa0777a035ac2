/**
 * Poison in the fraud service (issue #11, "a single rule for poison in every stage"): a fraud event whose
 * times no alert could store (a release time in year 3000), a record of the fraud-events topic that is not
 * an event, and alert versions that cannot be stored are refused with a code, counted, dead-lettered (events,
 * with their bytes) or logged (alerts), and skipped — never retried — while the good events around them
 * raise their alert and the partition's committed offset moves on. Real Kafka, embedded ClickHouse.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { DeadLetterCode, schemaPath, type FraudAlert, type FraudEvent } from '../schemas/index.js';
import { ensureTopic, groupOffsets } from '../ingest/kafka.js';
import { KafkaSink } from '../sinks/kafka.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { createMetrics, type Metrics } from '../pipeline/telemetry.js';
import { encodeFraudEvent, encodeProgress, FraudService, PROGRESS_KEY, readAlerts } from '../pipeline/fraud.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const T0 = Date.UTC(2026, 9, 5, 10);
const YEAR_3000 = Date.UTC(3000, 0, 1);

let conn: ClickHouseConnection;
let svc: FraudService;
let metrics: Metrics;
let cfg: Config;
const name = uniqueName('fraudpoison');

/** An MO call of a line (velocity.generic fires on 12 within 60 s). */
function mo(line: string, i: number, over: Partial<FraudEvent> = {}): FraudEvent {
  const start = T0 + i * 3_000;
  return {
    group: 'LINE', key: line, recordId: `${line}-${i}`, kind: 'MO', start, end: start + 2_000, talkMs: 1_000, answered: true,
    msisdn: line, imsi: '234150000000001', imei: '350000000000001', other: '442071234567', otherCountry: 'GB', otherCategory: 'fixed',
    highRisk: false, international: false, range: null, costMicros: 10_000, currency: 'GBP', accountId: 'AC1', accountClass: 'consumer',
    band: 'day', businessHours: 0, lineAgeDays: 400, roaming: false, visitedPlmn: null, cellId: 1, lat: null, lon: null,
    redirectionCounter: 0, cause: 16, originalCalled: null, source: 0, ...over,
  };
}

const count = async (m: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> }, code: string) =>
  (await m.get()).values.filter((v) => v.labels.code === code).reduce((a, v) => a + v.value, 0);

beforeAll(async () => {
  conn = await openEmbedded({ path: chPath(), database: name });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  await ensureTopic(brokers, name, 1, quietLog); // the CDR topic: one source
  const base = loadConfig({ env: {} });
  cfg = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, partitions: 1, deadLetterTopic: '', sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
    fraud: { ...base.fraud, enabled: true, eventsTopic: `${name}.fraud-events`, alertsTopic: '', groupId: '' },
    sink: { ...base.sink, retryInitialMs: 50, retryMaxMs: 200 },
  };
  metrics = createMetrics();
  svc = new FraudService({ cfg, conn, metrics, log: quietLog });
  await svc.start((err) => {
    throw err;
  });
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await conn?.close();
});

it('a year-3000 event and an unreadable record are dead-lettered with their bytes and a code; the good events still raise their alert; the offset moves on', async () => {
  const line = '447700900123';
  const year3000 = mo('447700900999', 5, { start: YEAR_3000, end: YEAR_3000 + 1_000 });
  const garbage = Buffer.from('not an avro fraud event');
  const records = [
    ...Array.from({ length: 6 }, (_, i) => mo(line, i)).map((e) => ({ key: `LINE:${line}`, value: encodeFraudEvent(e), timestamp: e.end })),
    { key: 'LINE:447700900999', value: encodeFraudEvent(year3000), timestamp: T0 },
    { key: 'LINE:447700900998', value: garbage, timestamp: T0 },
    ...Array.from({ length: 8 }, (_, i) => mo(line, 6 + i)).map((e) => ({ key: `LINE:${line}`, value: encodeFraudEvent(e), timestamp: e.end })),
    // The source's progress: everything up to an hour later is delivered (releases the held events).
    { key: PROGRESS_KEY, value: encodeProgress(0, T0 + 3_600_000), timestamp: T0 + 3_600_000, partition: 0 },
  ];
  const sink = new KafkaSink({ brokers, clientId: 'test', log: quietLog });
  await sink.connect();
  await sink.send(cfg.fraud.eventsTopic, records);
  const t = Date.now();
  const [alert] = await waitFor('the alert of the good events', async () => {
    const a = await readAlerts(conn, `rule = 'velocity.generic'`);
    return a.length > 0 && a;
  }, 30_000);
  expect(alert!.entity).toBe(line);
  expect(alert!.firstSeen).toBe(T0);

  const dead = await waitFor('dead letters', async () => {
    const rows = await conn.query<{ code: string; offset: string; value: string }>(`SELECT code, toString(offset) AS offset, value FROM dead_letters FINAL WHERE topic = '${cfg.fraud.eventsTopic}' ORDER BY offset`);
    return rows.length >= 2 && rows;
  }, 30_000);
  expect(dead.map((d) => [d.code, d.offset])).toEqual([
    [DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE, '6'],
    [DeadLetterCode.FRAUD_EVENT_UNREADABLE, '7'],
  ]);
  expect(dead[1]!.value, 'the original bytes').toBe(garbage.toString());
  expect(await count(metrics.fraudRefused, DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE)).toBe(1);
  expect(await count(metrics.fraudRefused, DeadLetterCode.FRAUD_EVENT_UNREADABLE)).toBe(1);
  // Not retried: once a day of traffic later the windows no longer need the first events, the partition is
  // committed past the poison, and it was refused once.
  const later = mo('447700900124', 0, { start: T0 + 25 * 3_600_000, end: T0 + 25 * 3_600_000 + 2_000 });
  await sink.send(cfg.fraud.eventsTopic, [
    { key: 'LINE:447700900124', value: encodeFraudEvent(later), timestamp: later.end },
    { key: PROGRESS_KEY, value: encodeProgress(0, T0 + 26 * 3_600_000), timestamp: T0 + 26 * 3_600_000, partition: 0 },
  ]);
  await sink.disconnect();
  const committed = await waitFor('a commit past the poison', async () => {
    const o = (await groupOffsets(brokers, `${name}-fraud`, cfg.fraud.eventsTopic, quietLog)).get(0) ?? -1n;
    return o > 7n && o;
  }, 30_000);
  expect(committed).toBeGreaterThan(7n);
  expect(await count(metrics.fraudRefused, DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE), 'refused once, not retried').toBe(1);
  expect(svc.stats.refused).toBe(2);
  expect(Date.now() - t).toBeLessThan(30_000);
}, 60_000);

it('alert versions that cannot be stored are refused with FRAUD_ALERT_UNSTORABLE and skipped; the others are stored, nothing loops', async () => {
  const good = (id: string): FraudAlert => ({
    alertId: id, version: 1, rule: 'velocity.generic', fraudType: 'VELOCITY', entityKind: 'MSISDN', entity: '447700900555', severity: 'MEDIUM', score: 0.5,
    status: 'OPEN', firstSeen: T0, lastSeen: T0, detectedAt: T0, windowStart: T0, windowEnd: T0, exposure: '1.000000', currency: 'GBP',
    evidence: { recordIds: ['r1'], counts: { events: 1 }, facts: {} }, eventsPartition: 0, eventsOffset: 1,
  });
  const bad = { ...good('bad-year-3000'), detectedAt: YEAR_3000, windowEnd: YEAR_3000 };
  const before = await count(metrics.fraudRefused, DeadLetterCode.FRAUD_ALERT_UNSTORABLE);
  const s = svc as unknown as { publish(a: FraudAlert[]): Promise<void>; insertAlerts(a: FraudAlert[]): Promise<Set<FraudAlert>> };
  // Checked before it goes out (DateTime64(3) ends in 2299): refused, the good one published.
  await s.publish([bad, good('good-1')]);
  expect(await count(metrics.fraudRefused, DeadLetterCode.FRAUD_ALERT_UNSTORABLE)).toBe(before + 1);
  // What ClickHouse itself refuses (here the same value, past the check) is isolated row by row, not retried.
  const good2 = good('good-2');
  const refused = await s.insertAlerts([good('good-3'), bad, good2]);
  expect([...refused].map((a) => a.alertId)).toEqual(['bad-year-3000']);
  expect(await count(metrics.fraudRefused, DeadLetterCode.FRAUD_ALERT_UNSTORABLE)).toBe(before + 2);
  const stored = (await readAlerts(conn, `alert_id IN ('good-1', 'good-2', 'good-3', 'bad-year-3000')`)).map((a) => a.alertId).sort();
  expect(stored).toEqual(['good-1', 'good-2', 'good-3']);
}, 60_000);
