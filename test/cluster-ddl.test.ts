/** The cluster variant of the schema is generated from the same migrations and is valid ClickHouse SQL. */
import { afterAll, expect, it } from 'vitest';
import { schemaPath } from '../schemas/index.js';
import { loadMigrations } from '../sinks/clickhouse/migrate.js';
import { clusterStatements } from '../sinks/clickhouse/cluster.js';
import { openEmbedded, sqlString, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { chPath, uniqueName } from './helpers.js';

let conn: ClickHouseConnection | undefined;
afterAll(async () => conn?.close());

it('every statement runs ON CLUSTER with a Replicated engine, CDRs get a Distributed table sharded by subscriber, and ClickHouse parses it all', async () => {
  const migrations = loadMigrations(schemaPath('ddl'));
  const sql = clusterStatements(migrations, 'cdr_cluster');
  const local = migrations.flatMap((m) => m.statements);
  expect(sql.length).toBeGreaterThan(local.length);
  for (const s of sql) expect(s).toContain("ON CLUSTER 'cdr_cluster'");
  const creates = sql.filter((s) => s.startsWith('CREATE TABLE') && !s.includes('Distributed('));
  expect(creates.length).toBe(local.filter((s) => s.startsWith('CREATE TABLE')).length);
  for (const s of creates) expect(s).toMatch(/ENGINE = Replicated\w*MergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\w+', '\{replica\}'/);
  expect(sql).toContain("CREATE TABLE IF NOT EXISTS cdrs_all ON CLUSTER 'cdr_cluster' AS cdrs ENGINE = Distributed('cdr_cluster', currentDatabase(), cdrs, cityHash64(served_msisdn))");
  // ALTERs reach the Distributed table too, so cdrs_all has the rating columns.
  expect(sql.filter((s) => s.startsWith('ALTER TABLE cdrs_all')).length).toBe(local.filter((s) => s.startsWith('ALTER TABLE cdrs')).length);
  // ReplacingMergeTree keeps its version column after the Keeper path and replica.
  expect(sql.find((s) => s.includes('IF NOT EXISTS cdrs ON'))).toContain("'{replica}', _ingested_at)");
  conn = await openEmbedded({ path: chPath(), database: uniqueName('cluster') });
  for (const s of sql) {
    const [r] = await conn.query<{ q: string }>(`SELECT formatQuery(${sqlString(s)}) AS q`);
    expect(r!.q.length, s.slice(0, 60)).toBeGreaterThan(0);
  }
});
