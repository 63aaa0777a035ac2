/**
 * CDR contract v3 end to end (issue #14, "Done when"): one Kafka topic carries records written with the v1, v2
 * and v3 schemas (Confluent framing, a real schema registry); the pipeline decodes, rates and stores them in
 * embedded ClickHouse; billing reconciliation reads them. The traffic is the generator's, with long calls and
 * data sessions written as partial records every 10 minutes and SMS of up to 3 segments. The same traffic
 * unsplit is billed by the invoice generator as a billing system would (one line per call) and priced directly
 * with the library: the expectations come from there.
 *
 * - a long call split into partials is priced exactly as the same call unsplit;
 * - a 3-segment SMS is priced as 3 × the segment price, rounded once (the book's SMS price has 5 decimals,
 *   the rounding 4: 3 × 0.03333 = 0.09999 -> 0.1000, where 3 × round(0.03333) = 0.0999);
 * - roaming data is priced by its serving network;
 * - reconciliation counts calls, not pieces, and finds billed and rated money equal;
 * - rerate re-prices partial records part by part (pages that split a call's parts included), and rows priced
 *   under another rating version only when asked (--outdated).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { avroCodec, avroSchemaText, cdrCodec, type Cdr } from '../schemas/index.js';
import { confluentFrame, SchemaRegistryClient } from '../schemas/registry.js';
import { formatMicros } from '../schemas/tariff.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { BillingGenerator, referenceDataOf } from '../simulators/billing/billing.js';
import { createRating, defaultTariffPath, loadTariffBook } from '../enrich/rate/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { ensureTopic } from '../ingest/kafka.js';
import { KafkaSink, type OutRecord } from '../sinks/kafka.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { importReference } from '../pipeline/reference-store.js';
import { importInvoices, invoiceWriter } from '../reports/reconciliation/invoices.js';
import { reconcile } from '../reports/reconciliation/reconcile.js';
import { rerate } from '../operations/rerate.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const registryUrl = inject('schemaRegistryUrl');

type Rec = Record<string, unknown>;
function toV1(c: Cdr): Rec {
  const { chargingId: _c, ratType: _r, recordSequenceNumber: _s, localRecordSequenceNumber: _l, smsSegments: _g, ...rest } = c;
  return rest;
}
function toV2(c: Cdr): Rec {
  const { lac, recordSequenceNumber: _s, localRecordSequenceNumber: _l, smsSegments: _g, ...rest } = c;
  return { ...rest, locationAreaCode: lac };
}

it('v1, v2 and v3 records through decode, rating, ClickHouse, reconciliation and rerate', async () => {
  const name = uniqueName('v3e2e');
  const dir = mkdtempSync(join(tmpdir(), 'v3e2e-'));
  const PERIOD = '2026-10';
  const start = Date.UTC(2026, 9, 5, 6);
  const opts = { seed: 21, subscribers: 400, startMs: start, endMs: start + 12 * 3_600_000, scenarios: 'all' as const };
  const traffic = createTraffic({ ...opts, partialIntervalMs: 10 * 60_000 });
  const split = [...traffic.records()];
  const tables = traffic.reference();
  // A pay-as-you-go line's data session of 1,234,567 B at home, on Orange France and on a US network.
  const payg = new Set([...tables.lines()].filter((l) => l.plan === 'PAYG').map((l) => l.msisdn));
  const session = split.find((c) => c.eventType === 'DATA' && c.recordSequenceNumber === null && payg.has(c.servedMsisdn))!;
  const roaming = (['23499', '20801', '310260'] as const).map((plmn, i): Cdr => ({ ...session, recordId: `roam-${plmn}`, recordingEntity: i === 0 ? session.recordingEntity : `VPMN-${plmn}`, servingPlmn: plmn, uplinkBytes: 234_567, downlinkBytes: 1_000_000, localRecordSequenceNumber: null }));
  split.push(...roaming);
  const whole = [...[...createTraffic(opts).records()], ...roaming];

  // The book: the bundled one with an SMS price finer than its rounding.
  const bookJson = JSON.parse(readFileSync(defaultTariffPath(), 'utf8')) as { rates: Record<string, { price: string }> };
  bookJson.rates.SMS_UK!.price = '0.03333';
  const bookFile = join(dir, 'tariffs.json');
  writeFileSync(bookFile, JSON.stringify(bookJson));

  // A billing system bills the calls (unsplit), without injected errors.
  const invoiceFile = join(dir, 'invoices.csv');
  const writer = invoiceWriter(invoiceFile);
  const billing = new BillingGenerator({ reference: referenceDataOf(tables), tariffFile: bookFile, seed: 21, errorsPerKind: 0, unusedDays: 30, periods: [PERIOD], emit: writer.emit });
  billing.addBatch(whole);
  const billed = billing.finish();
  writer.close();
  const refDir = join(dir, 'reference');
  writeReference(refDir, { ...tables, lines: () => billed.csrLines, features: () => billed.csrFeatures });

  // Producers of three contract versions on one topic.
  const registry = new SchemaRegistryClient({ url: registryUrl, log: quietLog });
  const subject = `${name}-value`;
  const ids = { v1: await registry.register(subject, avroSchemaText('cdr.v1.avsc')), v2: await registry.register(subject, avroSchemaText('cdr.v2.avsc')), v3: await registry.register(subject, avroSchemaText('cdr.v3.avsc')) };
  const codecs = { v1: avroCodec<Rec>('cdr.v1.avsc'), v2: avroCodec<Rec>('cdr.v2.avsc'), v3: cdrCodec() };
  const written: Cdr[] = [];
  const version: ('v1' | 'v2' | 'v3')[] = [];
  const out: OutRecord[] = split.map((c, i) => {
    // Only v3 can say "part 2" or "3 segments" (or REJECTED, v2 and on); the rest is spread over the versions.
    const v = c.recordSequenceNumber !== null || c.smsSegments !== 1 || c.disposition === 'REJECTED' ? 'v3' : (['v1', 'v2', 'v3'] as const)[i % 3]!;
    version.push(v);
    // What the pipeline reads back: fields an older writer does not have take the v3 defaults.
    written.push(v === 'v3' ? c : { ...c, localRecordSequenceNumber: null, ...(v === 'v1' ? { chargingId: null, ratType: null } : {}) });
    const bytes = v === 'v1' ? codecs.v1.encode(toV1(c)) : v === 'v2' ? codecs.v2.encode(toV2(c)) : codecs.v3.encode(c);
    return { key: c.servedMsisdn, value: confluentFrame(ids[v], bytes) };
  });
  const parts = split.filter((c) => c.recordSequenceNumber !== null);
  const calls = new Set(parts.map((c) => c.recordId));
  expect(calls.size).toBeGreaterThan(20);
  expect(version.filter((v) => v === 'v1').length).toBeGreaterThan(1000);
  expect(version.filter((v) => v === 'v2').length).toBeGreaterThan(1000);
  await ensureTopic(brokers, name, 3, quietLog);
  const sink = new KafkaSink({ brokers, clientId: 'v3e2e', log: quietLog });
  await sink.connect();
  for (let i = 0; i < out.length; i += 2000) await sink.send(name, out.slice(i, i + 2000));
  await sink.disconnect();

  const base = loadConfig({ env: {} });
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, deadLetterTopic: '' },
    decode: { ...base.decode, format: 'confluent', registryUrl },
    rating: { referenceSource: 'files', referenceDir: refDir, tariffFile: bookFile, reloadIntervalMs: 0 },
    clickhouse: { ...base.clickhouse, path: chPath(), database: name },
    sink: { ...base.sink, flushIntervalMs: 100 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };
  const p = await startPipeline(cfg, quietLog);
  try {
    await waitFor('all CDRs stored', async () => p.runner.stats.stored >= split.length, 120_000);
    const conn = p.conn;
    const [n] = await conn.query<{ rows: string; parts: string; dead: string }>('SELECT (SELECT count() FROM cdrs FINAL) AS rows, (SELECT countIf(record_sequence_number > 0) FROM cdrs FINAL) AS parts, (SELECT count() FROM dead_letters) AS dead');
    // Every part kept (the dedupe key has the sequence), nothing dead-lettered.
    expect(n).toEqual({ rows: String(split.length), parts: String(parts.length), dead: '0' });

    // The library's prices: of what was written, record by record, and of the calls unsplit.
    const ref = tables;
    const lib = createRating({ book: loadTariffBook(bookFile), operator: ref.operator, numberingPlan: ref.numberingPlan, networks: ref.networks, countries: ref.countries, holidays: ref.holidays, lines: billed.csrLines, contractedRates: ref.contractedRates() });
    const stored = new Map((await conn.query<{ k: string; cost: string }>("SELECT concat(recording_entity, '/', record_id, '#', toString(record_sequence_number)) AS k, toString(cost_total) AS cost FROM cdrs FINAL")).map((r) => [r.k, r.cost]));
    const dec = (s: string | undefined) => (s === undefined ? s : formatMicros(Math.round(Number(s) * 1e6)));
    for (const c of written) expect(dec(stored.get(`${c.recordingEntity}/${c.recordId}#${c.recordSequenceNumber ?? 0}`)), `${c.recordId}#${c.recordSequenceNumber}`).toBe(formatMicros(lib.rate(c).totalMicros));

    // A long call split into partials is priced exactly as the same call unsplit (voice; a data session's
    // later parts restart their increments: docs/TARIFFS.md "Partial records").
    const perCall = new Map((await conn.query<{ id: string; cost: string }>("SELECT record_id AS id, toString(sum(cost_total)) AS cost FROM cdrs FINAL WHERE record_sequence_number > 0 AND event_type != 'DATA' GROUP BY record_id")).map((r) => [r.id, r.cost]));
    expect(perCall.size).toBeGreaterThan(5);
    const wholeById = new Map(whole.map((c) => [c.recordId, c]));
    for (const [id, cost] of perCall) expect(dec(cost), `call ${id}`).toBe(formatMicros(lib.rate(wholeById.get(id)!).totalMicros));

    // A 3-segment SMS: 3 × 0.03333 rounded once to 4 decimals.
    const sms = await conn.query<{ cost: string; segments: number; rate: string; n: string }>("SELECT toString(cost_total) AS cost, sms_segments AS segments, rate_id AS rate, toString(count()) AS n FROM cdrs FINAL WHERE event_type = 'SMS_MO' AND rate_id = 'SMS_UK' AND roaming = 0 GROUP BY cost, segments, rate ORDER BY segments");
    expect(sms.map((r) => [Number(r.segments), dec(r.cost)])).toEqual([
      [1, '0.033300'],
      [2, '0.066700'],
      [3, '0.100000'],
    ]);

    // Roaming data is priced by the network that served it (bundled book: EU networks 0.055 per MB, the rest of
    // the world 6.05 per MB), never by the home network's price.
    const data = await conn.query<{ dest: string; rate: string; n: string }>("SELECT toString(destination_id) AS dest, toString(rate_id) AS rate, toString(count()) AS n FROM cdrs FINAL WHERE event_type = 'DATA' AND roaming = 1 AND rating_status = 'RATED' AND tariff_id = 'RETAIL-PAYG' GROUP BY dest, rate ORDER BY dest");
    expect(data.length).toBe(2);
    for (const d of data) expect([d.dest, d.rate]).toContainEqual(d.dest === 'EU_NETWORKS' ? 'DATA_PAYG_EU' : d.dest === '*' ? 'DATA_PAYG_WORLD' : 'never');
    // By hand: home 1235 KB × 0.05/MB = 0.06175 -> 0.0618; EU 1235 KB × 0.055/MB = 0.067925 -> 0.0679;
    // elsewhere 124 × 10 KB × 6.05/MB = 7.502 (rounding half-up to 4 decimals; no data roaming surcharge).
    const roamed = await conn.query<{ id: string; dest: string; cost: string }>("SELECT record_id AS id, toString(destination_id) AS dest, toString(cost_total) AS cost FROM cdrs FINAL WHERE startsWith(record_id, 'roam-') ORDER BY id");
    expect(roamed.map((r) => [r.id, r.dest, dec(r.cost)])).toEqual([
      ['roam-20801', 'EU_NETWORKS', '0.067900'],
      ['roam-23499', 'UK_NETWORKS', '0.061800'],
      ['roam-310260', '*', '7.502000'],
    ]);

    // Reconciliation against the billing system's invoices (one line per call): the money agrees, and the
    // usage comparison counts calls, not pieces.
    await importReference(conn, refDir, quietLog);
    await importInvoices(conn, invoiceFile, quietLog);
    const report = await reconcile(conn, { period: PERIOD, tolerance: '0.01', unusedDays: 30 });
    expect(report.usage.filter((u) => u.flag !== 'ok').map((u) => `${u.account_id} ${u.service} ${u.difference}`)).toEqual([]);
    const callsBy = new Map((await conn.query<{ k: string; calls: string; rows: string }>(
      "SELECT concat(account_id, ' ', rating_service) AS k, toString(countIf(record_sequence_number <= 1)) AS calls, toString(count()) AS rows FROM cdrs FINAL GROUP BY k",
    )).map((r) => [r.k, r]));
    expect(report.usage.length).toBeGreaterThan(100);
    for (const u of report.usage) expect(u.rated_records, `${u.account_id} ${u.service}`).toBe(callsBy.get(`${u.account_id} ${u.service}`)?.calls);
    // ... where some accounts' rows are more than their calls (the parts).
    expect(report.usage.some((u) => Number(callsBy.get(`${u.account_id} ${u.service}`)!.rows) > Number(u.rated_records))).toBe(true);

    // rerate: nothing to do by default (all RATED with the current version); --all in small pages re-prices
    // every part to the same price.
    const stage = createRatingStage(refDir, bookFile);
    expect((await rerate(conn, stage, { all: false, fromMs: undefined, toMs: undefined, batchRows: 1000, log: quietLog })).rerated).toBe(0);
    const totalOf = async () => (await conn.query<{ t: string; rows: string }>('SELECT toString(sum(cost_total)) AS t, toString(count()) AS rows FROM cdrs FINAL'))[0]!;
    const before = await totalOf();
    const all = await rerate(conn, stage, { all: true, fromMs: undefined, toMs: undefined, batchRows: 97, log: quietLog });
    expect(all.rerated).toBe(split.length);
    expect(await totalOf()).toEqual(before);

    // Rows priced under other rules (another rating version, e.g. v1 and v2 rows priced before contract v3):
    // kept as billed unless asked.
    const old = (await conn.query<Rec>("SELECT * EXCEPT (_ingested_at) FROM cdrs FINAL WHERE record_sequence_number = 0 AND event_type = 'SMS_MO' AND sms_segments = 1 LIMIT 50")).map((r) => ({ ...r, rating_version: 'earlier-rules', cost_total: '9.990000' }));
    expect(old).toHaveLength(50);
    await conn.insert('cdrs', old.map((r) => JSON.stringify(r) + '\n').join(''));
    expect((await rerate(conn, stage, { all: false, fromMs: undefined, toMs: undefined, batchRows: 1000, log: quietLog })).rerated).toBe(0);
    const outdated = await rerate(conn, stage, { all: false, outdated: true, fromMs: undefined, toMs: undefined, batchRows: 1000, log: quietLog });
    expect(outdated.rerated).toBe(50);
    expect(await totalOf()).toEqual(before);
    const [versions] = await conn.query<{ v: string }>('SELECT toString(uniqExact(rating_version)) AS v FROM cdrs FINAL');
    expect(versions!.v).toBe('1');
  } finally {
    await p.stop();
  }
}, 300_000);
