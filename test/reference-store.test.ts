/**
 * Reference data in ClickHouse: a snapshot imported from files reads back as the same data, rates every CDR
 * to the same price, is imported once per version, and a newer snapshot is picked up without a restart.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseMoney } from '../schemas/reference.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { loadReferenceDir } from '../enrich/reference.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import { importReference, loadReferenceFromClickHouse, watchClickHouseRatingStage } from '../pipeline/reference-store.js';
import { chPath, quietLog, uniqueName } from './helpers.js';

let conn: ClickHouseConnection | undefined;
afterAll(async () => conn?.close());

const MONEY = new Set(['monthlyFee', 'monthlyCharge', 'ratePerMinute', 'setupFee']);
const canonical = (rows: object[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, MONEY.has(k) && typeof v === 'string' ? String(parseMoney(v, 6)) : v])));

it('imports a snapshot once, reads it back identically, rates the same, and reloads a newer one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'refstore-'));
  const start = Date.UTC(2026, 9, 5, 6);
  const traffic = createTraffic({ seed: 5, subscribers: 400, startMs: start, endMs: start + 4 * 3_600_000, scenarios: 'all' });
  writeReference(dir, traffic.reference());
  conn = await openEmbedded({ path: chPath(), database: uniqueName('ref') });
  await migrate(conn, loadMigrations(schemaPath('ddl')));

  const first = await importReference(conn, dir, quietLog);
  expect(first.imported).toBe(true);
  expect((await importReference(conn, dir, quietLog)).imported).toBe(false);
  const files = loadReferenceDir(dir);
  const stored = await loadReferenceFromClickHouse(conn);
  expect(stored.version).toBe(files.version);
  expect(stored.operator).toEqual(files.operator);
  for (const t of ['accounts', 'lines', 'plans', 'features', 'featureCatalogue', 'contractedRates', 'numberingPlan', 'cells', 'networks', 'countries', 'holidays'] as const) {
    const key = (r: object) => JSON.stringify(r);
    expect(canonical(stored[t]).map(key).sort(), t).toEqual(canonical(files[t]).map(key).sort());
    expect(first.rows[t]).toBe(files[t].length);
  }

  // Rating from the stored snapshot prices every CDR exactly like rating from the files.
  const fromFiles = createRatingStage(dir, '');
  const watched = await watchClickHouseRatingStage(conn, '', 0);
  const cdrs: SourcedCdr[] = [...traffic.records()].map((cdr, i) => ({ cdr, topic: 't', partition: 0, offset: String(i) }));
  const a: SourcedCdr[] = cdrs.map((c) => ({ ...c }));
  const b: SourcedCdr[] = cdrs.map((c) => ({ ...c }));
  fromFiles.rateBatch(a);
  watched.current().rateBatch(b);
  expect(b.map((x) => x.rated!.cost_total)).toEqual(a.map((x) => x.rated!.cost_total));
  expect(b.every((x) => x.rated!.rating_status === 'RATED')).toBe(true);

  // A newer snapshot (a plan fee changed) is picked up by the next check, without a restart.
  const plans = readFileSync(join(dir, 'plans.csv'), 'utf8');
  writeFileSync(join(dir, 'plans.csv'), plans.replace(/,(\d+\.\d+),/, (_m, fee: string) => `,${(Number(fee) + 1).toFixed(2)},`));
  const second = await importReference(conn, dir, quietLog);
  expect(second.imported).toBe(true);
  expect(second.version).not.toBe(first.version);
  expect(await watched.checkAsync()).toBe(true);
  expect(watched.current().reference.version).toBe(second.version);
  watched.stop();
});
