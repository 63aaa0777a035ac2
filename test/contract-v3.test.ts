/**
 * CDR contract v3 (issue #14) without a broker: partial records and SMS segments from the decoder to the
 * price, the generator's partials, and the ClickHouse migration of a populated table (embedded chDB).
 *
 * Rating of partial records (docs/TARIFFS.md "Partial records"): a later part covering the conversation
 * offsets [s, e) costs R(e) - R(s), R(t) being the rounded price of the call had it ended at t. Expected
 * prices are worked out by hand in the comments; costs are compared as the 6-decimal strings a bill shows.
 * Calendar: Wed 2025-03-12, London on GMT (local = UTC); peak 08:00-19:00 on weekdays.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cdrCodec, DeadLetterCode, schemaPath, type Cdr } from '../schemas/index.js';
import type { OperatorRecord } from '../schemas/reference.js';
import { formatMicros, type Rating, type TariffBookFile } from '../schemas/tariff.js';
import { compileTariffs, createRating, defaultTariffPath, loadTariffBook, Normaliser, Rater, type RatingSubject } from '../enrich/rate/index.js';
import { createDecoder } from '../enrich/decode.js';
import { numberingPlan } from '../simulators/traffic/numbering.js';
import { partsOf } from '../simulators/traffic/engine.js';
import { createTraffic } from '../simulators/traffic/index.js';
import { parseInterval } from '../simulators/generate.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, cdrRowCompact } from '../sinks/clickhouse/rows.js';
import { testOperator } from './operator-fixture.js';
import { chPath, uniqueName } from './helpers.js';

const HOME = '23499';
const OPERATOR: OperatorRecord = testOperator(['20801']);
const NETWORKS = [
  { plmn: HOME, mcc: '234', mnc: '99', country: 'GB', operator: 'Test', home: true, timezone: 'Europe/London' },
  { plmn: '20801', mcc: '208', mnc: '01', country: 'FR', operator: 'Orange France', home: false, timezone: 'Europe/Paris' },
];
const COUNTRIES = [
  { country: 'GB', name: 'United Kingdom', countryCode: '44', timezone: 'Europe/London' },
  { country: 'FR', name: 'France', countryCode: '33', timezone: 'Europe/Paris' },
];
const normaliser = new Normaliser({ operator: OPERATOR, numberingPlan: numberingPlan(), networks: NETWORKS, countries: COUNTRIES });

type Method = 'up' | 'down' | 'half-up' | 'half-even';
/** Voice to UK mobiles by band, SMS per segment, data by serving network; one rounding per event. */
function book(o: { method?: Method; decimals?: number; voice?: 'minute' | 'second'; minimum?: string } = {}): TariffBookFile {
  const perMinute = o.voice !== 'second';
  const voice = (price: string) => ({ price, per: '60s', increments: perMinute ? '60/60' : '1/1', ...(perMinute ? { connectFee: '0.10' } : {}), ...(o.minimum ? { minimumCharge: o.minimum } : {}) });
  return {
    format: 'cdr-pipeline/tariffs@1',
    currency: 'GBP',
    timezone: 'Europe/London',
    rounding: { method: o.method ?? 'half-up', decimals: o.decimals ?? 2 },
    bandSchedules: { DAY: [{ band: 'PEAK', days: '1-5', from: '08:00', to: '19:00' }, { band: 'OFFPEAK' }] },
    destinations: { UK_MOBILE: { prefixes: ['447'] }, FRANCE: { networks: ['208'] } },
    rates: {
      PEAK: voice(perMinute ? '0.30' : '0.10'),
      OFFPEAK: voice(perMinute ? '0.12' : '0.04'),
      SMS: { price: '0.0333', per: '1msg' },
      DATA_HOME: { price: '0.05', per: '1MB', increments: '1KB' },
      DATA_FR: { price: '0.50', per: '1MB', increments: '10KB', connectFee: '0.05' },
    },
    tariffs: {
      T: {
        versions: [
          {
            version: 'v1',
            effectiveFrom: '2020-01-01',
            bands: 'DAY',
            prices: {
              voice: [{ destination: 'UK_MOBILE', rate: { PEAK: 'PEAK', OFFPEAK: 'OFFPEAK' } }],
              sms: [{ destination: 'UK_MOBILE', rate: 'SMS' }],
              data: [
                { destination: 'FRANCE', rate: 'DATA_FR' },
                { destination: '*', rate: 'DATA_HOME' },
              ],
            },
          },
        ],
      },
    },
    assignments: { default: 'T' },
  };
}

