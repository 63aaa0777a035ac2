/**
 * Golden tests of the rating engine (issue #4). Every expected price is computed by hand in the comment next
 * to it from the tariff book below; nothing is copied from the engine's output. Amounts are micro-units
 * (1e-6 GBP): 0.3000 GBP = 300_000.
 *
 * Calendar used: Wednesday 2025-03-12 (GMT, UTC+0) is a normal weekday; Friday 2025-03-14; Saturday
 * 2025-03-15; Thursday 2025-12-25 is a holiday. Europe/London changes to BST (UTC+1) at 01:00 UTC on Sunday
 * 2025-03-30 and back at 01:00 UTC on Sunday 2025-10-26.
 */
import { describe, expect, it } from 'vitest';
import type { Cdr } from '../schemas/index.js';
import type { ContractedRateRecord, LineRecord, OperatorRecord } from '../schemas/reference.js';
import { formatMicros, ratingColumns, type Rating, type TariffBookFile } from '../schemas/tariff.js';
import { compileTariffs, createRating, defaultTariffPath, loadTariffBook, Normaliser, Rater, Subscribers, TariffError, type CompiledTariffs, type RatingSubject } from '../enrich/rate/index.js';
import { RationalSum, roundRational, ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP } from '../enrich/rate/money.js';
import { wallToUtc, zoneOffsetMs } from '../enrich/rate/time.js';
import { numberingPlan } from '../simulators/traffic/numbering.js';
import { createTraffic } from '../simulators/traffic/index.js';

import { testOperator } from './operator-fixture.js';

const OPERATOR: OperatorRecord = testOperator(['20801', '310260']);
const NETWORKS = [
  { plmn: '23499', mcc: '234', mnc: '99', country: 'GB', operator: 'Test', home: true, timezone: 'Europe/London' },
  { plmn: '20801', mcc: '208', mnc: '01', country: 'FR', operator: 'Orange France', home: false, timezone: 'Europe/Paris' },
  { plmn: '310260', mcc: '310', mnc: '260', country: 'US', operator: 'T-Mobile USA', home: false, timezone: 'America/New_York' },
];
const COUNTRIES = [
  { country: 'GB', name: 'United Kingdom', countryCode: '44', timezone: 'Europe/London' },
  { country: 'FR', name: 'France', countryCode: '33', timezone: 'Europe/Paris' },
  { country: 'US', name: 'United States', countryCode: '1', timezone: 'America/New_York' },
];

const round = (method: 'up' | 'down' | 'half-up' | 'half-even') => ({ versions: [{ version: 'v1', effectiveFrom: '2025-01-01', prices: { voice: [{ destination: '*', rate: `TIE_${method}` }] } }] });
const tie = (method: 'up' | 'down' | 'half-up' | 'half-even') => ({ price: '0.0100', per: '60s', increments: '1/1', rounding: { method, decimals: 2 } });

