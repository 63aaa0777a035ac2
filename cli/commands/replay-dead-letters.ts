/** `cdr-pipeline replay-dead-letters`: its options, help and action. */
import { common, configFrom, loggerFor, out, isoArg, intArg, UsageError, type Command } from '../command.js';
import { ConfigError, kafkaSecurity } from '../../pipeline/config.js';

export const replayDeadLetters: Command = {
  summary: 're-publish dead letters (original bytes) after a fix',
  usage: 'cdr-pipeline replay-dead-letters [--code C[,C]] [--since ISO] [--until ISO] [--topic T] [--limit N] [--dry-run] [--force]',
  options: { ...common, code: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, topic: { type: 'string' }, limit: { type: 'string' }, 'dry-run': { type: 'boolean' }, force: { type: 'boolean' } },
  help: `Selects dead letters from ClickHouse (table dead_letters) and re-publishes their original key and value bytes
to Kafka, so the running pipeline processes them again once the cause is fixed (a schema registered, a
migration applied, a switch repaired). Every replay is recorded in dead_letter_replays and a dead letter is
not replayed twice unless --force. SINK_REJECTED dead letters hold decoded JSON, not source bytes, and are
not replayed. Records carry the headers cdr-replay-of (topic/partition/offset) and cdr-replay-code.

    --code C[,C]      only these codes (docs/ERRORS.md; an unknown code is a usage error, exit 2); default all
    --since ISO       dead since this time (e.g. 2026-11-01T00:00:00Z)
    --until ISO       dead before this time
    --topic T         publish here (default: each dead letter's own topic; needed for file sources)
    --limit N         at most N (default 1000000)
    --dry-run         count what would be replayed, publish nothing
    --force           replay even dead letters replayed before`,
  async run(values) {
    const { replayDeadLetters, parseReplayCodes } = await import('../../operations/replay-dead-letters.js');
    let codes: string[] = [];
    try {
      if (values.code !== undefined) codes = parseReplayCodes(String(values.code));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const sinceMs = isoArg(values.since, 'since');
    const untilMs = isoArg(values.until, 'until');
    const limit = intArg(values.limit, 1_000_000, 'limit');
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    if (cfg.kafka.brokers.length === 0 && values['dry-run'] !== true) throw new ConfigError(['no Kafka brokers: set KAFKA_BROKERS or kafka.brokers']);
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const conn = await connectClickHouse(cfg);
    try {
      await applyMigrations(conn, log);
      const r = await replayDeadLetters(conn, {
        brokers: cfg.kafka.brokers,
        security: kafkaSecurity(cfg),
        targetTopic: typeof values.topic === 'string' ? values.topic : undefined,
        codes,
        sinceMs,
        untilMs,
        limit,
        force: values.force === true,
        dryRun: values['dry-run'] === true,
        log,
      });
      out(`${values['dry-run'] === true ? 'would replay' : 'replayed'} ${values['dry-run'] === true ? r.selected : r.published} dead letters${Object.keys(r.byTopic).length ? ': ' + Object.entries(r.byTopic).map(([t, n]) => `${n} to ${t}`).join(', ') : ''}`);
    } finally {
      await conn.close();
    }
    return 0;
  },
};
