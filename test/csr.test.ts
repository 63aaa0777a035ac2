/**
 * `report csr` end to end on real ClickHouse (chDB): a generated month billed by the billing simulator with
 * labelled errors (two of every kind, business accounts first for the inventory errors), rated with the
 * inventory the pipeline sees, stored, reference data and invoices imported. The CSR of the labelled accounts
 * must show exactly their labelled audit findings (unused line, unused feature, bill padding, ... with exact
 * amounts) and nothing else, and reconciliation must report the same bill padding. Also: the reference files
 * carry the CSR columns (hashed PIN only), older files without them still load, paging and the 001/052 answers.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import type { BillingLabel } from '../schemas/billing.js';
import { verifyPin, DEVELOPMENT_PIN_KEY } from '../schemas/pin.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { loadReferenceDir } from '../enrich/reference.js';
import { defaultTariffPath, loadTariffBook } from '../enrich/rate/index.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, cdrRowCompact } from '../sinks/clickhouse/rows.js';
import { importReference } from '../pipeline/reference-store.js';
import { BillingGenerator, benchmarksFromTariffs, referenceDataOf, type BillingResult } from '../simulators/billing/billing.js';
import { importBenchmarks, importInvoices, invoiceWriter } from '../reports/reconciliation/invoices.js';
import { reconcile } from '../reports/reconciliation/reconcile.js';
import { buildCsr, paginate, csrSections, renderCsr, CSR_FINDING_QUERIES, type Csr, type CsrOptions } from '../reports/csr/csr.js';
import { chPath, quietLog, uniqueName } from './helpers.js';

const PERIOD = '2026-10';
const dir = mkdtempSync(join(tmpdir(), 'csr-'));
const refDir = join(dir, 'reference');
const database = uniqueName('csr');
let conn: ClickHouseConnection;
let billing: BillingResult;
let accountClass: Map<string, string>;

/** Finding kinds a CSR shows (its reconciliation queries' kinds). */
const CSR_KINDS = new Set(['unused-line', 'unused-feature', 'rate-above-contract', 'rate-above-benchmark', 'misapplied-surcharge', 'bill-padding']);
const opts = (account: string, o: Partial<CsrOptions> = {}): CsrOptions => ({ account, period: PERIOD, unusedDays: 30, rowsPerPage: 40, maxPages: 20, ...o });
const labelKey = (l: { kind: string; msisdn: string; record_id: string; feature_code: string; amount: string }) => `${l.kind} ${l.msisdn} ${l.record_id} ${l.feature_code} ${l.amount}`;

