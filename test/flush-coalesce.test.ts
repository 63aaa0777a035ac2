/**
 * The coalesced flush (issue #15, latency): a flush tick inserts the buffers of every due partition in ONE insert
 * per table, then commits each partition. Real Kafka, embedded ClickHouse (JSONCompactEachRow, so ClickHouse
 * itself refuses the bad row and names it "(at row N)" in the combined block). Checked: several partitions in
 * one insert; a row ClickHouse refuses is isolated to its own partition and offset (dead letter with its source
 * bytes; the detector does not get it, every other row is stored); nothing is committed while the insert is
 * held, and every commit finds all records below it in ClickHouse; no insert exceeds sink.maxBatchRows even when
 * one fetch brings more (the runner splits the fetched batch).
 */
import { afterAll, expect, inject, it } from 'vitest';
import { cdrCodec, DeadLetterCode, schemaPath, type DeadLetter, type Source, type SourcedCdr } from '../schemas/index.js';
import { createDecoder } from '../enrich/decode.js';
import { KafkaSource, ensureTopic, groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink, type SinkBatch } from '../sinks/clickhouse/sink.js';
import { Runner } from '../pipeline/runner.js';
import { createMetrics } from '../pipeline/telemetry.js';
import { produceCdrs } from '../simulators/produce.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const conns: ClickHouseConnection[] = [];
afterAll(async () => {
  await Promise.all(conns.map((c) => c.close()));
});

interface InsertSeen {
  table: string;
  token: string;
  ok: boolean;
}

/** The connection as the sink sees it, with each insert's table and deduplication token recorded, and a gate. */
function watched(conn: ClickHouseConnection, seen: InsertSeen[], gate: { wait?: Promise<void> }): ClickHouseConnection {
  return {
    kind: conn.kind,
    database: conn.database,
    command: (sql, settings) => conn.command(sql, settings),
    query: <T,>(sql: string, settings?: Record<string, string | number | boolean>) => conn.query<T>(sql, settings),
    async insert(table, body, settings, shape) {
      if (table === 'cdrs' && gate.wait) await gate.wait;
      const entry: InsertSeen = { table, token: String(settings?.insert_deduplication_token ?? ''), ok: false };
      seen.push(entry);
      await conn.insert(table, body, settings, shape);
      entry.ok = true;
    },
    ping: () => conn.ping(),
    close: () => conn.close(),
  };
}

async function setup(prefix: string, partitions: number, records: number) {
  const name = uniqueName(prefix);
  await ensureTopic(brokers, name, partitions, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records, corrupt: 0, chunk: 50, generator: { seed: 21, subscribers: 300, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, log: quietLog });
  // One data directory per process (chDB), a database per test.
  const conn = await openEmbedded({ path: chPath(), database: name });
  conns.push(conn);
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  const committed = async () => {
    const end = await topicEndOffsets(brokers, name, quietLog);
    const g = await groupOffsets(brokers, name, name, quietLog);
    return [...end].every(([p, hi]) => g.get(p) === hi);
  };
  return { name, produced, conn, committed };
}

