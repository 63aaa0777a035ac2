/**
 * Billing reconciliation end to end on real ClickHouse (chDB), and the same query suite through the server
 * connection (@clickhouse/client -> test/clickhouse-endpoint.ts): a generated month of traffic is billed by
 * the invoice generator with two injected errors of every kind (simulators/billing/billing.ts), rated with the inventory
 * the pipeline sees and stored; reference data, invoice lines and benchmark rates are imported; then
 * `report reconcile` must report every labelled finding with its exact amount and nothing else.
 * The expectation comes from the labels alone: a finding per label, and for the usage comparison the sum of
 * the labels' effects per account and service, flagged where it exceeds the tolerance.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import { FINDING_KINDS, type BillingLabel } from '../schemas/billing.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { defaultTariffPath, loadTariffBook } from '../enrich/rate/index.js';
import { openEmbedded, openServer, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, cdrRowCompact } from '../sinks/clickhouse/rows.js';
import { bindSql, loadSqlFile } from '../sinks/clickhouse/sql-files.js';
import { importReference } from '../pipeline/reference-store.js';
import { BillingGenerator, benchmarksFromTariffs, referenceDataOf, type BillingResult } from '../simulators/billing/billing.js';
import { importBenchmarks, importInvoices, invoiceWriter, InvoiceFileError } from '../reports/reconciliation/invoices.js';
import { reconcile, sumMoney, RECONCILE_SETTINGS, type Finding, type Reconciliation } from '../reports/reconciliation/reconcile.js';
import { startClickHouseEndpoint, type ClickHouseEndpoint } from './clickhouse-endpoint.js';
import { chPath, quietLog, uniqueName } from './helpers.js';

const PERIOD = '2026-10';
const TOLERANCE = '0.01';
const UNUSED_DAYS = 30;
const dir = mkdtempSync(join(tmpdir(), 'reconcile-'));
const invoiceFile = join(dir, 'invoices.csv');
const database = uniqueName('recon');
let conn: ClickHouseConnection;
let endpoint: ClickHouseEndpoint | undefined;
let billing: BillingResult;
let cdrCount = 0;
let report: Reconciliation;

beforeAll(async () => {
  // A month of traffic (UTC calendar month = the billing period), small population.
  const traffic = createTraffic({ seed: 11, subscribers: 300, startMs: Date.UTC(2026, 9, 1), endMs: Date.UTC(2026, 10, 1), scenarios: 'none' });
  const tables = traffic.reference();
  const writer = invoiceWriter(invoiceFile);
  const gen = new BillingGenerator({ reference: referenceDataOf(tables), tariffFile: '', seed: 11, errorsPerKind: 2, unusedDays: UNUSED_DAYS, periods: [PERIOD], emit: writer.emit });
  const cdrs = [];
  for (const batch of traffic.batches(10_000)) {
    gen.addBatch(batch);
    cdrs.push(...batch);
  }
  billing = gen.finish();
  writer.close();
  cdrCount = cdrs.length;
  // The pipeline's view of the inventory (the CSR's), with the injected inventory errors.
  writeReference(join(dir, 'reference'), { ...tables, lines: () => billing.csrLines, features: () => billing.csrFeatures });
  const stage = createRatingStage(join(dir, 'reference'), '');

  conn = await openEmbedded({ path: chPath(), database });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  for (let i = 0; i < cdrs.length; i += 50_000) {
    const batch: SourcedCdr[] = cdrs.slice(i, i + 50_000).map((cdr, k) => ({ cdr, topic: 'cdr.raw', partition: 0, offset: String(i + k) }));
    stage.rateBatch(batch);
    await conn.insert('cdrs', batch.map(cdrRowCompact).join(''), {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
  }
  await importReference(conn, join(dir, 'reference'), quietLog);
  await importInvoices(conn, invoiceFile, quietLog);
  await importBenchmarks(conn, benchmarksFromTariffs(loadTariffBook(defaultTariffPath())), 'tariff book');
  report = await reconcile(conn, { period: PERIOD, tolerance: TOLERANCE, unusedDays: UNUSED_DAYS });
}, 240_000);

afterAll(async () => {
  await endpoint?.close();
  await conn?.close();
});

/** Identity of a finding: what an analyst would act on. */
const keyOf = (f: Pick<Finding, 'kind' | 'account_id' | 'msisdn' | 'record_id' | 'service' | 'feature_code'>) => {
  switch (f.kind) {
    case 'over-billed':
    case 'under-billed':
      return `${f.kind} ${f.account_id} ${f.service}`;
    case 'unused-line':
    case 'missing-from-inventory':
      return `${f.kind} ${f.account_id} ${f.msisdn}`;
    case 'unused-feature':
      return `${f.kind} ${f.account_id} ${f.msisdn} ${f.feature_code}`;
    default:
      return `${f.kind} ${f.account_id} ${f.msisdn} ${f.record_id}`;
  }
};