const BOOK: TariffBookFile = {
  format: 'cdr-pipeline/tariffs@1',
  currency: 'GBP',
  timezone: 'Europe/London',
  rounding: { method: 'half-up', decimals: 4 },
  calendars: { GB: ['2025-12-25', '2025-12-26'] },
  bandSchedules: {
    RETAIL: [{ band: 'HOLIDAY', holidays: 'GB' }, { band: 'WEEKEND', days: '6-7' }, { band: 'PEAK', days: '1-5', from: '08:00', to: '19:00' }, { band: 'OFFPEAK' }],
    NIGHT_DAY: [{ band: 'NIGHT', to: '06:00' }, { band: 'DAY' }],
  },
  destinations: {
    UK_MOBILE: ['447'],
    UK_FIXED: ['441', '442'],
    ONNET: ['44791'],
    CALL_CENTRE: ['44345'],
    FR: ['33'],
    FR_MOBILE: ['336', '337'],
    US: ['1'],
    UK_PREMIUM: ['449'],
    EMERGENCY: { shortCodes: ['999', '112'] },
    DIRECTORY: { shortCodes: ['118'] },
  },
  rates: {
    FREE: { price: '0' },
    MOB_PEAK: { price: '0.3000', per: '60s', increments: '60/1' },
    MOB_OFF: { price: '0.1200', per: '60s', increments: '60/1' },
    MOB_OFF_2025_07: { price: '0.1500', per: '60s', increments: '60/1' },
    MOB_WEEKEND: { price: '0.0600', per: '60s', increments: '1/1' },
    FIX_PEAK: { price: '0.1000', per: '60s', increments: '60/60' },
    FIX_OFF: { price: '0.0500', per: '60s', increments: '60/60' },
    ONNET: { price: '0.0500', per: '60s', increments: '30/6', connectFee: '0.0200', minimumCharge: '0.0500' },
    CALL_CENTRE: { price: '0.0500', per: '60s' },
    FR: { price: '0.2000', per: '60s', increments: '1/1' },
    FR_MOBILE: { price: '0.2500', per: '60s', increments: '60/1', maximumCharge: '1.0000' },
    US: { price: '0.1000', per: '60s', increments: '1/1', freeBelow: '5s' },
    PREMIUM: { price: '1.5000', per: '60s', increments: '60/60', connectFee: '0.5000' },
    DIRECTORY: { price: '0', connectFee: '1.0000' },
    TIERED: { groups: [{ from: 0, price: '0.6000', per: '60s', increment: '60s' }, { from: '60s', price: '0.3000', per: '60s', increment: '6s' }, { from: '10m', price: '0.1000', per: '60s', increment: '1s' }] },
    NIGHT: { price: '0.0600', per: '60s', increments: '1/1' },
    DAY: { price: '0.1200', per: '60s', increments: '1/1' },
    SMS_UK: { price: '0.0800', per: '1msg' },
    SMS_INTL: { price: '0.1500', per: '1msg' },
    DATA: { price: '0.0200', per: '1MB', increments: '100KB' },
    ROAM_EU: { price: '0.0500', per: '60s', increments: '60/1' },
    ROAM_EU_SMS: { price: '0.0200', per: '1msg' },
    ROAM_WORLD: { price: '1.0000', per: '60s', increments: '60/60' },
    ROAM_WORLD_IN: { price: '0.5000', per: '60s', increments: '60/60' },
    ROAM_WORLD_DATA: { price: '5.0000', per: '1MB', increments: '10KB' },
    TIE_up: tie('up'),
    TIE_down: tie('down'),
    'TIE_half-up': tie('half-up'),
    'TIE_half-even': tie('half-even'),
  },
  roamingZones: { EU: ['FR', 'DE'], WORLD: ['*'] },
  tariffs: {
    RETAIL: {
      versions: [
        {
          version: '2025-01',
          effectiveFrom: '2025-01-01',
          bands: 'RETAIL',
          prices: {
            voice: [
              { destination: 'UK_MOBILE', rate: { PEAK: 'MOB_PEAK', OFFPEAK: 'MOB_OFF', WEEKEND: 'MOB_WEEKEND', HOLIDAY: 'MOB_WEEKEND' } },
              { destination: 'UK_FIXED', rate: { PEAK: 'FIX_PEAK', OFFPEAK: 'FIX_OFF', WEEKEND: 'FIX_OFF', HOLIDAY: 'FIX_OFF' } },
              { destination: 'ONNET', rate: 'ONNET' },
              { destination: 'CALL_CENTRE', rate: { PEAK: 'CALL_CENTRE' } },
              { destination: 'FR', rate: 'FR' },
              { destination: 'FR_MOBILE', rate: 'FR_MOBILE' },
              { destination: 'US', rate: 'US' },
              { destination: 'UK_PREMIUM', rate: 'PREMIUM' },
              { destination: 'EMERGENCY', rate: 'FREE' },
              { destination: 'DIRECTORY', rate: 'DIRECTORY' },
            ],
            'voice-in': [{ destination: '*', rate: 'FREE' }],
            sms: [
              { destination: 'UK_MOBILE', rate: 'SMS_UK' },
              { destination: '*', rate: 'SMS_INTL' },
            ],
            'sms-in': [{ destination: '*', rate: 'FREE' }],
            data: [{ destination: '*', rate: 'DATA' }],
          },
          roaming: { EU: { voice: 'ROAM_EU', sms: 'ROAM_EU_SMS' }, WORLD: { voice: 'ROAM_WORLD', 'voice-in': 'ROAM_WORLD_IN', data: 'ROAM_WORLD_DATA' } },
        },
        { version: '2025-07', effectiveFrom: '2025-07-01', basedOn: '2025-01', prices: { voice: [{ destination: 'UK_MOBILE', rate: { PEAK: 'MOB_PEAK', OFFPEAK: 'MOB_OFF_2025_07', WEEKEND: 'MOB_WEEKEND', HOLIDAY: 'MOB_WEEKEND' } }] } },
      ],
    },
    NIGHT_DAY: { versions: [{ version: 'v1', effectiveFrom: '2025-01-01', bands: 'NIGHT_DAY', prices: { voice: [{ destination: '*', rate: { NIGHT: 'NIGHT', DAY: 'DAY' } }] } }] },
    TIERED: { versions: [{ version: 'v1', effectiveFrom: '2025-01-01', prices: { voice: [{ destination: '*', rate: 'TIERED' }] } }] },
    CONTRACT_FALLBACK: { fallback: ['RETAIL'], versions: [{ version: 'v1', effectiveFrom: '2025-01-01', prices: { voice: [{ destination: 'FR', rate: 'MOB_WEEKEND' }] } }] },
    'ROUND-up': round('up'),
    'ROUND-down': round('down'),
    'ROUND-half-up': round('half-up'),
    'ROUND-half-even': round('half-even'),
  },
  assignments: { plans: { STD: 'RETAIL' }, default: 'RETAIL', inboundRoamers: 'TIERED' },
};

const tariffs = compileTariffs(BOOK);
const normaliser = new Normaliser({ operator: OPERATOR, numberingPlan: numberingPlan(), networks: NETWORKS, countries: COUNTRIES });
const rater = new Rater(tariffs, normaliser, { homePlmn: '23499' });

function subject(tariff: string, book: CompiledTariffs = tariffs): RatingSubject {
  const t = book.tariffIndex.get(tariff);
  if (t === undefined) throw new Error(`no tariff ${tariff}`);
  return { accountId: 'AC1', chain: book.tariffs[t]!.chain, contract: null };
}
const RETAIL = subject('RETAIL');

const at = (iso: string) => Date.parse(iso);

/** A CDR with everything set; voice calls answered at `answer` lasting `ms`. */
function voice(called: string | null, answer: string, ms: number, o: Partial<Cdr> = {}): Cdr {
  const a = at(answer);
  return {
    recordId: 'r1',
    recordingEntity: 'MSC-LON1',
    eventType: 'VOICE_MO',
    servedImsi: '234990000000001',
    servedImei: null,
    servedMsisdn: '447910000001',
    callingNumber: '447910000001',
    calledNumber: called,
    connectedNumber: null,
    translatedNumber: null,
    originalCalledNumber: null,
    redirectingNumber: null,
    redirectionReason: null,
    redirectionCounter: 0,
    seizureTime: a - 5000,
    answerTime: a,
    releaseTime: a + ms,
    utcOffsetMinutes: 0,
    durationMs: ms + 5000,
    billableMs: ms,
    causeForTerm: 0,
    q850Cause: 16,
    disposition: 'ANSWERED',
    servingPlmn: '23499',
    homePlmn: '23499',
    lac: null,
    tac: null,
    cellId: null,
    inTrunkGroup: null,
    outTrunkGroup: null,
    smsCentre: null,
    smsResult: null,
    apn: null,
    ratingGroup: null,
    uplinkBytes: 0,
    downlinkBytes: 0,
    extensions: {},
    chargingId: null,
    ratType: null,
    recordSequenceNumber: null,
    localRecordSequenceNumber: null,
    smsSegments: 1,
    ...o,
  };
}