it('inserts the partitions due at a tick as one block; a refused row is isolated to its partition and offset; commits follow the insert', async () => {
  const t = await setup('coalesce', 3, 600);
  const seen: InsertSeen[] = [];
  let release!: () => void;
  const gate: { wait?: Promise<void> } = { wait: new Promise<void>((r) => (release = r)) };
  let dataErrors = 0;
  const sink = new ClickHouseSink(watched(t.conn, seen, gate), { retryInitialMs: 10, retryMaxMs: 50, log: quietLog, onError: (_table, err) => void (err.errorClass === 'data' && dataErrors++) });

  const kafka = new KafkaSource({ brokers, clientId: t.name, groupId: t.name, topics: [t.name], fromBeginning: true, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxBytesPerPartition: 1 << 20, maxWaitTimeMs: 100, minBytes: 1, log: quietLog });
  // Every commit checks, before it goes to Kafka, that all records below the offset are in ClickHouse (a row
  // or a dead letter): offsets move only after the sink accepted the data.
  const commits: { partition: number; next: bigint; at: number; belowStored: number }[] = [];
  const source: Source = {
    start: (handler, events) => kafka.start(handler, events),
    stop: () => kafka.stop(),
    pause: (topic, p) => kafka.pause(topic, p),
    resume: (topic, p) => kafka.resume(topic, p),
    async commit(topic, partition, next) {
      const [r] = await t.conn.query<{ n: string }>(
        `SELECT (SELECT uniqExact(_offset) FROM cdrs WHERE _partition = ${partition} AND _offset < ${next}) + (SELECT uniqExact(offset) FROM dead_letters WHERE partition = ${partition} AND offset < ${next}) AS n`,
      );
      commits.push({ partition, next: BigInt(next), at: Date.now(), belowStored: Number(r!.n) });
      return kafka.commit(topic, partition, next);
    },
  };

  // The refused row: the 8th record of partition 2, which comes last in the combined block (partitions in order).
  let bad: { id: string; partition: number; offset: string; value: Buffer } | undefined;
  const sent: string[] = [];
  const published: DeadLetter[] = [];
  const runner = new Runner(source, createDecoder(cdrCodec(), { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 }), sink, createMetrics(), quietLog, {
    maxBatchRows: 10_000, maxBatchBytes: 1 << 24, flushIntervalMs: 400, heartbeatIntervalMs: 1000, retryInitialMs: 10, retryMaxMs: 50,
    rate: (cdrs: SourcedCdr[]) => {
      for (const sc of cdrs) {
        if (sc.partition === 2 && sc.offset === '7') {
          // A value the column cannot hold (UInt64): ClickHouse refuses this row of the JSON block.
          sc.cdr.durationMs = -1;
          bad = { id: sc.cdr.recordId, partition: sc.partition, offset: sc.offset, value: Buffer.from(sc.source!.value!) };
        }
      }
      return { rated: cdrs.length };
    },
    fraudEvents: { prepare: (cdrs) => cdrs.map((sc) => sc.cdr.recordId), send: async (items) => void sent.push(...(items as string[])) },
    publishDeadLetters: async (dls) => void published.push(...dls),
  });
  const done = runner.run();
  let releasedAt = 0;
  try {
    // The first insert waits at the gate: nothing may be committed meanwhile, and no second insert of those
    // partitions starts (their next buffers keep filling until it returns).
    await waitFor('all records consumed', async () => runner.stats.consumed === 600, 30_000, 20);
    await new Promise((r) => setTimeout(r, 1500));
    expect(commits).toEqual([]);
    expect(runner.stats.flushes).toBe(0);
    releasedAt = Date.now();
    delete gate.wait;
    release();
    await waitFor('everything committed', t.committed, 60_000);
  } finally {
    await runner.stop();
    await done;
  }

  // All three partitions went to ClickHouse in the first insert: one token (after the sink's instance id)
  // naming three offset ranges.
  const cdrInserts = seen.filter((s) => s.table === 'cdrs');
  const first = cdrInserts[0]!.token.split(':cdrs:')[0]!;
  const ranges = first.slice(first.indexOf(':') + 1).split(',');
  expect(ranges.map((r) => r.split(':')[0])).toEqual([t.name, t.name, t.name]);
  expect(ranges.map((r) => r.split(':')[1])).toEqual(['0', '1', '2']);
  // Fewer inserts than partition flushes: the commits outnumber the distinct insert blocks.
  const blocks = new Set(cdrInserts.map((s) => s.token.split(':cdrs:')[0]));
  expect(blocks.size).toBeLessThan(commits.length);
  expect(runner.stats.flushes).toBe(blocks.size);

  // The refused row: found by the row number ClickHouse named (the whole block failed, then the row alone), not
  // by halving 600 rows; dead-lettered with its own partition, offset and source bytes.
  expect(bad).toBeDefined();
  expect(dataErrors).toBe(2);
  const dead = await t.conn.query<{ code: string; partition: number; offset: string; value: string }>('SELECT code, partition, offset, base64Encode(value) AS value FROM dead_letters');
  expect(dead).toEqual([{ code: DeadLetterCode.SINK_REJECTED, partition: 2, offset: '7', value: bad!.value.toString('base64') }]);
  expect(published.map((d) => [d.code, d.partition, d.offset, Buffer.from(d.value!).toString('base64')])).toEqual([[DeadLetterCode.SINK_REJECTED, 2, '7', bad!.value.toString('base64')]]);
  const [c] = await t.conn.query<{ n: string; ids: string; badRows: string }>(`SELECT count() AS n, uniqExact(record_id) AS ids, countIf(record_id = '${bad!.id}') AS badRows FROM cdrs`);
  expect(c).toEqual({ n: '599', ids: '599', badRows: '0' });
  // The detector got every stored row once, and not the refused one (indexes mapped back to partition 2's batch).
  expect(sent).toHaveLength(599);
  expect(new Set(sent).size).toBe(599);
  expect(sent).not.toContain(bad!.id);

  // Every commit came after the insert returned and found all records below it stored; per partition they only
  // move forward.
  expect(commits.length).toBeGreaterThanOrEqual(3);
  for (const cm of commits) {
    expect(cm.at).toBeGreaterThanOrEqual(releasedAt);
    expect(cm.belowStored).toBe(Number(cm.next));
  }
  for (const p of [0, 1, 2]) {
    const nexts = commits.filter((cm) => cm.partition === p).map((cm) => cm.next);
    expect(nexts.length).toBeGreaterThan(0);
    for (let i = 1; i < nexts.length; i++) expect(nexts[i]!).toBeGreaterThan(nexts[i - 1]!);
  }
  expect(runner.stats).toMatchObject({ consumed: 600, stored: 599, deadLetters: 1 });
}, 120_000);

