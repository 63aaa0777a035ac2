/**
 * Dead letters are re-injected after a fix: a too-strict limit dead-letters good CDRs; once the limit is
 * fixed, `replay-dead-letters` re-publishes their original bytes, the pipeline stores them, and a second
 * replay publishes nothing.
 */
import { expect, inject, it } from 'vitest';
import { ensureTopic } from '../ingest/kafka.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { produceCdrs } from '../simulators/produce.js';
import { replayDeadLetters } from '../operations/replay-dead-letters.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');

it('replays dead letters after a fix: every CDR ends stored once, nothing replayed twice', async () => {
  const name = uniqueName('replay');
  const base = loadConfig({ env: {} });
  const cfg = (maxDurationMs: number): Config => ({
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, deadLetterTopic: '' },
    decode: { ...base.decode, maxDurationMs },
    clickhouse: { ...base.clickhouse, path: chPath(), database: name },
    sink: { ...base.sink, flushIntervalMs: 100 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  });
  await ensureTopic(brokers, name, 2, quietLog);
  const produced = await produceCdrs({ brokers, topic: name, records: 4000, corrupt: 0, generator: { seed: 9, subscribers: 300, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, log: quietLog });

  // A limit of 2 minutes: every longer call is dead-lettered as INVALID_DURATION.
  let p = await startPipeline(cfg(120_000), quietLog);
  const count = async () => {
    const [r] = await p.conn.query<{ c: string; d: string }>("SELECT (SELECT count() FROM cdrs FINAL) AS c, (SELECT count() FROM dead_letters FINAL WHERE code = 'INVALID_DURATION') AS d");
    return { cdrs: Number(r!.c), dead: Number(r!.d) };
  };
  const first = await waitFor('first pass stored', async () => {
    const c = await count();
    return c.cdrs + c.dead === produced.produced && c;
  });
  expect(first.dead).toBeGreaterThan(100);
  await p.stop();

  // The fix: the default limit. Restart, then replay.
  p = await startPipeline(cfg(base.decode.maxDurationMs), quietLog);
  try {
    const opts = { brokers, targetTopic: undefined, codes: ['INVALID_DURATION'], sinceMs: undefined, untilMs: undefined, limit: 1_000_000, force: false, log: quietLog };
    expect((await replayDeadLetters(p.conn, { ...opts, dryRun: true })).selected).toBe(first.dead);
    const r1 = await replayDeadLetters(p.conn, { ...opts, dryRun: false });
    expect(r1.published).toBe(first.dead);
    expect(r1.byTopic).toEqual({ [name]: first.dead });
    await waitFor('replayed CDRs stored', async () => (await count()).cdrs === produced.produced);
    const ids = await p.conn.query<{ n: string }>('SELECT uniqExact(record_id) AS n FROM cdrs');
    expect(Number(ids[0]!.n)).toBe(produced.produced);
    // Nothing is replayed twice without --force.
    expect((await replayDeadLetters(p.conn, { ...opts, dryRun: false })).published).toBe(0);
    expect((await replayDeadLetters(p.conn, { ...opts, dryRun: true, force: true })).selected).toBe(first.dead);
  } finally {
    await p.stop();
  }
});