function rated(r: Rating): Rating {
  expect(r.status, `unrated: ${r.reason}`).toBe('RATED');
  expect(r.totalMicros).toBe(r.connectFeeMicros + r.usageMicros + r.adjustmentMicros + r.surchargeMicros);
  return r;
}

const PEAK_WED = '2025-03-12T10:00:00Z';
const MOBILE = '07700900123'; // national form of 447700900123 (UK mobile, off-net)

describe('money: exact fractions and the four rounding methods', () => {
  it('rounds exact fractions, ties included', () => {
    // 5/2 micro-units to whole micro-units: 2.5 -> up 3, down 2, half-up 3, half-even 2.
    expect([ROUND_UP, ROUND_DOWN, ROUND_HALF_UP, ROUND_HALF_EVEN].map((m) => roundRational(5, 2, 1, m))).toEqual([3, 2, 3, 2]);
    // 7/2 = 3.5 -> half-even 4 (to the even neighbour).
    expect(roundRational(7, 2, 1, ROUND_HALF_EVEN)).toBe(4);
    // 10/3 micro-units to multiples of 100: 3.33 -> up 100, down 0, half-up 0.
    expect([ROUND_UP, ROUND_DOWN, ROUND_HALF_UP].map((m) => roundRational(10, 3, 100, m))).toEqual([100, 0, 0]);
  });

  it('moves to bigint when a sum outgrows 2^53 and stays exact', () => {
    const ok = new RationalSum();
    ok.add(2 ** 52, 1, 2); // 2^52 / 2: safe
    ok.add(2 ** 52, 1, 3); // over the common denominator 6: 3 × 2^52 + 2 × 2^52 overflows -> bigint
    // exact value 2^52 × (1/2 + 1/3) = 2^52 × 5/6 = 3752999689475413.33 -> half-up 3752999689475413.
    expect(ok.round(1, ROUND_HALF_UP)).toBe(3752999689475413);
    // A charge that is itself beyond 2^53 micro-units is refused, never silently wrong.
    const huge = new RationalSum();
    huge.add(3 * 2 ** 51, 5000, 3); // 2^51 × 5000 micro-units
    expect(() => huge.round(1, ROUND_DOWN)).toThrow(/exceeds the safe range/);
  });
});

describe('time zones', () => {
  it('knows the Europe/London offsets and the first instant of a local wall time', () => {
    expect(zoneOffsetMs('Europe/London', at('2025-03-30T00:59:59Z'))).toBe(0);
    expect(zoneOffsetMs('Europe/London', at('2025-03-30T01:00:00Z'))).toBe(3_600_000);
    // 01:30 local does not exist on 30 March: the boundary is the transition, 01:00Z.
    expect(wallToUtc('Europe/London', Date.UTC(2025, 2, 30, 1, 30))).toBe(at('2025-03-30T01:00:00Z'));
    // 01:30 local happens twice on 26 October: the first occurrence, 00:30Z (BST).
    expect(wallToUtc('Europe/London', Date.UTC(2025, 9, 26, 1, 30))).toBe(at('2025-10-26T00:30:00Z'));
    // Midnight of 1 July 2025 (BST) is 23:00Z on 30 June.
    expect(wallToUtc('Europe/London', Date.UTC(2025, 6, 1))).toBe(at('2025-06-30T23:00:00Z'));
  });
});

