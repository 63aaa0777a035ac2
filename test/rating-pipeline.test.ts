/**
 * Rating in the running pipeline (real Kafka, embedded ClickHouse): generated traffic with every fraud
 * scenario and the reference data it implies. With complete reference data every CDR is stored RATED, with
 * exact amounts; with a tariff deliberately missing, the affected CDRs are stored UNRATED with their reason,
 * and `rerate` prices them once the tariff is back, without duplicating any CDR.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { cdrCodec } from '../schemas/index.js';
import { formatMicros } from '../schemas/tariff.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { ensureTopic } from '../ingest/kafka.js';
import { createRating, defaultTariffPath, loadTariffBook } from '../enrich/rate/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { KafkaSink } from '../sinks/kafka.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { rerate } from '../operations/rerate.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');

it('rates generated traffic in the pipeline; a missing tariff leaves reasons, rerate fixes them without duplicates', async () => {
  const name = uniqueName('rated');
  const refDir = mkdtempSync(join(tmpdir(), 'ref-'));
  const start = Date.UTC(2026, 9, 5, 6); // Monday 5 October 2026, 07:00 BST
  const traffic = createTraffic({ seed: 17, subscribers: 600, startMs: start, endMs: start + 8 * 3_600_000, scenarios: 'all' });
  writeReference(refDir, traffic.reference());
  const cdrs = [...traffic.records()];
  expect(cdrs.length).toBeGreaterThan(3000);

  // The independent expectation: rate every CDR directly with the library, in memory.
  const ref = traffic.reference();
  const direct = createRating({ book: loadTariffBook(defaultTariffPath()), operator: ref.operator, numberingPlan: ref.numberingPlan, networks: ref.networks, countries: ref.countries, holidays: ref.holidays, lines: ref.lines(), contractedRates: ref.contractedRates() });
  let expectedMicros = 0;
  for (const c of cdrs) expectedMicros += direct.rate(c).totalMicros;

  // A broken book: the PAYG plan loses its tariff and there is no default.
  const book = JSON.parse(readFileSync(defaultTariffPath(), 'utf8')) as { assignments: { plans: Record<string, string>; default?: string } };
  delete book.assignments.plans.PAYG;
  delete book.assignments.default;
  const broken = join(refDir, 'broken-tariffs.json');
  writeFileSync(broken, JSON.stringify(book));

  await ensureTopic(brokers, name, 3, quietLog);
  const sink = new KafkaSink({ brokers, clientId: 'test', log: quietLog });
  await sink.connect();
  const codec = cdrCodec();
  for (let i = 0; i < cdrs.length; i += 2000) await sink.send(name, cdrs.slice(i, i + 2000).map((c) => ({ key: c.servedMsisdn, value: codec.encode(c) })));
  await sink.disconnect();

  const base = loadConfig({ env: {} });
  const cfg: Config = {
    ...base,
    kafka: { ...base.kafka, brokers, topic: name, groupId: name, deadLetterTopic: '' },
    rating: { referenceSource: 'files', referenceDir: refDir, tariffFile: broken, reloadIntervalMs: 0 },
    clickhouse: { ...base.clickhouse, path: chPath(), database: name },
    sink: { ...base.sink, flushIntervalMs: 100 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };
  const p = await startPipeline(cfg, quietLog);
  try {
    await waitFor('all CDRs stored', async () => p.runner.stats.stored >= cdrs.length, 120_000);
    const status = async () =>
      Object.fromEntries((await p.conn.query<{ k: string; n: string }>("SELECT concat(toString(rating_status), ':', ifNull(unrated_reason, '')) AS k, count() AS n FROM cdrs FINAL GROUP BY k ORDER BY k")).map((r) => [r.k, Number(r.n)]));
    const before = await status();
    // Only the PAYG lines' CDRs are unrated, with the reason, never priced at zero.
    const paygLines = new Set([...ref.lines()].filter((l) => l.plan === 'PAYG').map((l) => l.msisdn));
    const paygCdrs = cdrs.filter((c) => paygLines.has(c.servedMsisdn)).length;
    expect(paygCdrs).toBeGreaterThan(0);
    expect(before['UNRATED:NO_TARIFF']).toBe(paygCdrs);
    expect(before['RATED:']).toBe(cdrs.length - paygCdrs);
    const [zero] = await p.conn.query<{ n: string }>("SELECT count() AS n FROM cdrs FINAL WHERE rating_status = 'UNRATED' AND cost_total != 0");
    expect(Number(zero!.n)).toBe(0);

    // The fix: the complete book. rerate prices exactly the unrated ones.
    const stage = createRatingStage(refDir, '');
    const r = await rerate(p.conn, stage, { all: false, fromMs: undefined, toMs: undefined, batchRows: 500, log: quietLog });
    expect(r.rerated).toBe(paygCdrs);
    expect(r.outcomes).toEqual({ rated: paygCdrs });
    const after = await status();
    expect(after).toEqual({ 'RATED:': cdrs.length });
    const [sum] = await p.conn.query<{ total: string; ids: string; rows: string; versions: string }>(
      'SELECT toString(sum(cost_total)) AS total, uniqExact(recording_entity, record_id) AS ids, count() AS rows, uniqExact(rating_version) AS versions FROM cdrs FINAL',
    );
    expect(Number(sum!.ids)).toBe(cdrs.length);
    expect(Number(sum!.rows)).toBe(cdrs.length);
    // Every cent: ClickHouse's Decimal sum equals the library's exact micro-unit sum.
    expect(formatMicros(expectedMicros).replace(/\.?0+$/, '')).toBe(sum!.total.replace(/\.?0+$/, ''));
    // Two rating versions: the broken book's and the fixed one's.
    expect(Number(sum!.versions)).toBe(2);
    // A rated row carries its explanation.
    const [ex] = await p.conn.query<Record<string, string | null>>("SELECT tariff_id, tariff_version, rate_id, matched_prefix, band, usage_unit, toString(cost_total) AS cost FROM cdrs FINAL WHERE rating_status = 'RATED' AND rating_service = 'voice' AND cost_total > 0 LIMIT 1");
    for (const k of ['tariff_id', 'tariff_version', 'rate_id', 'matched_prefix', 'band']) expect(ex![k], k).toBeTruthy();
    expect(ex!.usage_unit).toBe('ms');
    // Enrichment: the served line from the inventory, the serving cell's region, roaming with the visited
    // network, and the other party classified.
    const homeLines = new Set([...ref.lines()].map((l) => l.msisdn));
    const servedHome = cdrs.filter((c) => homeLines.has(c.servedMsisdn)).length;
    const roamingExpected = cdrs.filter((c) => c.servingPlmn !== null && c.servingPlmn !== (c.homePlmn ?? ref.operator.plmn)).length;
    const [en] = await p.conn.query<Record<string, string>>(
      `SELECT countIf(line_status != '') AS with_line, countIf(roaming = 1) AS roaming_rows, countIf(roaming = 1 AND visited_plmn != '' AND visited_plmn != ifNull(home_plmn, '')) AS roaming_ok,
              countIf(roaming = 0 AND lac IS NOT NULL AND serving_region != '') AS home_region, countIf(roaming = 0 AND lac IS NOT NULL) AS home_rows,
              countIf(event_type IN ('VOICE_MO', 'SMS_MO') AND other_party_category IS NOT NULL) AS mo_classified, countIf(event_type IN ('VOICE_MO', 'SMS_MO')) AS mo
       FROM cdrs FINAL`,
    );
    expect(Number(en!.with_line)).toBe(servedHome);
    expect(Number(en!.roaming_rows)).toBe(roamingExpected);
    expect(Number(en!.roaming_ok)).toBe(roamingExpected);
    // Every home record that carries a location (failed calls and fixed PBX lines carry none) has its region.
    expect(Number(en!.home_rows)).toBeGreaterThan(1000);
    expect(Number(en!.home_region)).toBe(Number(en!.home_rows));
    expect(Number(en!.mo_classified)).toBe(Number(en!.mo));
  } finally {
    await p.stop();
  }
}, 300_000);
