/**
 * `cdr-pipeline bench --reconcile`: the query-speed benchmark of issue #5 item 6. Fills embedded ClickHouse
 * with a month of generated, rated CDRs (default 10M, inserted in big positional batches), bills them with the
 * invoice generator (labelled errors included), imports reference data, invoices and benchmark rates,
 * refreshes the pre-aggregates, then times, medians of several runs:
 *   - the usage comparison reading the pre-aggregate (reports/reconciliation/sql/usage.sql) against the
 *     same comparison on raw rows (usage_raw.sql, cdrs FINAL), checking both give the same rows;
 *   - the whole monthly reconciliation (every section; the record-level checks read cdrs FINAL by design).
 * The traffic is generated twice (the generator is deterministic): once to bill it, which decides the
 * inventory errors, once to rate it with the inventory the pipeline sees and store it, so ten million CDRs
 * never sit in memory. Results: a JSON file and a block in docs/BENCHMARKS.md ("Reconciliation").
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageRoot, type Log, type SourcedCdr } from '../../schemas/index.js';
import type { BillingLabel } from '../../schemas/billing.js';
import { createTraffic, writeReference } from '../../simulators/traffic/index.js';
import { createRatingStage } from '../../enrich/rate/stage.js';
import { defaultTariffPath, loadTariffBook } from '../../enrich/rate/index.js';
import { openEmbedded } from '../../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, cdrRowCompact } from '../../sinks/clickhouse/rows.js';
import { bindSql, loadSqlFile } from '../../sinks/clickhouse/sql-files.js';
import { schemaPath } from '../../schemas/index.js';
import { BillingGenerator, benchmarksFromTariffs, referenceDataOf } from '../../simulators/billing/billing.js';
import { importBenchmarks, importInvoices, invoiceWriter } from '../../reports/reconciliation/invoices.js';
import { importReference } from '../../pipeline/reference-store.js';
import { refreshDays, daysBetween } from '../../reports/aggregates/aggregates.js';
import { reconcile, RECONCILE_SETTINGS, SQL_DIR as RECONCILE_SQL_DIR, type Finding } from '../../reports/reconciliation/reconcile.js';

export interface ReconcileBenchOptions {
  /** Target CDRs for the month (the population is sized for it). */
  records: number;
  runs: number;
  dataDir: string;
  out: string | undefined;
  doc: boolean;
  /** Keep the ClickHouse data directory afterwards. */
  keep: boolean;
}

const PERIOD = '2026-10';
const START = Date.UTC(2026, 9, 1);
const END = Date.UTC(2026, 10, 1);
/** CDRs per home line in October with the default clean traffic (measured: 300 lines -> 187k CDRs). */
const CDRS_PER_LINE_MONTH = 623;
const BATCH = 200_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface ReconcileBenchResult {
  when: string;
  machine: string;
  cdrs: number;
  lines: number;
  invoiceLines: number;
  seconds: { billGenerate: number; rateStore: number; imports: number; aggregateRefresh: number };
  sizes: Record<string, { rows: number; bytes: number }>;
  usageAggregateMs: number;
  usageRawMs: number;
  usageRuns: { aggregate: number[]; raw: number[] };
  /** The rated side of the comparison alone, from the aggregate and from cdrs FINAL, and the billed side. */
  ratedSideMs: { aggregate: number; raw: number; billed: number };
  sameRows: boolean;
  usageRows: number;
  reconcileMs: number;
  sectionMs: Record<string, number>;
  stalenessCheckMs: number;
  findings: number;
  labels: { labelled: number; reported: number; unexpected: number };
}