describe('voice: rate groups, increments and edges', () => {
  it('0 s costs nothing but is still explained', () => {
    const r = rated(rater.rate(voice(MOBILE, PEAK_WED, 0), RETAIL));
    expect(r).toMatchObject({ totalMicros: 0, billedUsage: 0, note: 'NO_USAGE', band: 'PEAK', rateId: 'MOB_PEAK', destinationId: 'UK_MOBILE', matchedPrefix: '447' });
  });

  it('1 s is billed as the first 60 s block (60/1)', () => {
    // 60 s × 0.30 / 60 s = 0.30
    const r = rated(rater.rate(voice(MOBILE, PEAK_WED, 1000), RETAIL));
    expect(r.totalMicros).toBe(300_000);
    expect(r.billedUsage).toBe(60_000);
    expect(r).toMatchObject({ tariffId: 'RETAIL', tariffVersion: '2025-01', number: '447700900123', numberCategory: 'mobile', numberCountry: 'GB', rounding: 'half-up/4', currency: 'GBP' });
  });

  it('exactly on an increment, one ms past it, and one second past it', () => {
    // 60 s: one block = 0.30. 60.001 s: 60 + 1 s = 0.30 + 0.005 = 0.305. 61 s: the same 0.305.
    expect(rater.rate(voice(MOBILE, PEAK_WED, 60_000), RETAIL).totalMicros).toBe(300_000);
    expect(rater.rate(voice(MOBILE, PEAK_WED, 60_001), RETAIL).totalMicros).toBe(305_000);
    const r = rater.rate(voice(MOBILE, PEAK_WED, 61_000), RETAIL);
    expect(r.totalMicros).toBe(305_000);
    expect(r.billedUsage).toBe(61_000);
    // 120 s: 0.30 + 60 × 0.005 = 0.60.
    expect(rater.rate(voice(MOBILE, PEAK_WED, 120_000), RETAIL).totalMicros).toBe(600_000);
  });

  it('60/60 bills whole minutes', () => {
    // 61 s to a fixed number at peak: 2 blocks of 60 s × 0.10/min = 0.20.
    const r = rater.rate(voice('02079460000', PEAK_WED, 61_000), RETAIL);
    expect(r).toMatchObject({ totalMicros: 200_000, billedUsage: 120_000, destinationId: 'UK_FIXED', matchedPrefix: '442' });
  });

  it('1/1 per second with rounding of the exact charge', () => {
    // 7 s to France at 0.20/min = 7 × 0.2/60 = 0.0233333... -> half-up to 4 decimals 0.0233.
    const r = rater.rate(voice('0033145678901', PEAK_WED, 7000), RETAIL);
    expect(r).toMatchObject({ totalMicros: 23_300, destinationId: 'FR', numberCategory: 'international', numberCountry: 'FR' });
  });

  it('30/6 with a connect fee and a minimum charge', () => {
    // 10 s on-net: block of 30 s × 0.05/60 = 0.025, + connect 0.02 = 0.045 < minimum 0.05 -> top-up 0.005.
    const a = rated(rater.rate(voice('07910000002', PEAK_WED, 10_000), RETAIL));
    expect(a).toMatchObject({ connectFeeMicros: 20_000, usageMicros: 25_000, adjustmentMicros: 5_000, totalMicros: 50_000, note: 'MINIMUM_CHARGE', billedUsage: 30_000, destinationId: 'ONNET' });
    // 45 s: 30 s + ceil(15/6) = 3 blocks of 6 s -> 48 s × 0.05/60 = 0.04, + 0.02 = 0.06 (above the minimum).
    const b = rated(rater.rate(voice('07910000002', PEAK_WED, 45_000), RETAIL));
    expect(b).toMatchObject({ usageMicros: 40_000, adjustmentMicros: 0, totalMicros: 60_000, billedUsage: 48_000, note: null });
  });

  it('maximum charge caps connect fee + usage', () => {
    // 600 s to a French mobile at 0.25/min = 2.50 -> capped at 1.00 (adjustment -1.50).
    const r = rated(rater.rate(voice('+33612345678', PEAK_WED, 600_000), RETAIL));
    expect(r).toMatchObject({ usageMicros: 2_500_000, adjustmentMicros: -1_500_000, totalMicros: 1_000_000, note: 'MAXIMUM_CHARGE', destinationId: 'FR_MOBILE', matchedPrefix: '336' });
  });

  it('free below N seconds: 4.999 s free, 5 s charged', () => {
    const free = rated(rater.rate(voice('0012125550100', PEAK_WED, 4999), RETAIL));
    expect(free).toMatchObject({ totalMicros: 0, note: 'FREE_BELOW', billedUsage: 0, destinationId: 'US' });
    // 5 s × 0.10/60 = 0.0083333 -> 0.0083.
    expect(rater.rate(voice('0012125550100', PEAK_WED, 5000), RETAIL).totalMicros).toBe(8_300);
  });

  it('connect fee and whole-minute blocks of a premium number', () => {
    // 61 s to 09: 2 minutes × 1.50 = 3.00, + connect 0.50 = 3.50.
    const r = rated(rater.rate(voice('09011234567', PEAK_WED, 61_000), RETAIL));
    expect(r).toMatchObject({ connectFeeMicros: 500_000, usageMicros: 3_000_000, totalMicros: 3_500_000, numberCategory: 'premium' });
  });

  it('short codes: emergency free, directory per call', () => {
    const e = rated(rater.rate(voice('999', PEAK_WED, 30_000), RETAIL));
    expect(e).toMatchObject({ totalMicros: 0, destinationId: 'EMERGENCY', number: '999', numberCategory: 'emergency', matchedPrefix: '999' });
    // 118118: connect 1.00, nothing per minute.
    const d = rated(rater.rate(voice('118118', PEAK_WED, 90_000), RETAIL));
    expect(d).toMatchObject({ totalMicros: 1_000_000, destinationId: 'DIRECTORY', matchedPrefix: '118' });
  });

  it('progressive rate groups by elapsed time (first minute, then 6 s, from 10 min per second)', () => {
    // 11 min 30.5 s = 690.5 s: group 0: 60 s = 0.60; group 1 from 60 s to 600 s: 540 s in 90 blocks of 6 s =
    // 540 × 0.30/60 = 2.70; group 2 from 600 s: 91 s (90.5 rounded up) × 0.10/60 = 0.151666.. ; total
    // 3.451666.. -> 3.4517.
    const r = rated(rater.rate(voice(MOBILE, PEAK_WED, 690_500), subject('TIERED')));
    expect(r.totalMicros).toBe(3_451_700);
    expect(r.billedUsage).toBe(691_000);
  });
});

