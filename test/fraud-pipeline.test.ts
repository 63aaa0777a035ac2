/**
 * Fraud detection in the running pipeline across restarts (issue #6, "Done when"): two pipeline instances in
 * one consumer group (real Kafka; one shared ClickHouse server, the test endpoint on chDB), generated
 * traffic with wangiri, IRSF, CF hijack and a-calls-a campaigns produced in segments; after each segment one
 * instance is stopped and a new one takes its place while campaigns are in progress. Every expected alert is
 * raised once: the episodes spanning a restart continue under the same alertId, in ClickHouse and on the
 * alerts topic, and there are as many alerts per rule and entity as the detector raises run once, in one
 * process, without any restart (tools/eval/fraud-offline.ts).
 */
import { Kafka, logLevel } from 'kafkajs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { cdrCodec, type FetchedBatch, type FraudAlert } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { ensureTopic, topicEndOffsets } from '../ingest/kafka.js';
import { KafkaSink } from '../sinks/kafka.js';
import { openServer } from '../sinks/clickhouse/connection.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline, type Pipeline } from '../pipeline/app.js';
import { decodeFraudAlert, readAlerts } from '../pipeline/fraud.js';
import { releaseOrder, runOfflineEval } from '../tools/eval/fraud-offline.js';
import { startClickHouseEndpoint } from './clickhouse-endpoint.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const HOUR = 3_600_000;
const RULES = ['wangiri.burst', 'irsf.high_risk', 'forwarding.high_risk_spike', 'forwarding.self_call'];
const SCENARIOS = ['wangiri', 'irsf', 'cf-hijack', 'a-calls-a'];
const START = Date.UTC(2026, 9, 5); // Monday 5 October 2026
const GEN = { seed: 61, subscribers: 500, startMs: START, endMs: START + 38 * HOUR, scenarios: SCENARIOS };
/** Every alert (all rules) of the run with restarts, for the determinism test below. */
let withRestarts: FraudAlert[] | undefined;
/** What must not depend on the run: the alert, its entity and rule, the episode start and the exposure (latest version). */
const summary = (alerts: readonly FraudAlert[]) => alerts.map((a) => `${a.rule} ${a.entityKind}:${a.entity} ${new Date(a.firstSeen).toISOString()} ${a.exposure} ${a.status} ${a.alertId}`).sort();

