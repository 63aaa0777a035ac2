/**
 * When ClickHouse stalls, consumption pauses per partition once the records buffered + in flight exceed the
 * budget (sink.maxBufferedRows), whatever triggered the flushes; backpressure and readiness say so; when it
 * recovers, everything is stored exactly once and committed. Through the server connection and the
 * fault-injecting endpoint. (The reduced-heap, child-process version: backpressure-heap.test.ts.)
 *
 * "One fetch" is not maxBytesPerPartition worth of records: Kafka (KIP-74) returns at least the first whole
 * record batch at the fetch position however large, and kafkajs's producer writes each send as one record batch
 * per partition, so here a fetch is one producer batch (~1000 CDRs, ~170 KB) despite the 64 KiB limit.
 */
import { expect, inject, it } from 'vitest';
import { ensureTopic, groupOffsets, KafkaSource, topicEndOffsets } from '../ingest/kafka.js';
import type { BatchHandler, Source, SourceEvents } from '../schemas/index.js';
import { openServer } from '../sinks/clickhouse/connection.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { produceCdrs } from '../simulators/produce.js';
import { startClickHouseEndpoint } from './clickhouse-endpoint.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');

/**
 * The pipeline's Kafka source, watched: the largest batch kafkajs handed over per partition, batches handed
 * over for a partition the runner had paused, and the runner's pending rows right after each batch.
 */
class WatchedSource implements Source {
  readonly largest = new Map<number, number>();
  readonly paused = new Set<number>();
  deliveredWhilePaused = 0;
  maxPendingAfterBatch = 0;
  pendingRows: () => number = () => 0;
  constructor(private readonly inner: KafkaSource) {}
  start(handler: BatchHandler, events: SourceEvents): Promise<void> {
    return this.inner.start(async (b, ctx) => {
      if (this.paused.has(b.partition)) this.deliveredWhilePaused++;
      this.largest.set(b.partition, Math.max(this.largest.get(b.partition) ?? 0, b.records.length));
      await handler(b, ctx);
      this.maxPendingAfterBatch = Math.max(this.maxPendingAfterBatch, this.pendingRows());
    }, events);
  }
  commit(topic: string, partition: number, nextOffset: string): Promise<void> {
    return this.inner.commit(topic, partition, nextOffset);
  }
  stop(): Promise<void> {
    return this.inner.stop();
  }
  pause(topic: string, partition: number): void {
    this.paused.add(partition);
    this.inner.pause(topic, partition);
  }
  resume(topic: string, partition: number): void {
    this.paused.delete(partition);
    this.inner.resume(topic, partition);
  }
  endOffsets(topic: string): Promise<Map<number, string>> {
    return this.inner.endOffsets(topic);
  }
}

