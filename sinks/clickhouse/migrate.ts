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