function raterOf(b: TariffBookFile): { rater: Rater; subject: RatingSubject } {
  const compiled = compileTariffs(b);
  return { rater: new Rater(compiled, normaliser, { homePlmn: HOME }), subject: { accountId: 'AC1', chain: compiled.tariffs[0]!.chain, contract: null } };
}

const at = (iso: string) => Date.parse(iso);

function call(o: { seizure: string; answer: string; release: string }): Cdr {
  const s = at(o.seizure);
  const a = at(o.answer);
  const r = at(o.release);
  return {
    recordId: 'c1', recordingEntity: 'MSC-LON1', eventType: 'VOICE_MO', servedImsi: '234990000000001', servedImei: null, servedMsisdn: '447910000001',
    callingNumber: '447910000001', calledNumber: '447700900123', connectedNumber: null, translatedNumber: null, originalCalledNumber: null,
    redirectingNumber: null, redirectionReason: null, redirectionCounter: 0, seizureTime: s, answerTime: a, releaseTime: r, utcOffsetMinutes: 0,
    durationMs: r - s, billableMs: r - a, causeForTerm: 0, q850Cause: 16, disposition: 'ANSWERED', servingPlmn: HOME, homePlmn: HOME, lac: null,
    tac: null, cellId: null, inTrunkGroup: null, outTrunkGroup: null, smsCentre: null, smsResult: null, apn: null, ratingGroup: null,
    uplinkBytes: 0, downlinkBytes: 0, extensions: {}, chargingId: null, ratType: null, recordSequenceNumber: null, localRecordSequenceNumber: null, smsSegments: 1,
  };
}

function rated(r: Rating): Rating {
  expect(r.status, `unrated: ${r.reason}`).toBe('RATED');
  expect(r.totalMicros).toBe(r.connectFeeMicros + r.usageMicros + r.adjustmentMicros + r.surchargeMicros);
  return r;
}

const cost = (r: Rating) => formatMicros(r.totalMicros);

