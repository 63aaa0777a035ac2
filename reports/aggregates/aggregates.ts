/**
 * The pre-aggregates agg_usage_daily and agg_traffic_hourly (schemas/ddl/0008_aggregates.sql), refreshed by
 * recomputing whole UTC days from `cdrs FINAL` and swapping each day in atomically, so a replayed, duplicated
 * or re-rated CDR never counts twice (docs/RECONCILIATION.md "Pre-aggregates"):
 *
 *   1. per day, read the fingerprint of cdrs (row count, newest _ingested_at) BEFORE computing: a row that
 *      lands during the computation changes the fingerprint, so the day reads stale afterwards;
 *   2. INSERT the day's groups (reports/aggregates/sql/*.sql over cdrs FINAL) into a scratch table
 *      made `AS` the aggregate (same engine, partition key and order: what REPLACE PARTITION requires);
 *   3. the aggregates are partitioned by month (schemas/ddl/0021): the other days of each month touched are
 *      copied from the aggregate into the scratch table, then ALTER TABLE agg REPLACE PARTITION <month> FROM
 *      scratch: readers see the old day or the new one, never a mix and never both; a month left without rows
 *      is dropped (ClickHouse 26 refuses to replace from an empty partition). The copy is of aggregate rows
 *      (5-10x fewer than CDRs), never a recomputation of the month;
 *   4. record the fingerprint in agg_refreshes, drop the scratch tables.
 */
import { randomBytes } from 'node:crypto';
import type { Log } from '../../schemas/index.js';
import type { ClickHouseConnection } from '../../sinks/clickhouse/connection.js';
import { bindSql, loadSqlFile } from '../../sinks/clickhouse/sql-files.js';

/** This capability's SQL files, beside its code (package-root relative): analysts run the same files. */
export const SQL_DIR = 'reports/aggregates/sql';

const DAY_MS = 86_400_000;

/** The aggregate tables and the SELECT that computes each (file under reports/aggregates/sql/). */
export const AGGREGATES = [
  { table: 'agg_usage_daily', sql: 'usage_daily.sql', day: 'day' },
  { table: 'agg_traffic_hourly', sql: 'traffic_hourly.sql', day: 'toDate(hour)' },
  // Every number of ours in use per day and role (served party, PBX extension): the "line in use" convention.
  { table: 'agg_line_use_daily', sql: 'line_use_daily.sql', day: 'day' },
] as const;

export interface DayFingerprint {
  day: string;
  cdrRows: number;
  maxIngestedAt: string;
  stale: boolean;
  /** Built with another reference snapshot than the one in force (or before any): stale for that reason. */
  referenceStale: boolean;
  /** The snapshot the day was built with ('' = none, or never refreshed). */
  builtWithReference: string;
}

export interface RefreshResult {
  /** Days recomputed (YYYY-MM-DD). */
  days: string[];
  usageRows: number;
  trafficRows: number;
  seconds: number;
}

