/**
 * Analyst reports that stay right when reference data changes and when switches follow other conventions
 * (issue #18), on real ClickHouse (chDB) with generated traffic:
 * - aggregates built before `reference import` are stale (built with an older snapshot): a report that reads them
 *   as they are warns and, with --strict, exits 1; the next refresh recomputes them and the inbound-roamer flag
 *   and the audits are right;
 * - the rate audit maps each form docs/RECONCILIATION.md promises (destination id, contract description, roaming
 *   zone, data network / `*`), and lists every line it cannot map (a section and a summary line);
 *   `import invoices`' check lists the unknown destination_class values;
 * - a PBX whose switch writes the trunk's pilot as served party and the extension (DDI) as calling/called number:
 *   its extensions are not unused lines, exactly as with a switch that writes the DDI as served party, and the
 *   subscriber look-up finds the extension's records.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import type { InvoiceLine } from '../schemas/billing.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { defaultTariffPath, loadTariffBook } from '../enrich/rate/index.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, cdrRowCompact } from '../sinks/clickhouse/rows.js';
import { importReference } from '../pipeline/reference-store.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { refreshStale, staleDaysWithReason } from '../reports/aggregates/aggregates.js';
import { importBenchmarks, importInvoices, invoiceWriter, unknownDestinations } from '../reports/reconciliation/invoices.js';
import { destinationNames, rateAuditBenchmarksFromTariffs } from '../reports/reconciliation/benchmarks.js';
import { reconcile, reconcileReport } from '../reports/reconciliation/reconcile.js';
import { lookupSubscriber } from '../reports/subscriber/subscriber.js';
import { chPath, quietLog, uniqueName } from './helpers.js';

const PERIOD = '2026-10';
const START = Date.UTC(2026, 9, 29);
const END = Date.UTC(2026, 10, 1);
const DAYS = ['2026-10-29', '2026-10-30', '2026-10-31'];
const UNUSED_DAYS = 3;
const dir = mkdtempSync(join(tmpdir(), 'reports-reference-'));
const migrations = loadMigrations(schemaPath('ddl'));
const open: ClickHouseConnection[] = [];
const book = loadTariffBook(defaultTariffPath());

afterAll(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

interface Loaded {
  conn: ClickHouseConnection;
  refDir: string;
  cdrs: SourcedCdr[];
  /** PBX lines (trunk group set) of the inventory, and their trunk. */
  pbx: Map<string, string>;
  contractAccount: string;
}

