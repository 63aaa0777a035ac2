/**
 * Dispute look-up (`cdr-pipeline report subscriber`, issue #5 item 5) on the real engine: a day of generated
 * traffic rated and stored the real way, one of the subscriber's CDRs sent twice by the switch and one stored
 * before rating existed. The look-up finds the line from any way of writing its number, shows every record
 * once with its exact price and explanation, and its totals per service are the exact sums.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import { importReference } from '../pipeline/reference-store.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { lookupSubscriber, normaliseMsisdn, normaliserFromClickHouse, parsePeriod, subscriberReport } from '../reports/subscriber/subscriber.js';
import { ReportUsageError } from '../reports/index.js';
import { chPath, quietLog, uniqueName } from './helpers.js';

/** An exact decimal string ("12.3456", "-0.5") as integer micro-units. */
function micros(s: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(s.trim());
  if (!m) throw new Error(`not a decimal with at most 6 places: ${s}`);
  const v = BigInt(m[2]!) * 1_000_000n + BigInt((m[3] ?? '').padEnd(6, '0'));
  return m[1] ? -v : v;
}

describe('report subscriber', () => {
  const start = Date.UTC(2026, 4, 12, 0); // Tuesday 12 May 2026, a whole UTC day
  let conn: ClickHouseConnection;
  let cfg: Config;
  let msisdn = '';
  let mine: SourcedCdr[] = [];
  let unrated: SourcedCdr;

  beforeAll(async () => {
    const refDir = mkdtempSync(join(tmpdir(), 'sub-ref-'));
    const traffic = createTraffic({ seed: 9, subscribers: 300, startMs: start, endMs: start + 86_400_000, scenarios: 'none' });
    writeReference(refDir, traffic.reference());
    const stage = createRatingStage(refDir, '');
    conn = await openEmbedded({ path: chPath(), database: uniqueName('sub') });
    await migrate(conn, loadMigrations(schemaPath('ddl')));
    await importReference(conn, refDir, quietLog);
    const all: SourcedCdr[] = [...traffic.records()].map((cdr, i) => ({ cdr, topic: 'cdr.raw', partition: 0, offset: String(i) }));
    stage.rateBatch(all);
    // The subscriber with the most kinds of records (voice, SMS, data) and the most priced ones.
    const by = new Map<string, SourcedCdr[]>();
    for (const s of all) by.set(s.cdr.servedMsisdn, [...(by.get(s.cdr.servedMsisdn) ?? []), s]);
    const score = (l: SourcedCdr[]) => new Set(l.map((s) => s.rated!.rating_service)).size * 1000 + l.filter((s) => s.rated!.cost_total !== '0.000000').length;
    [msisdn, mine] = [...by.entries()].filter(([m]) => m.startsWith('447')).sort((a, b) => score(b[1]) - score(a[1]))[0]!;
    // One of their records arrives before rating was configured: stored NOT_RATED, it is not priced.
    unrated = mine.find((s) => s.cdr.eventType === 'SMS_MO' || s.cdr.eventType === 'VOICE_MO')!;
    const stored = all.map((s) => (s === unrated ? { ...s, rated: undefined } : s));
    const sink = new ClickHouseSink(conn, { retryInitialMs: 10, retryMaxMs: 100, log: quietLog });
    await sink.write({ topic: 'cdr.raw', partition: 0, firstOffset: '0', lastOffset: String(stored.length - 1), cdrs: stored, deadLetters: [] });
    // The switch sends one of their priced CDRs again (other offset): stored twice, shown once.
    const again = mine.find((s) => s !== unrated && s.rated!.cost_total !== '0.000000')!;
    await sink.write({ topic: 'cdr.raw', partition: 1, firstOffset: '7', lastOffset: '7', cdrs: [{ ...again, partition: 1, offset: '7' }], deadLetters: [] });
    const [dup] = await conn.query<{ n: string }>(`SELECT count() AS n FROM cdrs WHERE record_id = '${again.cdr.recordId}'`);
    expect(Number(dup!.n)).toBe(2);
    const base = loadConfig({ env: {} });
    cfg = { ...base, clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath(), database: conn.database }, telemetry: { ...base.telemetry, logLevel: 'silent', metricsPort: -1 } };
  }, 120_000);

  afterAll(async () => conn?.close());

  it('finds the line from the ways customers write their number', async () => {
    const n = await normaliserFromClickHouse(conn);
    expect(n).toBeDefined();
    const national = '0' + msisdn.slice(2);
    for (const form of [msisdn, `+${msisdn}`, `00${msisdn}`, national, `${national.slice(0, 5)} ${national.slice(5)}`, `+44 (0)${msisdn.slice(2, 6)} ${msisdn.slice(6)}`]) {
      expect(normaliseMsisdn(form, n), form).toBe(msisdn);
    }
    // Without reference data only international forms are accepted (a national one needs the dialling rules).
    expect(normaliseMsisdn(`+${msisdn}`, undefined)).toBe(msisdn);
    expect(() => normaliseMsisdn(national, undefined)).toThrow(ReportUsageError);
    expect(() => normaliseMsisdn('', n)).toThrow(ReportUsageError);
  });

  it('reads periods as UTC months, days and inclusive day ranges', () => {
    expect(parsePeriod('2026-05')).toEqual({ fromMs: Date.UTC(2026, 4, 1), toMs: Date.UTC(2026, 5, 1), label: '2026-05' });
    expect(parsePeriod('2026-12')).toMatchObject({ fromMs: Date.UTC(2026, 11, 1), toMs: Date.UTC(2027, 0, 1) });
    expect(parsePeriod('2026-05-12')).toMatchObject({ fromMs: start, toMs: start + 86_400_000 });
    expect(parsePeriod('2026-05-10..2026-05-12')).toMatchObject({ fromMs: Date.UTC(2026, 4, 10), toMs: Date.UTC(2026, 4, 13) });
    for (const bad of [undefined, '2026-13', '2026-05-32', '2026-05-12..2026-05-01', 'May']) expect(() => parsePeriod(bad), String(bad)).toThrow(ReportUsageError);
  });

  it('shows every record once, with its exact price and the explanation of the price', async () => {
    const r = await lookupSubscriber(conn, msisdn, parsePeriod('2026-05'), 'Europe/London');
    expect(r.records.length).toBe(mine.length);
    expect(new Set(r.records.map((x) => x.record_id)).size).toBe(mine.length);
    const byId = new Map(mine.map((s) => [s.cdr.recordId, s]));
    for (const row of r.records) {
      const s = byId.get(String(row.record_id))!;
      expect(s, String(row.record_id)).toBeDefined();
      if (s === unrated) {
        expect(row.status).toBe('NOT_RATED');
        expect(micros(String(row.price))).toBe(0n);
        expect(String(row.explanation)).toMatch(/^not rated yet/);
        continue;
      }
      expect(row.status).toBe(s.rated!.rating_status);
      expect(micros(String(row.price)), String(row.record_id)).toBe(micros(String(s.rated!.cost_total)));
      expect(row.rate).toBe(s.rated!.rate_id ?? '');
      expect(row.type).toBe(s.cdr.eventType);
      if (s.rated!.rating_status === 'RATED') {
        const text = String(row.explanation);
        expect(text).toContain(`rate ${String(s.rated!.rate_id)}`);
        // connect + usage (+ adjustment + surcharge) = price: the parts add up to the stated total.
        const parts = [...text.matchAll(/(?:connect|usage|adjustment|roaming surcharge) (-?\d+(?:\.\d+)?)/g)].map((m) => micros(m[1]!));
        const total = /= (-?\d+(?:\.\d+)?) GBP/.exec(text)!;
        expect(total, text).not.toBeNull();
        expect(parts.reduce((a, b) => a + b, 0n), text).toBe(micros(total[1]!));
        expect(micros(total[1]!)).toBe(micros(String(s.rated!.cost_total)));
      }
    }
    // Local times, in order.
    expect(r.records.map((x) => String(x.time))).toEqual([...r.records.map((x) => String(x.time))].sort());
    expect(String(r.records[0]!.time)).toMatch(/^2026-05-1[23] \d\d:\d\d:\d\d$/);
  });

  it('totals per service and overall are the exact sums', async () => {
    const r = await lookupSubscriber(conn, msisdn, parsePeriod('2026-05-12'), 'UTC');
    const expected = new Map<string, { records: number; price: bigint }>();
    let all = 0n;
    for (const s of mine) {
      const service = s === unrated ? (s.cdr.eventType === 'SMS_MO' ? 'sms' : 'voice') : String(s.rated!.rating_service);
      const price = s === unrated ? 0n : micros(String(s.rated!.cost_total));
      const e = expected.get(service) ?? { records: 0, price: 0n };
      e.records++;
      e.price += price;
      expected.set(service, e);
      all += price;
    }
    expect(expected.size).toBeGreaterThanOrEqual(3);
    const services = r.totals.filter((t) => t.service !== 'all');
    expect(Object.fromEntries(services.map((t) => [t.service, { records: Number(t.records), price: micros(String(t.price)) }]))).toEqual(Object.fromEntries(expected));
    const overall = r.totals.find((t) => t.service === 'all')!;
    expect(Number(overall.records)).toBe(mine.length);
    expect(Number(overall.not_priced)).toBe(1);
    expect(overall.currency).toBe('GBP');
    expect(micros(String(overall.price))).toBe(all);
    expect(all).toBeGreaterThan(0n);
  });

  it('runs as `report subscriber` in every format', async () => {
    const run = async (values: Record<string, string>) => {
      const lines: string[] = [];
      expect(await subscriberReport.run({ cfg, log: quietLog, values, args: [], out: (l) => lines.push(l) })).toBe(0);
      return lines.join('\n');
    };
    const national = '0' + msisdn.slice(2);
    const doc = JSON.parse(await run({ msisdn: national, period: '2026-05', format: 'json' })) as { msisdn: string; time_zone: string; records: unknown[]; totals: { service: string }[] };
    expect(doc.msisdn).toBe(msisdn);
    expect(doc.time_zone).toBe('Europe/London');
    expect(doc.records.length).toBe(mine.length);
    expect(doc.totals.at(-1)!.service).toBe('all');
    const table = await run({ msisdn: `+${msisdn}`, period: '2026-05-12' });
    expect(table).toContain(`Subscriber ${msisdn} (as given: +${msisdn})`);
    expect(table).toContain('Totals per service');
    const csv = await run({ msisdn, period: '2026-05', format: 'csv' });
    expect(csv.split('\n')[0]).toBe('time,type,other_party,other_party_class,disposition,duration_s,billed,price,adjusted,currency,status,tariff,rate,band,explanation,switch,record_id,line_role');
    await expect(subscriberReport.run({ cfg, log: quietLog, values: { msisdn, period: 'last month' }, args: [], out: () => undefined })).rejects.toThrow(ReportUsageError);
  });
});
