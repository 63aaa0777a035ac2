/**
 * Kill the pipeline process with SIGKILL mid-stream, restart it, and check that nothing was lost: every
 * produced record id is in ClickHouse. Offsets are committed only after ClickHouse acknowledged, so a
 * killed process can only cause re-reads, never gaps. (Real Kafka, the compiled `cdr-pipeline run` as a
 * child process, embedded ClickHouse in a data directory the test opens once the children are gone.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect, inject, it } from 'vitest';
import { packageRoot } from '../schemas/index.js';
import { ensureTopic, groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { openEmbedded } from '../sinks/clickhouse/connection.js';
import { produceCdrs } from '../simulators/produce.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const CLI = `${packageRoot}/bin/cdr-pipeline.js`;

function startChild(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, [CLI, 'run'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

it('survives ten SIGKILLs mid-stream: after the restarts every record id is stored, each counted once', async () => {
  expect(existsSync(`${packageRoot}/dist/cli/index.js`), 'run `npm run build` first (npm test does)').toBe(true);
  const name = uniqueName('kill');
  const dir = chPath();
  await ensureTopic(brokers, name, 3, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records: 100_000, corrupt: 0, generator: { seed: 3, subscribers: 4000, startMs: Date.UTC(2026, 9, 1), meanGapMs: 100, switches: 3 }, log: quietLog });
  const end = await topicEndOffsets(brokers, name, quietLog);
  const total = [...end.values()].reduce((a, b) => a + b, 0n);
  const committed = async () => [...(await groupOffsets(brokers, name, name, quietLog)).values()].reduce((a, b) => a + (b > 0n ? b : 0n), 0n);
  const env = {
    CDR_KAFKA_BROKERS: brokers.join(','),
    CDR_KAFKA_TOPIC: name,
    CDR_KAFKA_GROUP_ID: name,
    CDR_KAFKA_SESSION_TIMEOUT_MS: '6000',
    CDR_KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    CDR_CLICKHOUSE_PATH: dir,
    CDR_CLICKHOUSE_DATABASE: name,
    CDR_SINK_MAX_BATCH_ROWS: '1000',
    CDR_SINK_FLUSH_INTERVAL_MS: '200',
    // A small fetch size keeps each run short of the whole topic, so kills land mid-stream.
    CDR_KAFKA_MAX_BYTES_PER_PARTITION: '65536',
    CDR_TELEMETRY_METRICS_PORT: '-1',
    CDR_TELEMETRY_LOG_LEVEL: 'warn',
  };
  const kills: bigint[] = [];
  // Ten kill-and-restart cycles (issue #5's invariant), each at a random moment after the run's first commit.
  for (let cycle = 0; cycle < 10; cycle++) {
    const before = await committed();
    const { child, output } = startChild(env);
    // Kill once this run has committed something of its own, at a random moment after that.
    await waitFor(`run ${cycle} to commit progress\n${output()}`, async () => (await committed()) > before, 90_000, 100);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
    child.kill('SIGKILL');
    await exited(child);
    const at = await committed();
    kills.push(at);
    if (at >= total) break;
  }
  // All ten kills landed mid-stream, each after more progress was committed.
  expect(kills).toHaveLength(10);
  expect(kills[9]!).toBeLessThan(total);
  for (let i = 1; i < kills.length; i++) expect(kills[i]!).toBeGreaterThan(kills[i - 1]!);
  // Final run to the end, then a graceful stop.
  const { child, output } = startChild(env);
  await waitFor(`final run to commit everything\n${output()}`, async () => (await committed()) === total, 120_000, 200);
  child.kill('SIGTERM');
  expect(await exited(child)).toBe(0);

  const conn = await openEmbedded({ path: dir, database: name });
  try {
    const [r] = await conn.query<{ rows: string; ids: string; final: string }>('SELECT count() AS rows, uniqExact(record_id) AS ids, (SELECT count() FROM cdrs FINAL) AS final FROM cdrs');
    const ids = new Set((await conn.query<{ id: string }>('SELECT record_id AS id FROM cdrs')).map((x) => x.id));
    const missing = produced.recordIds.filter((id) => !ids.has(id));
    process.stdout.write(`[crash-recovery] produced ${produced.produced}, killed at committed offsets ${kills.join(', ')} of ${total}; rows ${r!.rows}, distinct ids ${r!.ids}, rows after FINAL ${r!.final}, missing ${missing.length}\n`);
    expect(missing).toEqual([]);
    expect(Number(r!.ids)).toBe(produced.produced);
    expect(Number(r!.rows)).toBeGreaterThanOrEqual(produced.produced);
    // Re-read records collapse in the ReplacingMergeTree key: billing reads (FINAL) see each CDR once.
    expect(Number(r!.final)).toBe(produced.produced);
  } finally {
    await conn.close();
  }
}, 900_000);