describe('rating of partial records: the parts add up to the call unsplit', () => {
  it('increments run on across parts that cross 19:00 between them; connect fee once, on the first part', () => {
    const { rater, subject } = raterOf(book());
    // Seized 18:39:47, answered 18:40:00, released 19:30:30: 50 min 30 s of conversation, per started minute at
    // the band where the minute starts. Whole call: 20 peak minutes (18:40..18:59) × 0.30 = 6.00, 31 off-peak
    // minutes (19:00..19:30) × 0.12 = 3.72, connect 0.10: 9.82.
    const whole = call({ seizure: '2025-03-12T18:39:47Z', answer: '2025-03-12T18:40:00Z', release: '2025-03-12T19:30:30Z' });
    expect(cost(rated(rater.rate(whole, subject)))).toBe('9.820000');
    // Parts every 15 min from the seizure close at offsets 14:47, 29:47, 44:47 and 50:30 from the answer:
    // R(14:47) = 0.10 + 15 × 0.30 = 4.60; R(29:47) = 0.10 + 6.00 + 10 × 0.12 = 7.30; R(44:47) = 0.10 + 6.00 + 25 × 0.12 = 9.10.
    // Parts: 4.60, 7.30 - 4.60 = 2.70, 9.10 - 7.30 = 1.80, 9.82 - 9.10 = 0.72; the minute started at 14:47 is
    // the first part's, the second part bills from 15:00 on.
    const parts = partsOf(whole, 15 * 60_000);
    expect(parts.map((p) => [p.recordSequenceNumber, p.causeForTerm, p.billableMs / 1000])).toEqual([
      [1, 1, 887],
      [2, 1, 900],
      [3, 1, 900],
      [4, 0, 343],
    ]);
    const r = parts.map((p) => rated(rater.rate(p, subject)));
    expect(r.map(cost)).toEqual(['4.600000', '2.700000', '1.800000', '0.720000']);
    expect(r.map((x) => formatMicros(x.connectFeeMicros))).toEqual(['0.100000', '0.000000', '0.000000', '0.000000']);
    // The part across 19:00 shows its two band segments: 5 peak minutes (15..19), 10 off-peak ones (20..29).
    expect(r[1]!.bands).toBe('PEAK+OFFPEAK');
    expect(r[1]!.segments!.map((s) => [s.band, s.fromUsage / 60_000, s.billedUsage / 60_000, formatMicros(s.costMicros)])).toEqual([
      ['PEAK', 15, 5, '1.500000'],
      ['OFFPEAK', 20, 10, '1.200000'],
    ]);
    expect(r[1]!.billedUsage).toBe(15 * 60_000);
    expect(r[2]!.band).toBe('OFFPEAK');
    expect(r.reduce((a, x) => a + x.totalMicros, 0)).toBe(9_820_000);
  });

  it('each part is rounded once, with the difference carried: not four separately rounded quarters', () => {
    const { rater, subject } = raterOf(book({ voice: 'second' }));
    // 0.10 per minute billed per second, 1000 s in parts of 250 s; R(t) = t / 600 rounded half-up to 0.01:
    // R(250) = 0.42, R(500) = 0.83, R(750) = 1.25, R(1000) = 1.67. Parts 0.42, 0.41, 0.42, 0.42 = 1.67, where
    // rounding each quarter on its own (0.4167 -> 0.42) would bill 1.68. Each part's rounding share is the
    // difference of the roundings at its ends: +0.003333, -0.003333 - 0.003333, 0 + 0.003333, 0.003333 - 0.
    const whole = call({ seizure: '2025-03-12T10:00:00Z', answer: '2025-03-12T10:00:00Z', release: '2025-03-12T10:16:40Z' });
    expect(cost(rated(rater.rate(whole, subject)))).toBe('1.670000');
    const r = partsOf(whole, 250_000).map((p) => rated(rater.rate(p, subject)));
    expect(r.map(cost)).toEqual(['0.420000', '0.410000', '0.420000', '0.420000']);
    expect(r.map((x) => x.roundingMicros)).toEqual([3333, -6666, 3333, 3333]);
  });

  it('the minimum charge falls on the first part, and the later parts pay only what the call adds beyond it', () => {
    const { rater, subject } = raterOf(book({ minimum: '1.00' }));
    // Peak, per started minute at 0.30, connect 0.10, minimum 1.00; answered 10 s after the seizure, 3 min 20 s.
    // Parts every 60 s from the seizure end at offsets 50 s, 110 s, 170 s, 200 s: R = max(0.10 + n × 0.30, 1.00)
    // = 1.00, 1.00, 1.00, then 0.10 + 4 × 0.30 = 1.30. Parts 1.00, 0, 0, 0.30.
    const whole = call({ seizure: '2025-03-12T10:00:00Z', answer: '2025-03-12T10:00:10Z', release: '2025-03-12T10:03:30Z' });
    expect(cost(rated(rater.rate(whole, subject)))).toBe('1.300000');
    const r = partsOf(whole, 60_000).map((p) => rated(rater.rate(p, subject)));
    expect(r.map(cost)).toEqual(['1.000000', '0.000000', '0.000000', '0.300000']);
    expect(r[0]!.note).toBe('MINIMUM_CHARGE');
  });

  it('any split, any rounding method, across 08:00 and 19:00: the sum of the parts is the price unsplit', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (const method of ['up', 'down', 'half-up', 'half-even'] as Method[]) {
      for (const voice of ['minute', 'second'] as const) {
        const { rater, subject } = raterOf(book({ method, decimals: 2, voice, minimum: voice === 'minute' ? '0.50' : undefined }));
        for (let i = 0; i < 40; i++) {
          // Calls around the band changes, up to 3 hours, split every 1-20 min.
          const around = i % 2 === 0 ? '2025-03-12T07:00:00Z' : '2025-03-12T18:00:00Z';
          const s = at(around) + Math.floor(rnd() * 2 * 3_600_000);
          const a = s + Math.floor(rnd() * 30_000);
          const r = a + Math.floor(rnd() * 3 * 3_600_000);
          const whole = call({ seizure: new Date(s).toISOString(), answer: new Date(a).toISOString(), release: new Date(r).toISOString() });
          const interval = 60_000 + Math.floor(rnd() * 19 * 60_000);
          const parts = partsOf(whole, interval);
          const sum = parts.reduce((t, p) => t + rated(rater.rate(p, subject)).totalMicros, 0);
          expect(formatMicros(sum), `${method}/${voice} call ${i}: ${parts.length} parts`).toBe(cost(rater.rate(whole, subject)));
        }
      }
    }
  });
});

