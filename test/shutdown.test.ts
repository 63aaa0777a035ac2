/**
 * A stop requested while `cdr-pipeline run` is still joining its consumer group ends the process in time.
 * A member killed with SIGKILL keeps its group session open (long kafka.sessionTimeoutMs), so the next
 * member's first JoinGroup waits at the broker until that session expires. SIGTERM during that wait must end
 * the process with exit 0 within sink.shutdownTimeoutMs, without committing anything (it stored nothing).
 * Before the fix kafkajs restarted the consumer after the stop ("Restarting the consumer in 300ms") and the
 * process stayed up. (Real Kafka, the compiled CLI as child processes, each with its own chDB directory.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { expect, inject, it } from 'vitest';
import { packageRoot } from '../schemas/index.js';
import { ensureTopic, groupOffsets } from '../ingest/kafka.js';
import { produceCdrs } from '../simulators/produce.js';
import { quietLog, uniqueName, waitFor } from './helpers.js';

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

it('SIGTERM during the first group join (a killed member still in the group) exits 0 within the shutdown timeout, committing nothing', async () => {
  expect(existsSync(`${packageRoot}/dist/cli/index.js`), 'run `npm run build` first (npm test does)').toBe(true);
  const name = uniqueName('stopjoin');
  await ensureTopic(brokers, name, 2, quietLog);
  await produceCdrs({ brokers, topic: name, records: 2000, corrupt: 0, generator: { seed: 5, subscribers: 200, startMs: Date.UTC(2026, 9, 1), meanGapMs: 100, switches: 2 }, log: quietLog });
  const committed = async () => [...(await groupOffsets(brokers, name, name, quietLog)).entries()].sort(([a], [b]) => a - b).map(([p, o]) => `${p}:${o}`).join(',');
  const shutdownTimeoutMs = 10_000;
  const base = (dir: string) => ({
    CDR_KAFKA_BROKERS: brokers.join(','),
    CDR_KAFKA_TOPIC: name,
    CDR_KAFKA_GROUP_ID: name,
    CDR_KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    CDR_CLICKHOUSE_PATH: dir,
    CDR_CLICKHOUSE_DATABASE: name,
    CDR_SINK_FLUSH_INTERVAL_MS: '200',
    CDR_SINK_SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
    CDR_FRAUD_ENABLED: 'false',
    CDR_TELEMETRY_METRICS_PORT: '-1',
    CDR_TELEMETRY_LOG_LEVEL: 'info',
  });

  // Member 1 joins, stores and commits, then dies without leaving: its 60 s session stays open.
  const first = startChild({ ...base(mkdtempSync(join(tmpdir(), 'cdr-test-ch-'))), CDR_KAFKA_SESSION_TIMEOUT_MS: '60000' });
  try {
    await waitFor(`member 1 to commit\n${first.output()}`, async () => (await committed()).length > 0 && /"partitions assigned"/.test(first.output()), 60_000, 200);
  } finally {
    first.child.kill('SIGKILL');
    await exited(first.child);
  }
  const before = await committed();

  // Member 2's first JoinGroup now waits for member 1's session: the group stays in PreparingRebalance.
  const kafka = new Kafka({ clientId: 'shutdown-test', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const second = startChild({ ...base(mkdtempSync(join(tmpdir(), 'cdr-test-ch-'))), CDR_KAFKA_SESSION_TIMEOUT_MS: '10000' });
  try {
    await waitFor(
      `member 2 to be joining\n${second.output()}`,
      async () => (await admin.describeGroups([name])).groups[0]?.state === 'PreparingRebalance',
      30_000,
      100,
    );
    expect(second.output()).not.toContain('partitions assigned');
    const t0 = Date.now();
    second.child.kill('SIGTERM');
    const code = await Promise.race([exited(second.child), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), shutdownTimeoutMs + 5_000))]);
    const took = Date.now() - t0;
    process.stdout.write(`[shutdown] SIGTERM during the join: exit ${code} after ${took} ms (shutdown timeout ${shutdownTimeoutMs} ms)\n`);
    expect(code, second.output()).toBe(0);
    expect(took).toBeLessThan(shutdownTimeoutMs);
    expect(second.output()).not.toContain('Restarting the consumer');
    expect(second.output()).not.toContain('partitions assigned');
    // It never held a partition: the group's offsets are member 1's.
    expect(await committed()).toBe(before);
  } finally {
    if (second.child.exitCode === null && second.child.signalCode === null) second.child.kill('SIGKILL');
    await admin.disconnect();
  }
}, 120_000);
