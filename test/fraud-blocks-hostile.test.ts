/**
 * Fraud event blocks under attack (issue #15 review): what a broken, truncated or lying block does to the
 * fraud service, and whether the block format keeps the per-event guarantees.
 *
 * Without a broker: every hostile block is refused with a coded reason, quickly, never by a throw (lengths past
 * the end, counts that lie both ways, zero-length and huge entries, unknown versions, a block of no events with
 * and without progress, NaN and far-future release times and progress, sources that are no CDR partition, an
 * event of another source); truncations and byte flips of a real block never throw; the partitioner is
 * kafkajs's for keys of any length and bytes; the merge's bound on held events counts events, not blocks.
 *
 * Through the service (real Kafka, embedded ClickHouse): one fraud-events topic where per-event records and
 * blocks alternate (a rolling upgrade and back), stored batches are published twice (a crash after producing,
 * before the CDR commit, also across the upgrade), and hostile records sit among the real ones — the alerts
 * are the clean per-event topic's, each hostile record is dead-lettered with its code and bytes, and no
 * partition's merge is left holding the commit at a hostile record. And a topic whose max.message.bytes is
 * below the block bound still gets every event (blocks split), none refused.
 */
import { createRequire } from 'node:module';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DeadLetterCode, type FraudAlert, type FraudEvent, type SourcedCdr } from '../schemas/index.js';
import { SourceMerge } from '../enrich/fraud/index.js';
import { ensureTopic, topicEndOffsets } from '../ingest/kafka.js';
import type { ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { createMetrics } from '../pipeline/telemetry.js';
import {
  BLOCK_KEY,
  BLOCK_MAX_BYTES,
  encodeFraudEvent,
  eventLimits,
  FraudEventPublisher,
  FraudService,
  murmur2,
  PROGRESS_KEY,
  readAlerts,
  readBlock,
  splitBlock,
  type EventLimits,
  type ReadBlock,
  type Refusal,
} from '../pipeline/fraud.js';
import { quietLog, uniqueName, waitFor } from './helpers.js';
import { openBlocksFixture } from './fraud-blocks-fixture.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 9, 5);
const UNREADABLE = DeadLetterCode.FRAUD_EVENT_UNREADABLE;
const OUT_OF_RANGE = DeadLetterCode.FRAUD_EVENT_OUT_OF_RANGE;

const mo = (i: number, over: Partial<FraudEvent> = {}): FraudEvent => {
  const start = T0 + 10 * HOUR + i * 3_000;
  return {
    group: 'LINE', key: '447700900999', recordId: `r-${i}`, kind: 'MO', start, end: start + 2_000, talkMs: 1_000, answered: true,
    msisdn: '447700900999', imsi: null, imei: null, other: '442071234567', otherCountry: 'GB', otherCategory: 'fixed',
    highRisk: false, international: false, range: null, costMicros: 10_000, currency: 'GBP', accountId: null, accountClass: null,
    band: 'day', businessHours: 0, lineAgeDays: 400, roaming: false, visitedPlmn: null, cellId: null, lat: null, lon: null,
    redirectionCounter: 0, cause: 16, originalCalled: null, source: 0, ...over,
  };
};

/** A block as the documented layout has it: u8 version, u32 source, f64 end, u32 count, entries (f64 at, u32 length, bytes). */
function block(o: { version?: number; source?: number; end?: number; count?: number; entries: { at: number; bytes: Buffer; length?: number }[] }): Buffer {
  const size = 17 + o.entries.reduce((n, e) => n + 12 + e.bytes.length, 0);
  const v = Buffer.alloc(size);
  v.writeUInt8(o.version ?? 1, 0);
  v.writeUInt32LE(o.source ?? 0, 1);
  v.writeDoubleLE(o.end ?? NaN, 5);
  v.writeUInt32LE(o.count ?? o.entries.length, 13);
  let pos = 17;
  for (const e of o.entries) {
    v.writeDoubleLE(e.at, pos);
    v.writeUInt32LE(e.length ?? e.bytes.length, pos + 8);
    e.bytes.copy(v, pos + 12);
    pos += 12 + e.bytes.length;
  }
  return v;
}
const entry = (ev: FraudEvent, at = ev.end) => ({ at, bytes: encodeFraudEvent(ev) });

const LIM: EventLimits = eventLimits(loadConfig({ env: {} }), 3);
const refusal = (r: ReadBlock | Refusal): Refusal => {
  if (!('code' in r)) throw new Error(`accepted: ${r.events.length} events, ${r.refused.length} refused`);
  return r;
};
const accepted = (r: ReadBlock | Refusal): ReadBlock => {
  if ('code' in r) throw new Error(`refused: ${r.code} ${r.message}`);
  return r;
};

describe('hostile blocks, read without a broker', () => {
  const good = block({ end: T0 + 11 * HOUR, entries: [entry(mo(1)), entry(mo(2)), entry(mo(3))] });

  it('a sound block: its events, its progress', () => {
    const r = accepted(readBlock(good, LIM));
    expect(r.events.map((e) => e.event.recordId)).toEqual(['r-1', 'r-2', 'r-3']);
    expect(r.refused).toEqual([]);
    expect(r.end).toBe(T0 + 11 * HOUR);
  });

  it('is refused whole, with a code, for every broken frame', () => {
    const e1 = entry(mo(1));
    const cases: [string, Buffer, DeadLetterCode, RegExp][] = [
      ['empty', Buffer.alloc(0), UNREADABLE, /shorter than its header/],
      ['header cut', good.subarray(0, 16), UNREADABLE, /shorter than its header/],
      ['version 0', block({ version: 0, entries: [e1] }), UNREADABLE, /version 0 unknown/],
      ['version 2', block({ version: 2, entries: [e1] }), UNREADABLE, /version 2 unknown/],
      ['version 255', block({ version: 255, entries: [e1] }), UNREADABLE, /version 255 unknown/],
      ['count says more', block({ count: 2, entries: [e1] }), UNREADABLE, /truncated at event 1 of 2/],
      ['count 2^32-1 on a short block', block({ count: 0xffffffff, entries: [e1] }), UNREADABLE, /truncated at event 1 of 4294967295/],
      ['count says fewer', block({ count: 1, entries: [e1, entry(mo(2))] }), UNREADABLE, /bytes after its 1 events/],
      ['length past the end', block({ entries: [{ ...e1, length: e1.bytes.length + 1 }] }), UNREADABLE, /truncated at event 0/],
      ['length 2^32-1', block({ entries: [{ ...e1, length: 0xffffffff }] }), UNREADABLE, /truncated at event 0/],
      ['release time NaN', block({ entries: [{ ...e1, at: NaN }] }), UNREADABLE, /without a release time/],
      ['release time Infinity', block({ entries: [{ ...e1, at: Infinity }] }), UNREADABLE, /without a release time/],
      ['release time -Infinity', block({ entries: [{ ...e1, at: -Infinity }] }), UNREADABLE, /without a release time/],
      ['release time 1.5', block({ entries: [{ ...e1, at: 1.5 }] }), UNREADABLE, /without a release time/],
      ['release time 2^60', block({ entries: [{ ...e1, at: 2 ** 60 }] }), UNREADABLE, /without a release time/],
      ['progress Infinity', block({ end: Infinity, entries: [e1] }), UNREADABLE, /not a whole millisecond/],
      ['progress 0.5', block({ end: 0.5, entries: [e1] }), UNREADABLE, /not a whole millisecond/],
      ['no events and no progress', block({ entries: [] }), UNREADABLE, /without events and without progress/],
      ['source 2^32-1', block({ source: 0xffffffff, entries: [e1] }), UNREADABLE, /source 4294967295 beyond/],
      ['source 60000 (below MAX_SOURCES, no CDR partition)', block({ source: 60_000, end: T0, entries: [] }), OUT_OF_RANGE, /source 60000 is not a partition/],
      ['source 3 of a 3-partition CDR topic', block({ source: 3, entries: [entry(mo(1, { source: 3 }))] }), OUT_OF_RANGE, /source 3 is not a partition/],
      ['progress in year 2200', block({ end: Date.UTC(2200, 0, 1), entries: [] }), OUT_OF_RANGE, /progress .* outside/],
      ['progress 8e15 (a safe integer)', block({ end: 8e15, entries: [e1] }), OUT_OF_RANGE, /progress .* outside/],
      ['progress before decode.minTimestampMs', block({ end: Date.UTC(1999, 0, 1), entries: [] }), OUT_OF_RANGE, /progress .* outside/],
      ['progress -8e15', block({ end: -8e15, entries: [] }), OUT_OF_RANGE, /progress .* outside/],
    ];
    for (const [what, v, code, message] of cases) {
      const r = refusal(readBlock(v, LIM));
      expect(r.code, what).toBe(code);
      expect(r.message, what).toMatch(message);
    }
  });

  it('a block of no events with progress is a progress marker', () => {
    const r = accepted(readBlock(block({ source: 2, end: T0, entries: [] }), LIM));
    expect(r).toMatchObject({ source: 2, end: T0, count: 0, events: [], refused: [] });
  });

  it('refuses the bad events of a readable block alone, each with its code; the others go on', () => {
    const e = (i: number, over: Partial<FraudEvent> = {}, at?: number) => entry(mo(i, over), at);
    const zero = { at: T0 + 10 * HOUR, bytes: Buffer.alloc(0) };
    const junk = { at: T0 + 10 * HOUR, bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]) };
    const good2 = e(2);
    // An entry one byte short of its event: it would read on into the next entry's bytes, and is refused.
    const short = { at: good2.at, bytes: good2.bytes.subarray(0, good2.bytes.length - 1) };
    const v = block({
      end: T0 + 12 * HOUR,
      entries: [
        e(1),
        zero,
        junk,
        short,
        { ...e(3), bytes: Buffer.concat([e(3).bytes, Buffer.from([0])]) }, // a byte more than the event
        e(4, {}, 8e15), // release time far ahead (a safe integer)
        e(5, {}, Date.UTC(2200, 0, 1)),
        e(6, { start: Date.UTC(2200, 0, 1), end: Date.UTC(2200, 0, 1) + 1_000 }), // storable, but no decoded CDR has it
        e(7, { start: Date.UTC(3000, 0, 1), end: Date.UTC(3000, 0, 1) + 1_000 }),
        e(8, { source: 1 }), // another source than the block's
        e(9, { source: 70_000 }),
        e(10),
      ],
    });
    const r = accepted(readBlock(v, LIM));
    expect(r.events.map((x) => x.event.recordId)).toEqual(['r-1', 'r-10']);
    expect(r.refused.map((x) => [x.index, x.code])).toEqual([
      [1, UNREADABLE],
      [2, UNREADABLE],
      [3, UNREADABLE],
      [4, UNREADABLE],
      [5, OUT_OF_RANGE],
      [6, OUT_OF_RANGE],
      [7, OUT_OF_RANGE],
      [8, OUT_OF_RANGE],
      [9, OUT_OF_RANGE],
      [10, OUT_OF_RANGE],
    ]);
    expect(r.end, 'a readable block keeps its progress').toBe(T0 + 12 * HOUR);
  });

  it('never throws and stays linear on truncations and byte flips of a real block', () => {
    const real = block({ end: T0 + 11 * HOUR, entries: Array.from({ length: 40 }, (_, i) => entry(mo(i))) });
    const ids = new Set(Array.from({ length: 40 }, (_, i) => `r-${i}`));
    let refusedWhole = 0;
    const t0 = performance.now();
    for (let n = 0; n < real.length; n++) {
      const r = readBlock(real.subarray(0, n), LIM);
      expect('code' in r, `cut at ${n}`).toBe(true);
      refusedWhole++;
    }
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let k = 0; k < 3_000; k++) {
      const v = Buffer.from(real);
      for (let f = 1 + Math.floor(rnd() * 3); f > 0; f--) v[Math.floor(rnd() * v.length)] = Math.floor(rnd() * 256);
      const r = readBlock(v, LIM);
      if ('code' in r) {
        expect([UNREADABLE, OUT_OF_RANGE]).toContain(r.code);
        refusedWhole++;
        continue;
      }
      // What is taken is a plausible event of the block's source, with a release time within the limits.
      for (const { at, event } of r.events) {
        expect(event.source).toBe(r.source);
        expect(at).toBeGreaterThanOrEqual(LIM.minMs);
        expect(at).toBeLessThanOrEqual(LIM.maxMs);
        if (ids.has(event.recordId)) continue;
        expect(typeof event.recordId).toBe('string');
      }
      expect(r.events.length + r.refused.length).toBe(r.count);
      for (const x of r.refused) expect([UNREADABLE, OUT_OF_RANGE]).toContain(x.code);
    }
    expect(refusedWhole).toBeGreaterThan(real.length);
    expect(performance.now() - t0, 'bounded work').toBeLessThan(10_000);
  });

  it('a header claiming 2^32-1 events of a 1 MiB block of zero-length entries is refused in linear time', () => {
    const v = Buffer.alloc(17 + 12 * 87_000);
    v.writeUInt8(1, 0);
    v.writeDoubleLE(NaN, 5);
    v.writeUInt32LE(0xffffffff, 13);
    for (let i = 0, pos = 17; i < 87_000; i++, pos += 12) v.writeDoubleLE(T0, pos);
    const t0 = performance.now();
    expect(refusal(readBlock(v, LIM)).message).toMatch(/truncated at event 87000/);
    // The same entries with a count that matches: every one refused alone (a zero-length event), none taken.
    v.writeUInt32LE(87_000, 13);
    const r = accepted(readBlock(v, LIM));
    expect(r.events).toHaveLength(0);
    expect(r.refused).toHaveLength(87_000);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('splits a block in two without losing or reordering events; the progress stays on the second half', () => {
    const v = block({ source: 2, end: T0 + 11 * HOUR, entries: Array.from({ length: 5 }, (_, i) => entry(mo(i, { source: 2 }))) });
    const [a, b] = splitBlock(v);
    const ra = accepted(readBlock(a!.value, LIM));
    const rb = accepted(readBlock(b!.value, LIM));
    expect([...ra.events, ...rb.events].map((e) => e.event.recordId)).toEqual(['r-0', 'r-1', 'r-2', 'r-3', 'r-4']);
    expect(Number.isNaN(ra.end)).toBe(true);
    expect(rb.end).toBe(T0 + 11 * HOUR);
    expect([ra.source, rb.source]).toEqual([2, 2]);
  });

  it('partitions like kafkajs\'s DefaultPartitioner for keys of any length and bytes', () => {
    const req = createRequire(import.meta.url);
    const theirs = req('kafkajs/src/producer/partitioners/default/murmur2.js') as (k: Buffer | string) => number;
    const createPartitioner = req('kafkajs/src/producer/partitioners/default/index.js') as () => (a: { topic: string; partitionMetadata: { partitionId: number; leader: number }[]; message: { key: Buffer } }) => number;
    const partitioner = createPartitioner();
    let seed = 11;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const keys: Buffer[] = [Buffer.alloc(0), Buffer.from([0x80]), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from('LINE:\ud800x'), Buffer.from('ACCOUNT:😀€ü')];
    for (let len = 0; len < 300; len++) keys.push(Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256))));
    for (let i = 0; i < 500; i++) keys.push(Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => (rnd() < 0.5 ? 0x80 + Math.floor(rnd() * 128) : Math.floor(rnd() * 128)))));
    for (const k of keys) {
      // Within a larger buffer, as the publisher hashes it (a key's bytes in its scratch buffer).
      const wrapped = Buffer.concat([Buffer.from([0xaa, 0xbb, 0xcc]), k, Buffer.from([0xdd])]);
      const h = murmur2(wrapped, 3, 3 + k.length);
      expect(h, k.toString('hex')).toBe(theirs(k));
      for (const n of [1, 3, 4, 7, 12, 64]) {
        const partitionMetadata = Array.from({ length: n }, (_, p) => ({ partitionId: p, leader: p === 1 ? -1 : 0 })); // one without a leader: the key still decides
        expect((h & 0x7fffffff) % n, `${k.toString('hex')} of ${n}`).toBe(partitioner({ topic: 't', partitionMetadata, message: { key: k } }));
      }
    }
    // The string keys the keyer makes, as UTF-8 (a lone surrogate becomes U+FFFD both ways).
    for (const s of ['LINE:\ud800', 'RANGE:+88216', 'DEST:4930\u0000', 'CHAIN:é'.repeat(7)]) expect(murmur2(Buffer.from(s))).toBe(theirs(s));
  });

  it('bounds the held events per event, not per block: one block of 60,000 with a silent source', () => {
    const merge = new SourceMerge({ sources: 2, holdMs: 7 * 24 * HOUR, maxBuffered: 50_000 });
    merge.mark(1, T0); // source 1 heard once, then silent: nothing of source 0 can go by the frontier
    const offset = 42;
    for (let i = 0; i < 60_000; i++) expect(merge.push(offset, mo(i), T0 + HOUR + i)).toBeNull();
    const out = merge.release();
    expect(out).toHaveLength(10_000);
    expect(merge.size).toBe(50_000);
    expect(merge.stats.forced).toBe(10_000);
    expect(out.map((m) => m.event.recordId).slice(0, 2), 'oldest first').toEqual(['r-0', 'r-1']);
    // Some of the block's events still held: the commit stays at the block.
    expect(merge.minOffset()).toBe(offset);
  });
});