/** What the labels say the report must contain: key -> exact amount. */
function expectedFindings(labels: readonly BillingLabel[]): Map<string, string> {
  const out = new Map<string, string>();
  const usage = new Map<string, string[]>();
  for (const l of labels) {
    for (const i of l.impact) {
      const k = `${l.account_id} ${i.service}`;
      usage.set(k, [...(usage.get(k) ?? []), i.amount]);
    }
    // Over- and under-billing are found through the usage comparison below.
    if (l.kind !== 'over-billed' && l.kind !== 'under-billed') out.set(keyOf({ ...l }), l.amount);
  }
  const tol = BigInt(TOLERANCE.replace('.', '')) * 10_000n;
  for (const [k, parts] of usage) {
    const sum = sumMoney(parts);
    const micros = BigInt(sum.replace('.', '').replace('-', ''));
    if (micros <= tol) continue;
    const [account, service] = k.split(' ');
    out.set(keyOf({ kind: sum.startsWith('-') ? 'under-billed' : 'over-billed', account_id: account!, service: service!, msisdn: '', record_id: '', feature_code: '' }), sum.replace('-', ''));
  }
  return out;
}

const actual = (r: Reconciliation) => new Map(r.findings.map((f) => [keyOf(f), f.amount]));

describe('billing reconciliation (embedded ClickHouse)', () => {
  it('the invoice generator injects two errors of every kind, each in its own account', () => {
    const injected = billing.labels.filter((l) => l.origin === 'injected');
    for (const kind of FINDING_KINDS) expect(injected.filter((l) => l.kind === kind).length, kind).toBe(2);
    expect(new Set(injected.map((l) => l.account_id)).size).toBe(injected.length);
    expect(cdrCount).toBeGreaterThan(100_000);
    expect(billing.lines).toBeGreaterThan(20_000);
  });

  it('reports every labelled finding with its exact amount, and nothing else', () => {
    const expected = expectedFindings(billing.labels);
    const got = actual(report);
    // Every injected error of every kind is there ...
    for (const l of billing.labels) {
      if (l.kind === 'over-billed' || l.kind === 'under-billed') {
        expect(report.findings.some((f) => f.kind === l.kind && f.account_id === l.account_id && f.service === l.service), `${l.kind} ${l.account_id}`).toBe(true);
      } else expect(got.get(keyOf(l)), `${l.kind} ${l.account_id} ${l.msisdn} ${l.record_id}`).toBe(l.amount);
    }
    // ... and the report is exactly what the labels imply: no clean account flagged, amounts to the micro-unit.
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...expected].sort()));
    const tainted = new Set(billing.labels.map((l) => l.account_id));
    expect(report.findings.filter((f) => !tainted.has(f.account_id))).toEqual([]);
    // The summary adds up the detail.
    for (const s of report.summary) {
      const of = report.findings.filter((f) => f.kind === s.kind);
      expect(s.findings, s.kind).toBe(of.length);
      expect(s.amount, s.kind).toBe(sumMoney(of.map((f) => f.amount)));
      expect(s.findings, s.kind).toBeGreaterThanOrEqual(s.kind === 'over-billed' || s.kind === 'under-billed' ? 1 : 2);
    }
    // The lines removed from the inventory are the only unrated CDRs (UNKNOWN_ACCOUNT).
    expect(report.unratedRecords).toBeGreaterThan(0);
    const injected = billing.labels.filter((l) => l.origin === 'injected');
    const found = injected.filter((l) => (l.kind === 'over-billed' || l.kind === 'under-billed' ? report.findings.some((f) => f.kind === l.kind && f.account_id === l.account_id && f.service === l.service) : got.get(keyOf(l)) === l.amount));
    process.stdout.write(
      `[reconcile] ${PERIOD}: ${cdrCount} CDRs, ${billing.lines} invoice lines; injected errors found with their exact amount ${found.length} of ${injected.length} (${FINDING_KINDS.length} kinds), natural labels ${billing.labels.length - injected.length}; findings ${report.findings.length} (the labels imply ${expected.size}), in accounts without a label ${report.findings.filter((f) => !tainted.has(f.account_id)).length}\n`,
    );
  });

  it('every clean account and service compares equal to the micro-unit', () => {
    const tainted = new Set(billing.labels.map((l) => l.account_id));
    const clean = report.usage.filter((u) => !tainted.has(u.account_id));
    expect(clean.length).toBeGreaterThan(100);
    for (const u of clean) expect(u.difference, `${u.account_id} ${u.service}`).toMatch(/^0(\.0+)?$/);
  });

  it('the usage comparison from the pre-aggregate equals the same query on raw rows (cdrs FINAL)', async () => {
    const params = { period: PERIOD, tolerance: TOLERANCE };
    const agg = await conn.query(bindSql(loadSqlFile('reports/reconciliation/sql', 'usage.sql'), params), RECONCILE_SETTINGS);
    const raw = await conn.query(bindSql(loadSqlFile('reports/reconciliation/sql', 'usage_raw.sql'), params), RECONCILE_SETTINGS);
    expect(agg.length).toBeGreaterThan(100);
    expect(agg).toEqual(raw);
  });

  it('a second report refreshes nothing and says the same', async () => {
    const again = await reconcile(conn, { period: PERIOD, tolerance: TOLERANCE, unusedDays: UNUSED_DAYS });
    expect(report.refreshed!.days.length).toBe(31);
    expect(again.refreshed!.days).toEqual([]);
    expect(again.findings).toEqual(report.findings);
  });

  it('the tolerance and the unused-line window are parameters', async () => {
    // A tolerance above every injected difference leaves no usage finding; the record findings stay.
    const loose = await reconcile(conn, { period: PERIOD, tolerance: '1000', unusedDays: UNUSED_DAYS, refresh: false });
    expect(loose.findings.filter((f) => f.kind === 'over-billed' || f.kind === 'under-billed')).toEqual([]);
    expect(loose.findings.filter((f) => f.kind === 'leakage')).toEqual(report.findings.filter((f) => f.kind === 'leakage'));
    // One day of silence is enough to call a line unused only if it was silent on the last day of the month.
    const lastDay = await reconcile(conn, { period: PERIOD, tolerance: TOLERANCE, unusedDays: 1, refresh: false });
    expect(lastDay.findings.filter((f) => f.kind === 'unused-line').length).toBeGreaterThanOrEqual(2);
  });

  it('importing the same invoice file twice changes nothing; a corrected export replaces its invoices', async () => {
    const count = async () => (await conn.query<{ rows: string; total: string }>('SELECT count() AS rows, toString(sum(amount)) AS total FROM invoice_lines'))[0]!;
    const before = await count();
    const second = await importInvoices(conn, invoiceFile, quietLog);
    expect(second.alreadyImported).toBe(true);
    expect(await count()).toEqual(before);

    // A corrected export of one invoice (one line withdrawn, one amount changed) replaces that invoice only.
    const text = readFileSync(invoiceFile, 'utf8').trimEnd().split('\n');
    const header = text[0]!;
    const acc = billing.labels.find((l) => l.kind === 'double-billed')!.account_id;
    const lines = text.slice(1).filter((l) => l.split(',')[1] === acc);
    expect(lines.length).toBeGreaterThan(3);
    const corrected = [header, ...lines.slice(0, -1)].join('\n') + '\n';
    const file2 = join(dir, 'corrected.csv');
    writeFileSync(file2, corrected);
    const r = await importInvoices(conn, file2, quietLog);
    expect(r.replaced).toBe(lines.length);
    expect(r.lines).toBe(lines.length - 1);
    const [inv] = await conn.query<{ n: string }>(`SELECT count() AS n FROM invoice_lines FINAL WHERE account_id = '${acc}'`);
    expect(Number(inv!.n)).toBe(lines.length - 1);
    // Restore the original export for the other tests.
    const back = join(dir, 'original-again.csv');
    writeFileSync(back, [header, ...lines].join('\n') + '\n');
    expect((await importInvoices(conn, back, quietLog)).replaced).toBe(lines.length - 1);
  });

  it('rejects a bad invoice file with the line number of every problem and imports nothing', async () => {
    const rows = readFileSync(invoiceFile, 'utf8').split('\n');
    const bad = [...rows.slice(0, 6)];
    const cells = (i: number) => bad[i]!.split(',');
    const set = (i: number, col: number, v: string) => {
      const c = cells(i);
      c[col] = v;
      bad[i] = c.join(',');
    };
    set(2, 15, '1.5e3'); // amount, a float
    set(3, 2, '2026-13'); // period
    set(4, 5, 'refund'); // charge_type
    set(5, 3, '0'); // line_no
    const file = join(dir, 'bad.csv');
    writeFileSync(file, bad.join('\n') + '\n' + rows[6] + '\n' + rows[6] + '\n');
    const before = await conn.query('SELECT count() AS n FROM invoice_lines');
    const err = await importInvoices(conn, file, quietLog).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvoiceFileError);
    const problems = (err as InvoiceFileError).problems;
    expect(problems).toEqual([
      expect.stringMatching(/^line 3: amount must be an exact decimal amount/),
      expect.stringMatching(/^line 4: period must be YYYY-MM/),
      expect.stringMatching(/^line 5: charge_type must be one of/),
      expect.stringMatching(/^line 6: line_no must be a whole number/),
      expect.stringMatching(/^line 8: invoice .* line_no .* appears twice/),
    ]);
    expect(await conn.query('SELECT count() AS n FROM invoice_lines')).toEqual(before);
    writeFileSync(file, 'invoice_id,amount\nX,1\n');
    expect(((await importInvoices(conn, file, quietLog).catch((e: unknown) => e)) as InvoiceFileError).problems[0]).toMatch(/^line 1: header lacks account_id, period/);
  });
});

describe('billing reconciliation through the server connection (@clickhouse/client)', () => {
  it('the same query suite returns the same report', async () => {
    endpoint = await startClickHouseEndpoint({ path: chPath() });
    const server = await openServer({ url: endpoint.url, username: 'default', password: '', database, requestTimeoutMs: 60_000, createDatabase: false });
    try {
      // Migrations again through the server: nothing to apply.
      const m = await migrate(server, loadMigrations(schemaPath('ddl')));
      expect(m.applied).toEqual([]);
      const viaServer = await reconcile(server, { period: PERIOD, tolerance: TOLERANCE, unusedDays: UNUSED_DAYS });
      const embedded = await reconcile(conn, { period: PERIOD, tolerance: TOLERANCE, unusedDays: UNUSED_DAYS, refresh: false });
      expect(viaServer.refreshed!.days).toEqual([]);
      expect(viaServer.findings).toEqual(embedded.findings);
      expect(viaServer.usage).toEqual(embedded.usage);
      expect(viaServer.summary).toEqual(embedded.summary);
      expect(actual(viaServer)).toEqual(actual(report));
    } finally {
      await server.close();
    }
  });
});