beforeAll(async () => {
  const traffic = createTraffic({ seed: 16, subscribers: 400, startMs: Date.UTC(2026, 9, 1), endMs: Date.UTC(2026, 10, 1), scenarios: 'none' });
  const tables = traffic.reference();
  const invoiceFile = join(dir, 'invoices.csv');
  const writer = invoiceWriter(invoiceFile);
  const gen = new BillingGenerator({ reference: referenceDataOf(tables), tariffFile: '', seed: 16, errorsPerKind: 2, unusedDays: 30, periods: [PERIOD], emit: writer.emit });
  const cdrs = [];
  for (const batch of traffic.batches(10_000)) {
    gen.addBatch(batch);
    cdrs.push(...batch);
  }
  billing = gen.finish();
  writer.close();
  writeReference(refDir, { ...tables, lines: () => billing.csrLines, features: () => billing.csrFeatures });
  accountClass = new Map([...tables.accounts()].map((a) => [a.accountId, a.class]));
  const stage = createRatingStage(refDir, '');
  conn = await openEmbedded({ path: chPath(), database });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  for (let i = 0; i < cdrs.length; i += 50_000) {
    const batch: SourcedCdr[] = cdrs.slice(i, i + 50_000).map((cdr, k) => ({ cdr, topic: 'cdr.raw', partition: 0, offset: String(i + k) }));
    stage.rateBatch(batch);
    await conn.insert('cdrs', batch.map(cdrRowCompact).join(''), {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
  }
  await importReference(conn, refDir, quietLog);
  await importInvoices(conn, invoiceFile, quietLog);
  await importBenchmarks(conn, benchmarksFromTariffs(loadTariffBook(defaultTariffPath())), 'tariff book');
}, 240_000);

afterAll(async () => {
  await conn?.close();
});

const injected = (kind: string) => billing.labels.filter((l) => l.origin === 'injected' && l.kind === kind);

async function csrOf(account: string, o: Partial<CsrOptions> = {}): Promise<Csr> {
  const r = await buildCsr(conn, opts(account, o));
  if ('code' in r) throw new Error(`CSR of ${account} rejected: ${r.code} ${r.reason}`);
  return r;
}

/** A CSR's findings must be exactly the labels of its account (of the kinds a CSR shows). */
function expectOnlyLabels(csr: Csr, account: string): void {
  const want = billing.labels.filter((l: BillingLabel) => l.account_id === account && CSR_KINDS.has(l.kind)).map(labelKey).sort();
  const got = csr.findings.map((f) => labelKey({ ...f, amount: f.amount.replace(/0+$/, '').replace(/\.$/, '') })).sort();
  expect(got).toEqual(want.map((k) => k.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '')));
}

describe('the CSR reference data', () => {
  it('accounts carry billing and service addresses and a hashed PIN, lines their CSR type, plus directory listings', () => {
    const ref = loadReferenceDir(refDir);
    const pbx = ref.lines.filter((l) => l.serviceType === 'pbx-ddi');
    expect(pbx.length).toBeGreaterThan(0);
    expect(pbx.every((l) => /^\d+-\d+$/.test(l.ddiBlock ?? ''))).toBe(true);
    expect(ref.lines.filter((l) => l.lineType === 'mobile').every((l) => l.serviceType === 'mobile')).toBe(true);
    expect(ref.accounts.every((a) => /^hmac-sha256\$[0-9a-f]{16}\$[0-9a-f]{64}$/.test(a.pinHash ?? ''))).toBe(true);
    expect(ref.accounts.some((a) => a.serviceAddressLine !== a.addressLine)).toBe(true);
    expect(ref.directoryListings.length).toBeGreaterThan(0);
    expect(ref.featureCatalogue.find((f) => f.code === 'TSP01')?.chargeKind).toBe('one-off');
    // No file holds a 4-digit PIN next to an account: the hash verifies only with the key.
    const a = ref.accounts[0]!;
    expect(verifyPin('0000', a.pinHash, DEVELOPMENT_PIN_KEY) || verifyPin('0001', a.pinHash, DEVELOPMENT_PIN_KEY)).toBeTypeOf('boolean');
  });

  it('reference files written before the CSR columns still load (the new columns read as null)', () => {
    const old = mkdtempSync(join(tmpdir(), 'csr-old-'));
    for (const f of readdirSync(refDir)) {
      if (f === 'directory-listings.csv') continue;
      let text = readFileSync(join(refDir, f), 'utf8');
      if (f === 'accounts.csv' || f === 'lines.csv' || f === 'feature-catalogue.csv') {
        const drop = f === 'accounts.csv' ? 4 : f === 'lines.csv' ? 2 : 1;
        // The new columns are the last ones and never contain commas in these files' generated values? They may
        // (addresses do not; quoted fields would) -> cut by header count with the CSV reader's rules.
        const rows = text.trimEnd().split('\n');
        text = rows.map((r) => cutLast(r, drop)).join('\n') + '\n';
      }
      writeFileSync(join(old, f), text);
    }
    const ref = loadReferenceDir(old);
    expect(ref.accounts.length).toBeGreaterThan(0);
    expect(ref.accounts.every((a) => a.pinHash === null && a.serviceAddressLine === null)).toBe(true);
    expect(ref.lines.every((l) => l.serviceType === null)).toBe(true);
    expect(ref.directoryListings).toEqual([]);
  });
});

/** Drops the last n fields of a CSV line (fields may be quoted). */
function cutLast(line: string, n: number): string {
  let end = line.length;
  for (let k = 0; k < n; k++) {
    let i = end - 1;
    if (line[i] === '"') {
      i--;
      while (i >= 0 && !(line[i] === '"' && line[i - 1] !== '"')) i -= line[i] === '"' ? 2 : 1;
      i--;
    } else while (i >= 0 && line[i] !== ',') i--;
    end = i;
  }
  return line.slice(0, end);
}

describe('report csr', () => {
  it('the CSR of a business account shows its labelled unused line and nothing else', async () => {
    const label = injected('unused-line').find((l) => accountClass.get(l.account_id) === 'business');
    expect(label).toBeDefined();
    const csr = await csrOf(label!.account_id);
    const line = csr.lines.find((l) => l.msisdn === label!.msisdn);
    expect(line?.verification).toBe('never used');
    expect(csr.findings.some((f) => f.kind === 'unused-line' && f.msisdn === label!.msisdn)).toBe(true);
    expectOnlyLabels(csr, label!.account_id);
    process.stdout.write(`[csr] ${label!.account_id} (${accountClass.get(label!.account_id)}): ${csr.lines.length} lines, ${csr.features.length} features, ${csr.findings.length} findings, money at stake ${csr.moneyAtStake.at(-1)?.amount} ${csr.currency}, ${csr.pages} page(s)\n`);
  });

  it('the CSR of a business account shows its labelled unused feature as not used', async () => {
    const label = injected('unused-feature').find((l) => accountClass.get(l.account_id) === 'business');
    expect(label).toBeDefined();
    const csr = await csrOf(label!.account_id);
    const f = csr.features.find((x) => x.msisdn === label!.msisdn && x.code === label!.feature_code);
    expect(f?.used_in_period).toBe('not used');
    expect(csr.findings.some((x) => x.kind === 'unused-feature' && x.feature_code === label!.feature_code)).toBe(true);
    expectOnlyLabels(csr, label!.account_id);
  });

  it('bill padding injected by the billing simulator is reported by report csr and by report reconcile, exactly', async () => {
    const labels = injected('bill-padding');
    expect(labels.length).toBe(2);
    const rec = await reconcile(conn, { period: PERIOD, tolerance: '0.01', unusedDays: 30 });
    const padding = rec.findings.filter((f) => f.kind === 'bill-padding');
    expect(padding.map((f) => `${f.account_id} ${f.msisdn} ${f.feature_code} ${Number(f.amount)}`).sort()).toEqual(labels.map((l) => `${l.account_id} ${l.msisdn} ${l.feature_code} ${Number(l.amount)}`).sort());
    for (const l of labels) {
      const csr = await csrOf(l.account_id);
      expect(csr.findings.filter((f) => f.kind === 'bill-padding').map((f) => `${f.msisdn} ${f.feature_code} ${Number(f.amount)}`)).toEqual([`${l.msisdn} ${l.feature_code} ${Number(l.amount)}`]);
      expectOnlyLabels(csr, l.account_id);
    }
  });

  it('every labelled account: the CSR findings are its labels, with 0 false findings', async () => {
    const accounts = [...new Set(billing.labels.filter((l) => CSR_KINDS.has(l.kind)).map((l) => l.account_id))].slice(0, 12);
    for (const a of accounts) expectOnlyLabels(await csrOf(a), a);
    expect(CSR_FINDING_QUERIES.length).toBe(5);
  });

  it('an unknown account is answered 001; an account over the page limit 052', async () => {
    expect(await buildCsr(conn, opts('AC99999999'))).toMatchObject({ code: '001' });
    const [label] = injected('unused-line');
    const r = await buildCsr(conn, opts(label!.account_id, { rowsPerPage: 8, maxPages: 1 }));
    expect(r).toMatchObject({ code: '052' });
  });

  it('large accounts page cleanly: no page over its rows, sections continued with their header', async () => {
    const big = [...billing.csrLines.reduce((m, l) => m.set(l.accountId, (m.get(l.accountId) ?? 0) + 1), new Map<string, number>())].sort((a, b) => b[1] - a[1])[0]![0];
    const csr = await csrOf(big, { rowsPerPage: 12 });
    const pages = paginate(csrSections(csr), 12);
    expect(pages.length).toBe(csr.pages);
    for (const p of pages) expect(p.reduce((n, part) => n + 3 + Math.max(1, part.rows.length), 0)).toBeLessThanOrEqual(12);
    const rows = pages.flat().filter((p) => p.section.key === 'lines').reduce((n, p) => n + p.rows.length, 0);
    expect(rows).toBe(csr.lines.length);
    const text = renderCsr(csr, 'table', 12);
    expect(text.match(/=== Customer service record/g)?.length).toBe(csr.pages);
    const html = renderCsr(csr, 'html', 12);
    expect(html.match(/<section class="page">/g)?.length).toBe(csr.pages);
    // The PIN hash never reaches the document.
    const ref = loadReferenceDir(refDir);
    const hash = ref.accounts.find((a) => a.accountId === big)!.pinHash!;
    for (const out of [text, html, renderCsr(csr, 'json', 12), renderCsr(csr, 'csv', 12)]) expect(out).not.toContain(hash.split('$')[2]);
  });
});