describe('time bands', () => {
  it('weekend and holiday bands', () => {
    // Saturday: 60 s × 0.06/60 = 0.06 (per second, no first block).
    expect(rater.rate(voice(MOBILE, '2025-03-15T10:00:00Z', 60_000), RETAIL)).toMatchObject({ band: 'WEEKEND', totalMicros: 60_000 });
    // Thursday 25 December is a holiday: the HOLIDAY rule comes first.
    expect(rater.rate(voice(MOBILE, '2025-12-25T10:00:00Z', 60_000), RETAIL)).toMatchObject({ band: 'HOLIDAY', rateId: 'MOB_WEEKEND', totalMicros: 60_000 });
    // Wednesday 19:00 is off-peak: first block 60 s × 0.12/60 = 0.12.
    expect(rater.rate(voice(MOBILE, '2025-03-12T19:00:00Z', 60_000), RETAIL)).toMatchObject({ band: 'OFFPEAK', totalMicros: 120_000 });
  });

  it('a call crossing peak -> off-peak is split and each segment priced', () => {
    // 18:59:30 + 120 s. The first block (60 s) starts at peak: 0.30 (it overruns 19:00 by 30 s). The next
    // block starts at 19:00:30, off-peak, at offset 60 s -> second group of MOB_OFF (per second):
    // 60 × 0.12/60 = 0.12. Total 0.42.
    const r = rated(rater.rate(voice(MOBILE, '2025-03-12T18:59:30Z', 120_000), RETAIL));
    expect(r.totalMicros).toBe(420_000);
    expect(r.bands).toBe('PEAK+OFFPEAK');
    expect(r.segments).toEqual([
      { band: 'PEAK', rateId: 'MOB_PEAK', fromUsage: 0, billedUsage: 60_000, costMicros: 300_000 },
      { band: 'OFFPEAK', rateId: 'MOB_OFF', fromUsage: 60_000, billedUsage: 60_000, costMicros: 120_000 },
    ]);
  });

  it('several bands in one call, across midnight into the weekend', () => {
    // Friday 18:30 + 6 h. PEAK 18:30-19:00: 60 s block 0.30 + 1740 s × 0.005 = 9.00. OFFPEAK 19:00-24:00:
    // 18000 s per second × 0.002 = 36.00. Saturday WEEKEND 00:00-00:30: 1800 s × 0.001 = 1.80. Total 46.80.
    const r = rated(rater.rate(voice(MOBILE, '2025-03-14T18:30:00Z', 6 * 3_600_000), RETAIL));
    expect(r.segments?.map((s) => [s.band, s.costMicros])).toEqual([
      ['PEAK', 9_000_000],
      ['OFFPEAK', 36_000_000],
      ['WEEKEND', 1_800_000],
    ]);
    expect(r.totalMicros).toBe(46_800_000);
    expect(r.bands).toBe('PEAK+OFFPEAK+WEEKEND');
  });

  it('crossing midnight within one band is one segment', () => {
    // Tuesday 23:59 + 120 s, off-peak on both days: 0.12 + 60 × 0.002 = 0.24, not split.
    const r = rated(rater.rate(voice(MOBILE, '2025-03-11T23:59:00Z', 120_000), RETAIL));
    expect(r).toMatchObject({ totalMicros: 240_000, segments: null, bands: 'OFFPEAK' });
  });

  it('the spring-forward day: 06:00 local is 05:00 UTC', () => {
    const ND = subject('NIGHT_DAY');
    // 2025-03-30 04:30Z = 05:30 BST: 30 min night (× 0.06/min = 1.80) + 30 min day (× 0.12 = 3.60) = 5.40.
    const a = rated(rater.rate(voice(MOBILE, '2025-03-30T04:30:00Z', 3_600_000), ND));
    expect(a.segments?.map((s) => [s.band, s.billedUsage, s.costMicros])).toEqual([
      ['NIGHT', 1_800_000, 1_800_000],
      ['DAY', 1_800_000, 3_600_000],
    ]);
    expect(a.totalMicros).toBe(5_400_000);
    // The day before (GMT) 04:30Z is 04:30 local: the whole hour is night, 60 × 0.06 = 3.60.
    expect(rater.rate(voice(MOBILE, '2025-03-29T04:30:00Z', 3_600_000), ND)).toMatchObject({ totalMicros: 3_600_000, segments: null });
    // From local midnight (00:00Z) for 6 h: the night lasts 5 real hours (300 min × 0.06 = 18.00), then
    // 1 h of day (7.20): 25.20.
    expect(rater.rate(voice(MOBILE, '2025-03-30T00:00:00Z', 6 * 3_600_000), ND).totalMicros).toBe(25_200_000);
  });

  it('the fall-back day: the night from local midnight lasts 7 real hours', () => {
    const ND = subject('NIGHT_DAY');
    // Local midnight of 26 October is 23:00Z on the 25th (BST); 06:00 local is 06:00Z (GMT): 7 h of night,
    // 420 min × 0.06 = 25.20, one segment.
    expect(rater.rate(voice(MOBILE, '2025-10-25T23:00:00Z', 7 * 3_600_000), ND)).toMatchObject({ totalMicros: 25_200_000, segments: null, band: 'NIGHT' });
    // A normal BST day: midnight 23:00Z, 06:00 local = 05:00Z: 6 h night (21.60) + 1 h day (7.20) = 28.80.
    expect(rater.rate(voice(MOBILE, '2025-10-18T23:00:00Z', 7 * 3_600_000), ND).totalMicros).toBe(28_800_000);
  });
});

describe('effective-dated versions', () => {
  it('a price change at local midnight applies by call start', () => {
    // 1 July 2025 00:00 BST = 30 June 23:00Z. One ms before: version 2025-01, off-peak 0.12 for the first
    // minute, even though the call continues into July.
    const before = rated(rater.rate(voice(MOBILE, '2025-06-30T22:59:59.999Z', 60_000), RETAIL));
    expect(before).toMatchObject({ tariffVersion: '2025-01', rateId: 'MOB_OFF', totalMicros: 120_000 });
    // At midnight: version 2025-07, 0.15.
    const after = rated(rater.rate(voice(MOBILE, '2025-06-30T23:00:00.000Z', 60_000), RETAIL));
    expect(after).toMatchObject({ tariffVersion: '2025-07', rateId: 'MOB_OFF_2025_07', totalMicros: 150_000 });
    // basedOn: everything else of 2025-01 carries over (France per second: 60 × 0.2/60 = 0.20).
    expect(rater.rate(voice('+33145678901', '2025-07-02T10:00:00Z', 60_000), RETAIL)).toMatchObject({ tariffVersion: '2025-07', totalMicros: 200_000 });
  });
});

describe('rounding methods on ties', () => {
  // 0.01 per minute billed per second, rounded to 2 decimals. 30 s = 0.005, 90 s = 0.015, 150 s = 0.025
  // (ties), 20 s = 0.00333 (not a tie).
  const cases: [string, number[]][] = [
    ['up', [10_000, 20_000, 30_000, 10_000]],
    ['down', [0, 10_000, 20_000, 0]],
    ['half-up', [10_000, 20_000, 30_000, 0]],
    ['half-even', [0, 20_000, 20_000, 0]],
  ];
  for (const [method, expected] of cases) {
    it(method, () => {
      const s = subject(`ROUND-${method}`);
      const got = [30_000, 90_000, 150_000, 20_000].map((ms) => rater.rate(voice(MOBILE, PEAK_WED, ms), s).totalMicros);
      expect(got).toEqual(expected);
      expect(rater.rate(voice(MOBILE, PEAK_WED, 30_000), s).rounding).toBe(`${method}/2`);
    });
  }
});