describe('SMS segments and data per serving network', () => {
  it('a 3-segment SMS costs 3 × the segment price, rounded once (0.0999 -> 0.10, not 3 × 0.03)', () => {
    const { rater, subject } = raterOf(book());
    const sms: Cdr = { ...call({ seizure: '2025-03-12T10:00:00Z', answer: '2025-03-12T10:00:00Z', release: '2025-03-12T10:00:00Z' }), eventType: 'SMS_MO', answerTime: null, billableMs: 0, durationMs: 0, smsSegments: 3 };
    expect(cost(rated(rater.rate(sms, subject)))).toBe('0.100000');
    expect(cost(rated(rater.rate({ ...sms, smsSegments: 1 }, subject)))).toBe('0.030000');
    // The segment count of the record, unless the caller says otherwise.
    expect(cost(rated(rater.rate(sms, subject, 2)))).toBe('0.070000');
  });

  it('data is priced by the network that served it; a later part of a session pays no connect fee', () => {
    const { rater, subject } = raterOf(book());
    const base = call({ seizure: '2025-03-12T10:00:00Z', answer: '2025-03-12T10:00:00Z', release: '2025-03-12T10:10:00Z' });
    const data: Cdr = { ...base, eventType: 'DATA', calledNumber: null, uplinkBytes: 234_567, downlinkBytes: 1_000_000 };
    // Orange France (20801 under "208"): 1,234,567 B in 10 KB blocks = 124 blocks = 1.24 MB × 0.50 = 0.62, + 0.05 connect.
    const fr = rated(rater.rate({ ...data, servingPlmn: '20801' }, subject));
    expect([fr.destinationId, fr.matchedPrefix, cost(fr)]).toEqual(['FRANCE', '208', '0.670000']);
    // At home ("*"): 1235 KB × 0.05 per MB = 0.06175 -> 0.06.
    expect(cost(rated(rater.rate(data, subject)))).toBe('0.060000');
    const later = rated(rater.rate({ ...data, servingPlmn: '20801', recordSequenceNumber: 2 }, subject));
    expect([formatMicros(later.connectFeeMicros), cost(later)]).toEqual(['0.000000', '0.620000']);
  });
});