/** `YYYY-MM-DD` of a UTC epoch-ms instant. */
export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The UTC days [fromDay, toDay) as YYYY-MM-DD. */
export function daysBetween(fromDay: string, toDay: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${fromDay}T00:00:00Z`); t < Date.parse(`${toDay}T00:00:00Z`); t += DAY_MS) out.push(isoDay(t));
  return out;
}

/** First day of a `YYYY-MM` period and of the next month. */
export function periodDays(period: string): { fromDay: string; toDay: string } {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(period);
  if (!m) throw new RangeError(`a period is YYYY-MM, got "${period}"`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  return { fromDay: `${m[1]}-${m[2]}-01`, toDay: isoDay(Date.UTC(mo === 12 ? y + 1 : y, mo === 12 ? 0 : mo, 1)) };
}

/**
 * Fingerprints of the days in [fromDay, toDay) that have CDRs or were aggregated with CDRs: `stale` when the
 * CDRs changed since the last refresh of the day (or it was never refreshed).
 */
export async function dayFingerprints(conn: ClickHouseConnection, fromDay: string, toDay: string): Promise<DayFingerprint[]> {
  const rows = await conn.query<{ day: string; cdr_rows: string; max_ingested_at: string; stale: number; reference_stale: number; built_with_reference: string }>(
    bindSql(loadSqlFile(SQL_DIR, 'day_fingerprints.sql'), { from_day: fromDay, to_day: toDay }),
  );
  return rows.map((r) => ({ day: r.day, cdrRows: Number(r.cdr_rows), maxIngestedAt: r.max_ingested_at, stale: Number(r.stale) === 1, referenceStale: Number(r.reference_stale) === 1, builtWithReference: r.built_with_reference }));
}

/** The stale days of [fromDay, toDay) (default: every day that has CDRs or aggregates). */
export async function staleDays(conn: ClickHouseConnection, fromDay = '1970-01-01', toDay = '2200-01-01'): Promise<string[]> {
  return (await dayFingerprints(conn, fromDay, toDay)).filter((d) => d.stale).map((d) => d.day);
}

/**
 * Stale days of [fromDay, toDay) with the reason: `cdrs` (their CDRs changed, or they were never aggregated) or
 * `reference` (built with an older reference snapshot, or before any: `reference import` since).
 */
export async function staleDaysWithReason(conn: ClickHouseConnection, fromDay = '1970-01-01', toDay = '2200-01-01'): Promise<{ day: string; reason: 'cdrs' | 'reference' }[]> {
  return (await dayFingerprints(conn, fromDay, toDay)).filter((d) => d.stale).map((d) => ({ day: d.day, reason: d.referenceStale ? 'reference' : 'cdrs' }));
}

/** The reference snapshot in force ('' when none was imported). */
async function currentReference(conn: ClickHouseConnection): Promise<string> {
  const [r] = await conn.query<{ version: string }>('SELECT version FROM ref_current_version');
  return r?.version ?? '';
}

/** Recomputes the given UTC days (YYYY-MM-DD) of the aggregates from cdrs FINAL. */
export async function refreshDays(conn: ClickHouseConnection, days: readonly string[], log?: Log): Promise<RefreshResult> {
  const t0 = performance.now();
  const result: RefreshResult = { days: [...days].sort(), usageRows: 0, trafficRows: 0, seconds: 0 };
  if (days.length === 0) return result;
  // Contiguous runs of days are computed by one INSERT ... SELECT each (a month is one scan of its partition).
  for (const [fromDay, toDay] of runsOf(result.days)) {
    const prints = new Map((await dayFingerprints(conn, fromDay, toDay)).map((p) => [p.day, p]));
    // Read before computing, like the CDR fingerprint: a snapshot imported meanwhile leaves the day stale.
    const reference = await currentReference(conn);
    const refreshedAt = new Date().toISOString().replace('T', ' ').replace('Z', '');
    const suffix = `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    const scratch = AGGREGATES.map((a) => `${a.table}__refresh_${suffix}`);
    try {
      for (const [i, a] of AGGREGATES.entries()) {
        await conn.command(`CREATE TABLE ${scratch[i]} AS ${a.table}`);
        await conn.command(`INSERT INTO ${scratch[i]} ${bindSql(loadSqlFile(SQL_DIR, a.sql), { from_day: fromDay, to_day: toDay, refreshed_at: refreshedAt })}`);
      }
      const counts = await Promise.all(
        AGGREGATES.map(async (a, i) => new Map((await conn.query<{ d: string; n: string }>(`SELECT toString(${a.day}) AS d, count() AS n FROM ${scratch[i]} GROUP BY d`)).map((r) => [r.d, Number(r.n)]))),
      );
      // Partitions by month (schemas/ddl/0021) or by day: a monthly table gets the days of each touched month
      // outside [fromDay, toDay) copied as they are, so the swap replaces exactly the recomputed days.
      const monthly = await monthlyAggregates(conn);
      for (const [i, a] of AGGREGATES.entries()) {
        const ids = monthly.has(a.table) ? [...new Set(daysBetween(fromDay, toDay).map((d) => d.slice(0, 7).replace('-', '')))] : daysBetween(fromDay, toDay).map((d) => d.replaceAll('-', ''));
        for (const id of ids) {
          let n = counts[i]!.get(`${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6)}`) ?? 0;
          if (monthly.has(a.table)) {
            await conn.command(`INSERT INTO ${scratch[i]} SELECT * FROM ${a.table} WHERE toYYYYMM(${a.day}) = ${id} AND NOT (${a.day} >= toDate('${fromDay}') AND ${a.day} < toDate('${toDay}'))`);
            const [row] = await conn.query<{ n: string }>(`SELECT count() AS n FROM ${scratch[i]} WHERE toYYYYMM(${a.day}) = ${id}`);
            n = Number(row?.n ?? 0);
          }
          await conn.command(n > 0 ? `ALTER TABLE ${a.table} REPLACE PARTITION ID '${id}' FROM ${scratch[i]}` : `ALTER TABLE ${a.table} DROP PARTITION ID '${id}'`);
        }
      }
      for (const day of daysBetween(fromDay, toDay)) {
        const p = prints.get(day);
        const usage = counts[0]!.get(day) ?? 0;
        const traffic = counts[1]!.get(day) ?? 0;
        result.usageRows += usage;
        result.trafficRows += traffic;
        await conn.insert(
          'agg_refreshes',
          JSON.stringify({ day, cdr_rows: p?.cdrRows ?? 0, max_ingested_at: p && p.cdrRows > 0 ? p.maxIngestedAt.replace('T', ' ').replace('Z', '') : '1970-01-01 00:00:00', reference_version: reference, usage_rows: usage, traffic_rows: traffic, refreshed_at: refreshedAt }) + '\n',
        );
      }
    } finally {
      for (const s of scratch) await conn.command(`DROP TABLE IF EXISTS ${s}`).catch(() => undefined);
    }
    log?.info({ fromDay, toDay, usageRows: result.usageRows, trafficRows: result.trafficRows }, 'aggregates refreshed');
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** The aggregates partitioned by month (toYYYYMM), as opposed to by day (toYYYYMMDD): system.tables says. */
async function monthlyAggregates(conn: ClickHouseConnection): Promise<Set<string>> {
  const rows = await conn.query<{ name: string; partition_key: string }>(
    `SELECT name, partition_key FROM system.tables WHERE database = currentDatabase() AND name IN (${AGGREGATES.map((a) => `'${a.table}'`).join(', ')})`,
  );
  return new Set(rows.filter((r) => /toYYYYMM\(/.test(r.partition_key)).map((r) => r.name));
}

/** Refreshes the stale days of [fromDay, toDay) (default: all). */
export async function refreshStale(conn: ClickHouseConnection, fromDay?: string, toDay?: string, log?: Log): Promise<RefreshResult> {
  await dropOrphanScratch(conn, log);
  return refreshDays(conn, await staleDays(conn, fromDay, toDay), log);
}

/** A refresh that takes longer than this is not running any more: its scratch tables are orphans. */
const ORPHAN_AFTER_MS = 6 * 3600_000;

/**
 * Drops scratch tables a killed refresh left behind (`<aggregate>__refresh_<time36>_<random>`, normally dropped
 * in refreshDays' finally). Only those created more than six hours ago: another process may be refreshing now.
 */
export async function dropOrphanScratch(conn: ClickHouseConnection, log?: Log, nowMs = Date.now()): Promise<string[]> {
  const rows = await conn.query<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = currentDatabase() AND (${AGGREGATES.map((a) => `startsWith(name, '${a.table}__refresh_')`).join(' OR ')})`,
  );
  const dropped: string[] = [];
  for (const { name } of rows) {
    const created = parseInt(name.slice(name.indexOf('__refresh_') + '__refresh_'.length).split('_')[0] ?? '', 36);
    if (!Number.isFinite(created) || nowMs - created < ORPHAN_AFTER_MS) continue;
    await conn.command(`DROP TABLE IF EXISTS ${name}`);
    dropped.push(name);
  }
  if (dropped.length > 0) log?.warn({ tables: dropped }, 'dropped scratch tables of an interrupted aggregate refresh');
  return dropped;
}

/** Sorted days -> [from, to) runs of consecutive days. */
function runsOf(days: readonly string[]): [string, string][] {
  const runs: [string, string][] = [];
  for (const d of days) {
    const next = isoDay(Date.parse(`${d}T00:00:00Z`) + DAY_MS);
    const last = runs[runs.length - 1];
    if (last && last[1] === d) last[1] = next;
    else runs.push([d, next]);
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------------------
// Periodic refresh inside `cdr-pipeline run`

export interface AggregateRefresherOptions {
  /** Time between the end of one refresh and the start of the next (aggregates.refreshIntervalMs), > 0. */
  intervalMs: number;
  /**
   * At most this many days per INSERT ... SELECT (default 7): a first refresh of a long history is split into
   * bounded statements, and stop() waits for one of them at most. (cdrs is ordered by subscriber, so a day's
   * rows are spread over its month's partition: one statement per day would scan the month each time.)
   */
  maxDaysPerQuery?: number;
  log: Log;
  /** After each successful refresh: what was recomputed (also when nothing was stale). */
  onRefresh?(result: RefreshResult): void;
  /** After each failed refresh; the refresher keeps going and tries again after the interval. */
  onError?(err: Error, seconds: number): void;
}

/**
 * Refreshes the stale days of the pre-aggregates every `intervalMs`, beside the ingest path: it runs on its own
 * timer, never awaits or is awaited by the runner, and a failure is logged and reported (onError) and retried
 * at the next interval, never thrown. Refreshes never overlap: the next one is scheduled when the last ends.
 * Whole-day recomputation from cdrs FINAL (refreshDays) makes a refresh that races with new inserts, with
 * `report reconcile` or with `cdr-pipeline aggregate` on another host harmless: a day written from older
 * CDRs keeps an older fingerprint and is simply stale again next time.
 */
export class AggregateRefresher {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<RefreshResult | undefined> | undefined;
  private stopped = false;

  constructor(
    private readonly conn: ClickHouseConnection,
    private readonly opts: AggregateRefresherOptions,
  ) {
    if (!(opts.intervalMs > 0)) throw new RangeError('AggregateRefresher needs an interval > 0');
  }

  /** Schedules the first refresh one interval from now (start-up and catching up on Kafka lag come first). */
  start(): void {
    this.schedule();
  }

  /** One refresh now (also what the timer runs). Resolves to what was refreshed, or undefined after a failure. */
  refreshNow(): Promise<RefreshResult | undefined> {
    if (this.inFlight) return this.inFlight;
    const run = this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    this.inFlight = run;
    return run;
  }

  /** No further refresh starts; waits for the one in flight to finish its current statement batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refreshNow().then(() => this.schedule());
    }, this.opts.intervalMs);
    // The timer alone never keeps the process alive (a stopped runner ends `run`).
    this.timer.unref();
  }

  private async refresh(): Promise<RefreshResult | undefined> {
    const t0 = performance.now();
    const { log } = this.opts;
    const per = Math.max(1, this.opts.maxDaysPerQuery ?? 7);
    try {
      const days = await staleDays(this.conn);
      const total: RefreshResult = { days: [], usageRows: 0, trafficRows: 0, seconds: 0 };
      for (let i = 0; i < days.length && !this.stopped; i += per) {
        const r = await refreshDays(this.conn, days.slice(i, i + per), log);
        total.days.push(...r.days);
        total.usageRows += r.usageRows;
        total.trafficRows += r.trafficRows;
      }
      total.seconds = (performance.now() - t0) / 1000;
      if (total.days.length) log.info({ days: total.days.length, first: total.days[0], last: total.days[total.days.length - 1], usageRows: total.usageRows, trafficRows: total.trafficRows, seconds: total.seconds }, 'periodic aggregate refresh');
      else log.debug({ seconds: total.seconds }, 'periodic aggregate refresh: nothing stale');
      this.opts.onRefresh?.(total);
      return total;
    } catch (err) {
      const seconds = (performance.now() - t0) / 1000;
      log.error({ err: (err as Error).message, seconds, nextInMs: this.stopped ? null : this.opts.intervalMs }, 'periodic aggregate refresh failed; ingestion is not affected, retrying after the interval');
      this.opts.onError?.(err as Error, seconds);
      return undefined;
    }
  }
}