describe('roaming, SMS and data', () => {
  it('roaming surcharge in the EU zone', () => {
    // In France (20801) calling a UK mobile at peak for 90 s: 0.30 + 30 × 0.005 = 0.45; EU surcharge 0.05/min
    // 60/1: 0.05 + 30 × 0.05/60 = 0.075. Total 0.525.
    const r = rated(rater.rate(voice('+447700900123', PEAK_WED, 90_000, { servingPlmn: '20801', recordingEntity: 'VPMN-20801' }), RETAIL));
    expect(r).toMatchObject({ usageMicros: 450_000, surchargeMicros: 75_000, totalMicros: 525_000, roamingZone: 'EU', surchargeRateId: 'ROAM_EU' });
  });

  it('incoming call while roaming in the rest of the world', () => {
    // Receiving 61 s in the US: free at home, surcharge 0.50/min in whole minutes -> 1.00.
    const r = rated(rater.rate(voice(null, PEAK_WED, 61_000, { eventType: 'VOICE_MT', callingNumber: '447700900123', calledNumber: '447910000001', servingPlmn: '310260', recordingEntity: 'VPMN-310260' }), RETAIL));
    expect(r).toMatchObject({ service: 'voice-in', usageMicros: 0, surchargeMicros: 1_000_000, totalMicros: 1_000_000, roamingZone: 'WORLD', destinationId: '*' });
  });

  it('a serving network missing from networks.csv is in the "*" zone', () => {
    // 60 s at peak 0.30 + WORLD surcharge 1.00 per started minute = 1.30.
    const r = rated(rater.rate(voice(MOBILE, PEAK_WED, 60_000, { servingPlmn: '99999' }), RETAIL));
    expect(r).toMatchObject({ roamingZone: 'WORLD', totalMicros: 1_300_000 });
  });

  it('dialling from a NANP network: 011 is the international prefix there', () => {
    // In the US dialling 011 44 7700 900123: a UK mobile; 60 s at peak 0.30 + world surcharge 1.00/min = 1.30.
    const r = rated(rater.rate(voice('011447700900123', PEAK_WED, 60_000, { servingPlmn: '310260', recordingEntity: 'VPMN-310260' }), RETAIL));
    expect(r).toMatchObject({ number: '447700900123', destinationId: 'UK_MOBILE', totalMicros: 1_300_000 });
  });

  it('SMS per message', () => {
    const sms = (to: string, o: Partial<Cdr> = {}) => voice(to, PEAK_WED, 0, { eventType: 'SMS_MO', answerTime: null, billableMs: 0, ...o });
    expect(rated(rater.rate(sms('07700900123'), RETAIL))).toMatchObject({ service: 'sms', usage: 1, billedUsage: 1, unit: 'message', totalMicros: 80_000 });
    expect(rated(rater.rate(sms('+33612345678'), RETAIL))).toMatchObject({ destinationId: '*', totalMicros: 150_000 });
    // In France: 0.08 + EU SMS surcharge 0.02.
    expect(rated(rater.rate(sms('+447700900123', { servingPlmn: '20801', recordingEntity: 'VPMN-20801' }), RETAIL)).totalMicros).toBe(100_000);
    expect(rated(rater.rate(sms('447910000001', { eventType: 'SMS_MT', callingNumber: '80269' }), RETAIL))).toMatchObject({ service: 'sms-in', totalMicros: 0, numberCategory: 'short-code' });
  });

  it('data by volume, rounded up to 100 KB blocks', () => {
    const data = (bytes: number, o: Partial<Cdr> = {}) => voice(null, PEAK_WED, 600_000, { eventType: 'DATA', recordingEntity: 'PGW-1', callingNumber: null, uplinkBytes: Math.floor(bytes / 10), downlinkBytes: bytes - Math.floor(bytes / 10), ...o });
    // 250,001 bytes -> 3 blocks of 100,000 = 0.3 MB × 0.02 = 0.006.
    expect(rated(rater.rate(data(250_001), RETAIL))).toMatchObject({ unit: 'byte', usage: 250_001, billedUsage: 300_000, totalMicros: 6_000, destinationId: '*' });
    // Exactly 100,000 bytes: one block, 0.002.
    expect(rater.rate(data(100_000), RETAIL).totalMicros).toBe(2_000);
    expect(rater.rate(data(0), RETAIL)).toMatchObject({ totalMicros: 0, note: 'NO_USAGE', status: 'RATED' });
    // Roaming in the US: 1,234,567 bytes. Home price: 13 blocks = 1.3 MB × 0.02 = 0.026. Surcharge 5.00/MB in
    // 10 KB blocks: 124 blocks = 1.24 MB × 5 = 6.20. Total 6.226.
    expect(rated(rater.rate(data(1_234_567, { servingPlmn: '310260', recordingEntity: 'VPMN-310260' }), RETAIL))).toMatchObject({ usageMicros: 26_000, surchargeMicros: 6_200_000, totalMicros: 6_226_000 });
  });
});

