/**
 * Memory stays flat through a ClickHouse outage (issue #11 §4): the compiled `cdr-pipeline run` in a child
 * process with a 160 MB heap, ClickHouse over the server connection through the fault-injecting endpoint
 * (stalling every insert), a topic holding many times the backpressure budget. During the outage consumption
 * stops (the consumed count stays put), `cdr_sink_backpressure` is 1, `/readyz` fails and the heap stays flat;
 * after it, every record is stored exactly once and committed.
 *
 * CI runs a 25 s outage; OUTAGE_SECONDS=600 runs the 10-minute one (the heap curve is printed either way).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect, inject, it } from 'vitest';
import { packageRoot } from '../schemas/index.js';
import { ensureTopic, groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { openServer } from '../sinks/clickhouse/connection.js';
import { produceCdrs } from '../simulators/produce.js';
import { startClickHouseEndpoint } from './clickhouse-endpoint.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const OUTAGE_SECONDS = Number(process.env.OUTAGE_SECONDS ?? 25);
const RECORDS = 150_000;
const BUDGET = 10_000;

function metric(text: string, name: string): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : NaN;
}

it(`keeps the heap flat and consumption paused through a ${OUTAGE_SECONDS} s ClickHouse outage (160 MB heap); afterwards everything is stored once`, async () => {
  expect(existsSync(`${packageRoot}/dist/cli/index.js`), 'run `npm run build` first (npm test does)').toBe(true);
  const name = uniqueName('heap');
  const endpoint = await startClickHouseEndpoint({ path: chPath() });
  let child: ChildProcess | undefined;
  try {
    await ensureTopic(brokers, name, 3, quietLog);
    const produced = await produceCdrs({ brokers, topic: name, records: RECORDS, corrupt: 0, generator: { seed: 41, subscribers: 3000, startMs: Date.UTC(2026, 9, 1), meanGapMs: 50, switches: 3 }, log: quietLog });
    let out = '';
    child = spawn(process.execPath, ['--max-old-space-size=160', `${packageRoot}/bin/cdr-pipeline.js`, 'run'], {
      env: {
        ...process.env,
        CDR_KAFKA_BROKERS: brokers.join(','),
        CDR_KAFKA_TOPIC: name,
        CDR_KAFKA_GROUP_ID: name,
        CDR_KAFKA_DEAD_LETTER_TOPIC: `${name}.dlq`,
        CDR_KAFKA_MAX_BYTES_PER_PARTITION: '131072',
        CDR_CLICKHOUSE_MODE: 'server',
        CDR_CLICKHOUSE_URL: endpoint.url,
        CDR_CLICKHOUSE_DATABASE: name,
        CDR_CLICKHOUSE_REQUEST_TIMEOUT_MS: '2000',
        CDR_SINK_MAX_BATCH_ROWS: '2000',
        CDR_SINK_MAX_BUFFERED_ROWS: String(BUDGET),
        CDR_SINK_FLUSH_INTERVAL_MS: '200',
        CDR_SINK_RETRY_MAX_MS: '1000',
        CDR_AGGREGATES_REFRESH_INTERVAL_MS: '0',
        CDR_TELEMETRY_METRICS_PORT: '0',
        CDR_TELEMETRY_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const port = await waitFor(`the telemetry endpoint\n${out.slice(-2000)}`, async () => /"url":"http:\/\/127\.0\.0\.1:(\d+)\/metrics"/.exec(out)?.[1], 60_000, 100);
    const base = `http://127.0.0.1:${port}`;
    const scrape = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return {
        heapMb: metric(text, 'nodejs_heap_size_used_bytes') / 1048576,
        consumed: metric(text, 'cdr_source_records_total'),
        stored: metric(text, 'cdr_sink_rows_total{table="cdrs"}') || 0,
        buffered: metric(text, 'cdr_sink_buffered_rows'),
        backpressure: metric(text, 'cdr_sink_backpressure'),
        ready: (await fetch(`${base}/readyz`)).status === 200,
      };
    };
    await waitFor(`first rows stored\n${out.slice(-2000)}`, async () => (await scrape()).stored > 0 || /batch stored/.test(out) || endpoint.stats.inserts > 20, 60_000, 200);
    // The outage: every CDR insert stalls until the client gives up, until the faults are cleared.
    endpoint.failNext('stall', 1_000_000, { table: 'cdrs', insertsOnly: true });
    const samples: Awaited<ReturnType<typeof scrape>>[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < OUTAGE_SECONDS * 1000) {
      samples.push(await scrape());
      await new Promise((r) => setTimeout(r, 1000));
    }
    const last = samples[samples.length - 1]!;
    // Settled after the first 5 s: nothing more consumed, paused, not ready, heap flat.
    const settled = samples.slice(5);
    expect(last.consumed).toBeLessThan(RECORDS);
    expect(settled.every((s) => s.consumed === settled[0]!.consumed)).toBe(true);
    expect(settled.every((s) => s.backpressure === 1)).toBe(true);
    expect(last.ready).toBe(false);
    expect(Math.max(...samples.map((s) => s.buffered))).toBeLessThanOrEqual(BUDGET + 3 * 1000);
    const third = Math.max(1, Math.floor(settled.length / 3));
    const early = Math.max(...settled.slice(0, third).map((s) => s.heapMb));
    const late = Math.max(...settled.slice(-third).map((s) => s.heapMb));
    expect(late - early).toBeLessThan(25);
    expect(Math.max(...samples.map((s) => s.heapMb))).toBeLessThan(140);
    process.stdout.write(
      `[backpressure-heap] ${OUTAGE_SECONDS} s outage, 160 MB heap, budget ${BUDGET} rows, topic ${RECORDS}: consumed ${last.consumed} (flat from ${settled[0]!.consumed}), buffered max ${Math.max(...samples.map((s) => s.buffered))}; heap MB per second: ${samples.map((s) => s.heapMb.toFixed(0)).join(' ')}\n`,
    );
    // Recovery: everything stored exactly once and committed.
    endpoint.clearFaults();
    const end = await topicEndOffsets(brokers, name, quietLog);
    await waitFor(`everything committed\n${out.slice(-2000)}`, async () => {
      const g = await groupOffsets(brokers, name, name, quietLog);
      return [...end].every(([p, hi]) => g.get(p) === hi);
    }, 180_000, 500);
    await waitFor('ready again', async () => (await scrape()).ready, 15_000, 200);
    child.kill('SIGTERM');
    expect(await new Promise((r) => child!.once('exit', r))).toBe(0);
    child = undefined;
    const conn = await openServer({ url: endpoint.url, username: 'default', password: '', database: name, requestTimeoutMs: 30_000, createDatabase: false });
    const [r] = await conn.query<{ ids: string; final: string }>('SELECT uniqExact(record_id) AS ids, (SELECT count() FROM cdrs FINAL) AS final FROM cdrs');
    await conn.close();
    expect(Number(r!.ids)).toBe(produced.produced);
    expect(Number(r!.final)).toBe(produced.produced);
  } finally {
    child?.kill('SIGKILL');
    await endpoint.close();
  }
}, 600_000 + OUTAGE_SECONDS * 1000);
