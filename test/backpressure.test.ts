/**
 * When ClickHouse stalls, consumption pauses and memory stays bounded; when it recovers, everything is
 * stored exactly once. Through the server connection and the fault-injecting endpoint.
 */
import { expect, inject, it } from 'vitest';
import { ensureTopic, groupOffsets } from '../ingest/kafka.js';
import { openServer } from '../sinks/clickhouse/connection.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { produceCdrs } from '../simulators/produce.js';
import { startClickHouseEndpoint } from './clickhouse-endpoint.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');

it('a stalled ClickHouse pauses consumption with bounded buffers; after recovery every CDR is stored once', async () => {
  const name = uniqueName('bp');
  const endpoint = await startClickHouseEndpoint({ path: chPath() });
  const base = loadConfig({ env: {} });
  const maxBatchRows = 1000;
  const partitions = 2;
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, deadLetterTopic: '', maxBytesPerPartition: 64 * 1024 },
    clickhouse: { ...base.clickhouse, mode: 'server', url: endpoint.url, database: name, requestTimeoutMs: 1000 },
    sink: { ...base.sink, maxBatchRows, flushIntervalMs: 100, retryInitialMs: 50, retryMaxMs: 200 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };
  await ensureTopic(brokers, name, partitions, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records: 40_000, corrupt: 0, generator: { seed: 31, subscribers: 500, startMs: Date.UTC(2026, 9, 1), meanGapMs: 300, switches: 2 }, log: quietLog });
  const p = await startPipeline(cfg, quietLog);
  try {
    await waitFor('first rows stored', async () => p.runner.stats.stored > 0, 60_000, 20);
    // From now on every CDR insert stalls past the client's timeout, until the faults are cleared.
    endpoint.failNext('stall', 10_000, { table: 'cdrs', insertsOnly: true, ms: 5000 });
    const storedAtStall = p.runner.stats.stored;
    let maxInFlight = 0;
    let sawBackpressure = false;
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline) {
      maxInFlight = Math.max(maxInFlight, p.runner.stats.consumed - p.runner.stats.stored);
      const bp = (await p.metrics.sinkBackpressure.get()).values[0]?.value ?? 0;
      if (bp === 1) sawBackpressure = true;
      await new Promise((r) => setTimeout(r, 50));
    }
    // During the outage almost nothing new was stored, and consumption stopped well short of the topic.
    expect(p.runner.stats.stored - storedAtStall).toBeLessThanOrEqual(2 * maxBatchRows);
    expect(sawBackpressure).toBe(true);
    expect(p.runner.stats.consumed).toBeLessThan(produced.produced);
    // Bounded: per partition one buffer being written and one filling, plus one fetch (64 KiB ≈ 380 CDRs).
    expect(maxInFlight).toBeLessThanOrEqual(partitions * (2 * maxBatchRows + 500));
    // Recovery.
    const stalls = endpoint.stats.faultsInjected;
    expect(stalls).toBeGreaterThanOrEqual(3);
    endpoint.clearFaults();
    await waitFor('everything stored after the outage', async () => {
      const [r] = await p.conn.query<{ ids: string }>('SELECT uniqExact(record_id) AS ids FROM cdrs');
      return Number(r!.ids) === produced.produced;
    }, 120_000);
    expect(endpoint.stats.faultsInjected).toBe(stalls);
    const [r] = await p.conn.query<{ rows: string; final: string }>('SELECT count() AS rows, (SELECT count() FROM cdrs FINAL) AS final FROM cdrs');
    expect(Number(r!.final)).toBe(produced.produced);
    process.stdout.write(`[backpressure] max in flight ${maxInFlight} CDRs during a 6 s outage (${stalls} stalled inserts); rows ${r!.rows}, after FINAL ${r!.final}\n`);
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
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, deadLetterTopic: '' },
    clickhouse: { ...base.clickhouse, mode: 'server', url: endpoint.url, database: name, requestTimeoutMs: 500 },
    sink: { ...base.sink, maxBatchRows: 500, flushIntervalMs: 100, retryInitialMs: 50, retryMaxMs: 100, shutdownTimeoutMs: 1500 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };
  await ensureTopic(brokers, name, 2, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records: 5000, corrupt: 0, generator: { seed: 32, subscribers: 300, startMs: Date.UTC(2026, 9, 1), meanGapMs: 300, switches: 2 }, log: quietLog });
  const p = await startPipeline(cfg, quietLog);
  try {
    await waitFor('first rows stored', async () => p.runner.stats.stored > 0, 60_000, 20);
    endpoint.failNext('stall', 100_000, { table: 'cdrs', insertsOnly: true, ms: 10_000 });
    await waitFor('a batch waiting for the sink', async () => p.runner.stats.consumed > p.runner.stats.stored, 30_000, 20);
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
