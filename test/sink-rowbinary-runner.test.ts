/**
 * The runner with the RowBinary sink (config sink.format rowbinary, the pipeline's default; issue #15 item 2),
 * real Kafka and embedded ClickHouse: a CDR a column cannot hold is refused while the runner serialises it, and
 * leaves as a SINK_REJECTED dead letter with its original Avro bytes; the rest of its batch is stored and
 * everything is committed, as when ClickHouse refuses a text row (test/poison-stages.test.ts). (Replays of the
 * same block: test/clickhouse-server-path.test.ts.)
 */
import { afterAll, expect, inject, it } from 'vitest';
import { cdrCodec, DeadLetterCode, schemaPath, type SourcedCdr } from '../schemas/index.js';
import { createDecoder } from '../enrich/decode.js';
import { KafkaSource, ensureTopic, groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import { Runner } from '../pipeline/runner.js';
import { createMetrics } from '../pipeline/telemetry.js';
import { produceCdrs } from '../simulators/produce.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
let conn: ClickHouseConnection | undefined;
afterAll(async () => conn?.close());

it('dead-letters a CDR RowBinary cannot hold with its source bytes, stores and commits the rest', async () => {
  const name = uniqueName('rbrunner');
  await ensureTopic(brokers, name, 2, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records: 300, corrupt: 0, chunk: 20, generator: { seed: 12, subscribers: 50, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, log: quietLog });
  conn = await openEmbedded({ path: chPath(), database: name });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  const refuse = new Set([produced.recordIds[42]!, produced.recordIds[250]!]);
  const decode = createDecoder(cdrCodec(), { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 });

  const runOnce = async (group: string) => {
    const source = new KafkaSource({ brokers, clientId: group, groupId: group, topics: [name], fromBeginning: true, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxBytesPerPartition: 8192, maxWaitTimeMs: 100, minBytes: 1, log: quietLog });
    const sink = new ClickHouseSink(conn!, { retryInitialMs: 10, retryMaxMs: 50, log: quietLog, format: 'rowbinary' });
    const runner = new Runner(source, decode, sink, createMetrics(), quietLog, {
      maxBatchRows: 100, maxBatchBytes: 1 << 20, flushIntervalMs: 100, heartbeatIntervalMs: 1000, retryInitialMs: 10, retryMaxMs: 50,
      // An enrichment that writes a value the column cannot hold (UInt64).
      rate: (cdrs: SourcedCdr[]) => {
        for (const sc of cdrs) if (refuse.has(sc.cdr.recordId)) sc.cdr.durationMs = -1;
        return { rated: cdrs.length };
      },
    });
    const committed = async () => {
      const end = await topicEndOffsets(brokers, name, quietLog);
      const g = await groupOffsets(brokers, group, name, quietLog);
      return [...end].every(([p, hi]) => g.get(p) === hi);
    };
    const done = runner.run();
    try {
      await waitFor('everything committed', committed, 60_000);
    } finally {
      await runner.stop();
      await done;
    }
    return runner.stats;
  };

  const first = await runOnce(name);
  expect(first).toMatchObject({ consumed: 300, stored: 298 });
  const [c] = await conn.query<{ n: string; ids: string }>('SELECT count() AS n, uniqExact(record_id) AS ids FROM cdrs');
  expect(c).toEqual({ n: '298', ids: '298' });
  const dead = await conn.query<{ code: string; message: string; value: string }>('SELECT code, message, base64Encode(value) AS value FROM dead_letters ORDER BY offset');
  const codec = cdrCodec();
  expect(dead.map((d) => [d.code, codec.decode(Buffer.from(d.value, 'base64')).recordId]).sort()).toEqual([...refuse].map((id) => [DeadLetterCode.SINK_REJECTED, id]).sort());
  for (const d of dead) expect(d.message).toMatch(/column duration_ms: -1 is not a UInt64/);

});