describe('the bundled book prices pay-as-you-go data by serving network', () => {
  const book = compileTariffs(loadTariffBook(defaultTariffPath()));
  const r = new Rater(book, normaliser, { homePlmn: '23499' });
  const payg = subject('RETAIL-PAYG', book);
  const data = (plmn: string | null, bytes: number) => voice(null, PEAK_WED, 600_000, { eventType: 'DATA', recordingEntity: 'PGW-1', callingNumber: null, servingPlmn: plmn, uplinkBytes: 0, downlinkBytes: bytes });
  it('home, EU and the rest of the world, no additive data surcharge', () => {
    // 1,234,567 B. Home (234 99, or no serving network): 1235 KB = 1.235 MB × 0.05 = 0.06175 -> half-up/4 0.0618.
    expect(rated(r.rate(data('23499', 1_234_567), payg))).toMatchObject({ destinationId: 'UK_NETWORKS', matchedPrefix: '234', totalMicros: 61_800 });
    expect(rated(r.rate(data(null, 1_234_567), payg))).toMatchObject({ destinationId: 'UK_NETWORKS', totalMicros: 61_800 });
    // France (208 01): 1.235 MB × 0.055 = 0.067925 -> 0.0679.
    expect(rated(r.rate(data('20801', 1_234_567), payg))).toMatchObject({ destinationId: 'EU_NETWORKS', totalMicros: 67_900, surchargeMicros: 0 });
    // USA (310 260): 124 × 10 KB = 1.24 MB × 6.05 = 7.502.
    expect(rated(r.rate(data('310260', 1_234_567), payg))).toMatchObject({ destinationId: '*', totalMicros: 7_502_000, surchargeMicros: 0 });
  });
});

describe('unrated CDRs keep a reason and no price', () => {
  const expectUnrated = (r: Rating, reason: string) => {
    expect(r.status).toBe('UNRATED');
    expect(r.reason).toBe(reason);
    expect(r.totalMicros).toBe(0);
  };
  it('unknown account', () => expectUnrated(rater.rate(voice(MOBILE, PEAK_WED, 60_000), null), 'UNKNOWN_ACCOUNT'));
  it('no tariff for the plan', () => expectUnrated(rater.rate(voice(MOBILE, PEAK_WED, 60_000), { accountId: 'X', chain: -1, contract: null }), 'NO_TARIFF'));
  it('no tariff version effective at the call', () => {
    const r = rater.rate(voice(MOBILE, '2024-12-31T23:59:59.999Z', 60_000), RETAIL);
    expectUnrated(r, 'NO_TARIFF_VERSION');
    expect(r.number).toBe('447700900123'); // the explanation still says what was called
  });
  it('no matching prefix', () => expectUnrated(rater.rate(voice('+8613812345678', PEAK_WED, 60_000), RETAIL), 'NO_MATCHING_PREFIX'));
  it('no rate in the band at the call start, and later in the call', () => {
    // The call centre is priced at peak only.
    expectUnrated(rater.rate(voice('03451234567', '2025-03-12T21:00:00Z', 60_000), RETAIL), 'NO_RATE_FOR_BAND');
    expect(rated(rater.rate(voice('03451234567', PEAK_WED, 60_000), RETAIL)).totalMicros).toBe(50_000);
    expectUnrated(rater.rate(voice('03451234567', '2025-03-12T18:59:00Z', 120_000), RETAIL), 'NO_RATE_FOR_BAND');
  });
  it('no number', () => expectUnrated(rater.rate(voice(null, PEAK_WED, 60_000), RETAIL), 'NO_NUMBER'));
  it('roaming in a country of no zone', () => {
    const book = structuredClone(BOOK);
    book.roamingZones = { EU: ['FR', 'DE'] };
    delete book.tariffs.RETAIL!.versions[0]!.roaming!.WORLD;
    const t = compileTariffs(book);
    const r = new Rater(t, normaliser, { homePlmn: '23499' }).rate(voice(MOBILE, PEAK_WED, 60_000, { servingPlmn: '310260' }), subject('RETAIL', t));
    expectUnrated(r, 'NO_ROAMING_ZONE');
  });
});

describe('subscribers, contracted rates, inbound roamers', () => {
  const lines: LineRecord[] = [
    { msisdn: '447910000001', imsi: '234990000000001', accountId: 'AC1', lineType: 'mobile', status: 'active', installDate: '2024-01-01', plan: 'STD', region: 'London', trunkGroup: null },
    { msisdn: '442030000101', imsi: null, accountId: 'AC2', lineType: 'fixed', status: 'active', installDate: '2024-01-01', plan: 'SIP', region: 'London', trunkGroup: 'SIP-AC2' },
  ];
  const contracts: ContractedRateRecord[] = [
    { accountId: 'AC2', prefix: '447', description: 'UK mobile', ratePerMinute: '0.0200', setupFee: '0.0500', firstIncrementSeconds: 30, incrementSeconds: 6, validFrom: '2025-02-01' },
    { accountId: 'AC2', prefix: '44', description: 'UK', ratePerMinute: '0.0100', setupFee: '0.0000', firstIncrementSeconds: 60, incrementSeconds: 1, validFrom: '2025-02-01' },
  ];
  const subs = Subscribers.build(tariffs, { operator: OPERATOR, lines, contractedRates: contracts });
  const r2 = new Rater(tariffs, normaliser, { homePlmn: '23499', contractRates: subs.contractRates });

  it('resolves the served line to its account and plan tariff (default when the plan is unmapped)', () => {
    const c = voice(MOBILE, PEAK_WED, 60_000);
    expect(subs.resolve(c)).toMatchObject({ accountId: 'AC1', chain: tariffs.tariffs[tariffs.tariffIndex.get('RETAIL')!]!.chain });
    expect(subs.resolve(voice(MOBILE, PEAK_WED, 60_000, { servedMsisdn: '447919999999' }))).toBeNull();
  });

  it('contracted rates come first, longest prefix, from their validFrom', () => {
    const c = voice(MOBILE, PEAK_WED, 45_000, { servedMsisdn: '442030000101', recordingEntity: 'IMS-1', servingPlmn: null, homePlmn: null });
    // 45 s: 30 s + 3 × 6 s = 48 s × 0.02/60 = 0.016, + setup 0.05 = 0.066.
    const r = rated(r2.rate(c, subs.resolve(c)));
    expect(r).toMatchObject({ tariffId: 'contract:AC2', tariffVersion: '2025-02-01', destinationId: 'UK mobile', matchedPrefix: '447', totalMicros: 66_000, billedUsage: 48_000 });
    // Before the contract is valid (15 January): the plan's tariff (unmapped plan -> default RETAIL) at peak.
    const early = voice(MOBILE, '2025-01-15T10:00:00Z', 45_000, { servedMsisdn: '442030000101', recordingEntity: 'IMS-1', servingPlmn: null, homePlmn: null });
    expect(rated(r2.rate(early, subs.resolve(early)))).toMatchObject({ tariffId: 'RETAIL', totalMicros: 300_000 });
    // France is not contracted: the plan's tariff (7 s at 0.20/min = 0.0233).
    const fr = voice('+33145678901', PEAK_WED, 7000, { servedMsisdn: '442030000101' });
    expect(rated(r2.rate(fr, subs.resolve(fr)))).toMatchObject({ tariffId: 'RETAIL', totalMicros: 23_300 });
  });

  it('inbound roamers are rated on the wholesale tariff of their home network', () => {
    const c = voice(MOBILE, PEAK_WED, 61_000, { servedMsisdn: '33612345678', homePlmn: '20801' });
    const s = subs.resolve(c);
    expect(s).toMatchObject({ accountId: 'PLMN-20801' });
    // TIERED: 60 s block 0.60 + one 6 s block × 0.30/60 = 0.03 -> 0.63.
    expect(rated(r2.rate(c, s))).toMatchObject({ tariffId: 'TIERED', totalMicros: 630_000 });
  });

  it('a fallback tariff prices what the first does not', () => {
    const s = subject('CONTRACT_FALLBACK');
    expect(rater.rate(voice('+33145678901', PEAK_WED, 60_000), s)).toMatchObject({ tariffId: 'CONTRACT_FALLBACK', totalMicros: 60_000 });
    expect(rater.rate(voice(MOBILE, PEAK_WED, 60_000), s)).toMatchObject({ tariffId: 'RETAIL', totalMicros: 300_000 });
  });
});

