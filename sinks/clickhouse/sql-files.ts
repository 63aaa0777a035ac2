/**
 * SQL kept in files beside the code that runs them (reports/<capability>/sql/) so analysts run the same queries in clickhouse-client or
 * Grafana that the reports run. A file is one statement with ClickHouse query parameters `{name:Type}`
 * (clickhouse-client --param_name=value). The connection interface has no parameter binding, so bindSql()
 * substitutes each parameter with `CAST('<value>' AS Type)`, which is what the server does with a bound
 * parameter: the value is a quoted string literal, never spliced SQL.
 * Files are read relative to the package root, so they are found from source and from dist/ builds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../schemas/index.js';
import { sqlString } from './connection.js';

/** A SQL file by its path from the package root, e.g. sqlFilePath('reports/reconciliation/sql', 'usage.sql'). */
export function sqlFilePath(...parts: string[]): string {
  return join(packageRoot, ...parts);
}

const cache = new Map<string, string>();

/**
 * The statement of a SQL file: full-line `--` comments dropped (the connection may append a SETTINGS clause
 * after the last line), trailing `;` removed.
 */
export function loadSqlFile(...parts: string[]): string {
  const path = sqlFilePath(...parts);
  let sql = cache.get(path);
  if (sql === undefined) {
    sql = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('--'))
      .join('\n')
      .trim()
      .replace(/;\s*$/, '');
    cache.set(path, sql);
  }
  return sql;
}

const PARAM = /\{(\w+):([^{}]+)\}/g;

/** The parameters a statement uses, with their types, in order of first use. */
export function sqlParams(sql: string): { name: string; type: string }[] {
  const seen = new Map<string, string>();
  for (const m of sql.matchAll(PARAM)) if (!seen.has(m[1]!)) seen.set(m[1]!, m[2]!.trim());
  return [...seen].map(([name, type]) => ({ name, type }));
}

/** Substitutes every `{name:Type}`; a parameter without a value is an error (never an empty string). */
export function bindSql(sql: string, params: Readonly<Record<string, string | number>>): string {
  return sql.replace(PARAM, (_m, name: string, type: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`SQL parameter ${name} (${type.trim()}) has no value`);
    return `CAST(${sqlString(v)} AS ${type.trim()})`;
  });
}