describe('decoding contract v3 records', () => {
  const NOW = at('2025-03-13T00:00:00Z');
  const decode = createDecoder(cdrCodec(), { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW });
  const codec = cdrCodec();
  const one = (c: Cdr) => decode({ topic: 't', partition: 0 }, [{ key: null, value: codec.encode(c), offset: '0', timestamp: NOW }]);
  const whole = call({ seizure: '2025-03-12T18:39:47Z', answer: '2025-03-12T18:40:00Z', release: '2025-03-12T19:30:30Z' });
  const parts = partsOf(whole, 15 * 60_000);

  it('accepts the parts of a call and SMS of 1..255 segments', () => {
    for (const p of parts) expect(one(p).deadLetters).toEqual([]);
    const sms: Cdr = { ...whole, eventType: 'SMS_MO', answerTime: null, releaseTime: whole.seizureTime, durationMs: 0, billableMs: 0 };
    for (const n of [1, 3, 255]) expect(one({ ...sms, smsSegments: n }).deadLetters).toEqual([]);
  });

  it.each<[string, (c: Cdr) => Cdr, string]>([
    ['a later part longer than the call so far', (c) => ({ ...c, durationMs: c.releaseTime - c.seizureTime + 5000, billableMs: c.releaseTime - c.seizureTime + 5000 }), DeadLetterCode.INCONSISTENT_TIMES],
    ['a later part whose billable time is not its duration', (c) => ({ ...c, billableMs: c.billableMs - 60_000 }), DeadLetterCode.INCONSISTENT_TIMES],
    ['a later part of an unanswered call with billable time', (c) => ({ ...c, answerTime: null }), DeadLetterCode.INCONSISTENT_TIMES],
    ['part number 0', (c) => ({ ...c, recordSequenceNumber: 0 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['a partial SMS', (c) => ({ ...c, eventType: 'SMS_MO', answerTime: null, durationMs: 0, billableMs: 0, releaseTime: c.seizureTime }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['segments on a call', (c) => ({ ...c, smsSegments: 2 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['an SMS of 0 segments', (c) => ({ ...c, eventType: 'SMS_MO', recordSequenceNumber: null, answerTime: null, durationMs: 0, billableMs: 0, releaseTime: c.seizureTime, smsSegments: 0 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['an SMS of 256 segments', (c) => ({ ...c, eventType: 'SMS_MO', recordSequenceNumber: null, answerTime: null, durationMs: 0, billableMs: 0, releaseTime: c.seizureTime, smsSegments: 256 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['localRecordSequenceNumber beyond 32 bits', (c) => ({ ...c, localRecordSequenceNumber: 2 ** 32 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
  ])('dead-letters %s', (_what, edit, code) => {
    const r = one(edit(parts[1]!));
    expect(r.cdrs).toEqual([]);
    expect(r.deadLetters.map((d) => d.code)).toEqual([code]);
  });

  it('a complete record with causeForTerm partialRecord but no part number (contract v1/v2 data) is one complete record', () => {
    const r = one({ ...whole, causeForTerm: 1 });
    expect(r.deadLetters).toEqual([]);
  });
});

describe('the generator writes partial records and SMS segments', () => {
  it('--partial-interval: parts tile every long call, pass the decoder, and price like the call unsplit', () => {
    expect(parseInterval('30m', 'x')).toBe(1_800_000);
    expect(parseInterval('off', 'x')).toBe(0);
    expect(() => parseInterval('10s', 'x')).toThrow(/at least 1m/);
    const start = Date.UTC(2026, 9, 5, 6);
    const opts = { seed: 14, subscribers: 400, startMs: start, endMs: start + 6 * 3_600_000, scenarios: 'all' as const };
    const traffic = createTraffic(opts);
    const whole = [...traffic.records()];
    const split = [...createTraffic({ ...opts, partialIntervalMs: 5 * 60_000 }).records()];
    const partsByCall = new Map<string, Cdr[]>();
    for (const c of split) if (c.recordSequenceNumber !== null) partsByCall.set(c.recordId, [...(partsByCall.get(c.recordId) ?? []), c]);
    expect(partsByCall.size).toBeGreaterThan(20);
    expect(split.length).toBe(whole.length + [...partsByCall.values()].reduce((n, p) => n + p.length - 1, 0));
    expect(whole.some((c) => c.smsSegments > 1)).toBe(true);

    // Every record, parts included, passes the decoder.
    const codec = cdrCodec();
    const decode = createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => start + 7 * 3_600_000 });
    const r = decode({ topic: 't', partition: 0 }, split.map((c, i) => ({ key: null, value: codec.encode(c), offset: String(i), timestamp: 0 })));
    expect(r.deadLetters.map((d) => d.message)).toEqual([]);

    const ref = traffic.reference();
    const rating = createRating({ book: loadTariffBook(defaultTariffPath()), operator: ref.operator, numberingPlan: ref.numberingPlan, networks: ref.networks, countries: ref.countries, holidays: ref.holidays, lines: ref.lines(), contractedRates: ref.contractedRates() });
    const byId = new Map(whole.map((c) => [c.recordId, c]));
    let voiceCalls = 0;
    for (const [id, parts] of partsByCall) {
      const c = byId.get(id)!;
      // Same call: seizure, answer, release of the last part, billable time in total; causes as TS 32.298 says.
      expect(parts.map((p) => p.recordSequenceNumber)).toEqual(parts.map((_, i) => i + 1));
      expect(parts.every((p) => p.seizureTime === c.seizureTime && p.answerTime === c.answerTime)).toBe(true);
      expect(parts.at(-1)!.releaseTime).toBe(c.releaseTime);
      expect(parts.reduce((t, p) => t + p.billableMs, 0)).toBe(c.billableMs);
      expect(parts.reduce((t, p) => t + p.durationMs, 0)).toBe(c.durationMs);
      expect(parts.reduce((t, p) => t + p.uplinkBytes + p.downlinkBytes, 0)).toBe(c.uplinkBytes + c.downlinkBytes);
      expect(parts.slice(0, -1).every((p) => p.causeForTerm === 1)).toBe(true);
      expect(parts.at(-1)!.causeForTerm).toBe(c.causeForTerm);
      if (c.eventType === 'DATA') continue;
      voiceCalls++;
      const sum = parts.reduce((t, p) => t + rating.rate(p).totalMicros, 0);
      expect(formatMicros(sum), `call ${id}`).toBe(formatMicros(rating.rate(c).totalMicros));
    }
    expect(voiceCalls).toBeGreaterThan(5);
  }, 60_000);
});

describe('migration 0040 on a populated cdrs table', () => {
  let conn: ClickHouseConnection | undefined;
  afterAll(async () => conn?.close());

  it('keeps every stored row, keeps collapsing duplicates, and keeps the parts of a call apart', async () => {
    conn = await openEmbedded({ path: chPath(), database: uniqueName('v3ddl') });
    const all = loadMigrations(schemaPath('ddl'));
    // The schema as it was before contract v3, with rows in it: 300 CDRs, 100 of them twice (a switch's resend).
    await migrate(conn, all.filter((m) => m.version < 40));
    const start = Date.UTC(2026, 9, 5, 6);
    const cdrs = [...createTraffic({ seed: 3, subscribers: 600, startMs: start, endMs: start + 4 * 3_600_000 }).records()].slice(0, 300);
    expect(cdrs).toHaveLength(300);
    const oldColumns = CDR_INSERT_COLUMNS.filter((k) => !V3_COLUMNS.includes(k));
    // Before 0040 the table has no contract v3 columns: the positional row without them.
    const row = (c: Cdr, i: number) => JSON.stringify((JSON.parse(cdrRowCompact({ cdr: c, topic: 't', partition: 0, offset: String(i) })) as unknown[]).filter((_, k) => !V3_COLUMNS.includes(CDR_INSERT_COLUMNS[k]!))) + '\n';
    await conn.insert('cdrs', cdrs.map(row).join(''), {}, { format: 'JSONCompactEachRow', columns: oldColumns });
    await conn.insert('cdrs', cdrs.slice(0, 100).map((c, i) => row(c, 1000 + i)).join(''), {}, { format: 'JSONCompactEachRow', columns: oldColumns });
    const counts = async () => (await conn!.query<{ raw: string; final: string }>('SELECT (SELECT count() FROM cdrs) AS raw, (SELECT count() FROM cdrs FINAL) AS final'))[0]!;
    expect(await counts()).toEqual({ raw: '400', final: '300' });

    const applied = await migrate(conn, all);
    expect(applied.applied).toContain('0040_cdr_contract_v3');
    // Nothing lost: the same rows, read as complete records of one segment.
    expect(await counts()).toEqual({ raw: '400', final: '300' });
    const [v3] = await conn.query<{ seq: string; segs: string; key: string }>(
      "SELECT toString(groupUniqArray(record_sequence_number)) AS seq, toString(groupUniqArray(sms_segments)) AS segs, (SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'cdrs') AS key FROM cdrs",
    );
    expect(v3).toEqual({ seq: '[0]', segs: '[1]', key: 'served_msisdn, seizure_time, recording_entity, record_id, record_sequence_number' });

    // A long call in three parts (same record id and seizure), each part sent twice, and a REJECTED record.
    const long: Cdr = { ...cdrs.find((c) => c.eventType === 'VOICE_MO' && c.answerTime !== null)!, recordId: 'long-1' };
    long.releaseTime = long.seizureTime + 25 * 60_000;
    long.durationMs = long.releaseTime - long.seizureTime;
    long.billableMs = long.releaseTime - long.answerTime!;
    const parts = partsOf(long, 10 * 60_000);
    expect(parts).toHaveLength(3);
    const rejected: Cdr = { ...cdrs[0]!, recordId: 'rejected-1', disposition: 'REJECTED', answerTime: null, billableMs: 0 };
    const v3rows = [...parts, ...parts, rejected].map((c, i) => cdrRowCompact({ cdr: c, topic: 't', partition: 0, offset: String(2000 + i) })).join('');
    await conn.insert('cdrs', v3rows, {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
    await conn.command('OPTIMIZE TABLE cdrs FINAL');
    expect(await counts()).toEqual({ raw: '304', final: '304' });
    const stored = await conn.query<{ seq: number; billable: string; d: string }>("SELECT record_sequence_number AS seq, toString(billable_ms) AS billable, toString(disposition) AS d FROM cdrs WHERE record_id IN ('long-1', 'rejected-1') ORDER BY record_id, seq");
    expect(stored.map((r) => [Number(r.seq), Number(r.billable), r.d])).toEqual([...parts.map((p) => [p.recordSequenceNumber, p.billableMs, 'ANSWERED']), [0, 0, 'REJECTED']]);
  });
});

const V3_COLUMNS = ['record_sequence_number', 'local_record_sequence_number', 'sms_segments', 'charging_id', 'rat_type'];