it('two instances, a restart in the middle of each campaign: every expected alert raised once, under one alertId', async () => {
  const t0 = Date.now();
  const name = uniqueName('fraudrs');
  const refDir = mkdtempSync(join(tmpdir(), 'ref-'));
  const start = START;
  const gen = GEN;
  const traffic = createTraffic(gen);
  writeReference(refDir, traffic.reference());
  // In release order, as switches write CDRs (a record exists when its call ends): the detector's result is
  // then a function of the records alone, whatever the interleaving of the partitions and the restarts.
  const cdrs = [...releaseOrder(traffic.records())];
  const labels = traffic.labels();

  // The oracle: the same traffic through the detector in one process, no Kafka, no restart.
  const offline = runOfflineEval({ seed: gen.seed, subscribers: gen.subscribers, startMs: start, days: 38 / 24, scenarios: SCENARIOS });
  const expected = offline.alerts.filter((a) => RULES.includes(a.rule));
  expect(new Set(expected.map((a) => a.rule))).toEqual(new Set(RULES));

  // Restarts inside campaigns: wangiri (02:00-12:00) and a-calls-a day 1; cf-hijack (17:00-20:00); irsf (day 2,
  // 00:00-13:00) and a-calls-a day 2.
  const boundaries = [start + 9 * HOUR, start + 18.5 * HOUR, start + 33 * HOUR];
  for (const b of boundaries) expect(expected.some((a) => a.firstSeen < b && a.lastSeen > b), `an expected episode spans ${new Date(b).toISOString()}`).toBe(true);
  const cut = (ms: number) => {
    const i = cdrs.findIndex((c) => c.releaseTime >= ms);
    return i < 0 ? cdrs.length : i;
  };
  const segments: (typeof cdrs)[] = [];
  let from = 0;
  for (const b of boundaries) {
    const to = cut(b);
    segments.push(cdrs.slice(from, to));
    from = to;
  }
  segments.push(cdrs.slice(from));

  const endpoint = await startClickHouseEndpoint({ path: chPath() });
  const eventsTopic = `${name}.fraud-events`;
  const alertsTopic = `${name}.fraud-alerts`;
  await ensureTopic(brokers, name, 4, quietLog);
  const base = loadConfig({ env: {} });
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, partitions: 4, deadLetterTopic: '', sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
    rating: { referenceSource: 'files', referenceDir: refDir, tariffFile: '', reloadIntervalMs: 0 },
    fraud: { ...base.fraud, enabled: true, eventsTopic, alertsTopic, groupId: '' },
    clickhouse: { ...base.clickhouse, mode: 'server', url: endpoint.url, username: 'default', password: '', database: name, requestTimeoutMs: 30_000 },
    sink: { ...base.sink, flushIntervalMs: 200 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };

  // What the detectors have read of the fraud-events topic (next offset per partition), over all instances.
  const seen = new Map<number, bigint>();
  const all: Pipeline[] = [];
  const launch = async (): Promise<Pipeline> => {
    const p = await startPipeline(cfg, quietLog);
    all.push(p);
    const svc = p.fraud as unknown as { onBatch(b: FetchedBatch): Promise<void> };
    expect(svc, 'fraud detection runs').toBeTruthy();
    const orig = svc.onBatch.bind(svc);
    svc.onBatch = async (b) => {
      await orig(b);
      const next = BigInt(b.lastOffset) + 1n;
      if (next > (seen.get(b.partition) ?? 0n)) seen.set(b.partition, next);
    };
    return p;
  };

  const conn = await openServer({ url: endpoint.url, username: 'default', password: '', database: name, requestTimeoutMs: 30_000, createDatabase: true });
  const sink = new KafkaSink({ brokers, clientId: 'test', log: quietLog });
  await sink.connect();
  const codec = cdrCodec();
  const running: Pipeline[] = [];
  let produced = 0;
  try {
    running.push(await launch(), await launch());
    for (let s = 0; s < segments.length; s++) {
      const seg = segments[s]!;
      for (let i = 0; i < seg.length; i += 2000) await sink.send(name, seg.slice(i, i + 2000).map((c) => ({ key: c.servedMsisdn, value: codec.encode(c) })));
      produced += seg.length;
      await waitFor(`segment ${s}: ${produced} CDRs stored`, async () => {
        const [r] = await conn.query<{ n: string }>('SELECT count() AS n FROM cdrs FINAL');
        return Number(r!.n) >= produced;
      }, 180_000, 500);
      let state = '';
      // Fraud events of stored batches are published before the batch commits; then the detectors catch up.
      await waitFor(`segment ${s}: fraud events processed`, async () => {
        const end = await topicEndOffsets(brokers, eventsTopic, quietLog);
        state = `end ${JSON.stringify([...end].map(([p, h]) => [p, String(h)]))} seen ${JSON.stringify([...seen].map(([p, h]) => [p, String(h)]))}`;
        for (const [p, high] of end) if ((seen.get(p) ?? 0n) < high) return false;
        // And stable: nothing more published since (a batch stored but not yet published would move the end).
        await new Promise((r) => setTimeout(r, 1000));
        const again = await topicEndOffsets(brokers, eventsTopic, quietLog);
        return [...again].every(([p, h]) => end.get(p) === h && (seen.get(p) ?? 0n) >= h);
      }, 90_000, 500).catch((err: Error) => {
        throw new Error(`${err.message}: ${state}`);
      });
      const [fa] = await conn.query<{ rows: string; ids: string }>('SELECT count() AS rows, uniqExact(alert_id) AS ids FROM fraud_alerts');
      console.log(`segment ${s}: ${seg.length} CDRs (total ${produced}); fraud_alerts ${fa!.rows} versions, ${fa!.ids} alerts; ${(Date.now() - t0) / 1000}s`);
      if (s < segments.length - 1) {
        // Restart one instance (alternating) in the middle of the campaigns.
        const victim = running.splice(s % 2, 1)[0]!;
        await victim.stop();
        running.splice(s % 2, 0, await launch());
      }
    }

    // Every CDR stored once.
    const [c] = await conn.query<{ n: string; rows: string }>('SELECT count() AS n FROM cdrs FINAL');
    expect(Number(c!.n)).toBe(cdrs.length);

    // ClickHouse: exactly the expected alerts of the four rules, each once (latest version), same ids as the oracle.
    withRestarts = await readAlerts(conn);
    const stored = withRestarts.filter((a) => RULES.includes(a.rule));
    const key = (a: Pick<FraudAlert, 'rule' | 'entityKind' | 'entity'>) => `${a.rule} ${a.entityKind}:${a.entity}`;
    const summary = (xs: readonly FraudAlert[]) => xs.map((a) => `${key(a)} ${a.alertId} v${a.version} ${a.status} ${new Date(a.firstSeen).toISOString()}..${new Date(a.lastSeen).toISOString()}`).sort();
    console.log(`expected (offline, no restart):\n  ${summary(expected).join('\n  ')}\nstored (pipeline, ${all.length} instances, ${boundaries.length} restarts):\n  ${summary(stored).join('\n  ')}`);
    const [vers] = await conn.query<{ rows: string; ids: string }>(`SELECT count() AS rows, uniqExact(alert_id) AS ids FROM fraud_alerts WHERE rule IN (${RULES.map((r) => `'${r}'`).join(',')})`);
    console.log(`fraud_alerts (4 rules): ${vers!.ids} alerts, ${vers!.rows} stored versions; events processed per instance: ${all.map((p) => p.fraud?.stats.events).join(', ')}; alert versions published per instance: ${all.map((p) => p.fraud?.stats.alertVersions).join(', ')}`);
    // The detector is order-sensitive within its lateness bound (events reach an entity's partition from
    // several CDR partitions), so alert ids may differ from the offline run's; the count per rule and entity must not.
    const perKey = (xs: readonly FraudAlert[]) => Object.fromEntries([...new Set(xs.map(key))].sort().map((k) => [k, xs.filter((a) => key(a) === k).length]));
    expect(perKey(stored)).toEqual(perKey(expected));

    // Per label: the expected rule raised exactly one alert for the episode spanning each restart.
    const ruleOf: Record<string, string> = { wangiri: 'wangiri.burst', irsf: 'irsf.high_risk', 'cf-hijack': 'forwarding.high_risk_spike', 'a-calls-a': 'forwarding.self_call' };
    let spanning = 0;
    for (const l of labels) {
      const rule = ruleOf[l.scenario]!;
      const mine = stored.filter((a) => a.rule === rule && (l.entityKind === 'range' ? a.entity.startsWith(l.entity) || l.entity.startsWith(a.entity) : a.entity === l.entity));
      expect(mine.length, `${l.scenario} ${l.entity}: alerted`).toBeGreaterThan(0);
      for (const b of boundaries) {
        if (!(l.attackStart < b && l.attackEnd > b)) continue;
        // The alerts of this entity and rule around the restart: one episode, one alertId.
        const around = mine.filter((a) => a.firstSeen <= b + HOUR && a.lastSeen >= b - HOUR);
        if (around.length === 0) continue; // between two episodes (a-calls-a at night)
        expect(new Set(around.map((a) => a.alertId)).size, `${l.scenario} ${l.entity} around ${new Date(b).toISOString()}`).toBe(1);
        spanning++;
      }
    }
    expect(spanning).toBeGreaterThanOrEqual(5);

    // The alerts topic: the same alert ids, no second id for any episode.
    const onTopic = await readTopic(alertsTopic);
    const topicIds = new Map<string, Set<string>>();
    for (const a of onTopic.filter((x) => RULES.includes(x.rule))) topicIds.set(a.alertId, (topicIds.get(a.alertId) ?? new Set()).add(String(a.version)));
    const sentVersions = [...topicIds.values()].reduce((n, v) => n + v.size, 0);
    console.log(`alerts topic: ${onTopic.length} messages, ${topicIds.size} alerts of the 4 rules, ${sentVersions} distinct versions; runtime ${(Date.now() - t0) / 1000}s`);
    expect([...topicIds.keys()].sort()).toEqual(stored.map((a) => a.alertId).sort());
  } finally {
    await sink.disconnect().catch(() => undefined);
    for (const p of running) await p.stop().catch(() => undefined);
    await conn.close().catch(() => undefined);
    await endpoint.close();
  }
}, 600_000);

