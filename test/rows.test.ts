/** The positional CDR row carries exactly the columns the DDL has, and stores the same data as JSONEachRow. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, RATED_COLUMNS, cdrRowCompact, cdrRowJson } from '../sinks/clickhouse/rows.js';
import { chPath, uniqueName } from './helpers.js';

let conn: ClickHouseConnection | undefined;
afterAll(async () => conn?.close());

it('rated rows: every key the rating stage sets is a column, positional and keyed inserts store the same rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rows-'));
  const start = Date.UTC(2026, 9, 5, 6);
  const traffic = createTraffic({ seed: 8, subscribers: 300, startMs: start, endMs: start + 3 * 3_600_000, scenarios: 'all' });
  writeReference(dir, traffic.reference());
  const records = [...traffic.records()];
  const make = (): SourcedCdr[] => records.map((cdr, i) => ({ cdr, topic: 't', partition: 1, offset: String(i) }));
  const rated = make();
  createRatingStage(dir, '').rateBatch(rated);
  const keys = new Set<string>();
  for (const r of rated) for (const k of Object.keys(r.rated!)) keys.add(k);
  expect([...keys].sort()).toEqual([...RATED_COLUMNS].sort());

  conn = await openEmbedded({ path: chPath(), database: uniqueName('rows') });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  const ddl = (await conn.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${conn.database}' AND table = 'cdrs'`)).map((c) => c.name);
  // Every inserted column exists; the only ones not inserted are filled by ClickHouse.
  expect(CDR_INSERT_COLUMNS.filter((c) => !ddl.includes(c))).toEqual([]);
  expect(ddl.filter((c) => !CDR_INSERT_COLUMNS.includes(c))).toEqual(['_ingested_at']);

  await conn.command('CREATE TABLE cdrs_keyed AS cdrs');
  // 50 more CDRs without rating (other record ids: a key seen twice in one block collapses on insert).
  const unrated = make().slice(0, 50).map((u) => ({ ...u, cdr: { ...u.cdr, recordId: `${u.cdr.recordId}-u` }, partition: 2, offset: String(1_000_000 + Number(u.offset)) }));
  const all = rated.concat(unrated);
  await conn.insert('cdrs', all.map(cdrRowCompact).join(''), {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
  await conn.insert('cdrs_keyed', all.map(cdrRowJson).join(''));
  const dump = async (t: string) => (await conn!.query<Record<string, unknown>>(`SELECT * EXCEPT _ingested_at FROM ${t} ORDER BY _offset`)).map((r) => JSON.stringify(r));
  const a = await dump('cdrs');
  expect(a).toHaveLength(rated.length + 50);
  expect(a).toEqual(await dump('cdrs_keyed'));
  // A CDR without rating is stored NOT_RATED (the column default), never RATED at zero.
  const [nr] = await conn.query<{ n: string; unrated: string }>("SELECT countIf(rating_status = 'NOT_RATED') AS n, countIf(_partition = 2) AS unrated FROM cdrs");
  expect(Number(nr!.n)).toBe(50);
  expect(Number(nr!.unrated)).toBe(50);
});
