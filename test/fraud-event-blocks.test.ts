/**
 * Fraud events in blocks (issue #15: `fraud.eventBlocks`): the runner publishes a stored batch's events as one
 * record per fraud-events partition (BLOCK_KEY) instead of one per event. Real Kafka, embedded ClickHouse.
 *
 * - The blocks carry exactly what the per-event records carried: per partition the same events in the same
 *   order (Kafka's default partitioner on the same keys: murmur2, checked against kafkajs's own), the same
 *   release times, the progress markers folded in; no block above its bound.
 * - The detector gives the same alerts from either topic (ids, versions, rules, entities, episode starts,
 *   exposures), and the same again with blocks when a second instance takes partitions over mid-stream and
 *   the first one then stops (its partitions resume from their committed low watermarks).
 * - Poison in blocks: a block whose framing is broken is dead-lettered whole; a readable block with an event
 *   that cannot be read or stored is dead-lettered once (its bytes), the event counted, its other events go on.
 */
import { createRequire } from 'node:module';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DeadLetterCode, type Cdr, type FraudAlert, type FraudEvent, type SourcedCdr } from '../schemas/index.js';
import { ensureTopic, topicEndOffsets } from '../ingest/kafka.js';
import { KafkaSink } from '../sinks/kafka.js';
import type { ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import type { Config } from '../pipeline/config.js';
import { createMetrics } from '../pipeline/telemetry.js';
import { BLOCK_KEY, BLOCK_MAX_BYTES, decodeFraudEvent, decodeProgress, encodeFraudEvent, FraudEventPublisher, FraudService, murmur2, PROGRESS_KEY, readAlerts, readBlockHeader } from '../pipeline/fraud.js';
import { quietLog, uniqueName, waitFor } from './helpers.js';
import { openBlocksFixture } from './fraud-blocks-fixture.js';

const brokers = inject('kafkaBrokers');
const HOUR = 3_600_000;
const SOURCES = 3;
const PARTS = 4;
/** Block bound of the framing test (the pipeline's is BLOCK_MAX_BYTES, 256 KiB). */
const SMALL_BLOCK = 16 * 1024;
const name = uniqueName('fraudblocks');

let conn: ClickHouseConnection;
let base: Config;
/** Stored batches and each CDR's events (test/fraud-blocks-fixture.ts). */
let batches: SourcedCdr[][] = [];
let eventsOf = new Map<SourcedCdr, FraudEvent[]>();

beforeAll(async () => {
  ({ conn, base, batches, eventsOf } = await openBlocksFixture(brokers, name, SOURCES, PARTS));
}, 120_000);

afterAll(async () => {
  await conn?.close();
});

/** Publishes `bs` (or every batch) to `topic` the way the runner does: per-event records (0) or blocks of at most `blockBytes`. */
async function publish(topic: string, blockBytes: number, bs = batches): Promise<void> {
  await ensureTopic(brokers, topic, PARTS, quietLog);
  const pub = new FraudEventPublisher(topic, brokers, topic, () => (sc) => eventsOf.get(sc)!, createMetrics(), quietLog, undefined, blockBytes);
  await pub.connect();
  try {
    for (const b of bs) await pub.send(pub.prepare(b));
  } finally {
    await pub.disconnect();
  }
}

/** Every record of a topic, per partition in offset order. */
async function readTopic(topic: string): Promise<{ key: string; value: Buffer; timestamp: number; offset: number }[][]> {
  const end = await topicEndOffsets(brokers, topic, quietLog);
  const out: { key: string; value: Buffer; timestamp: number; offset: number }[][] = Array.from({ length: end.size }, () => []);
  const kafka = new Kafka({ brokers, clientId: topic, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}-read` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => void out[partition]!.push({ key: message.key!.toString(), value: message.value!, timestamp: Number(message.timestamp), offset: Number(message.offset) }),
  });
  await waitFor('the whole topic', async () => [...end].every(([p, high]) => BigInt(out[p]!.length) >= high), 30_000);
  await consumer.disconnect();
  return out;
}

/** What a detector made of it: the latest version of every alert, as the guarantee names them. */
const summary = (alerts: FraudAlert[]) =>
  alerts.map((a) => [a.alertId, a.version, a.rule, a.entityKind, a.entity, a.firstSeen, a.windowStart, a.exposure, a.status, a.severity].join(' ')).sort();

const startService = async (cfg: Config) => {
  const svc = new FraudService({ cfg, conn, metrics: createMetrics(), log: quietLog });
  await svc.start((err) => {
    throw err;
  });
  return svc;
};

/** Runs the detector(s) of a fresh group over `topic` from an empty alert store; returns the stored alerts. */
async function detectAll(topic: string): Promise<string[]> {
  await conn.command('TRUNCATE TABLE fraud_alerts');
  const svc = await startService({ ...base, fraud: { ...base.fraud, eventsTopic: topic, groupId: `${topic}-g` } });
  try {
    await waitFor(`the detector through ${topic}`, async () => svc.caughtUp(), 60_000, 250);
  } finally {
    await svc.stop();
  }
  return summary(await readAlerts(conn));
}

describe('fraud event blocks', () => {
  it('partition events exactly as kafkajs does (murmur2 of the key)', () => {
    const req = createRequire(import.meta.url);
    const theirs = req('kafkajs/src/producer/partitioners/default/murmur2.js') as (k: Buffer) => number;
    const keys = ['', 'a', 'ab', 'abc', 'LINE:447700900123', 'RANGE:+882161234', 'ACCOUNT:AC-ü€-1', 'DEST:4930123456789', 'x'.repeat(41)];
    for (let i = 0; i < 300; i++) keys.push(`CHAIN:${(i * 7919).toString(36)}${'é'.repeat(i % 5)}`);
    for (const k of keys) {
      const b = Buffer.from(`##${k}#`);
      expect(murmur2(b, 2, b.length - 1), k).toBe(theirs(Buffer.from(k)));
    }
  });

  let recordsTopic = '';
  let blocksTopic = '';
  it('carry per partition the same events, order, release times and progress as per-event records; no block above the bound', async () => {
    recordsTopic = `${name}.records`;
    blocksTopic = `${name}.blocks`;
    await publish(recordsTopic, 0);
    // Small blocks here, so that batches spread over several (the pipeline's bound is BLOCK_MAX_BYTES).
    await publish(blocksTopic, SMALL_BLOCK);
    const recs = await readTopic(recordsTopic);
    const blks = await readTopic(blocksTopic);
    let events = 0;
    let split = 0;
    for (let p = 0; p < PARTS; p++) {
      const want = recs[p]!.filter((r) => r.key !== PROGRESS_KEY).map((r) => `${r.timestamp} ${r.value.toString('hex')}`);
      const wantMarks = recs[p]!.filter((r) => r.key === PROGRESS_KEY).map((r) => JSON.stringify(decodeProgress(r.value)));
      const got: string[] = [];
      const gotMarks: string[] = [];
      let carried = 0;
      for (const r of blks[p]!) {
        expect(r.key).toBe(BLOCK_KEY);
        expect(r.value.length).toBeLessThanOrEqual(SMALL_BLOCK);
        const h = readBlockHeader(r.value);
        if (typeof h === 'string') throw new Error(h);
        // Entries: f64 release time, u32 length, the Avro event (the documented layout).
        let pos = 17;
        for (let i = 0; i < h.count; i++) {
          const len = r.value.readUInt32LE(pos + 8);
          got.push(`${r.value.readDoubleLE(pos)} ${r.value.subarray(pos + 12, pos + 12 + len).toString('hex')}`);
          pos += 12 + len;
        }
        if (Number.isNaN(h.end)) split++;
        else gotMarks.push(JSON.stringify({ source: h.source, end: h.end }));
        carried += h.count;
      }
      expect(got, `partition ${p}: events`).toEqual(want);
      expect(gotMarks, `partition ${p}: progress`).toEqual(wantMarks);
      expect(blks[p]!.length, 'far fewer records').toBeLessThan(recs[p]!.length / 10);
      events += carried;
      // A decoded entry is the event the keyer made.
      if (got.length > 0) expect(decodeFraudEvent(Buffer.from(got[0]!.split(' ')[1]!, 'hex')).recordId).toBeTruthy();
    }
    expect(events).toBe([...eventsOf.values()].reduce((n, e) => n + e.length, 0));
    expect(events).toBeGreaterThan(3_000);
    expect(split, 'large batches spread over several blocks').toBeGreaterThan(0);
  }, 90_000);

  it('a release beyond the broker\'s timestamp window: the block is stamped now, its event keeps its release time', async () => {
    const topic = `${name}.future`;
    await ensureTopic(brokers, topic, 1, quietLog);
    const future = Date.now() + 3 * HOUR;
    const sc = [...eventsOf].find(([, e]) => e.length > 0)![0];
    const cdr: SourcedCdr = { ...sc, cdr: { ...sc.cdr, releaseTime: future } };
    const ev = { ...eventsOf.get(sc)![0]!, end: future };
    const pub = new FraudEventPublisher(topic, brokers, topic, () => () => [ev], createMetrics(), quietLog, undefined, BLOCK_MAX_BYTES);
    await pub.connect();
    try {
      await pub.send(pub.prepare([cdr]));
    } finally {
      await pub.disconnect();
    }
    const [recs] = await readTopic(topic);
    expect(recs).toHaveLength(1);
    expect(recs![0]!.timestamp).toBeLessThanOrEqual(Date.now());
    const h = readBlockHeader(recs![0]!.value);
    expect(h).toEqual({ source: sc.partition, end: future, count: 1 });
    expect(recs![0]!.value.readDoubleLE(17)).toBe(future);
  }, 60_000);

  let reference: string[] = [];
  it('give the same alerts as per-event records', async () => {
    reference = await detectAll(recordsTopic);
    const viaBlocks = await detectAll(blocksTopic);
    expect(new Set(reference.map((a) => a.split(' ')[2])).size, 'several rules fire').toBeGreaterThanOrEqual(3);
    expect(reference.length).toBeGreaterThanOrEqual(10);
    expect(viaBlocks).toEqual(reference);
  }, 120_000);

  it('give the same alerts when a second instance takes partitions over mid-stream and the first then stops (replay from the low watermark)', async () => {
    const topic = `${name}.handover`;
    await conn.command('TRUNCATE TABLE fraud_alerts');
    const cfg = { ...base, fraud: { ...base.fraud, eventsTopic: topic, groupId: `${topic}-g` } };
    const third = Math.floor(batches.length / 3);
    await publish(topic, BLOCK_MAX_BYTES, batches.slice(0, third));
    const a = await startService(cfg);
    let b: FraudService | undefined;
    try {
      await waitFor('instance A through the first third', async () => a.caughtUp(), 60_000, 250);
      b = await startService(cfg);
      await publish(topic, BLOCK_MAX_BYTES, batches.slice(third, 2 * third));
      // Both in the group: the partitions are split between them.
      await waitFor('the group shares the partitions', async () => (a as unknown as { owned: Set<number> }).owned.size > 0 && (b as unknown as { owned: Set<number> }).owned.size > 0, 60_000, 250);
      await a.stop();
      await publish(topic, BLOCK_MAX_BYTES, batches.slice(2 * third));
      const bb = b;
      await waitFor('instance B owns every partition', async () => (bb as unknown as { owned: Set<number> }).owned.size === PARTS, 60_000, 250);
      await waitFor('instance B through the topic', async () => bb.caughtUp(), 60_000, 250);
    } finally {
      await a.stop();
      await b?.stop();
    }
    expect(summary(await readAlerts(conn))).toEqual(reference);
    // B re-read what A had read of the partitions it took over (from their committed low watermarks).
    expect(a.stats.events + b!.stats.events).toBeGreaterThan([...eventsOf.values()].reduce((n, e) => n + e.length, 0));
  }, 150_000);

  it('poison: a broken block is dead-lettered whole; a bad event in a readable block is refused alone, once, and its block goes on', async () => {
    const topic = `${name}.poison`;
    const srcTopic = `${name}.poison-src`;
    await ensureTopic(brokers, srcTopic, 1, quietLog);
    await ensureTopic(brokers, topic, 1, quietLog);
    const T0 = Date.UTC(2026, 9, 5, 10);
    const line = '447700900123';
    const mo = (i: number, over: Partial<FraudEvent> = {}): FraudEvent => {
      const start = T0 + i * 3_000;
      return {
        group: 'LINE', key: line, recordId: `${line}-${i}`, kind: 'MO', start, end: start + 2_000, talkMs: 1_000, answered: true,
        msisdn: line, imsi: '234150000000001', imei: '350000000000001', other: '442071234567', otherCountry: 'GB', otherCategory: 'fixed',
        highRisk: false, international: false, range: null, costMicros: 10_000, currency: 'GBP', accountId: 'AC1', accountClass: 'consumer',
        band: 'day', businessHours: 0, lineAgeDays: 400, roaming: false, visitedPlmn: null, cellId: 1, lat: null, lon: null,
        redirectionCounter: 0, cause: 16, originalCalled: null, source: 0, ...over,
      };
    };
    // velocity.generic fires on 12 calls in 60 s: calls 1-11 in the publisher's block, with one whose release
    // no alert could store among them; call 0 only in the block with an unreadable event before it. The alert
    // (first seen at call 0) needs both blocks' good events.
    const evs = Array.from({ length: 11 }, (_, i) => mo(i + 1));
    evs.splice(5, 0, mo(99, { recordId: 'year-3000', start: Date.UTC(3000, 0, 1), end: Date.UTC(3000, 0, 1) + 1_000 }));
    const cdrs: SourcedCdr[] = evs.map((e, i) => ({ cdr: { releaseTime: Math.min(e.end, T0 + HOUR) } as Cdr, topic: srcTopic, partition: 0, offset: String(i) }));
    const byCdr = new Map(cdrs.map((c, i) => [c, [evs[i]!]]));
    const sink = new KafkaSink({ brokers, clientId: 'test', log: quietLog });
    await sink.connect();
    const garbage = Buffer.from('not a block of fraud events');
    // A readable frame around an unreadable event: version 1, source 0, no progress, 1 event of 5 bytes.
    const frame = Buffer.alloc(17 + 12 + 5);
    frame.writeUInt8(1, 0);
    frame.writeUInt32LE(0, 1);
    frame.writeDoubleLE(NaN, 5);
    frame.writeUInt32LE(1, 13);
    frame.writeDoubleLE(T0, 17);
    frame.writeUInt32LE(5, 25);
    frame.fill(0xff, 29);
    const good = encodeFraudEvent(mo(0));
    const mixed = Buffer.alloc(17 + 2 * 12 + 5 + good.length);
    frame.copy(mixed, 0, 0, 17);
    mixed.writeUInt32LE(2, 13);
    frame.copy(mixed, 17, 17, 34);
    mixed.writeDoubleLE(T0 + 2_000, 34);
    mixed.writeUInt32LE(good.length, 42);
    good.copy(mixed, 46);
    await sink.send(topic, [{ key: BLOCK_KEY, value: garbage, partition: 0 }, { key: BLOCK_KEY, value: mixed, partition: 0 }]);
    await sink.disconnect();
    const pub = new FraudEventPublisher(topic, brokers, topic, () => (sc) => byCdr.get(sc)!, createMetrics(), quietLog, undefined, BLOCK_MAX_BYTES);
    await pub.connect();
    await pub.send(pub.prepare(cdrs));
    await pub.disconnect();

    await conn.command('TRUNCATE TABLE fraud_alerts');
    const metrics = createMetrics();
    const cfg = { ...base, kafka: { ...base.kafka, topic: srcTopic, partitions: 1 }, fraud: { ...base.fraud, eventsTopic: topic, groupId: `${topic}-g` } };
    const svc = new FraudService({ cfg, conn, metrics, log: quietLog });
    await svc.start((err) => {
      throw err;
    });
    try {
      const [alert] = await waitFor('the alert of the good events', async () => {
        const a = await readAlerts(conn, `rule = 'velocity.generic'`);
        return a.length > 0 && a;
      }, 30_000);
      expect(alert!.entity).toBe(line);
      expect(alert!.firstSeen).toBe(T0);
      const dead = await waitFor('dead letters', async () => {
        const rows = await conn.query<{ code: string; offset: string; value: string; message: string }>(`SELECT code, toString(offset) AS offset, hex(value) AS value, message FROM dead_letters FINAL WHERE topic = '${topic}' ORDER BY offset`);
        return rows.length >= 3 && rows;
      }, 30_000);
      expect(dead.map((d) => [d.code, d.offset])).toEqual([
        [DeadLetterCode.FRAUD_EVENT_UNREADABLE, '0'],
        [DeadLetterCode.FRAUD_EVENT_UNREADABLE, '1'],
        [DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE, '2'],
      ]);
      expect(dead[0]!.value, 'the original bytes').toBe(garbage.toString('hex').toUpperCase());
      expect(dead[1]!.value).toBe(mixed.toString('hex').toUpperCase());
      expect(dead[2]!.message).toMatch(/^1 of 12 events refused/);
      const refused = async (code: string) => (await metrics.fraudRefused.get()).values.filter((v) => v.labels.code === code).reduce((n, v) => n + v.value, 0);
      expect(await refused(DeadLetterCode.FRAUD_EVENT_UNREADABLE)).toBe(2);
      expect(await refused(DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE)).toBe(1);
      expect(alert!.evidence.recordIds, 'call 0, from the block with the unreadable event').toContain(`${line}-0`);
      expect(svc.stats.events, 'the broken block has none; 2 and 12 in the others').toBe(14);
    } finally {
      await svc.stop();
    }
  }, 90_000);
});