describe('hostile blocks through the service', () => {
  const brokers = inject('kafkaBrokers');
  const SOURCES = 3;
  const PARTS = 4;
  const name = uniqueName('fraudhostile');
  let conn: ClickHouseConnection;
  let base: Config;
  let batches: SourcedCdr[][] = [];
  let eventsOf = new Map<SourcedCdr, FraudEvent[]>();

  beforeAll(async () => {
    ({ conn, base, batches, eventsOf } = await openBlocksFixture(brokers, name, SOURCES, PARTS));
  }, 120_000);

  afterAll(async () => {
    await conn?.close();
  });

  async function publish(topic: string, blockBytes: number, bs: SourcedCdr[][], metrics = createMetrics()): Promise<void> {
    const pub = new FraudEventPublisher(topic, brokers, topic, () => (sc) => eventsOf.get(sc)!, metrics, quietLog, undefined, blockBytes);
    await pub.connect();
    try {
      for (const b of bs) await pub.send(pub.prepare(b));
    } finally {
      await pub.disconnect();
    }
  }

  const summary = (alerts: FraudAlert[]) => alerts.map((a) => [a.alertId, a.version, a.rule, a.entityKind, a.entity, a.firstSeen, a.windowStart, a.exposure, a.status, a.severity].join(' ')).sort();

  /** Runs a fresh group's detector over `topic` from an empty alert store; returns it (stopped) with the stored alerts. */
  async function detectAll(topic: string, inspect: (svc: FraudService) => void = () => undefined): Promise<{ svc: FraudService; alerts: string[] }> {
    await conn.command('TRUNCATE TABLE fraud_alerts');
    const svc = new FraudService({ cfg: { ...base, fraud: { ...base.fraud, eventsTopic: topic, groupId: `${topic}-g` } }, conn, metrics: createMetrics(), log: quietLog });
    await svc.start((err) => {
      throw err;
    });
    try {
      await waitFor(`the detector through ${topic}`, async () => svc.caughtUp(), 60_000, 250);
      inspect(svc);
    } finally {
      await svc.stop();
    }
    return { svc, alerts: summary(await readAlerts(conn)) };
  }

  let reference: string[] = [];
  it('reference: the clean topic of per-event records', async () => {
    const topic = `${name}.clean`;
    await ensureTopic(brokers, topic, PARTS, quietLog);
    await publish(topic, 0, batches);
    reference = (await detectAll(topic)).alerts;
    expect(new Set(reference.map((a) => a.split(' ')[2])).size).toBeGreaterThanOrEqual(3);
    expect(reference.length).toBeGreaterThanOrEqual(10);
  }, 90_000);

  it('records and blocks mixed, batches published twice, hostile records among them: the same alerts, every hostile record dead-lettered with its bytes, no commit held at one', async () => {
    const topic = `${name}.mixed`;
    await ensureTopic(brokers, topic, PARTS, quietLog);
    const a = Math.floor(batches.length / 4);
    const b = Math.floor((3 * batches.length) / 4);
    // Before the upgrade: per-event records.
    await publish(topic, 0, batches.slice(0, a));
    // Hostile records, in partitions 1 and 2, early in the traffic (their offsets are taken from the ends).
    const before = await topicEndOffsets(brokers, topic, quietLog);
    const stranger = (over: Partial<FraudEvent>) => mo(0, { key: '449999000001', msisdn: '449999000001', recordId: `hostile-${Object.keys(over).join('-')}`, ...over });
    const t = T0 + 6 * HOUR;
    const hostile: { partition: number; key: string; value: Buffer; code: DeadLetterCode; timestamp?: number }[] = [
      { partition: 1, key: BLOCK_KEY, value: block({ version: 9, entries: [entry(stranger({}))] }), code: UNREADABLE },
      // Held for ever before the fix: a release time 250,000 years ahead, its offset pinning the commit.
      { partition: 1, key: BLOCK_KEY, value: block({ source: 0, entries: [entry(stranger({ start: t, end: t + 1_000 }), 8e15)] }), code: OUT_OF_RANGE },
      // A source no CDR partition is: the merge waited for sources 3..59999 as for silent partitions.
      { partition: 2, key: BLOCK_KEY, value: block({ source: 60_000, end: t, entries: [] }), code: OUT_OF_RANGE },
      { partition: 2, key: BLOCK_KEY, value: block({ source: 1, entries: [] }), code: UNREADABLE },
      // Progress far ahead: the merge stopped holding any source back.
      { partition: 1, key: PROGRESS_KEY, value: Buffer.from(JSON.stringify({ source: 2, end: 8e15 })), code: OUT_OF_RANGE },
      // An event in 2200 (storable, so let through before): the partition's clock moved 170 years ahead.
      { partition: 2, key: 'LINE:449999000002', value: encodeFraudEvent(stranger({ start: Date.UTC(2200, 0, 1), end: Date.UTC(2200, 0, 1) + 1_000 })), code: OUT_OF_RANGE, timestamp: t },
      { partition: 1, key: BLOCK_KEY, value: block({ source: 0, end: t, count: 7, entries: [entry(stranger({}))] }), code: UNREADABLE },
      // A tombstone (no value): skipped unseen before.
      { partition: 2, key: BLOCK_KEY, value: null as unknown as Buffer, code: UNREADABLE },
    ];
    const producer = new Kafka({ brokers, clientId: 'hostile', logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    try {
      for (const h of hostile) await producer.send({ topic, messages: [{ key: h.key, value: h.value, partition: h.partition, timestamp: String(h.timestamp ?? t) }] });
    } finally {
      await producer.disconnect();
    }
    const seen = new Map<number, number>();
    const offsets = hostile.map((h) => {
      const o = Number(before.get(h.partition) ?? 0n) + (seen.get(h.partition) ?? 0);
      seen.set(h.partition, (seen.get(h.partition) ?? 0) + 1);
      return o;
    });
    // The upgrade: blocks (small ones, so that batches span several), starting with the last batch of records
    // again (the old instance died before committing it), and one batch sent twice (a crash after producing).
    await publish(topic, 16 * 1024, [batches[a - 1]!, ...batches.slice(a, a + 3), batches[a + 2]!, ...batches.slice(a + 3, b)]);
    // And back (a rollback): per-event records, the last block batch again.
    await publish(topic, 0, [batches[b - 1]!, ...batches.slice(b)]);

    // What each merge still holds once through the topic, for the commit: later traffic, never a hostile record.
    const held = new Map<number, number>();
    const { svc, alerts } = await detectAll(topic, (s) => {
      for (const [p, m] of (s as unknown as { merges: Map<number, SourceMerge> }).merges) held.set(p, m.minOffset());
    });
    expect(alerts).toEqual(reference);
    const dead = await conn.query<{ code: string; partition: number; offset: string; value: string | null }>(
      `SELECT code, partition, toString(offset) AS offset, hex(value) AS value FROM dead_letters FINAL WHERE topic = '${topic}' ORDER BY partition, offset`,
    );
    const want = hostile.map((h, i) => ({ code: h.code, partition: h.partition, offset: String(offsets[i]), value: h.value === null ? null : h.value.toString('hex').toUpperCase() })).sort((x, y) => x.partition - y.partition || Number(x.offset) - Number(y.offset));
    expect(dead.map((d) => ({ ...d, partition: Number(d.partition) }))).toEqual(want);
    expect(svc.stats.refused).toBe(hostile.length);
    for (const p of [1, 2]) {
      const lastHostile = Math.max(...offsets.filter((_, i) => hostile[i]!.partition === p));
      expect(held.has(p), `partition ${p} read`).toBe(true);
      expect(held.get(p), `partition ${p}`).toBeGreaterThan(lastHostile);
    }
  }, 120_000);

  it('blocks and restarts: three instances in turn, each stopped part-way, small fetches, a batch sent twice — the same alerts, none lost or doubled', async () => {
    const topic = `${name}.restarts`;
    await ensureTopic(brokers, topic, PARTS, quietLog);
    const k = Math.floor(batches.length / 2);
    await publish(topic, 8 * 1024, [...batches.slice(0, k + 1), batches[k]!, ...batches.slice(k + 1)]);
    const end = await topicEndOffsets(brokers, topic, quietLog);
    const total = [...end.values()].reduce((n, h) => n + Number(h), 0);
    await conn.command('TRUNCATE TABLE fraud_alerts');
    // One record batch per fetch (the smallest fetch): each instance stops in the middle of the topic.
    const cfg = { ...base, kafka: { ...base.kafka, maxBytesPerPartition: 1024 }, fraud: { ...base.fraud, eventsTopic: topic, groupId: `${topic}-g` } };
    const read: number[] = [];
    for (const share of [0.3, 0.65, 1]) {
      const svc = new FraudService({ cfg, conn, metrics: createMetrics(), log: quietLog });
      await svc.start((err) => {
        throw err;
      });
      try {
        await waitFor(`an instance through ${share} of the topic`, async () => (share < 1 ? [...svc.positions.values()].reduce((n, o) => n + Number(o), 0) >= share * total : svc.caughtUp()), 60_000, 50);
      } finally {
        await svc.stop();
      }
      read.push([...svc.positions.values()].reduce((n, o) => n + Number(o), 0));
    }
    expect(summary(await readAlerts(conn))).toEqual(reference);
    // No alert id raised twice for one episode: one id per (rule, entity, episode start).
    const stored = await readAlerts(conn);
    expect(new Set(stored.map((a) => `${a.rule} ${a.entity} ${a.firstSeen}`)).size).toBe(stored.length);
    expect(read[0]!, 'the first instance stopped part-way').toBeLessThan(total);
  }, 150_000);

  it('a topic whose max.message.bytes is below the block bound gets every event: blocks split, none refused', async () => {
    const topic = `${name}.small`;
    const LIMIT = 20_000;
    const kafka = new Kafka({ brokers, clientId: 'hostile-admin', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTS, replicationFactor: -1, configEntries: [{ name: 'max.message.bytes', value: String(LIMIT) }] }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
    const some = batches.slice(0, 6);
    const metrics = createMetrics();
    await publish(topic, BLOCK_MAX_BYTES, some, metrics);
    const refusedBy = async (m: ReturnType<typeof createMetrics>) => (await m.fraudRefused.get()).values.reduce((n, v) => n + v.value, 0);
    expect(await refusedBy(metrics), 'nothing refused').toBe(0);
    // One event alone larger than the topic allows: refused (counted), and its batch's progress still arrives.
    const first = some[0]![0]!;
    const big: SourcedCdr = { ...first, cdr: { ...first.cdr, releaseTime: T0 + 20 * HOUR } };
    eventsOf.set(big, [mo(0, { recordId: 'x'.repeat(30_000), source: big.partition, start: T0 + 20 * HOUR - 5_000, end: T0 + 20 * HOUR })]);
    const bigMetrics = createMetrics();
    await publish(topic, BLOCK_MAX_BYTES, [[big]], bigMetrics);
    expect(await refusedBy(bigMetrics), 'the one event too large for the topic').toBe(1);
    // Read back: per partition the events each CDR gave, in order, and every batch's progress.
    const end = await topicEndOffsets(brokers, topic, quietLog);
    const got: string[][] = Array.from({ length: PARTS }, () => []);
    const marks: string[][] = Array.from({ length: PARTS }, () => []);
    let records = 0;
    const consumer = kafka.consumer({ groupId: `${topic}-read` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records++;
        expect(message.value!.length).toBeLessThanOrEqual(LIMIT);
        const r = accepted(readBlock(message.value!, LIM));
        for (const e of r.events) got[partition]!.push(`${e.at} ${e.event.recordId} ${e.event.group}`);
        if (!Number.isNaN(r.end)) marks[partition]!.push(`${r.source} ${r.end}`);
      },
    });
    await waitFor('the whole topic', async () => records >= [...end.values()].reduce((n, h) => n + Number(h), 0), 30_000);
    await consumer.disconnect();
    const want: string[][] = Array.from({ length: PARTS }, () => []);
    const wantMarks: string[][] = Array.from({ length: PARTS }, () => []);
    for (const b of some) {
      for (const sc of b) {
        for (const ev of eventsOf.get(sc)!) {
          const p = (murmur2(Buffer.from(`${ev.group}:${ev.key}`)) & 0x7fffffff) % PARTS;
          want[p]!.push(`${sc.cdr.releaseTime} ${ev.recordId} ${ev.group}`);
        }
      }
      for (let p = 0; p < PARTS; p++) wantMarks[p]!.push(`${b[0]!.partition} ${Math.max(...b.map((sc) => sc.cdr.releaseTime))}`);
    }
    for (let p = 0; p < PARTS; p++) wantMarks[p]!.push(`${big.partition} ${big.cdr.releaseTime}`);
    // Per source, each partition's events in CDR order (halves re-sent after a batch's other blocks may
    // interleave sources differently: the merge orders them).
    const bySource = (xs: string[]) => [...xs].sort();
    for (let p = 0; p < PARTS; p++) {
      expect(bySource(got[p]!), `partition ${p}`).toEqual(bySource(want[p]!));
      expect(marks[p]!.sort(), `partition ${p}: progress`).toEqual(wantMarks[p]!.sort());
    }
    expect(want.flat().length).toBeGreaterThan(500);
  }, 90_000);
});
