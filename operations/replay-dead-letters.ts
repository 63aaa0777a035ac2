/**
 * `cdr-pipeline replay-dead-letters`: re-injects dead letters after a fix (a corrected schema, a migrated
 * table, a repaired switch), by re-publishing their original key and value bytes to a topic the pipeline
 * consumes. Each replay is recorded in dead_letter_replays, so a dead letter is replayed once unless --force.
 * Records that fail again simply become new dead letters (with the replay's coordinates).
 */
import { DeadLetterCode, type Log } from '../schemas/index.js';
import { KafkaSink } from '../sinks/kafka.js';
import type { KafkaSecurity } from '../schemas/security.js';
import { sqlString as quote, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { epochMsToCh } from '../sinks/clickhouse/rows.js';

export interface ReplayOptions {
  brokers: string[];
  /** TLS and SASL of the cluster (kafka.ssl*, kafka.sasl*). */
  security?: KafkaSecurity | undefined;
  /** Where to publish; default: the dead letter's own topic (file-sourced ones need a topic). */
  targetTopic: string | undefined;
  codes: string[];
  sinceMs: number | undefined;
  untilMs: number | undefined;
  limit: number;
  force: boolean;
  dryRun: boolean;
  log: Log;
}

interface Row {
  topic: string;
  partition: string;
  offset: string;
  code: string;
  record_timestamp: string;
  key_base64: string | null;
  value_base64: string | null;
}


/** SINK_REJECTED values are the decoded CDR as JSON, not the source bytes: not replayable onto an Avro topic. */
export const UNREPLAYABLE_CODES: readonly string[] = [DeadLetterCode.SINK_REJECTED];

/**
 * The `--code` list as codes (docs/ERRORS.md): a name that is no DeadLetterCode, or one that is never
 * replayed, is an error naming the valid ones (a typo would otherwise select nothing and report "replayed 0").
 */
export function parseReplayCodes(text: string): string[] {
  const codes = text.split(',').map((c) => c.trim()).filter(Boolean);
  const known = new Set<string>(Object.values(DeadLetterCode));
  const valid = [...known].filter((c) => !UNREPLAYABLE_CODES.includes(c)).sort();
  const bad = codes.filter((c) => !known.has(c) || UNREPLAYABLE_CODES.includes(c));
  if (codes.length === 0) throw new ReplayCodeError(`--code expects one or more codes separated by commas; valid codes: ${valid.join(', ')}`);
  if (bad.length > 0) throw new ReplayCodeError(`--code: ${bad.map((c) => (UNREPLAYABLE_CODES.includes(c) ? `${c} (never replayed: its value is not the source bytes)` : `unknown code ${JSON.stringify(c)}`)).join(', ')}; valid codes: ${valid.join(', ')}`);
  return [...new Set(codes)];
}

export class ReplayCodeError extends Error {
  override name = 'ReplayCodeError';
}

export async function replayDeadLetters(conn: ClickHouseConnection, o: ReplayOptions): Promise<{ selected: number; published: number; byTopic: Record<string, number> }> {
  const where = ['1'];
  if (o.codes.length) where.push(`d.code IN (${o.codes.map(quote).join(', ')})`);
  if (o.sinceMs !== undefined) where.push(`d.dead_at >= toDateTime64(${epochMsToCh(o.sinceMs)}, 3, 'UTC')`);
  if (o.untilMs !== undefined) where.push(`d.dead_at < toDateTime64(${epochMsToCh(o.untilMs)}, 3, 'UTC')`);
  // SINK_REJECTED values are the decoded CDR as JSON, not the source bytes: not replayable onto an Avro topic.
  where.push(`d.code != 'SINK_REJECTED'`);
  if (!o.force) where.push('(d.topic, d.partition, d.offset) NOT IN (SELECT topic, partition, offset FROM dead_letter_replays)');
  const rows = await conn.query<Row>(
    `SELECT d.topic AS topic, d.partition AS partition, d.offset AS offset, d.code AS code, toUnixTimestamp64Milli(d.record_timestamp) AS record_timestamp, d.key_base64 AS key_base64, d.value_base64 AS value_base64
     FROM dead_letters AS d FINAL WHERE ${where.join(' AND ')} ORDER BY d.topic, d.partition, d.offset LIMIT ${Math.floor(o.limit)}`,
  );
  const byTopic: Record<string, number> = {};
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const target = o.targetTopic ?? (r.topic.startsWith('file:') ? undefined : r.topic);
    if (!target) throw new Error(`dead letter from ${r.topic} has no Kafka topic to return to: pass --topic`);
    groups.set(target, [...(groups.get(target) ?? []), r]);
    byTopic[target] = (byTopic[target] ?? 0) + 1;
  }
  if (o.dryRun || rows.length === 0) return { selected: rows.length, published: 0, byTopic };
  const sink = new KafkaSink({ brokers: o.brokers, security: o.security, clientId: 'cdr-pipeline-replay', log: o.log });
  await sink.connect();
  let published = 0;
  try {
    for (const [target, list] of groups) {
      for (let i = 0; i < list.length; i += 1000) {
        const chunk = list.slice(i, i + 1000);
        await sink.send(
          target,
          chunk.map((r) => ({
            key: r.key_base64 === null ? null : Buffer.from(r.key_base64, 'base64'),
            value: Buffer.from(r.value_base64 ?? '', 'base64'),
            headers: { 'cdr-replay-of': `${r.topic}/${r.partition}/${r.offset}`, 'cdr-replay-code': r.code },
          })),
        );
        // Recorded after the broker acknowledged: a crash in between can replay a chunk twice, never lose one
        // (and the CDR table collapses a CDR stored twice).
        await conn.insert(
          'dead_letter_replays',
          chunk.map((r) => JSON.stringify({ topic: r.topic, partition: Number(r.partition), offset: r.offset, code: r.code, target_topic: target }) + '\n').join(''),
        );
        published += chunk.length;
      }
    }
  } finally {
    await sink.disconnect();
  }
  return { selected: rows.length, published, byTopic };
}
