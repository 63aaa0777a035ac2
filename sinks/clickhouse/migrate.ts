/**
 * Schema as migrations: schemas/ddl/NNNN_name.sql applied in order, each recorded in schema_migrations
 * with a checksum. Idempotent: applied versions are skipped, and a changed file that was already applied is
 * refused (a migration is never edited after release; add a new one).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClickHouseConnection } from './connection.js';

export interface Migration {
  version: number;
  name: string;
  statements: string[];
  checksum: string;
}

export function loadMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const text = readFileSync(join(dir, file), 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.replace(/\.sql$/, ''),
        statements: splitStatements(text),
        checksum: createHash('sha256').update(text).digest('hex').slice(0, 16),
      };
    });
}

/** Splits on `;` at the end of a line, ignoring `--` comment lines (our DDL files keep to that form). */
export function splitStatements(text: string): string[] {
  const withoutComments = text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

export async function migrate(conn: ClickHouseConnection, migrations: Migration[]): Promise<MigrationResult> {
  await conn.command(
    `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version`,
  );
  const done = new Map(
    (await conn.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations FINAL')).map((r) => [Number(r.version), r.checksum]),
  );
  const result: MigrationResult = { applied: [], skipped: [] };
  for (const m of migrations) {
    const prior = done.get(m.version);
    if (prior !== undefined) {
      if (prior !== m.checksum) {
        throw new Error(`migration ${m.name} was changed after it was applied (checksum ${prior} in the database, ${m.checksum} on disk); add a new migration instead`);
      }
      result.skipped.push(m.name);
      continue;
    }
    for (const stmt of m.statements) await conn.command(stmt);
    await conn.insert('schema_migrations', JSON.stringify({ version: m.version, name: m.name, checksum: m.checksum }) + '\n');
    result.applied.push(m.name);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Retention (issue #17 item 5): TTL per table from configuration (`retention.*`, pipeline/config.ts), applied
// after the migrations by `cdr-pipeline migrate` and by `run` (clickhouse.migrateOnStart). docs/components/
// clickhouse-sink.md "Retention" says what each setting keeps and why.

/** Days to keep, per kind of data; 0 = keep forever (no TTL). */
export interface Retention {
  /** cdrs (by seizure time) and agg_refreshes, the record of which CDR days the aggregates saw. */
  cdrsDays: number;
  /** dead_letters (by dead-letter time; they hold the original bytes) and dead_letter_replays. */
  deadLettersDays: number;
  /** fraud_alerts, by the alert's last activity (last_seen). */
  fraudAlertsDays: number;
  /** The pre-aggregates agg_usage_daily, agg_traffic_hourly, agg_line_use_daily (by day or hour); at most cdrsDays. */
  aggregatesDays: number;
  /** port_responses (port-out answers, an audit record: who asked for which numbers, what we answered), by answered_at. */
  portResponsesDays: number;
  /** care_adjustments (credits given, an audit record of money: who, why, how much), by requested_at. */
  careAdjustmentsDays: number;
  /**
   * usage_notifications, from the end of the notification's billing period; longer than cdrsDays: a notification
   * that expired while CDRs of its period remain would be found again and sent twice (the notifier's first check
   * after a start reads every stored period).
   */
  usageNotificationsDays: number;
}

/**
 * 3 years of CDRs, fraud alerts and aggregates; 90 days of dead letters; 7 years of the audit records (port
 * answers, care adjustments: the retention of financial and regulatory records); usage notifications 30 days
 * beyond their CDRs (see usageNotificationsDays).
 */
export const DEFAULT_RETENTION: Readonly<Retention> = {
  cdrsDays: 1095,
  deadLettersDays: 90,
  fraudAlertsDays: 1095,
  aggregatesDays: 1095,
  portResponsesDays: 2555,
  careAdjustmentsDays: 2555,
  usageNotificationsDays: 1125,
};

/** The TTL of each table under a retention: the expression as ClickHouse prints it in engine_full, or '' for none. */
export function retentionTtls(r: Retention): { table: string; ttl: string }[] {
  const ttl = (column: string, days: number) => (days > 0 ? `${column} + toIntervalDay(${days})` : '');
  return [
    { table: 'cdrs', ttl: ttl('toDateTime(seizure_time)', r.cdrsDays) },
    // agg_refreshes describes CDR days: it must outlive neither the CDRs (a day whose record expired but whose
    // CDRs remain reads stale and is recomputed) nor be dropped before them.
    { table: 'agg_refreshes', ttl: ttl('day', r.cdrsDays) },
    { table: 'dead_letters', ttl: ttl('toDateTime(dead_at)', r.deadLettersDays) },
    { table: 'dead_letter_replays', ttl: ttl('toDateTime(replayed_at)', r.deadLettersDays) },
    { table: 'fraud_alerts', ttl: ttl('toDateTime(last_seen)', r.fraudAlertsDays) },
    { table: 'agg_usage_daily', ttl: ttl('day', r.aggregatesDays) },
    { table: 'agg_traffic_hourly', ttl: ttl('hour', r.aggregatesDays) },
    { table: 'agg_line_use_daily', ttl: ttl('day', r.aggregatesDays) },
    { table: 'port_responses', ttl: ttl('toDateTime(answered_at)', r.portResponsesDays) },
    // Both rows of an adjustment (queued, decided) carry the same requested_at: they expire together.
    { table: 'care_adjustments', ttl: ttl('toDateTime(requested_at)', r.careAdjustmentsDays) },
    // From the first day after the period (crossed_at lies in it): the whole period expires at once, after its CDRs.
    { table: 'usage_notifications', ttl: ttl('addMonths(toStartOfMonth(crossed_at), 1)', r.usageNotificationsDays) },
  ];
}

/** Problems with a retention (empty when valid): whole days, aggregates no longer than the CDRs they come from. */
export function retentionProblems(r: Retention): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(r)) if (!Number.isInteger(v) || v < 0) problems.push(`retention.${k}: expected a whole number of days >= 0, got ${String(v)}`);
  // An aggregate day whose CDRs expired is stale (its CDRs changed) and a refresh would drop it: aggregates
  // cannot outlive the CDRs they are recomputed from.
  if (r.cdrsDays > 0 && (r.aggregatesDays === 0 || r.aggregatesDays > r.cdrsDays)) problems.push(`retention.aggregatesDays (${r.aggregatesDays || 'forever'}) must not exceed retention.cdrsDays (${r.cdrsDays}): an aggregate day is recomputed from its CDRs`);
  // A notification that expired while CDRs of its period remain is found again and sent a second time: it must
  // outlive the period's CDRs (expired whole months, ttl_only_drop_parts, so strictly longer).
  if (r.usageNotificationsDays > 0 && (r.cdrsDays === 0 || r.usageNotificationsDays <= r.cdrsDays)) problems.push(`retention.usageNotificationsDays (${r.usageNotificationsDays}) must be longer than retention.cdrsDays (${r.cdrsDays || 'forever'}), or 0: a notification whose period still has CDRs would be sent again`);
  return problems;
}

/**
 * Brings each table's TTL to the retention: ALTER TABLE ... MODIFY TTL (or REMOVE TTL) where engine_full differs,
 * nothing where it agrees, so running it again changes nothing. materialize_ttl_after_modify = 0: no part is
 * rewritten now; expired parts are dropped as merges and the TTL merge timer visit them (ttl_only_drop_parts,
 * 0022), so the ALTER is cheap on a large table. Tables that do not exist (yet) are skipped.
 * Returns the tables changed.
 */
export async function applyRetention(conn: ClickHouseConnection, r: Retention): Promise<string[]> {
  const problems = retentionProblems(r);
  if (problems.length) throw new RangeError(problems.join('; '));
  const tables = new Map(
    (await conn.query<{ name: string; engine_full: string }>(`SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()`)).map((t) => [t.name, t.engine_full]),
  );
  const changed: string[] = [];
  for (const { table, ttl } of retentionTtls(r)) {
    const engine = tables.get(table);
    if (engine === undefined) continue;
    const current = / TTL (.*?)(?: SETTINGS |$)/.exec(engine)?.[1] ?? '';
    if (current === ttl) continue;
    if (ttl === '') await conn.command(`ALTER TABLE ${table} REMOVE TTL`);
    else await conn.command(`ALTER TABLE ${table} MODIFY TTL ${ttl}`, { materialize_ttl_after_modify: 0 });
    changed.push(table);
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------------------
// Roles (issue #17 item 5): schemas/ddl/roles/roles.sql, with {database} replaced. Not part of the numbered
// migrations: creating roles needs access management (a server user with access_management = 1), which the
// pipeline's own user should not have and embedded ClickHouse (chDB) does not offer. `cdr-pipeline migrate
// --roles` prints them for clickhouse-client (README "Access").

/** The role statements for a database, in order (CREATE ROLE, then the GRANTs). */
export function roleStatements(dir: string, database: string): string[] {
  if (!/^\w+$/.test(database)) throw new RangeError(`database name ${database} is not a plain identifier`);
  return splitStatements(readFileSync(join(dir, 'roles', 'roles.sql'), 'utf8').replaceAll('{database}', database));
}
