/**
 * Usage notifications (issue #16 item 5; enrich/notify/README.md). The pure core: thresholds, exact crossing
 * tests, the record that crossed, stable ids. Then the stream: generated traffic rated by the compiled
 * `cdr-pipeline run` (real Kafka, embedded ClickHouse) with the notifier on and caps set so that subscribers
 * cross their data-roaming and international-minutes caps mid-stream; the process is SIGKILLed three times
 * (once right after the first notification reached the topic) and restarted. Every crossing the rated traffic
 * implies (computed here, in memory, from the same reference data) is notified exactly once: one record per
 * notification id on the topic and one row in usage_notifications, none other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { avroCodec, cdrCodec, packageRoot, type SourcedCdr } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { ensureTopic, groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { topicRecordsSince } from '../ingest/kafka-scan.js';
import { KafkaSink } from '../sinks/kafka.js';
import { openEmbedded } from '../sinks/clickhouse/connection.js';
import { parseMoney } from '../schemas/reference.js';
import { crossings, formatValue, loadThresholds, notificationId, parseThresholds, reached, ThresholdsError, zeroValues, type Contribution, type UsageNotification } from '../enrich/notify/index.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { epochMsToCh } from '../sinks/clickhouse/rows.js';
import { loadConfig } from '../pipeline/config.js';
import { NotificationService } from '../pipeline/notifications.js';
import { createMetrics } from '../pipeline/telemetry.js';
import { schemaPath } from '../schemas/index.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const CLI = `${packageRoot}/bin/cdr-pipeline.js`;
const t0 = Date.now();
const step = (what: string) => process.env.TEST_PROGRESS && process.stdout.write(`[notifications +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}\n`);

describe('notification core', () => {
  it('the bundled defaults: EU-style data roaming cap of 50 with notices at 80% and 100%', () => {
    const t = loadThresholds();
    expect(t.caps.find((c) => c.measure === 'data-roaming-spend')).toEqual({ measure: 'data-roaming-spend', cap: 50_000_000n, pcts: [80, 100] });
    expect(t.caps.find((c) => c.measure === 'international-minutes')?.cap).toBe(300n * 60_000n);
    let err: unknown;
    try {
      parseThresholds({ measures: { 'data-roaming-spend': { cap: 50, thresholdsPct: [80] }, sms: { cap: '1', thresholdsPct: [1] }, 'total-spend': { cap: '10', thresholdsPct: [80, 80] } } }, 'test');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ThresholdsError);
    expect((err as ThresholdsError).problems).toHaveLength(3);
  });

  it('crossings are exact, found at the record that crossed, whatever the arrival order; ids are stable', () => {
    const t = parseThresholds({ measures: { 'data-roaming-spend': { cap: '10.00', thresholdsPct: [80, 100] } } }, 'test');
    const c = (timeMs: number, id: string, spend: string): Contribution => ({ timeMs, recordId: id, values: { ...zeroValues(), 'data-roaming-spend': parseMoney(spend, 6) } });
    const list = [c(1, 'a', '5.00'), c(2, 'b', '2.999999'), c(3, 'c', '0.000001'), c(4, 'd', '1.999999'), c(5, 'e', '0.000001')];
    // 7.999999 is not 80% of 10; 8.000000 is. 9.999999 is not 100%; 10.000000 is.
    expect(reached({ ...zeroValues(), 'data-roaming-spend': 7_999_999n }, t)).toEqual([]);
    expect(reached({ ...zeroValues(), 'data-roaming-spend': 8_000_000n }, t)).toEqual([{ measure: 'data-roaming-spend', pct: 80 }]);
    const want = [
      { measure: 'data-roaming-spend' as const, pct: 80 },
      { measure: 'data-roaming-spend' as const, pct: 100 },
    ];
    const x = crossings(list, t, want);
    expect(x.map((k) => [k.pct, k.recordId, formatValue('data-roaming-spend', k.value)])).toEqual([
      [80, 'c', '8.000000'],
      [100, 'e', '10.000000'],
    ]);
    expect(crossings([...list].reverse(), t, want)).toEqual(x);
    expect(notificationId('447700900001', '2026-10', 'data-roaming-spend', 80)).toBe(notificationId('447700900001', '2026-10', 'data-roaming-spend', 80));
    expect(notificationId('447700900001', '2026-10', 'data-roaming-spend', 80)).not.toBe(notificationId('447700900001', '2026-11', 'data-roaming-spend', 80));
    expect(notificationId('447700900001', '2026-10', 'data-roaming-spend', 80)).not.toContain('447700900001');
    expect(formatValue('international-minutes', 61_000n)).toBe('1.016666');
  });
});

it('after a crash between the outbox and the topic, a restart publishes only what the topic lacks', async () => {
  const name = uniqueName('notifyrec');
  const topic = `${name}.notifications`;
  await ensureTopic(brokers, topic, 3, quietLog);
  const base = loadConfig({ env: {} });
  const cfg = { ...base, kafka: { ...base.kafka, brokers }, notifications: { ...base.notifications, enabled: true, topic, intervalMs: 100 }, clickhouse: { ...base.clickhouse, path: chPath(), database: name } };
  const conn = await openEmbedded({ path: cfg.clickhouse.path, database: name });
  try {
    await migrate(conn, loadMigrations(schemaPath('ddl')));
    const detectedAt = Date.now() - 5_000;
    const note = (msisdn: string, pct: number): UsageNotification => ({ notificationId: notificationId(msisdn, '2026-10', 'data-roaming-spend', pct), msisdn, accountId: 'A1', period: '2026-10', measure: 'DATA_ROAMING_SPEND', thresholdPct: pct, cap: '50.000000', threshold: pct === 80 ? '40.000000' : '50.000000', value: '51.000000', unit: 'GBP', crossedAt: Date.UTC(2026, 9, 5, 12), recordId: `r${pct}`, detectedAt });
    const published = note('447700900001', 80); // reached the topic before the crash
    const unpublished = note('447700900001', 100); // stored in the outbox only
    const row = (n: UsageNotification) => JSON.stringify({ notification_id: n.notificationId, state: 1, owner: 'crashed', msisdn: n.msisdn, account_id: n.accountId, period: n.period, measure: n.measure, threshold_pct: n.thresholdPct, cap: n.cap, threshold: n.threshold, value: n.value, unit: n.unit, crossed_at: epochMsToCh(n.crossedAt), record_id: n.recordId, detected_at: epochMsToCh(n.detectedAt), published_at: null });
    await conn.insert('usage_notifications', [published, unpublished].map(row).join('\n') + '\n');
    const codec = avroCodec<UsageNotification>('usage-notification.avsc');
    const sink = new KafkaSink({ brokers, clientId: 'test', log: quietLog });
    await sink.connect();
    await sink.send(topic, [{ key: published.notificationId, value: codec.encode(published), timestamp: detectedAt }]);
    await sink.disconnect();
    const metrics = createMetrics();
    const svc = new NotificationService({ cfg, conn, log: quietLog, metrics });
    await svc.start();
    await waitFor('the outbox completed', async () => svc.stats.recovered === 2 && svc.stats.checks > 0, 60_000, 100);
    await svc.stop();
    // Both completed, one of them republished (the other was on the topic already); checks ran and found nothing.
    expect(await sumOf(metrics.notifyRecovered)).toBe(2);
    expect(await sumOf(metrics.notifyRepublished)).toBe(1);
    // A transient error right after the topic's creation is sometimes counted and retried (seen 1 in ~4 runs on
    // a loaded machine); the outcome above is what must hold. Tracked in the closing note.
    expect(await sumOf(metrics.notifyErrors)).toBeLessThanOrEqual(1);
    expect(await sumOf(metrics.notifyPublished)).toBe(0);
    expect((await metrics.notifyCheckDuration.get()).values.find((v) => v.metricName === 'cdr_usage_notification_check_duration_seconds_count')!.value).toBeGreaterThan(0);
    const records = await topicRecordsSince(brokers, topic, 0, quietLog);
    expect(records.map((r) => r.key).sort()).toEqual([published.notificationId, unpublished.notificationId].sort());
    expect(codec.decode(records.find((r) => r.key === unpublished.notificationId)!.value!)).toEqual(unpublished);
    const rows = await conn.query<{ id: string; state: number }>('SELECT notification_id AS id, state FROM usage_notifications FINAL ORDER BY id');
    expect(rows.map((r) => Number(r.state))).toEqual([2, 2]);
  } finally {
    await conn.close();
  }
}, 120_000);

/** The sum of a metric's series (optionally those whose labels include `labels`). */
async function sumOf(m: { get(): Promise<{ values: { labels: Partial<Record<string, string | number>>; value: number }[] }> }, labels: Record<string, string> = {}): Promise<number> {
  return (await m.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

it('a notifier that cannot read its outbox counts the error (phase recover), checks nothing and retries', async () => {
  const name = uniqueName('notifyerr');
  const base = loadConfig({ env: {} });
  const cfg = { ...base, notifications: { ...base.notifications, enabled: true, topic: '', intervalMs: 100 }, clickhouse: { ...base.clickhouse, path: chPath(), database: name } };
  const conn = await openEmbedded({ path: cfg.clickhouse.path, database: name }); // not migrated: no usage_notifications
  const metrics = createMetrics();
  const svc = new NotificationService({ cfg, conn, log: quietLog, metrics });
  try {
    await svc.start();
    await waitFor('two failed runs', async () => (await sumOf(metrics.notifyErrors, { phase: 'recover' })) >= 2, 30_000, 50);
    expect(svc.stats.checks, 'no check before the outbox is clean').toBe(0);
    expect(await sumOf(metrics.notifyErrors, { phase: 'check' })).toBe(0);
    // Once the table exists the next run recovers (nothing pending) and checks.
    await migrate(conn, loadMigrations(schemaPath('ddl')));
    await waitFor('a check after the migration', async () => svc.stats.checks > 0, 30_000, 50);
    expect(await sumOf(metrics.notifyErrors, { phase: 'check' })).toBe(0);
  } finally {
    await svc.stop();
    await conn.close();
  }
}, 60_000);

function startChild(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, [CLI, 'run'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}
const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

it('a subscriber crossing a roaming data cap mid-stream is notified once per threshold, across SIGKILLs and restarts', async () => {
  expect(existsSync(`${packageRoot}/dist/cli/index.js`), 'run `npm run build` first (npm test does)').toBe(true);
  const name = uniqueName('notify');
  const dir = mkdtempSync(join(tmpdir(), 'notify-'));
  const refDir = join(dir, 'reference');
  const start = Date.UTC(2026, 9, 5, 6);
  const traffic = createTraffic({ seed: 29, subscribers: 400, startMs: start, endMs: start + 16 * 3_600_000, scenarios: 'all', params: { 'clean.travellerShare': '0.15' } });
  writeReference(refDir, traffic.reference());
  const cdrs = [...traffic.records()];

  // The expectation, computed here: each CDR rated in memory with the same reference data and tariffs, once
  // per ClickHouse key (a CDR the switch sent twice counts once), summed per subscriber of our inventory.
  const stage = createRatingStage(refDir, '');
  const sourced: SourcedCdr[] = cdrs.map((cdr, i) => ({ cdr, topic: 't', partition: 0, offset: String(i) }));
  stage.rateBatch(sourced);
  const seen = new Set<string>();
  const roaming = new Map<string, bigint>();
  const intl = new Map<string, bigint>();
  for (const s of sourced) {
    const k = `${s.cdr.servedMsisdn}|${s.cdr.seizureTime}|${s.cdr.recordingEntity}|${s.cdr.recordId}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const r = s.rated;
    if (!r || r.rating_status !== 'RATED' || r.line_status === null || r.line_status === undefined) continue;
    const m = s.cdr.servedMsisdn;
    if (r.rating_service === 'data' && r.roaming === 1) roaming.set(m, (roaming.get(m) ?? 0n) + parseMoney(String(r.cost_total), 6));
    if ((s.cdr.eventType === 'VOICE_MO' || s.cdr.eventType === 'VOICE_FWD') && r.other_party_category === 'international') intl.set(m, (intl.get(m) ?? 0n) + BigInt(r.billed_usage as number));
  }
  const top = (m: Map<string, bigint>) => [...m.values()].filter((v) => v > 0n).sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  const roamingSpends = top(roaming);
  const intlMs = top(intl);
  expect(roamingSpends.length, 'subscribers with data roaming spend').toBeGreaterThanOrEqual(3);
  expect(intlMs.length).toBeGreaterThanOrEqual(3);
  // Caps: the third-highest data-roaming spend (so at least three subscribers reach 100%) and the third-highest
  // international minutes (whole minutes, rounded down).
  const roamCap = roamingSpends[2]!;
  const intlCapMin = intlMs[2]! / 60_000n;
  expect(intlCapMin).toBeGreaterThan(0n);
  const fmt = (v: bigint) => `${v / 1_000_000n}.${(v % 1_000_000n).toString().padStart(6, '0')}`;
  const thresholdsFile = join(dir, 'thresholds.json');
  writeFileSync(thresholdsFile, JSON.stringify({ measures: { 'data-roaming-spend': { cap: fmt(roamCap), thresholdsPct: [80, 100] }, 'international-minutes': { cap: String(intlCapMin), thresholdsPct: [80, 100] }, 'total-spend': { cap: '999999.00', thresholdsPct: [100] } } }));
  const t = loadThresholds(thresholdsFile);
  const expected = new Map<string, string>();
  for (const [msisdn, v] of roaming) for (const x of reached({ ...zeroValues(), 'data-roaming-spend': v }, t)) expected.set(notificationId(msisdn, '2026-10', x.measure, x.pct), `${x.measure} ${x.pct}`);
  for (const [msisdn, v] of intl) for (const x of reached({ ...zeroValues(), 'international-minutes': v }, t)) expected.set(notificationId(msisdn, '2026-10', x.measure, x.pct), `${x.measure} ${x.pct}`);
  expect([...expected.values()].filter((v) => v === 'data-roaming-spend 100').length).toBeGreaterThanOrEqual(3);

  step(`expectation computed: ${cdrs.length} CDRs, ${expected.size} notifications expected`);
  // The traffic on Kafka, in time order.
  await ensureTopic(brokers, name, 3, quietLog);
  const sink = new KafkaSink({ brokers, clientId: 'test', log: quietLog });
  await sink.connect();
  const codec = cdrCodec();
  for (let i = 0; i < cdrs.length; i += 2000) await sink.send(name, cdrs.slice(i, i + 2000).map((c) => ({ key: c.servedMsisdn, value: codec.encode(c) })));
  await sink.disconnect();
  const total = [...(await topicEndOffsets(brokers, name, quietLog)).values()].reduce((a, b) => a + b, 0n);
  const committed = async () => [...(await groupOffsets(brokers, name, name, quietLog)).values()].reduce((a, b) => a + (b > 0n ? b : 0n), 0n);
  const notifyTopic = `${name}.notifications`;
  await ensureTopic(brokers, notifyTopic, 3, quietLog);
  const onTopic = async () => [...(await topicEndOffsets(brokers, notifyTopic, quietLog)).values()].reduce((a, b) => a + b, 0n);
  const env = {
    CDR_KAFKA_BROKERS: brokers.join(','),
    CDR_KAFKA_TOPIC: name,
    CDR_KAFKA_GROUP_ID: name,
    CDR_KAFKA_DEAD_LETTER_TOPIC: '',
    CDR_KAFKA_SESSION_TIMEOUT_MS: '6000',
    CDR_KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    CDR_KAFKA_MAX_BYTES_PER_PARTITION: '16384',
    CDR_CLICKHOUSE_PATH: chPath(),
    CDR_CLICKHOUSE_DATABASE: name,
    CDR_RATING_REFERENCE_DIR: refDir,
    CDR_RATING_RELOAD_INTERVAL_MS: '0',
    CDR_FRAUD_ENABLED: 'false',
    CDR_AGGREGATES_REFRESH_INTERVAL_MS: '0',
    CDR_SINK_MAX_BATCH_ROWS: '300',
    CDR_SINK_FLUSH_INTERVAL_MS: '100',
    CDR_NOTIFICATIONS_ENABLED: 'true',
    CDR_NOTIFICATIONS_TOPIC: notifyTopic,
    CDR_NOTIFICATIONS_THRESHOLDS_FILE: thresholdsFile,
    CDR_NOTIFICATIONS_INTERVAL_MS: '150',
    CDR_TELEMETRY_METRICS_PORT: '-1',
    CDR_TELEMETRY_LOG_LEVEL: 'warn',
  };
  const kills: string[] = [];
  const outputs: (() => string)[] = [];
  let midStream = false;
  for (let cycle = 0; cycle < 3; cycle++) {
    const before = await committed();
    const published = await onTopic();
    const { child, output } = startChild(env);
    outputs.push(output);
    step(`run ${cycle} started`);
    if (cycle === 1) {
      // Right after a notification reached the topic: the kill lands inside the notifier's work.
      await waitFor(() => `run ${cycle} to publish a notification\n${output()}`, async () => (await onTopic()) > published || (await committed()) === total, 120_000, 20);
    } else {
      await waitFor(() => `run ${cycle} to commit progress\n${output()}`, async () => (await committed()) > before, 120_000, 50);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
    }
    child.kill('SIGKILL');
    await exited(child);
    step(`run ${cycle} killed`);
    const [c, n] = [await committed(), await onTopic()];
    if (n > 0n && c < total) midStream = true;
    kills.push(`committed ${c} of ${total}, notifications on the topic ${n}`);
  }
  // The crossings happen mid-stream: notifications were on the topic while CDRs were still waiting to be stored.
  expect(kills.length).toBe(3);
  expect(midStream, kills.join('; ')).toBe(true);
  // Final run to the end; then long enough for several more checks to find nothing new.
  const { child, output } = startChild({ ...env, CDR_TELEMETRY_LOG_LEVEL: 'info' });
  outputs.push(output);
  await waitFor(() => `final run to commit everything\n${output()}`, async () => (await committed()) === total, 180_000, 200);
  step('final run committed everything');
  await waitFor(() => `every expected notification on the topic\n${output()}`, async () => (await onTopic()) >= BigInt(expected.size), 60_000, 200);
  // SIGTERM only once the group is joined: a SIGTERM during the first join (a killed member's session still
  // open) is not answered by `run` (found here; reported, outside the notifier), so the graceful stop is tested after it.
  await waitFor(() => `final run to join the group\n${output()}`, async () => output().includes('"partitions assigned"'), 60_000, 100);
  await new Promise((r) => setTimeout(r, 2000));
  child.kill('SIGTERM');
  const code = await Promise.race([exited(child), new Promise<string>((r) => setTimeout(() => r('no exit 30 s after SIGTERM'), 30_000))]);
  if (code !== 0) child.kill('SIGKILL');
  expect(code, output().slice(-6000)).toBe(0);

  step('final run stopped');
  const records = await topicRecordsSince(brokers, notifyTopic, 0, quietLog);
  step('topic read');
  const perKey = new Map<string, number>();
  for (const r of records) perKey.set(r.key!, (perKey.get(r.key!) ?? 0) + 1);
  const codecN = avroCodec<UsageNotification>('usage-notification.avsc');
  const decoded = records.map((r) => codecN.decode(r.value!));
  const conn = await openEmbedded({ path: env.CDR_CLICKHOUSE_PATH, database: name });
  try {
    const rows = await conn.query<{ id: string; state: number; measure: string; pct: number; value: string; threshold: string }>(
      `SELECT notification_id AS id, state, toString(measure) AS measure, threshold_pct AS pct, toString(value) AS value, toString(threshold) AS threshold FROM usage_notifications FINAL`,
    );
    process.stdout.write(
      `[notifications] ${cdrs.length} CDRs; caps data roaming ${fmt(roamCap)}, international ${intlCapMin} min; kills: ${kills.join('; ')}; expected ${expected.size} notifications, on the topic ${records.length} records (${perKey.size} ids), stored ${rows.length}; restarts that completed a crashed outbox ${outputs.filter((o) => o().includes('left unpublished by a crash')).length}\n`,
    );
    expect([...perKey.keys()].sort()).toEqual([...expected.keys()].sort());
    expect([...perKey.values()].every((n) => n === 1), 'each notification once on the topic').toBe(true);
    expect(rows.map((r) => r.id).sort()).toEqual([...expected.keys()].sort());
    expect(rows.every((r) => Number(r.state) === 2)).toBe(true);
    for (const r of rows) expect(parseMoney(r.value, 6) >= parseMoney(r.threshold, 6), `${r.id}: ${r.value} >= ${r.threshold}`).toBe(true);
    for (const d of decoded) expect(expected.get(d.notificationId)).toBe(`${d.measure === 'DATA_ROAMING_SPEND' ? 'data-roaming-spend' : 'international-minutes'} ${d.thresholdPct}`);

    // Metrics per measure, and why retention.usageNotificationsDays must outlive the CDRs: with the notifications
    // gone (as if expired) and the CDRs still stored, a fresh notifier's first check finds every crossing again.
    await conn.command('TRUNCATE TABLE usage_notifications');
    const base = loadConfig({ env: {} });
    const metrics = createMetrics();
    const again = new NotificationService({ cfg: { ...base, notifications: { ...base.notifications, enabled: true, topic: '', thresholdsFile } }, conn, log: quietLog, metrics });
    expect(await again.check()).toBe(expected.size);
    for (const m of ['data-roaming-spend', 'international-minutes', 'total-spend']) {
      const n = [...expected.values()].filter((v) => v.startsWith(`${m} `)).length;
      expect(await sumOf(metrics.notifyCrossings, { measure: m }), m).toBe(n);
      expect(await sumOf(metrics.notifyPublished, { measure: m }), m).toBe(n);
    }
    expect(await again.check(), 'found once').toBe(0);
    expect(await sumOf(metrics.notifyPublished)).toBe(expected.size);
  } finally {
    await conn.close();
  }
}, 600_000);
