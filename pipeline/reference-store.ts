/**
 * Reference data in ClickHouse (migration 0005): `cdr-pipeline reference import DIR` stores a validated
 * snapshot of the files, and rating can read the newest complete snapshot instead of files
 * (rating.referenceSource = clickhouse), reloading when a newer one is imported.
 */
import { COLUMNS, type OperatorRecord } from '../schemas/reference.js';
import type { Log } from '../schemas/index.js';
import { loadReferenceDir, REFERENCE_TABLES, type ReferenceData } from '../enrich/reference.js';
import { createRatingStageFrom, type RatingBatchStage, type WatchedRatingStage } from '../enrich/rate/stage.js';
import { sqlString as quote, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';

const snake = (s: string) => s.replace(/([A-Z])/g, '_$1').toLowerCase();
const table = (t: string) => `ref_${snake(t)}`;

/** Imports the files of DIR as one snapshot; a snapshot already imported (same version) is not imported twice. */
export async function importReference(conn: ClickHouseConnection, dir: string, log: Log): Promise<{ version: string; imported: boolean; rows: Record<string, number> }> {
  const ref = loadReferenceDir(dir);
  const [done] = await conn.query<{ n: string }>(`SELECT count() AS n FROM reference_versions WHERE version = ${quote(ref.version)}`);
  const rows: Record<string, number> = {};
  if (Number(done?.n ?? 0) > 0) return { version: ref.version, imported: false, rows };
  // Rows of an interrupted import of this version are removed first, so the snapshot is whole.
  for (const t of [...REFERENCE_TABLES, 'operator']) await conn.command(`DELETE FROM ${table(t)} WHERE version = ${quote(ref.version)}`);
  await conn.insert('ref_operator', JSON.stringify({ version: ref.version, operator_json: JSON.stringify(ref.operator) }) + '\n');
  for (const t of REFERENCE_TABLES) {
    const cols = COLUMNS[t] as readonly string[];
    const records = ref[t] as unknown as Record<string, unknown>[];
    for (let i = 0; i < records.length; i += 50_000) {
      const body = records
        .slice(i, i + 50_000)
        .map((r) => {
          const o: Record<string, unknown> = { version: ref.version };
          for (const c of cols) o[snake(c)] = r[c] ?? null;
          return JSON.stringify(o) + '\n';
        })
        .join('');
      if (body) await conn.insert(table(t), body);
    }
    rows[t] = records.length;
  }
  // Last: the row that makes the snapshot current.
  await conn.insert('reference_versions', JSON.stringify({ version: ref.version, source: dir, row_counts: rows }) + '\n');
  log.info({ version: ref.version, rows }, 'reference data imported');
  return { version: ref.version, imported: true, rows };
}

export async function currentReferenceVersion(conn: ClickHouseConnection): Promise<string | undefined> {
  const [r] = await conn.query<{ version: string }>('SELECT version FROM ref_current_version');
  return r?.version ? r.version : undefined;
}

/** Reads the snapshot `version` (default: the newest complete one) back into ReferenceData. */
export async function loadReferenceFromClickHouse(conn: ClickHouseConnection, version?: string): Promise<ReferenceData> {
  const v = version ?? (await currentReferenceVersion(conn));
  if (!v) throw new Error('no reference data in ClickHouse: run `cdr-pipeline reference import DIR` first');
  const [op] = await conn.query<{ operator_json: string }>(`SELECT operator_json FROM ref_operator WHERE version = ${quote(v)} LIMIT 1`);
  if (!op) throw new Error(`reference snapshot ${v} has no operator`);
  const data: Record<string, unknown[]> = {};
  for (const t of REFERENCE_TABLES) {
    const cols = COLUMNS[t] as readonly string[];
    const rows = await conn.query<Record<string, unknown>>(`SELECT ${cols.map((c) => `${snake(c)} AS ${c}`).join(', ')} FROM ${table(t)} WHERE version = ${quote(v)}`);
    for (const r of rows) {
      for (const c of cols) {
        const x = r[c];
        // UInt64 comes back quoted (64-bit ints never travel as JSON numbers); Decimal as an exact string.
        if (c === 'cellId' && typeof x === 'string') r[c] = Number(x);
      }
    }
    data[t] = rows;
  }
  return { dir: `clickhouse:${v}`, version: v, operator: JSON.parse(op.operator_json) as OperatorRecord, ...(data as unknown as Omit<ReferenceData, 'dir' | 'version' | 'operator'>) };
}

/** Rating from the newest snapshot in ClickHouse, swapped when a newer snapshot is imported. */
export async function watchClickHouseRatingStage(conn: ClickHouseConnection, tariffFile: string, intervalMs: number, events: { onReload?: (s: RatingBatchStage) => void; onError?: (err: Error) => void } = {}): Promise<WatchedRatingStage & { checkAsync(): Promise<boolean> }> {
  let stage = createRatingStageFrom(await loadReferenceFromClickHouse(conn), tariffFile);
  let seen = stage.reference.version;
  let busy = false;
  const checkAsync = async () => {
    if (busy) return false;
    busy = true;
    try {
      const v = await currentReferenceVersion(conn);
      if (!v || v === seen) return false;
      seen = v;
      stage = createRatingStageFrom(await loadReferenceFromClickHouse(conn, v), tariffFile);
      events.onReload?.(stage);
      return true;
    } catch (err) {
      events.onError?.(err as Error);
      return false;
    } finally {
      busy = false;
    }
  };
  const timer = intervalMs > 0 ? setInterval(() => void checkAsync(), intervalMs) : undefined;
  timer?.unref();
  return { current: () => stage, check: () => (void checkAsync(), false), checkAsync, stop: () => clearInterval(timer) };
}