it('the same input through one instance, without restarts and with other flush timing, gives the same alerts with the same exposures', async () => {
  expect(withRestarts, 'the run with restarts (the test above) finished').toBeDefined();
  const name = uniqueName('fraudonce');
  const refDir = mkdtempSync(join(tmpdir(), 'ref-'));
  const traffic = createTraffic(GEN);
  writeReference(refDir, traffic.reference());
  const cdrs = [...releaseOrder(traffic.records())];
  const endpoint = await startClickHouseEndpoint({ path: chPath() });
  await ensureTopic(brokers, name, 4, quietLog);
  const base = loadConfig({ env: {} });
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, partitions: 4, deadLetterTopic: '', sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
    rating: { referenceSource: 'files', referenceDir: refDir, tariffFile: '', reloadIntervalMs: 0 },
    fraud: { ...base.fraud, enabled: true, eventsTopic: `${name}.fraud-events`, alertsTopic: '', groupId: '' },
    clickhouse: { ...base.clickhouse, mode: 'server', url: endpoint.url, username: 'default', password: '', database: name, requestTimeoutMs: 30_000 },
    // Other batch boundaries than the first run (200 ms there): the partitions interleave differently.
    sink: { ...base.sink, flushIntervalMs: 1_500, maxBatchRows: 3_000 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };
  const conn = await openServer({ url: endpoint.url, username: 'default', password: '', database: name, requestTimeoutMs: 30_000, createDatabase: true });
  const sink = new KafkaSink({ brokers, clientId: 'test', log: quietLog });
  let p: Pipeline | undefined;
  try {
    await sink.connect();
    const codec = cdrCodec();
    // All of it at once, before the pipeline starts: a backlog, read partition by partition.
    for (let i = 0; i < cdrs.length; i += 2000) await sink.send(name, cdrs.slice(i, i + 2000).map((c) => ({ key: c.servedMsisdn, value: codec.encode(c) })));
    p = await startPipeline(cfg, quietLog);
    const svc = p.fraud!;
    await waitFor('every CDR stored', async () => Number((await conn.query<{ n: string }>('SELECT count() AS n FROM cdrs FINAL'))[0]!.n) >= cdrs.length, 180_000, 500);
    await waitFor('every fraud event through the detector', async () => {
      if (!(await svc.caughtUp())) return false;
      await new Promise((r) => setTimeout(r, 1000));
      return svc.caughtUp();
    }, 90_000, 500);
    const once = await readAlerts(conn);
    console.log(`one instance, no restart: ${once.length} alerts; with restarts: ${withRestarts!.length}`);
    expect(once.length).toBeGreaterThan(5);
    expect(summary(once)).toEqual(summary(withRestarts!));
  } finally {
    await sink.disconnect().catch(() => undefined);
    await p?.stop().catch(() => undefined);
    await conn.close().catch(() => undefined);
    await endpoint.close();
  }
}, 300_000);

/** Every message of the (single-partition) alerts topic, decoded. */
async function readTopic(topic: string): Promise<FraudAlert[]> {
  const high = [...(await topicEndOffsets(brokers, topic, quietLog)).values()].reduce((a, b) => a + b, 0n);
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}-reader` });
  const got: FraudAlert[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    if (high === 0n) resolve();
    void consumer.run({
      eachMessage: async ({ message }) => {
        got.push(decodeFraudAlert(message.value!));
        if (BigInt(got.length) >= high) resolve();
      },
    });
  });
  await consumer.disconnect();
  return got;
}