export async function runReconcileBench(o: ReconcileBenchOptions, log: Log, print: (line: string) => void): Promise<ReconcileBenchResult> {
  const subscribers = Math.max(10, Math.round(o.records / CDRS_PER_LINE_MONTH));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const work = join(o.dataDir, `reconcile-${stamp}`);
  mkdirSync(work, { recursive: true });
  const refDir = join(work, 'reference');
  const invoiceFile = join(work, 'invoices.csv');
  const options = { seed: 7, subscribers, startMs: START, endMs: END, scenarios: 'none' as const };
  const t = (t0: number) => (performance.now() - t0) / 1000;
  print(`reconciliation benchmark: ${subscribers} lines, October 2026 (target ${o.records} CDRs), data in ${work}`);

  // 1. Bill the month (decides the inventory errors) and write the invoice lines.
  let t0 = performance.now();
  const first = createTraffic(options);
  const tables = first.reference();
  const writer = invoiceWriter(invoiceFile);
  const gen = new BillingGenerator({ reference: referenceDataOf(tables), tariffFile: '', seed: options.seed, errorsPerKind: 2, unusedDays: 30, periods: [PERIOD], emit: writer.emit });
  let cdrs = 0;
  for (const b of first.batches(50_000)) {
    gen.addBatch(b);
    cdrs += b.length;
  }
  const billing = gen.finish();
  writer.close();
  writeReference(refDir, { ...tables, lines: () => billing.csrLines, features: () => billing.csrFeatures });
  const billSeconds = t(t0);
  print(`  generated and billed ${cdrs} CDRs in ${billSeconds.toFixed(0)} s: ${billing.lines} invoice lines, ${billing.labels.length} labels`);

  // 2. Generate again, rate with the pipeline's inventory, store in big positional batches.
  const conn = await openEmbedded({ path: join(work, 'clickhouse'), database: 'bench' });
  try {
    await migrate(conn, loadMigrations(schemaPath('ddl')));
    t0 = performance.now();
    const stage = createRatingStage(refDir, '');
    let offset = 0;
    let pending: Promise<void> | undefined;
    for (const b of createTraffic(options).batches(BATCH)) {
      const batch: SourcedCdr[] = b.map((cdr) => ({ cdr, topic: 'cdr.raw', partition: 0, offset: String(offset++) }));
      stage.rateBatch(batch);
      const body = batch.map(cdrRowCompact).join('');
      await pending;
      pending = conn.insert('cdrs', body, {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
      if (offset % 1_000_000 < BATCH) print(`  stored ${offset} CDRs (${Math.round(offset / t(t0))} CDR/s)`);
    }
    await pending;
    const storeSeconds = t(t0);
    print(`  rated and stored ${offset} CDRs in ${storeSeconds.toFixed(0)} s (${Math.round(offset / storeSeconds)} CDR/s)`);

    t0 = performance.now();
    await importReference(conn, refDir, log);
    const inv = await importInvoices(conn, invoiceFile, log);
    await importBenchmarks(conn, benchmarksFromTariffs(loadTariffBook(defaultTariffPath())), 'tariff book');
    const importSeconds = t(t0);
    print(`  imported reference data, ${inv.lines} invoice lines and benchmark rates in ${importSeconds.toFixed(0)} s`);

    // 3. The aggregates: a full recomputation of the month.
    t0 = performance.now();
    const refresh = await refreshDays(conn, daysBetween('2026-10-01', '2026-11-01'), log);
    const refreshSeconds = t(t0);
    const sizes = await conn.query<{ table: string; rows: string; bytes: string }>(
      `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = 'bench' AND active AND table IN ('cdrs', 'agg_usage_daily', 'agg_traffic_hourly', 'invoice_lines') GROUP BY table ORDER BY table`,
    );
    print(`  aggregates refreshed in ${refreshSeconds.toFixed(1)} s: ${refresh.usageRows} agg_usage_daily rows, ${refresh.trafficRows} agg_traffic_hourly rows`);

    // 4. Timings, medians of o.runs after a warm-up run each.
    const params = { period: PERIOD, tolerance: '0.01' };
    const timeQuery = async (file: string) => {
      const sql = bindSql(loadSqlFile(RECONCILE_SQL_DIR, file), params);
      const rows = await conn.query(sql, RECONCILE_SETTINGS);
      const ms: number[] = [];
      for (let i = 0; i < o.runs; i++) {
        const q0 = performance.now();
        await conn.query(sql, RECONCILE_SETTINGS);
        ms.push(performance.now() - q0);
      }
      return { rows, ms };
    };
    const agg = await timeQuery('usage.sql');
    const raw = await timeQuery('usage_raw.sql');
    const same = JSON.stringify(agg.rows) === JSON.stringify(raw.rows);
    print(`  usage comparison: pre-aggregate ${median(agg.ms).toFixed(0)} ms, raw rows (cdrs FINAL) ${median(raw.ms).toFixed(0)} ms (median of ${o.runs}); same ${agg.rows.length} rows: ${same}`);
    // The rated side alone (the subquery the two files differ in), and the billed side both share.
    const timeSql = async (sql: string) => {
      await conn.query(sql, RECONCILE_SETTINGS);
      const ms: number[] = [];
      for (let i = 0; i < o.runs; i++) {
        const q0 = performance.now();
        await conn.query(sql, RECONCILE_SETTINGS);
        ms.push(performance.now() - q0);
      }
      return median(ms);
    };
    const accounts = `account_id IN (SELECT account_id FROM ref_accounts WHERE version = (SELECT version FROM ref_current_version))`;
    const ratedAgg = await timeSql(`SELECT account_id, service, currency, sum(rated_amount), sum(records) FROM agg_usage_daily WHERE day >= '2026-10-01' AND day < '2026-11-01' AND ${accounts} GROUP BY account_id, service, currency`);
    const ratedRaw = await timeSql(
      `SELECT ifNull(account_id, '') AS account_id, rating_service AS service, currency, sumIf(cost_total, rating_status = 'RATED'), count() FROM cdrs FINAL WHERE seizure_time >= '2026-10-01 00:00:00' AND seizure_time < '2026-11-01 00:00:00' AND ${accounts} GROUP BY account_id, service, currency`,
    );
    const billed = await timeSql(`SELECT account_id, service, currency, sum(amount), count() FROM invoice_lines FINAL WHERE period = '${PERIOD}' AND charge_type IN ('usage', 'surcharge') GROUP BY account_id, service, currency`);
    print(`  rated side alone: pre-aggregate ${ratedAgg.toFixed(0)} ms, cdrs FINAL ${ratedRaw.toFixed(0)} ms; billed side (invoice_lines FINAL) ${billed.toFixed(0)} ms`);
    await reconcile(conn, { period: PERIOD, tolerance: '0.01', unusedDays: 30, refresh: false });
    const whole: number[] = [];
    const sections: Record<string, number[]> = {};
    let last: Awaited<ReturnType<typeof reconcile>> | undefined;
    for (let i = 0; i < o.runs; i++) {
      const q0 = performance.now();
      last = await reconcile(conn, { period: PERIOD, tolerance: '0.01', unusedDays: 30, refresh: false });
      whole.push(performance.now() - q0);
      for (const [k, v] of Object.entries(last.timings)) (sections[k] ??= []).push(v);
    }
    // The staleness check the report runs before reading (nothing stale here).
    const checks: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const q0 = performance.now();
      const r = await reconcile(conn, { period: PERIOD, tolerance: '0.01', unusedDays: 30 });
      checks.push(performance.now() - q0 - Object.values(r.timings).reduce((a, b) => a + b, 0));
    }
    const found = evaluate(billing.labels, last!.findings);
    print(`  whole reconciliation: ${(median(whole) / 1000).toFixed(2)} s (median of ${o.runs}); ${last!.findings.length} findings; labelled findings reported ${found.reported}/${found.labelled}, findings in accounts without a label ${found.unexpected}`);

    const result: ReconcileBenchResult = {
      when: new Date().toISOString(),
      machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()[0]?.toFixed(2)}`,
      cdrs: offset,
      lines: subscribers,
      invoiceLines: inv.lines,
      seconds: { billGenerate: billSeconds, rateStore: storeSeconds, imports: importSeconds, aggregateRefresh: refreshSeconds },
      sizes: Object.fromEntries(sizes.map((s) => [s.table, { rows: Number(s.rows), bytes: Number(s.bytes) }])),
      usageAggregateMs: median(agg.ms),
      usageRawMs: median(raw.ms),
      usageRuns: { aggregate: agg.ms.map(Math.round), raw: raw.ms.map(Math.round) },
      ratedSideMs: { aggregate: ratedAgg, raw: ratedRaw, billed },
      sameRows: same,
      usageRows: agg.rows.length,
      reconcileMs: median(whole),
      sectionMs: Object.fromEntries(Object.entries(sections).map(([k, v]) => [k, median(v)])),
      stalenessCheckMs: median(checks),
      findings: last!.findings.length,
      labels: found,
    };
    const outFile = o.out ?? join('bench-results', `reconcile-${stamp}.json`);
    mkdirSync(join(outFile, '..'), { recursive: true });
    writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    print(`  result: ${outFile}`);
    if (o.doc) appendDoc(result);
    return result;
  } finally {
    await conn.close();
    if (!o.keep) rmSync(work, { recursive: true, force: true });
  }
}

/** Labelled findings (injected or natural) reported with their kind and identity, and findings outside labelled accounts. */
function evaluate(labels: readonly BillingLabel[], findings: readonly Finding[]): { labelled: number; reported: number; unexpected: number } {
  let reported = 0;
  for (const l of labels) {
    const hit = findings.some((f) =>
      l.kind === 'over-billed' || l.kind === 'under-billed'
        ? f.kind === l.kind && f.account_id === l.account_id && f.service === l.service
        : f.kind === l.kind && f.account_id === l.account_id && f.msisdn === l.msisdn && f.record_id === l.record_id && f.feature_code === l.feature_code && f.amount === l.amount,
    );
    if (hit) reported++;
  }
  const accounts = new Set(labels.map((l) => l.account_id));
  return { labelled: labels.length, reported, unexpected: findings.filter((f) => !accounts.has(f.account_id)).length };
}

function appendDoc(r: ReconcileBenchResult): void {
  const doc = join(packageRoot, 'docs', 'BENCHMARKS.md');
  const marker = '<!-- bench:reconcile runs (newest last) -->';
  if (!existsSync(doc) || !readFileSync(doc, 'utf8').includes(marker)) throw new Error(`${doc} has no "${marker}" line to add the run before`);
  const mb = (b: number) => (b / 2 ** 20).toFixed(0);
  const s = r.sizes;
  const sec = r.sectionMs;
  const block =
    `| ${String(r.when).slice(0, 16).replace('T', ' ')} | ${r.cdrs} | ${s.agg_usage_daily?.rows ?? 0} | ${s.invoice_lines?.rows ?? 0} | ${Math.round(r.usageAggregateMs)} | ${Math.round(r.usageRawMs)} | ${(r.usageRawMs / r.usageAggregateMs).toFixed(1)}× | ${Math.round(r.ratedSideMs.aggregate)} / ${Math.round(r.ratedSideMs.raw)} / ${Math.round(r.ratedSideMs.billed)} | ${(r.reconcileMs / 1000).toFixed(2)} | ` +
    `${Object.entries(sec).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')} | ${r.seconds.aggregateRefresh.toFixed(1)} | ${mb(s.cdrs?.bytes ?? 0)} / ${mb(s.agg_usage_daily?.bytes ?? 0)} | ${r.labels.reported}/${r.labels.labelled}, ${r.labels.unexpected} | ${r.machine} |\n`;
  writeFileSync(doc, readFileSync(doc, 'utf8').replace(marker, block + marker));
}