it('a stalled ClickHouse pauses consumption within the budget; after recovery every CDR is stored once and committed', async () => {
  const name = uniqueName('bp');
  const endpoint = await startClickHouseEndpoint({ path: chPath() });
  const base = loadConfig({ env: {} });
  const maxBatchRows = 1000;
  const maxBufferedRows = 3000;
  const partitions = 2;
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, deadLetterTopic: '', maxBytesPerPartition: 64 * 1024 },
    clickhouse: { ...base.clickhouse, mode: 'server', url: endpoint.url, database: name, requestTimeoutMs: 1000 },
    // A flush interval short enough that aged partial buffers are queued during the outage too.
    sink: { ...base.sink, maxBatchRows, maxBufferedRows, flushIntervalMs: 100, retryInitialMs: 50, retryMaxMs: 200 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };
  await ensureTopic(brokers, name, partitions, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records: 40_000, corrupt: 0, generator: { seed: 31, subscribers: 500, startMs: Date.UTC(2026, 9, 1), meanGapMs: 300, switches: 2 }, log: quietLog });
  const k = cfg.kafka;
  const source = new WatchedSource(new KafkaSource({ brokers, clientId: k.clientId, groupId: k.groupId, topics: [k.topic], fromBeginning: k.fromBeginning, sessionTimeoutMs: k.sessionTimeoutMs, heartbeatIntervalMs: k.heartbeatIntervalMs, maxBytesPerPartition: k.maxBytesPerPartition, maxWaitTimeMs: k.maxWaitTimeMs, minBytes: k.minBytes, log: quietLog }));
  const p = await startPipeline(cfg, quietLog, undefined, source);
  source.pendingRows = () => p.runner.pending.rows;
  try {
    await waitFor('first rows stored', async () => p.runner.stats.stored > 0, 60_000, 20);
    expect(p.runner.ready).toBe(true);
    // From now on every CDR insert stalls past the client's timeout, until the faults are cleared.
    endpoint.failNext('stall', 10_000, { table: 'cdrs', insertsOnly: true, ms: 5000 });
    const storedAtStall = p.runner.stats.stored;
    let maxPending = 0;
    let sawBackpressure = false;
    let sawNotReady = false;
    const deadline = Date.now() + 9000;
    let consumedAt3s = -1;
    while (Date.now() < deadline) {
      maxPending = Math.max(maxPending, p.runner.pending.rows);
      const bp = (await p.metrics.sinkBackpressure.get()).values[0]?.value ?? 0;
      if (bp === 1) sawBackpressure = true;
      if (!p.runner.ready && (await p.metrics.ready.get()).values[0]?.value === 0) sawNotReady = true;
      if (consumedAt3s < 0 && deadline - Date.now() < 3000) consumedAt3s = p.runner.stats.consumed;
      await new Promise((r) => setTimeout(r, 50));
    }
    // During the outage almost nothing new was stored, consumption stopped (the consumed count stayed put for
    // the last 3 s) well short of the topic, the partitions were paused, and after 5 s without an
    // acknowledgement from the sink the pipeline said it was not ready. What was stored is the inserts already
    // under way when the stall began: one per partition at most (a partition's flushes run one after another),
    // each a buffer that reached maxBatchRows with the fetch that filled it (up to maxBatchRows - 1 + one fetch).
    const largestFetch = Math.max(...source.largest.values());
    const storedInStall = p.runner.stats.stored - storedAtStall;
    expect(storedInStall).toBeLessThanOrEqual(partitions * (maxBatchRows - 1 + largestFetch));
    expect(sawBackpressure).toBe(true);
    expect(sawNotReady).toBe(true);
    expect(p.runner.stats.pauses).toBeGreaterThan(0);
    expect(p.runner.stats.consumed).toBe(consumedAt3s);
    expect(p.runner.stats.consumed).toBeLessThan(produced.produced);
    // Bounded: the budget, plus at most one fetch per partition: no batch reached a partition the runner had
    // paused, and the most ever held is the budget plus each partition's largest fetch. A fetch is at most one
    // producer send's record batch for the partition (<= 2000 CDRs here), not 64 KiB (see the header).
    maxPending = Math.max(maxPending, source.maxPendingAfterBatch);
    const oneFetchEach = [...source.largest.values()].reduce((a, b) => a + b, 0);
    expect(source.largest.size).toBe(partitions);
    expect(source.deliveredWhilePaused).toBe(0);
    expect(maxPending).toBeGreaterThan(maxBufferedRows);
    expect(maxPending).toBeLessThanOrEqual(maxBufferedRows + oneFetchEach);
    expect(Math.max(...source.largest.values())).toBeLessThanOrEqual(2000);
    // Recovery.
    const stalls = endpoint.stats.faultsInjected;
    expect(stalls).toBeGreaterThanOrEqual(3);
    endpoint.clearFaults();
    await waitFor('everything stored after the outage', async () => {
      const [r] = await p.conn.query<{ ids: string }>('SELECT uniqExact(record_id) AS ids FROM cdrs');
      return Number(r!.ids) === produced.produced;
    }, 120_000);
    const end = await topicEndOffsets(brokers, name, quietLog);
    await waitFor('everything committed', async () => {
      const g = await groupOffsets(brokers, name, name, quietLog);
      return [...end].every(([part, hi]) => g.get(part) === hi);
    }, 30_000);
    await waitFor('ready again', async () => p.runner.ready, 10_000, 50);
    expect((await p.metrics.sinkBackpressure.get()).values[0]?.value).toBe(0);
    expect(endpoint.stats.faultsInjected).toBe(stalls);
    const [r] = await p.conn.query<{ rows: string; final: string }>('SELECT count() AS rows, (SELECT count() FROM cdrs FINAL) AS final FROM cdrs');
    expect(Number(r!.final)).toBe(produced.produced);
    process.stdout.write(`[backpressure] max ${maxPending} records buffered + in flight (budget ${maxBufferedRows}; largest fetch per partition ${[...source.largest.values()].join(', ')}) during a 9 s outage (${storedInStall} stored by inserts under way when it began, ${stalls} stalled inserts, ${p.runner.stats.pauses} pauses); rows ${r!.rows}, after FINAL ${r!.final}\n`);
  } finally {
    await p.stop();
    await endpoint.close();
  }
});

it('a stop while ClickHouse is down gives up after the grace period and commits nothing it did not store', async () => {
  const name = uniqueName('bpstop');
  const endpoint = await startClickHouseEndpoint({ path: chPath() });
  const base = loadConfig({ env: {} });
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, deadLetterTopic: '', maxBytesPerPartition: 32 * 1024 },
    clickhouse: { ...base.clickhouse, mode: 'server', url: endpoint.url, database: name, requestTimeoutMs: 500 },
    sink: { ...base.sink, maxBatchRows: 500, maxBufferedRows: 1000, flushIntervalMs: 100, retryInitialMs: 50, retryMaxMs: 100, shutdownTimeoutMs: 1500 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };
  await ensureTopic(brokers, name, 2, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records: 5000, corrupt: 0, generator: { seed: 32, subscribers: 300, startMs: Date.UTC(2026, 9, 1), meanGapMs: 300, switches: 2 }, log: quietLog });
  const p = await startPipeline(cfg, quietLog);
  try {
    await waitFor('first rows stored', async () => p.runner.stats.stored > 0, 60_000, 20);
    endpoint.failNext('stall', 100_000, { table: 'cdrs', insertsOnly: true, ms: 10_000 });
    // An insert issued after the outage began is hanging (one already in flight may still have landed).
    await waitFor('a batch waiting for the stalled sink', async () => endpoint.stats.faultsInjected > 0 && p.runner.stats.consumed > p.runner.stats.stored, 30_000, 20);
    const t0 = Date.now();
    await p.stop();
    const took = Date.now() - t0;
    expect(took).toBeLessThan(10_000);
    expect(took).toBeGreaterThanOrEqual(1400);
    // Committed offsets cover no more records than ClickHouse holds.
    const committed = [...(await groupOffsets(brokers, name, name, quietLog)).values()].reduce((a, b) => a + (b > 0n ? b : 0n), 0n);
    endpoint.clearFaults();
    const conn = await openServer({ url: endpoint.url, username: 'default', password: '', database: name, requestTimeoutMs: 5000, createDatabase: false });
    const [r] = await conn.query<{ c: string }>('SELECT count() AS c FROM cdrs');
    await conn.close();
    expect(Number(committed)).toBeLessThanOrEqual(Number(r!.c));
    expect(Number(r!.c)).toBeLessThan(produced.produced);
  } finally {
    await endpoint.close();
  }
});
