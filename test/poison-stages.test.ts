/**
 * One rule for poison in every stage (issue #11 §2): a record the rating stage throws on, whose fraud event
 * cannot be encoded, or that ClickHouse refuses leaves as a coded dead letter with its original bytes; the
 * batch goes on and is committed; the detector gets events only for stored rows. Publish errors are retried
 * only when transient; a permanent one stops the runner without committing. Real Kafka, embedded ClickHouse.
 */
import { afterAll, expect, inject, it } from 'vitest';
import { cdrCodec, DeadLetterCode, RecordStageError, schemaPath, type SourcedCdr } from '../schemas/index.js';
import { createDecoder } from '../enrich/decode.js';
import { KafkaSource, ensureTopic, groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import { Runner, isTransientPublishError, type RunnerOptions } from '../pipeline/runner.js';
import { createMetrics } from '../pipeline/telemetry.js';
import { produceCdrs } from '../simulators/produce.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const conns: ClickHouseConnection[] = [];
afterAll(async () => {
  await Promise.all(conns.map((c) => c.close()));
});

async function setup(prefix: string, records: number) {
  const name = uniqueName(prefix);
  await ensureTopic(brokers, name, 2, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records, corrupt: 0, chunk: 20, generator: { seed: 11, subscribers: 50, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, log: quietLog });
  const conn = await openEmbedded({ path: chPath(), database: name });
  conns.push(conn);
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  const source = new KafkaSource({ brokers, clientId: name, groupId: name, topics: [name], fromBeginning: true, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxBytesPerPartition: 8192, maxWaitTimeMs: 100, minBytes: 1, log: quietLog });
  const sink = new ClickHouseSink(conn, { retryInitialMs: 10, retryMaxMs: 50, log: quietLog });
  const decode = createDecoder(cdrCodec(), { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 });
  const committed = async () => {
    const end = await topicEndOffsets(brokers, name, quietLog);
    const g = await groupOffsets(brokers, name, name, quietLog);
    return [...end].every(([p, hi]) => g.get(p) === hi);
  };
  const runner = (opts: Partial<RunnerOptions>) =>
    new Runner(source, decode, sink, createMetrics(), quietLog, { maxBatchRows: 100, maxBatchBytes: 1 << 20, flushIntervalMs: 100, heartbeatIntervalMs: 1000, retryInitialMs: 10, retryMaxMs: 50, ...opts });
  return { name, produced, conn, committed, runner };
}

it('dead-letters what rating, fraud encoding and ClickHouse cannot process, with original bytes; fraud sees only stored rows; everything commits', async () => {
  const t = await setup('poison', 400);
  const ids = t.produced.recordIds;
  const rateFails = new Set([ids[10]!, ids[210]!]);
  const fraudFails = new Set([ids[50]!]);
  const sinkRefuses = new Set([ids[100]!]);
  const sent: string[] = [];
  let fastPathBatches = 0;
  const r = t.runner({
    rate: (cdrs: SourcedCdr[]) => {
      for (const sc of cdrs) {
        if (rateFails.has(sc.cdr.recordId)) throw new Error('tariff lookup blew up');
        // An enrichment that writes a value the column cannot hold: ClickHouse refuses this row.
        if (sinkRefuses.has(sc.cdr.recordId)) sc.cdr.durationMs = -1;
      }
      if (cdrs.length > 1) fastPathBatches++;
      return { rated: cdrs.length };
    },
    fraudEvents: {
      prepare: (cdrs) =>
        cdrs.map((sc) => {
          if (fraudFails.has(sc.cdr.recordId)) throw new RecordStageError(DeadLetterCode.FRAUD_EVENT_INVALID, 'fraud event encoding: invalid "int": 9223372036854775807');
          return sc.cdr.recordId;
        }),
      send: async (items) => void sent.push(...(items as string[])),
    },
  });
  const done = r.run();
  try {
    await waitFor('everything committed', t.committed, 60_000);
  } finally {
    await r.stop();
    await done;
  }
  const [c] = await t.conn.query<{ n: string }>('SELECT uniqExact(record_id) AS n FROM cdrs');
  expect(Number(c!.n)).toBe(400 - 4);
  const dead = await t.conn.query<{ code: string; offset: string; partition: number; message: string; value: string }>('SELECT code, offset, partition, message, base64Encode(value) AS value FROM dead_letters ORDER BY code');
  const codec = cdrCodec();
  const byCode = dead.map((d) => [d.code, codec.decode(Buffer.from(d.value, 'base64')).recordId]);
  // Each carries the source record's own Avro bytes (decodable), not a re-encoding or JSON.
  expect(byCode.sort()).toEqual(
    [
      [DeadLetterCode.FRAUD_EVENT_INVALID, ids[50]],
      [DeadLetterCode.RATING_FAILED, ids[10]],
      [DeadLetterCode.RATING_FAILED, ids[210]],
      [DeadLetterCode.SINK_REJECTED, ids[100]],
    ].sort(),
  );
  expect(dead.find((d) => d.code === DeadLetterCode.RATING_FAILED)!.message).toBe('rate: tariff lookup blew up');
  // The detector got exactly the stored rows: not the refused one, not the dead-lettered ones.
  expect(new Set(sent).size).toBe(400 - 4);
  for (const id of [...rateFails, ...fraudFails, ...sinkRefuses]) expect(sent).not.toContain(id);
  // Batches without poison stayed on the fast path.
  expect(fastPathBatches).toBeGreaterThan(0);
  expect(r.stats).toMatchObject({ consumed: 400, stored: 400 - 4 });
});

it('retries a transient publish error, and stops without committing on a permanent one', async () => {
  // A retriable kafkajs error (after its own retries: not retriable itself, with a retriable cause).
  const transient = Object.assign(new Error('retries exceeded'), { retriable: false, cause: Object.assign(new Error('Connection error'), { retriable: true }) });
  const missingTopic = Object.assign(new Error('This server does not host this topic-partition'), { retriable: true, type: 'UNKNOWN_TOPIC_OR_PARTITION' });
  expect(isTransientPublishError(transient)).toBe(true);
  expect(isTransientPublishError(missingTopic)).toBe(false);
  expect(isTransientPublishError(new TypeError('bug'))).toBe(false);

  const a = await setup('pubok', 200);
  let failures = 2;
  const okRunner = a.runner({
    fraudEvents: {
      prepare: (cdrs) => cdrs.map(() => 1),
      send: async () => {
        if (failures-- > 0) throw transient;
      },
    },
  });
  const okDone = okRunner.run();
  try {
    await waitFor('everything committed despite two transient failures', a.committed, 60_000);
  } finally {
    await okRunner.stop();
    await okDone;
  }

  const b = await setup('pubbad', 200);
  const badRunner = b.runner({ fraudEvents: { prepare: (cdrs) => cdrs.map(() => 1), send: async () => Promise.reject(missingTopic) } });
  await expect(badRunner.run()).rejects.toThrow(/publishing fraud events failed permanently: This server does not host/);
  await badRunner.stop();
  const g = await groupOffsets(brokers, b.name, b.name, quietLog);
  expect([...g.values()].every((o) => o <= 0n)).toBe(true);
});