it('splits a fetched batch so that no insert exceeds sink.maxBatchRows', async () => {
  const t = await setup('split', 2, 700);
  const seen: InsertSeen[] = [];
  const acked: number[] = [];
  const sink = new ClickHouseSink(watched(t.conn, seen, {}), { retryInitialMs: 10, retryMaxMs: 50, log: quietLog, onInsert: (table, rows) => void (table === 'cdrs' && acked.push(rows)) });
  const kafka = new KafkaSource({ brokers, clientId: t.name, groupId: t.name, topics: [t.name], fromBeginning: true, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxBytesPerPartition: 1 << 20, maxWaitTimeMs: 100, minBytes: 1, log: quietLog });
  let largestFetch = 0;
  const source: Source = {
    start: (handler, events) =>
      kafka.start((b, ctx) => {
        largestFetch = Math.max(largestFetch, b.records.length);
        return handler(b, ctx);
      }, events),
    stop: () => kafka.stop(),
    pause: (topic, p) => kafka.pause(topic, p),
    resume: (topic, p) => kafka.resume(topic, p),
    commit: (topic, p, next) => kafka.commit(topic, p, next),
  };
  const runner = new Runner(source, createDecoder(cdrCodec(), { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 }), sink, createMetrics(), quietLog, {
    maxBatchRows: 64, maxBufferedRows: 256, maxBatchBytes: 1 << 24, flushIntervalMs: 200, heartbeatIntervalMs: 1000, retryInitialMs: 10, retryMaxMs: 50,
  });
  const done = runner.run();
  try {
    await waitFor('everything committed', t.committed, 60_000);
  } finally {
    await runner.stop();
    await done;
  }
  // A fetch brought several buffers' worth of one partition, yet every insert stayed within 64 rows.
  expect(largestFetch).toBeGreaterThan(64);
  expect(Math.max(...acked)).toBeLessThanOrEqual(64);
  expect(acked.filter((n) => n === 64).length).toBeGreaterThan(0);
  expect(acked.reduce((a, b) => a + b, 0)).toBe(700);
  const [c] = await t.conn.query<{ n: string; ids: string }>('SELECT count() AS n, uniqExact(record_id) AS ids FROM cdrs');
  expect(c).toEqual({ n: '700', ids: '700' });
  expect(runner.stats).toMatchObject({ consumed: 700, stored: 700 });
}, 120_000);

it('a retried write is deduplicated by its token, a replay by another process (sink) is stored and collapses in the key', async () => {
  // ClickHouse records a block's id in a non-replicated table's deduplication log before the part is committed:
  // a replay of the same range after a SIGKILL between the two was dropped, losing the rows. Tokens name the
  // sink instance, so only a retry of the same write is dropped; a replay relies on the ReplacingMergeTree key.
  const name = uniqueName('token');
  const conn = await openEmbedded({ path: chPath(), database: name });
  conns.push(conn);
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  const codec = cdrCodec();
  const produced = await (async () => {
    await ensureTopic(brokers, name, 1, quietLog);
    return produceCdrs({ brokers, topic: name, records: 50, corrupt: 0, generator: { seed: 5, subscribers: 20, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 1 }, log: quietLog });
  })();
  expect(produced.produced).toBe(50);
  // The CDRs as the runner would hand them over, decoded from the topic.
  const decode = createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 });
  const kafka = new KafkaSource({ brokers, clientId: name, groupId: name, topics: [name], fromBeginning: true, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxBytesPerPartition: 1 << 20, maxWaitTimeMs: 100, minBytes: 1, log: quietLog });
  const cdrs: SourcedCdr[] = [];
  await kafka.start(async (b) => void cdrs.push(...decode({ topic: b.topic, partition: b.partition }, b.records).cdrs), {});
  await waitFor('50 CDRs read', async () => cdrs.length >= 50, 30_000, 20);
  await kafka.stop();
  const batch: SinkBatch = { topic: name, partition: 0, firstOffset: cdrs[0]!.offset, lastOffset: cdrs[49]!.offset, cdrs: cdrs.slice(0, 50), deadLetters: [] };
  const a = new ClickHouseSink(conn, { retryInitialMs: 10, retryMaxMs: 50, log: quietLog, format: 'rowbinary' });
  await a.write(batch);
  await a.write(batch);
  const count = async () => (await conn.query<{ n: string; f: string }>('SELECT count() AS n, (SELECT count() FROM cdrs FINAL) AS f FROM cdrs'))[0];
  expect(await count()).toEqual({ n: '50', f: '50' });
  await new ClickHouseSink(conn, { retryInitialMs: 10, retryMaxMs: 50, log: quietLog, format: 'rowbinary' }).write(batch);
  expect(await count()).toEqual({ n: '100', f: '50' });
}, 60_000);