/** A PBX-heavy population over three days, rated and stored; the reference data written (not imported). */
async function load(style: 'ddi' | 'pilot'): Promise<Loaded> {
  const traffic = createTraffic({ seed: 21, subscribers: 300, startMs: START, endMs: END, scenarios: 'none', params: { 'clean.pbxAccountShare': '0.2', 'clean.pbxServedParty': style } });
  const tables = traffic.reference();
  const lines = [...tables.lines()];
  const contractAccount = [...tables.accounts()][0]!.accountId;
  const refDir = join(dir, `reference-${style}`);
  writeReference(refDir, {
    ...tables,
    contractedRates: () => [...tables.contractedRates(), { accountId: contractAccount, prefix: '4420', description: 'London fixed (contract)', ratePerMinute: '0.010000', setupFee: '0', firstIncrementSeconds: 60, incrementSeconds: 1, validFrom: '2026-01-01' }],
  });
  const stage = createRatingStage(refDir, '');
  const conn = await openEmbedded({ path: chPath(), database: uniqueName(`refrep_${style}`) });
  open.push(conn);
  await migrate(conn, migrations);
  // The period's days only (a call placed before midnight may write a leg seized just after it).
  const cdrs: SourcedCdr[] = [...traffic.records()].filter((cdr) => Number(cdr.seizureTime) < END).map((cdr, i) => ({ cdr, topic: 'cdr.raw', partition: 0, offset: String(i) }));
  stage.rateBatch(cdrs);
  await conn.insert('cdrs', cdrs.map(cdrRowCompact).join(''), {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
  return { conn, refDir, cdrs, pbx: new Map(lines.filter((l) => l.trunkGroup).map((l) => [l.msisdn, l.trunkGroup!])), contractAccount };
}

function cfgFor(conn: ClickHouseConnection): Config {
  const base = loadConfig({ env: {} });
  return { ...base, clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath(), database: conn.database }, telemetry: { ...base.telemetry, logLevel: 'silent', metricsPort: -1 } };
}

let pilot: Loaded;
let ddi: Loaded;

beforeAll(async () => {
  pilot = await load('pilot');
  ddi = await load('ddi');
  // Aggregated BEFORE the reference data is imported (what the user did), then imported.
  await refreshStale(pilot.conn, undefined, undefined, quietLog);
  await refreshStale(ddi.conn, undefined, undefined, quietLog);
  await importReference(ddi.conn, ddi.refDir, quietLog);
  await refreshStale(ddi.conn, undefined, undefined, quietLog);
}, 120_000);

describe('aggregates follow the reference data', () => {
  it('a reference import after aggregation makes the aggregated days stale; a report reading them warns, --strict exits 1; the next refresh corrects them', async () => {
    const { conn } = pilot;
    const roamers = async () => Number((await conn.query<{ n: string }>('SELECT uniqExact(msisdn) AS n FROM agg_usage_daily WHERE inbound_roamer = 1'))[0]!.n);
    // Without networks every mobile subscriber reads as a visitor.
    const before = await roamers();
    expect(before).toBeGreaterThan(40);
    expect(await staleDaysWithReason(conn)).toEqual([]);
    await importReference(conn, pilot.refDir, quietLog);
    expect(await staleDaysWithReason(conn)).toEqual(DAYS.map((day) => ({ day, reason: 'reference' })));

    // A report that reads them as they are says so: in its result, its output, and with --strict its exit code.
    const stale = await reconcile(conn, { period: PERIOD, tolerance: '0.01', unusedDays: UNUSED_DAYS, refresh: false });
    expect(stale.referenceStaleDays).toEqual(DAYS);
    await writeInvoices(conn);
    const lines: string[] = [];
    const cfg = cfgFor(conn);
    const code = await reconcileReport.run({ cfg, log: quietLog, values: { period: PERIOD, 'unused-days': String(UNUSED_DAYS), 'no-refresh': true, strict: true }, args: [], out: (l) => lines.push(l) });
    expect(code).toBe(1);
    expect(lines.join('\n')).toMatch(/WARNING: aggregates read as they are \(--no-refresh\), but 3 day\(s\) of them are stale .*built with an older reference snapshot/);
    const lax = await reconcileReport.run({ cfg, log: quietLog, values: { period: PERIOD, 'unused-days': String(UNUSED_DAYS), 'no-refresh': true }, args: [], out: () => undefined });
    expect(lax).toBe(0);

    // The refresh a report runs itself recomputes exactly those days; then nothing is stale and visitors are visitors.
    const fresh = await reconcile(conn, { period: PERIOD, tolerance: '0.01', unusedDays: UNUSED_DAYS });
    expect(fresh.refreshed!.days).toEqual(DAYS);
    expect(await staleDaysWithReason(conn)).toEqual([]);
    const [r] = await conn.query<{ roamers: string; visitors: string }>(
      `SELECT (SELECT uniqExact(msisdn) FROM agg_usage_daily WHERE inbound_roamer = 1) AS roamers,
              (SELECT uniqExact(served_msisdn) FROM cdrs WHERE home_plmn IS NOT NULL AND home_plmn NOT IN (SELECT plmn FROM ref_networks WHERE home)) AS visitors`,
    );
    expect(Number(r!.roamers)).toBe(Number(r!.visitors));
    expect(Number(r!.visitors)).toBeLessThan(before / 10);
    const code2 = await reconcileReport.run({ cfg, log: quietLog, values: { period: PERIOD, 'unused-days': String(UNUSED_DAYS), 'no-refresh': true, strict: true }, args: [], out: () => undefined });
    expect(code2).toBe(0);
  });
});

/** Invoice lines in every form the rate audit maps, and some it cannot. */
const invoiceFile = join(dir, 'invoices.csv');
let sha = '';
async function writeInvoices(conn: ClickHouseConnection): Promise<void> {
  if (sha) return;
  const w = invoiceWriter(invoiceFile);
  const acc = pilot.contractAccount;
  const base: InvoiceLine = { invoice_id: 'INV-1', account_id: acc, period: PERIOD, line_no: 0, msisdn: '447700900001', charge_type: 'usage', service: 'voice', record_id: '', event_time: '2026-10-30T10:00:00Z', destination_class: '', number: '', quantity: '120', unit: 'second', unit_price: '', price_unit: 'minute', amount: '1.00', currency: 'GBP', feature_code: '', description: '' };
  const rows: Partial<InvoiceLine>[] = [
    { record_id: 'R1', destination_class: 'UK_MOBILE', number: '447700900123', unit_price: '5.000000' }, // destination id
    { record_id: 'R2', destination_class: 'London fixed (contract)', unit_price: '0.060000' }, // contract description
    { record_id: 'R3', destination_class: 'EU', number: '33612345678', unit_price: '50.000000' }, // roaming zone
    { record_id: 'R4', service: 'data', destination_class: '*', quantity: '2000000', unit: 'byte', unit_price: '90.000000', price_unit: 'MB' }, // data, any network
    { record_id: 'R5', service: 'data', destination_class: 'UK_NETWORKS', quantity: '2000000', unit: 'byte', unit_price: '0.010000', price_unit: 'MB' }, // data network, below
    { record_id: 'R6', destination_class: 'Mobile UK (billing name)', number: '447700900124', unit_price: '5.000000' }, // unknown
    { record_id: 'R7', service: 'data', destination_class: 'GPRS-ROAM', quantity: '1000', unit: 'byte', unit_price: '1.000000', price_unit: 'MB' }, // unknown
    { record_id: 'R8', destination_class: 'UK_MOBILE', number: '447700900125', unit_price: '' }, // no unit price
    { record_id: 'R9', service: 'sms', destination_class: 'UK_MOBILE', quantity: '1', unit: 'message', unit_price: '0.1', price_unit: 'message', amount: '0.10' }, // not audited: sms
  ];
  rows.forEach((r, i) => w.emit({ ...base, ...r, line_no: i + 1 }));
  w.close();
  sha = (await importInvoices(conn, invoiceFile, quietLog)).sha;
  await importBenchmarks(conn, rateAuditBenchmarksFromTariffs(book), 'tariff book');
}

describe('the rate audit maps every documented form and lists what it cannot map', () => {
  it('destination id, contract description, roaming zone and data networks are checked; the rest is counted and listed', async () => {
    const { conn } = pilot;
    await writeInvoices(conn);
    const r = await reconcile(conn, { period: PERIOD, tolerance: '0.01', unusedDays: UNUSED_DAYS });
    const rates = new Map(r.findings.filter((f) => f.kind.startsWith('rate-above')).map((f) => [f.record_id, f]));
    expect(rates.get('R1')?.kind).toBe('rate-above-benchmark');
    expect(rates.get('R2')?.kind).toBe('rate-above-contract');
    // (0.06 - 0.01) x 120 s / 60
    expect(rates.get('R2')?.amount).toBe('0.100000');
    expect(rates.get('R3')?.kind).toBe('rate-above-benchmark');
    expect(rates.get('R4')?.kind).toBe('rate-above-benchmark');
    expect([...rates.keys()].sort()).toEqual(['R1', 'R2', 'R3', 'R4']);
    // Checked: R1-R5; not mapped: R6 (unknown name), R7 (unknown data network), R8 (no unit price); R9 is SMS.
    expect(r.rateAudit).toEqual({ checked: 5, unmapped: 3, otherServices: 1 });
    expect(r.unmapped.map((u) => [u.service, u.destination_class, Number(u.lines)]).sort()).toEqual([
      ['data', 'GPRS-ROAM', 1],
      ['voice', 'Mobile UK (billing name)', 1],
      ['voice', 'UK_MOBILE', 1],
    ]);
    expect(r.unmapped.find((u) => u.destination_class === 'UK_MOBILE')!.reason).toMatch(/no comparable unit price/);
    // The report prints the section and the summary line.
    const lines: string[] = [];
    await reconcileReport.run({ cfg: cfgFor(conn), log: quietLog, values: { period: PERIOD, 'unused-days': String(UNUSED_DAYS) }, args: [], out: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect(text).toContain('Rate audit: lines not checked (3 of 8 voice and data usage lines)');
    expect(text).toMatch(/Rate audit: 3 of 8 voice and data usage lines NOT checked/);
    expect(text).toContain('GPRS-ROAM');
  });

  it('`import invoices` lists the destination_class values the reference data does not know', async () => {
    const { conn } = pilot;
    await writeInvoices(conn);
    const unknown = await unknownDestinations(conn, sha, destinationNames(book));
    expect(unknown).toEqual([
      { destination_class: 'GPRS-ROAM', service: 'data', lines: 1 },
      { destination_class: 'Mobile UK (billing name)', service: 'voice', lines: 1 },
    ]);
    expect(readFileSync(invoiceFile, 'utf8')).toContain('London fixed (contract)');
  });
});

describe('lines used in any role count as used (PBX: DDI served, or pilot served with the extension calling)', () => {
  /** PBX lines the unused-line audit reports. */
  const unusedPbx = async (l: Loaded) => {
    const r = await reconcile(l.conn, { period: PERIOD, tolerance: '0.01', unusedDays: UNUSED_DAYS });
    return r.findings.filter((f) => f.kind === 'unused-line' && l.pbx.has(f.msisdn)).map((f) => f.msisdn).sort();
  };

  it('the pilot-served switch writes the pilot as served party and the DDI as calling/called number', () => {
    const pbxServed = (l: Loaded) => new Set(l.cdrs.filter((c) => l.pbx.has(c.cdr.servedMsisdn)).map((c) => c.cdr.servedMsisdn));
    expect(pbxServed(ddi).size).toBeGreaterThan(50);
    // One pilot per trunk, and the extensions in the calling number.
    expect(pbxServed(pilot).size).toBe(new Set(pilot.pbx.values()).size);
    expect(pilot.cdrs.some((c) => c.cdr.eventType === 'VOICE_MO' && pilot.pbx.has(c.cdr.servedMsisdn) && c.cdr.callingNumber !== c.cdr.servedMsisdn)).toBe(true);
  });

  it('pilot-style extensions are not unused lines: the audit says the same for both switch conventions', async () => {
    if ((await staleDaysWithReason(pilot.conn)).length) await refreshStale(pilot.conn, undefined, undefined, quietLog);
    const a = await unusedPbx(ddi);
    const b = await unusedPbx(pilot);
    expect(b).toEqual(a);
    // ... and most PBX lines are in use (the user saw every DDI reported).
    expect(b.length).toBeLessThan(pilot.pbx.size / 4);
    const [v] = await pilot.conn.query<{ n: string }>("SELECT uniqExact(msisdn) AS n FROM lines_in_use_daily WHERE via_pbx = 1");
    expect(Number(v!.n)).toBeGreaterThan(50);
  });

  it('the subscriber look-up finds an extension\'s records in both conventions', async () => {
    const pilots = new Set(pilot.cdrs.map((c) => c.cdr.servedMsisdn).filter((m) => pilot.pbx.has(m)));
    const ext = [...pilot.pbx.keys()].find((m) => !pilots.has(m) && pilot.cdrs.filter((c) => c.cdr.callingNumber === m).length >= 3)!;
    expect(ext).toBeDefined();
    const period = { fromMs: START, toMs: END, label: PERIOD };
    const ids = (rows: Record<string, unknown>[]) => rows.filter((r) => r.type !== 'VOICE_FWD').map((r) => String(r.record_id)).sort();
    const viaPilot = await lookupSubscriber(pilot.conn, ext, period, 'UTC');
    const viaDdi = await lookupSubscriber(ddi.conn, ext, period, 'UTC');
    expect(viaPilot.records.length).toBeGreaterThan(2);
    expect(viaPilot.records.every((r) => String(r.line_role).startsWith('extension of pilot '))).toBe(true);
    expect(ids(viaPilot.records)).toEqual(ids(viaDdi.records));
    const total = (rows: Record<string, unknown>[]) => rows.find((r) => r.service === 'all')!.records;
    expect(Number(total(viaPilot.totals))).toBe(viaPilot.records.length);
  });
});

// Keep the invoice file around for a failing run's post-mortem.
afterAll(() => writeFileSync(join(dir, 'README'), 'test/reports-reference.test.ts scratch\n'));