describe('the tariff file is validated at compile time', () => {
  it('reports every problem at once', () => {
    const bad = structuredClone(BOOK);
    bad.rates.MOB_PEAK = { price: '0.30000001', per: '60s' };
    bad.destinations.DUP = ['447'];
    bad.tariffs.RETAIL!.versions[0]!.prices!.voice!.push({ destination: 'NOWHERE', rate: 'FREE' });
    bad.timezone = 'Mars/Olympus';
    let err: unknown;
    try {
      compileTariffs(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TariffError);
    const problems = (err as TariffError).problems.join('\n');
    expect(problems).toMatch(/more than 6 decimals/);
    expect(problems).toMatch(/447 is also in UK_MOBILE/);
    expect(problems).toMatch(/unknown destination "NOWHERE"/);
    expect(problems).toMatch(/IANA time zone/);
  });

  it('amounts are formatted as exact decimals, and a rating maps to its ClickHouse columns', () => {
    expect(formatMicros(700_200)).toBe('0.700200');
    expect(formatMicros(-1_500_000)).toBe('-1.500000');
    expect(formatMicros(5)).toBe('0.000005');
    // The split call of the band tests: 0.30 at peak + 0.12 off-peak.
    const row = ratingColumns(rater.rate(voice(MOBILE, '2025-03-12T18:59:30Z', 120_000), RETAIL));
    expect(row).toMatchObject({ rating_status: 'RATED', cost_total: '0.420000', cost_usage: '0.420000', cost_connect_fee: '0.000000', bands: 'PEAK+OFFPEAK', billed_usage: 120_000, usage_unit: 'ms', tariff_version: '2025-01' });
    expect(JSON.parse(row.rating_segments as string)).toEqual([
      { band: 'PEAK', rateId: 'MOB_PEAK', fromUsage: 0, billedUsage: 60_000, costMicros: 300_000, cost: '0.300000' },
      { band: 'OFFPEAK', rateId: 'MOB_OFF', fromUsage: 60_000, billedUsage: 60_000, costMicros: 120_000, cost: '0.120000' },
    ]);
  });
});

describe('the bundled default tariff prices a day of generated traffic', () => {
  it('rates every CDR of a day with every fraud scenario: none unrated', () => {
    const start = Date.UTC(2026, 9, 4, 23); // Monday 5 October 2026, 00:00 BST
    const traffic = createTraffic({ seed: 11, subscribers: 2000, startMs: start, endMs: start + 86_400_000, scenarios: 'all' });
    const ref = traffic.reference();
    const rating = createRating({ book: loadTariffBook(defaultTariffPath()), operator: ref.operator, numberingPlan: ref.numberingPlan, networks: ref.networks, countries: ref.countries, holidays: ref.holidays, lines: ref.lines(), contractedRates: ref.contractedRates() });
    const unrated = new Map<string, number>();
    const services = new Set<string>();
    let n = 0;
    let priced = 0;
    for (const cdr of traffic.records()) {
      n++;
      const r = rating.rate(cdr);
      services.add(r.service);
      if (r.status === 'UNRATED') unrated.set(`${r.reason} ${cdr.eventType} ${cdr.calledNumber}`, (unrated.get(`${r.reason} ${cdr.eventType}`) ?? 0) + 1);
      else if (r.totalMicros > 0) priced++;
      expect(r.totalMicros).toBe(r.connectFeeMicros + r.usageMicros + r.adjustmentMicros + r.surchargeMicros);
    }
    expect(n).toBeGreaterThan(20_000);
    expect([...unrated.entries()].slice(0, 10)).toEqual([]);
    expect(priced).toBeGreaterThan(1000);
    expect([...services].sort()).toEqual(['data', 'sms', 'sms-in', 'voice', 'voice-in']);
  });
});
