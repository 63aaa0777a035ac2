/**
 * End to end on the real components: a real Kafka broker (global setup) and the real ClickHouse engine
 * (chDB). Produces Avro CDRs with corrupt records mixed in, runs the pipeline, and checks that every record
 * is accounted for exactly once and that offsets were committed only for what ClickHouse holds.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { decodeDeadLetter } from '../schemas/dead-letter.js';
import { ensureTopic, groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { produceCdrs } from '../simulators/produce.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';
import { startClickHouseEndpoint } from './clickhouse-endpoint.js';

const brokers = inject('kafkaBrokers');

function testConfig(name: string, extra: Partial<Config['sink']> = {}): Config {
  const base = loadConfig({ env: {} });
  return {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, partitions: 3, deadLetterTopic: `${name}.dlq` },
    clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath(), database: name },
    sink: { ...base.sink, flushIntervalMs: 200, maxBatchRows: 3000, ...extra },
    telemetry: { ...base.telemetry, metricsPort: 0, logLevel: 'silent' },
  };
}

/** Reads `count` dead letters from the dead-letter topic: source coordinates -> original value (base64). */
async function readDeadLetterTopic(topic: string, count: number): Promise<Map<string, string>> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}-reader` });
  const got = new Map<string, string>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const d = decodeDeadLetter(message.value!);
        got.set(`${d.topic}/${d.partition}/${d.offset}`, d.value?.toString('base64') ?? '');
        if (got.size >= count) resolve();
      },
    });
  });
  await consumer.disconnect();
  return got;
}

const conns: ClickHouseConnection[] = [];
afterAll(async () => {
  for (const c of conns) await c.close();
});

describe('pipeline end to end (real Kafka, embedded ClickHouse)', () => {
  it('100k CDRs with 1% corrupted in nine ways: every good one stored once, every bad one a coded dead letter (table and topic), offsets committed exactly', async () => {
    const name = uniqueName('e2e');
    const cfg = testConfig(name, { maxBatchRows: 20_000 });
    await ensureTopic(brokers, name, 3, quietLog);
    const produced = await produceCdrs({
      brokers,
      topic: name,
      records: 100_000,
      corrupt: 1000,
      generator: { seed: 11, subscribers: 800, startMs: Date.UTC(2026, 9, 1), meanGapMs: 200, switches: 3 },
      log: quietLog,
    });
    const p = await startPipeline(cfg, quietLog);
    try {
      const conn = p.conn;
      await waitFor('all records stored', async () => {
        const [r] = await conn.query<{ c: string; d: string }>('SELECT (SELECT count() FROM cdrs) AS c, (SELECT count() FROM dead_letters) AS d');
        return Number(r!.c) >= produced.produced && Number(r!.d) >= produced.corrupt;
      });
      // Wait for commits to catch up with the end of the topic.
      const end = await topicEndOffsets(brokers, name, quietLog);
      await waitFor('offsets committed to the end', async () => {
        const g = await groupOffsets(brokers, name, name, quietLog);
        return [...end].every(([part, hi]) => g.get(part) === hi);
      });
      const [counts] = await conn.query<{ rows: string; ids: string }>('SELECT count() AS rows, uniqExact(recording_entity, record_id) AS ids FROM cdrs');
      expect(Number(counts!.rows)).toBe(produced.produced);
      expect(Number(counts!.ids)).toBe(produced.produced);
      const ids = new Set((await conn.query<{ id: string }>('SELECT record_id AS id FROM cdrs')).map((r) => r.id));
      expect(produced.recordIds.every((id) => ids.has(id))).toBe(true);
      const dead = await conn.query<{ code: string; n: string; bytes: string }>('SELECT code, count() AS n, sum(length(value)) AS bytes FROM dead_letters GROUP BY code ORDER BY code');
      expect(dead.reduce((s, r) => s + Number(r.n), 0)).toBe(produced.corrupt);
      // Nine corruption kinds, round-robin (simulators/produce.ts corruptRecord): each lands under its code.
      const n = (code: string) => Number(dead.find((r) => r.code === code)?.n ?? 0);
      const per = (kind: number) => Math.floor(produced.corrupt / 9) + (kind < produced.corrupt % 9 ? 1 : 0);
      expect(n('EMPTY_VALUE')).toBe(per(2));
      expect(n('RELEASE_BEFORE_SEIZURE')).toBe(per(3));
      expect(n('INVALID_DURATION')).toBe(per(4));
      expect(n('FUTURE_TIMESTAMP')).toBe(per(5));
      expect(n('MALFORMED_NUMBER')).toBe(per(6));
      expect(n('MISSING_PARTY')).toBe(per(7));
      expect(n('AVRO_TRUNCATED') + n('AVRO_DECODE_FAILED') + n('AVRO_TRAILING_BYTES')).toBe(per(0) + per(1) + per(8));
      expect(n('AVRO_TRAILING_BYTES')).toBeGreaterThanOrEqual(per(8));
      // Original bytes are kept: every non-empty corrupt record has its value stored.
      const [withBytes] = await conn.query<{ n: string }>("SELECT count() AS n FROM dead_letters WHERE code != 'EMPTY_VALUE' AND length(value) > 0");
      expect(Number(withBytes!.n)).toBe(produced.corrupt - Number(dead.find((r) => r.code === 'EMPTY_VALUE')?.n ?? 0));
      // Coordinates on every row: (topic, partition, offset) unique and within the topic.
      const [coords] = await conn.query<{ n: string; topics: string }>('SELECT uniqExact(_partition, _offset) AS n, uniqExact(_topic) AS topics FROM cdrs');
      expect(Number(coords!.n)).toBe(produced.produced);
      expect(Number(coords!.topics)).toBe(1);
      // Metrics tell the same story.
      const metrics = await p.metrics.registry.getMetricsAsJSON();
      const total = (name: string) => (metrics.find((m) => m.name === name)?.values ?? []).reduce((s, v) => s + Number(v.value), 0);
      expect(total('cdr_source_records_total')).toBe(produced.produced + produced.corrupt);
      expect(total('cdr_dead_letters_total')).toBe(produced.corrupt);
      expect(total('cdr_sink_rows_total')).toBe(produced.produced + produced.corrupt);
      // And over HTTP.
      const body = await (await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)).text();
      expect(body).toMatch(/^cdr_source_records_total\{topic="[^"]+"\} 101000$/m);
      // The dead-letter topic carries the same dead letters, with their original bytes.
      const onTopic = await readDeadLetterTopic(`${name}.dlq`, produced.corrupt);
      const table = await conn.query<{ k: string; v: string | null }>("SELECT concat(topic, '/', toString(partition), '/', toString(offset)) AS k, value_base64 AS v FROM dead_letters");
      expect(onTopic.size).toBe(produced.corrupt);
      for (const r of table) expect(onTopic.get(r.k)).toBe(r.v ?? '');
      // Still running after all that.
      expect(p.runner.ready).toBe(true);
      expect((await fetch(`http://127.0.0.1:${p.metricsPort}/readyz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${p.metricsPort}/healthz`)).status).toBe(200);
    } finally {
      await p.stop();
    }
  });

  it('through the server connection (HTTP), 500s, resets and a stall during inserts lose nothing and double nothing', async () => {
    const name = uniqueName('srv');
    const endpoint = await startClickHouseEndpoint({ path: chPath() });
    const base = testConfig(name, { maxBatchRows: 2000, retryInitialMs: 20, retryMaxMs: 200 });
    const cfg: Config = { ...base, clickhouse: { ...base.clickhouse, mode: 'server', url: endpoint.url, requestTimeoutMs: 1500 } };
    await ensureTopic(brokers, name, 3, quietLog);
    const produced = await produceCdrs({ brokers, topic: name, records: 20_000, corrupt: 20, generator: { seed: 21, subscribers: 500, startMs: Date.UTC(2026, 9, 1), meanGapMs: 300, switches: 2 }, log: quietLog });
    // Faults on the CDR inserts: two TOO_MANY_PARTS, a reset before and one after the insert ran, a stall.
    endpoint.failNext('http500', 2, { table: 'cdrs', insertsOnly: true });
    endpoint.failNext('reset', 1, { table: 'cdrs', insertsOnly: true });
    endpoint.failNext('reset', 1, { table: 'cdrs', insertsOnly: true, afterExecute: true });
    endpoint.failNext('stall', 1, { table: 'cdrs', insertsOnly: true, ms: 3000 });
    const p = await startPipeline(cfg, quietLog);
    try {
      await waitFor('all stored through faults', async () => {
        const [r] = await p.conn.query<{ c: string; d: string }>('SELECT (SELECT uniqExact(record_id) FROM cdrs) AS c, (SELECT count() FROM dead_letters) AS d');
        return Number(r!.c) === produced.produced && Number(r!.d) === produced.corrupt;
      }, 120_000);
      expect(endpoint.stats.faultsInjected).toBe(5);
      const [r] = await p.conn.query<{ rows: string }>('SELECT count() AS rows FROM cdrs');
      // The insert whose ack was lost was retried with the same deduplication token: no second copy.
      expect(Number(r!.rows)).toBe(produced.produced);
      const metrics = await p.metrics.registry.getMetricsAsJSON();
      const transient = metrics.find((m) => m.name === 'cdr_sink_errors_total')?.values.filter((v) => v.labels.class === 'transient').reduce((s, v) => s + Number(v.value), 0);
      expect(transient).toBeGreaterThanOrEqual(5);
    } finally {
      await p.stop();
      await endpoint.close();
    }
  });

  it('a graceful stop flushes what is buffered and commits it', async () => {
    const name = uniqueName('stop');
    // A flush interval far longer than the test: only stop() can flush these rows.
    const cfg = testConfig(name, { flushIntervalMs: 600_000, maxBatchRows: 1_000_000 });
    await ensureTopic(brokers, name, 3, quietLog);
    const produced = await produceCdrs({ brokers, topic: name, records: 3000, corrupt: 0, generator: { seed: 5, subscribers: 100, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, log: quietLog });
    const p = await startPipeline(cfg, quietLog);
    await waitFor('records consumed into buffers', async () => p.runner.stats.consumed >= produced.produced);
    expect(p.runner.stats.stored).toBe(0);
    await p.stop();
    await p.done;
    expect(p.runner.stats.stored).toBe(produced.produced);
    const g = await groupOffsets(brokers, name, name, quietLog);
    const end = await topicEndOffsets(brokers, name, quietLog);
    expect([...end].map(([part]) => [part, g.get(part)])).toEqual([...end].map(([part, hi]) => [part, hi]));
    const conn = await openEmbedded({ path: chPath(), database: name });
    conns.push(conn);
    const [r] = await conn.query<{ c: string }>('SELECT count() AS c FROM cdrs');
    expect(Number(r!.c)).toBe(produced.produced);
  });
});
