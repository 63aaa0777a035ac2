/**
 * Conformance of the rating engine with the default pricing rules (docs/TARIFFS.md, "How a CDR is priced",
 * rules R1-R7 and the boundary cases listed after them). Written from those rules, not from the engine:
 * every expected cost is worked out by hand in the comment beside it, and compared as the exact 6-decimal
 * string a bill shows ("0.070000").
 *
 * The tariffs are written in the rules' own vocabulary (versions with a local effectiveFrom, per event type
 * a list of prefixes with rate groups / price per segment / price per MB, a band calendar, a roaming
 * surcharge per started minute, one rounding) and turned into a tariff book by `bookOf`, which is the
 * recipe docs/TARIFFS.md gives ("Writing the default rules in the tariff book"). Events are real CDRs.
 *
 * Calendar: Wed 2025-03-12, Tue 2025-03-11, Fri 2025-03-14, Sat 2025-03-15, Sun 2025-03-16 (London on GMT,
 * local = UTC). Europe/London: BST from Sun 2025-03-30 01:00Z, GMT again from Sun 2025-10-26 01:00Z.
 * America/New_York: EDT from Sun 2025-03-09 07:00Z (02:00 EST -> 03:00 EDT), EST again from Sun 2025-11-02
 * 06:00Z (02:00 EDT -> 01:00 EST). Holidays of the test calendar: Thu 2025-12-25, Fri 2025-12-26, Sat
 * 2026-12-26.
 */
import { describe, expect, it } from 'vitest';
import type { Cdr } from '../schemas/index.js';
import type { OperatorRecord } from '../schemas/reference.js';
import { formatMicros, type BandRuleDef, type RateDef, type Rating, type RoundingMethod, type TariffBookFile, type TariffVersionDef, type PriceDef } from '../schemas/tariff.js';
import { compileTariffs, Normaliser, Rater, type RatingSubject } from '../enrich/rate/index.js';
import { numberingPlan } from '../simulators/traffic/numbering.js';
import { testOperator } from './operator-fixture.js';

// ---------------------------------------------------------------------------------------------------------
// Tariffs in the vocabulary of the rules

type Method = 'up' | 'down' | 'halfUp' | 'halfEven';
type Band = 'holiday' | 'weekend' | 'peak' | 'offpeak';
interface RateGroup {
  startSec: number;
  unitSec: number;
  incrementSec: number;
  ratePerUnit: string | Record<Band, string>;
}
interface VoiceEntry {
  prefix: string;
  connectFee?: string;
  minCharge?: string;
  freeBelowSec?: number;
  rateGroups: RateGroup[];
}
interface Version {
  effectiveFromLocal: string | null;
  voice?: VoiceEntry[];
  sms?: { prefix: string; pricePerSegment: string }[];
  /** prefix "*" = the default. */
  data?: { prefix: string; incrementBytes: number; pricePerMB: string }[];
  roamingSurchargePerStartedMinute?: string;
}
interface Calendar {
  holidays: string[];
  weekendDays: number[];
  peakDays: number[];
  peakStart: string;
  peakEnd: string;
}
interface Tariff {
  timeZone: string;
  rounding: { decimals: number; method: Method };
  bandCalendar?: Calendar;
  versions: Version[];
}

const METHOD: Record<Method, RoundingMethod> = { up: 'up', down: 'down', halfUp: 'half-up', halfEven: 'half-even' };
const BANDS: Band[] = ['holiday', 'weekend', 'peak', 'offpeak'];

/** The tariff as a book: the recipe of docs/TARIFFS.md "Writing the default rules in the tariff book". */
function bookOf(t: Tariff): TariffBookFile {
  const rounding = { method: METHOD[t.rounding.method], decimals: t.rounding.decimals };
  const destinations: TariffBookFile['destinations'] = {};
  const rates: Record<string, RateDef> = {};
  const number = (prefix: string) => {
    if (prefix === '*') return '*';
    destinations[`P${prefix}`] = { prefixes: [prefix] };
    return `P${prefix}`;
  };
  const network = (prefix: string) => {
    if (prefix === '*') return '*';
    destinations[`N${prefix}`] = { networks: [prefix] };
    return `N${prefix}`;
  };
  let roamingZones: Record<string, string[]> | undefined;
  const versions: TariffVersionDef[] = t.versions.map((v, vi) => {
    const voice: PriceDef[] = (v.voice ?? []).map((e) => {
      const rateFor = (band: Band | null): string => {
        const id = `v${vi}.voice.${e.prefix}.${band ?? 'any'}`;
        rates[id] = {
          groups: e.rateGroups.map((g) => ({ from: g.startSec, price: typeof g.ratePerUnit === 'string' ? g.ratePerUnit : g.ratePerUnit[band!], per: g.unitSec, increment: g.incrementSec })),
          ...(e.connectFee === undefined ? {} : { connectFee: e.connectFee }),
          ...(e.minCharge === undefined ? {} : { minimumCharge: e.minCharge }),
          ...(e.freeBelowSec === undefined ? {} : { freeBelow: e.freeBelowSec }),
        };
        return id;
      };
      const banded = t.bandCalendar !== undefined && e.rateGroups.some((g) => typeof g.ratePerUnit !== 'string');
      // A calendar without weekend days has no weekend band.
      const bands = BANDS.filter((b) => b !== 'weekend' || (t.bandCalendar?.weekendDays.length ?? 0) > 0);
      return { destination: number(e.prefix), rate: banded ? Object.fromEntries(bands.map((b) => [b, rateFor(b)])) : rateFor(null) };
    });
    const sms: PriceDef[] = (v.sms ?? []).map((e) => {
      const id = `v${vi}.sms.${e.prefix}`;
      rates[id] = { price: e.pricePerSegment, per: '1msg' };
      return { destination: number(e.prefix), rate: id };
    });
    const data: PriceDef[] = (v.data ?? []).map((e) => {
      const id = `v${vi}.data.${e.prefix}`;
      rates[id] = { price: e.pricePerMB, per: '1MB', increments: `${e.incrementBytes}B` };
      return { destination: network(e.prefix), rate: id };
    });
    const def: TariffVersionDef = { version: `v${vi}`, effectiveFrom: v.effectiveFromLocal ?? '1970-01-01', prices: { voice, sms, data } };
    def.bands = t.bandCalendar === undefined ? [{ band: 'any' }] : 'CALENDAR';
    if (v.roamingSurchargePerStartedMinute !== undefined) {
      roamingZones = { ANYWHERE: ['*'] };
      rates[`v${vi}.roaming`] = { price: v.roamingSurchargePerStartedMinute, per: '60s', increments: '60/60' };
      def.roaming = { ANYWHERE: { voice: `v${vi}.roaming` } };
    }
    return def;
  });
  const c = t.bandCalendar;
  const calendar: BandRuleDef[] = [];
  if (c) {
    calendar.push({ band: 'holiday', holidays: 'HOLIDAYS' });
    if (c.weekendDays.length > 0) calendar.push({ band: 'weekend', days: c.weekendDays.join(',') });
    calendar.push({ band: 'peak', days: c.peakDays.join(','), from: c.peakStart, to: c.peakEnd });
    calendar.push({ band: 'offpeak' });
  }
  return {
    format: 'cdr-pipeline/tariffs@1',
    currency: 'GBP',
    timezone: t.timeZone,
    rounding,
    ...(c ? { calendars: { HOLIDAYS: c.holidays }, bandSchedules: { CALENDAR: calendar } } : {}),
    destinations,
    rates,
    tariffs: { T: { versions } },
    ...(roamingZones ? { roamingZones } : {}),
    assignments: { default: 'T' },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Events as CDRs

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

interface Event {
  eventType: 'voice' | 'sms' | 'data';
  /** E.164 digits; for data the serving network's MCC-MNC. */
  destination: string;
  /** null = a voice call not answered (then `seizedUtc` dates it). For SMS and data: the event time. */
  answerTimeUtc: string | null;
  seizedUtc?: string;
  billableSec?: number;
  volumeBytes?: number;
  smsSegments?: number;
  roaming?: boolean;
}

function cdrOf(e: Event): Cdr {
  const answer = e.answerTimeUtc === null ? null : Date.parse(e.answerTimeUtc);
  const seizure = answer ?? Date.parse(e.seizedUtc ?? '2025-03-12T10:00:00Z');
  const billable = (e.billableSec ?? 0) * 1000;
  const data = e.eventType === 'data';
  return {
    recordId: 'c1',
    recordingEntity: 'MSC-LON1',
    eventType: data ? 'DATA' : e.eventType === 'sms' ? 'SMS_MO' : 'VOICE_MO',
    servedImsi: '234990000000001',
    servedImei: null,
    servedMsisdn: '447910000001',
    callingNumber: '447910000001',
    calledNumber: data ? null : `+${e.destination}`,
    connectedNumber: null,
    translatedNumber: null,
    originalCalledNumber: null,
    redirectingNumber: null,
    redirectionReason: null,
    redirectionCounter: 0,
    seizureTime: seizure,
    answerTime: e.eventType === 'voice' ? answer : null,
    releaseTime: (answer ?? seizure) + billable,
    utcOffsetMinutes: 0,
    durationMs: billable,
    billableMs: billable,
    causeForTerm: 0,
    q850Cause: 16,
    disposition: answer === null ? 'NO_ANSWER' : 'ANSWERED',
    servingPlmn: data ? e.destination : e.roaming === true ? '20801' : HOME,
    homePlmn: HOME,
    lac: null,
    tac: null,
    cellId: null,
    inTrunkGroup: null,
    outTrunkGroup: null,
    smsCentre: null,
    smsResult: null,
    apn: null,
    ratingGroup: null,
    uplinkBytes: data ? Math.floor((e.volumeBytes ?? 0) / 3) : 0,
    downlinkBytes: data ? (e.volumeBytes ?? 0) - Math.floor((e.volumeBytes ?? 0) / 3) : 0,
    extensions: {},
    chargingId: null,
    ratType: null,
    recordSequenceNumber: null,
    localRecordSequenceNumber: null,
    smsSegments: 1,
  };
}

const compiled = new Map<Tariff, { rater: Rater; subject: RatingSubject }>();
function rating(t: Tariff, e: Event): Rating {
  let c = compiled.get(t);
  if (!c) {
    const book = compileTariffs(bookOf(t));
    c = { rater: new Rater(book, normaliser, { homePlmn: HOME }), subject: { accountId: 'AC1', chain: book.tariffs[0]!.chain, contract: null } };
    compiled.set(t, c);
  }
  return c.rater.rate(cdrOf(e), c.subject, e.smsSegments ?? 1);
}

/** The cost as a bill shows it; the event must be rated. */
function cost(t: Tariff, e: Event): string {
  const r = rating(t, e);
  expect(r.status, `unrated: ${r.reason}`).toBe('RATED');
  expect(r.totalMicros).toBe(r.connectFeeMicros + r.usageMicros + r.adjustmentMicros + r.surchargeMicros);
  return formatMicros(r.totalMicros);
}

const call = (destination: string, answerTimeUtc: string | null, billableSec: number, o: Partial<Event> = {}): Event => ({ eventType: 'voice', destination, answerTimeUtc, billableSec, ...o });

// ---------------------------------------------------------------------------------------------------------
// The tariffs

const CAL: Calendar = { holidays: ['2025-12-25', '2025-12-26', '2026-12-26'], weekendDays: [6, 7], peakDays: [1, 2, 3, 4, 5], peakStart: '08:00', peakEnd: '19:00' };
/** Per minute; per second that is peak 0.001, off-peak 0.0005, weekend 0.0002, holiday 0.0001. */
const PER_SECOND: Record<Band, string> = { peak: '0.06', offpeak: '0.03', weekend: '0.012', holiday: '0.006' };
const FIRST_MINUTE: Record<Band, string> = { peak: '0.60', offpeak: '0.30', weekend: '0.12', holiday: '0.06' };

const UK_FIXED = '442079460000'; // prefix 44
const UK_MOBILE = '447700900123'; // prefix 447
const UK_PREMIUM = '449011234567'; // prefix 449
const US = '12125550100'; // prefix 1
const FRANCE = '33145678901'; // no voice entry

const LONDON: Tariff = {
  timeZone: 'Europe/London',
  rounding: { decimals: 6, method: 'halfUp' },
  bandCalendar: CAL,
  versions: [
    {
      effectiveFromLocal: null,
      voice: [
        { prefix: '44', rateGroups: [{ startSec: 0, unitSec: 60, incrementSec: 1, ratePerUnit: PER_SECOND }] },
        {
          prefix: '447',
          connectFee: '0.05',
          rateGroups: [
            { startSec: 0, unitSec: 60, incrementSec: 60, ratePerUnit: FIRST_MINUTE },
            { startSec: 60, unitSec: 60, incrementSec: 1, ratePerUnit: PER_SECOND },
          ],
        },
        { prefix: '449', connectFee: '0.10', minCharge: '0.50', rateGroups: [{ startSec: 0, unitSec: 60, incrementSec: 60, ratePerUnit: '1.50' }] },
        { prefix: '1', connectFee: '0.02', minCharge: '0.05', freeBelowSec: 3, rateGroups: [{ startSec: 0, unitSec: 60, incrementSec: 6, ratePerUnit: '0.10' }] },
      ],
      sms: [
        { prefix: '44', pricePerSegment: '0.04' },
        { prefix: '1', pricePerSegment: '0.0333' },
      ],
      data: [
        { prefix: HOME, incrementBytes: 1000, pricePerMB: '0.01' },
        { prefix: '208', incrementBytes: 10_000, pricePerMB: '0.50' },
        { prefix: '20801', incrementBytes: 10_000, pricePerMB: '0.40' },
        { prefix: '*', incrementBytes: 100_000, pricePerMB: '5.00' },
      ],
      roamingSurchargePerStartedMinute: '0.10',
    },
  ],
};

const perSecond = (rate: string) => [{ prefix: '44', rateGroups: [{ startSec: 0, unitSec: 60, incrementSec: 1, ratePerUnit: rate }] }];
const VERSIONED: Tariff = {
  timeZone: 'Europe/London',
  rounding: { decimals: 6, method: 'halfUp' },
  versions: [
    { effectiveFromLocal: null, voice: perSecond('0.06') }, // 0.001 per second
    { effectiveFromLocal: '2025-03-30T02:00:00', voice: perSecond('0.09') }, // 0.0015 per second; 02:00 BST = 01:00Z (the first local time after the gap)
    { effectiveFromLocal: '2025-06-01T00:00:00', voice: perSecond('0.12') }, // 0.002 per second; 00:00 BST = 2025-05-31T23:00Z
    { effectiveFromLocal: '2025-10-26T01:30:00', voice: perSecond('0.24') }, // 0.004 per second; first 01:30 is BST = 00:30Z
  ],
};
const VERSIONED_NY: Tariff = {
  timeZone: 'America/New_York',
  rounding: { decimals: 6, method: 'halfUp' },
  versions: [
    { effectiveFromLocal: '2025-01-01T00:00:00', voice: perSecond('0.06') }, // 0.001 per second
    { effectiveFromLocal: '2025-03-09T03:00:00', voice: perSecond('0.09') }, // 0.0015; 03:00 EDT = 07:00Z
    { effectiveFromLocal: '2025-11-02T01:30:00', voice: perSecond('0.12') }, // 0.002; first 01:30 is EDT = 05:30Z
  ],
};

/** Peak every day (no weekend band), to see the DST Sundays move 08:00. */
const everyday = (timeZone: string): Tariff => ({
  timeZone,
  rounding: { decimals: 6, method: 'halfUp' },
  bandCalendar: { holidays: [], weekendDays: [], peakDays: [1, 2, 3, 4, 5, 6, 7], peakStart: '08:00', peakEnd: '19:00' },
  versions: [{ effectiveFromLocal: null, voice: [{ prefix: '44', rateGroups: [{ startSec: 0, unitSec: 60, incrementSec: 1, ratePerUnit: PER_SECOND }] }] }],
});
const EVERYDAY_LONDON = everyday('Europe/London');
const EVERYDAY_NY = everyday('America/New_York');

const WED = '2025-03-12';

// ---------------------------------------------------------------------------------------------------------

describe('the input event and the result', () => {
  it('a cost is an exact amount written with 6 decimals', () => {
    // Wed 10:00 is peak: 70 s × 0.001 = 0.07.
    expect(cost(LONDON, call(UK_FIXED, `${WED}T10:00:00Z`, 70))).toBe('0.070000');
  });
});

describe('R1 version', () => {
  it('"since forever" (null) covers any date before the next version', () => {
    // 2000-01-01: version 0, 60 s × 0.001 = 0.06.
    expect(cost(VERSIONED, call(UK_FIXED, '2000-01-01T12:00:00Z', 60))).toBe('0.060000');
  });

  it('the version with the latest start at or before the answer time, starts in local time', () => {
    // 2025-06-01 00:00 BST = 2025-05-31T23:00Z. One second before: version 1 (0.0015/s); at it: version 2 (0.002/s).
    expect(cost(VERSIONED, call(UK_FIXED, '2025-05-31T22:59:59Z', 1))).toBe('0.001500');
    expect(cost(VERSIONED, call(UK_FIXED, '2025-05-31T23:00:00Z', 1))).toBe('0.002000');
    expect(rating(VERSIONED, call(UK_FIXED, '2025-05-31T23:00:00Z', 1)).tariffVersion).toBe('v2');
  });

  it('boundary: a version that starts in the middle of a call does not split it', () => {
    // Answered 22:59:30Z under version 1, 120 s running 90 s into version 2: the whole call at 0.0015/s =
    // 0.18 (a split would give 30 × 0.0015 + 90 × 0.002 = 0.045 + 0.18 = 0.225).
    expect(cost(VERSIONED, call(UK_FIXED, '2025-05-31T22:59:30Z', 120))).toBe('0.180000');
  });

  it('boundary: a repeated local hour in autumn means its first occurrence (Europe/London)', () => {
    // 01:30 local on 26 Oct 2025 happens at 00:30Z (BST) and again at 01:30Z (GMT); the version starts at 00:30Z.
    expect(cost(VERSIONED, call(UK_FIXED, '2025-10-26T00:29:59Z', 1))).toBe('0.002000'); // version 2
    expect(cost(VERSIONED, call(UK_FIXED, '2025-10-26T00:30:00Z', 1))).toBe('0.004000'); // version 3
    // 01:29:59Z is 01:29:59 GMT, before the *second* 01:30: still version 3.
    expect(cost(VERSIONED, call(UK_FIXED, '2025-10-26T01:29:59Z', 1))).toBe('0.004000');
  });

  it('a repeated local hour in autumn means its first occurrence (America/New_York)', () => {
    // 01:30 local on 2 Nov 2025: 05:30Z (EDT) and 06:30Z (EST); the version starts at 05:30Z.
    expect(cost(VERSIONED_NY, call(UK_FIXED, '2025-11-02T05:29:59Z', 1))).toBe('0.001500');
    expect(cost(VERSIONED_NY, call(UK_FIXED, '2025-11-02T05:30:00Z', 1))).toBe('0.002000');
    expect(cost(VERSIONED_NY, call(UK_FIXED, '2025-11-02T06:15:00Z', 1))).toBe('0.002000');
  });

  it('spring: a version starting on the first local time after the gap, both zones', () => {
    // London: 02:00 BST on 30 Mar 2025 = 01:00Z.
    expect(cost(VERSIONED, call(UK_FIXED, '2025-03-30T00:59:59Z', 1))).toBe('0.001000');
    expect(cost(VERSIONED, call(UK_FIXED, '2025-03-30T01:00:00Z', 1))).toBe('0.001500');
    // New York: 03:00 EDT on 9 Mar 2025 = 07:00Z (one second earlier it is 01:59:59 EST).
    expect(cost(VERSIONED_NY, call(UK_FIXED, '2025-03-09T06:59:59Z', 1))).toBe('0.001000');
    expect(cost(VERSIONED_NY, call(UK_FIXED, '2025-03-09T07:00:00Z', 1))).toBe('0.001500');
  });

  it('no version in force: unratable, never priced at zero', () => {
    // VERSIONED_NY starts at 2025-01-01 00:00 EST = 05:00Z.
    const r = rating(VERSIONED_NY, call(UK_FIXED, '2025-01-01T04:59:59Z', 60));
    expect(r).toMatchObject({ status: 'UNRATED', reason: 'NO_TARIFF_VERSION', totalMicros: 0 });
  });
});

describe('R2 destination', () => {
  it('the longest matching prefix wins', () => {
    // 447… matches 44 and 447: 447 wins. Peak: connect 0.05 + one 60 s increment at 0.60 = 0.65.
    const r = rating(LONDON, call(UK_MOBILE, `${WED}T10:00:00Z`, 60));
    expect(r.matchedPrefix).toBe('447');
    expect(formatMicros(r.totalMicros)).toBe('0.650000');
    // 442… matches only 44: 60 × 0.001 = 0.06.
    expect(cost(LONDON, call(UK_FIXED, `${WED}T10:00:00Z`, 60))).toBe('0.060000');
  });

  it('no match: the event is unratable with a reason, never priced at zero', () => {
    const r = rating(LONDON, call(FRANCE, `${WED}T10:00:00Z`, 60));
    expect(r).toMatchObject({ status: 'UNRATED', reason: 'NO_MATCHING_PREFIX', totalMicros: 0 });
  });

  it('the list of the event type is used: SMS prefixes are not voice prefixes', () => {
    // SMS to 447…: the SMS list has 44 (0.04), not 447.
    expect(cost(LONDON, { eventType: 'sms', destination: UK_MOBILE, answerTimeUtc: `${WED}T10:00:00Z` })).toBe('0.040000');
    // SMS to France: no SMS entry.
    expect(rating(LONDON, { eventType: 'sms', destination: FRANCE, answerTimeUtc: `${WED}T10:00:00Z` })).toMatchObject({ status: 'UNRATED', reason: 'NO_MATCHING_PREFIX' });
  });
});

describe('R3 voice', () => {
  it('not answered (no answer time): 0, connect fee and minimum included', () => {
    // 449 has connect 0.10 and minimum 0.50, but the call was not answered: 0.
    const r = rating(LONDON, call(UK_PREMIUM, null, 0));
    expect(formatMicros(r.totalMicros)).toBe('0.000000');
    expect(r).toMatchObject({ status: 'RATED', note: 'UNANSWERED', billedUsage: 0, destinationId: 'P449' });
  });

  it('not answered whatever billableSec says: a record that contradicts itself costs 0 and says so', () => {
    // No answer time but 30 billable seconds: 0 (not 0.10 + 1.50), note UNANSWERED_BILLABLE, nothing billed.
    const r = rating(LONDON, call(UK_PREMIUM, null, 30, { roaming: true }));
    expect(formatMicros(r.totalMicros)).toBe('0.000000');
    expect(r).toMatchObject({ status: 'RATED', note: 'UNANSWERED_BILLABLE', usage: 30_000, billedUsage: 0, surchargeMicros: 0 });
  });

  it('answered 0-second calls pay the connect fee and the minimum charge', () => {
    // 449: connect 0.10 + no increment = 0.10 < minimum 0.50 -> 0.50.
    expect(cost(LONDON, call(UK_PREMIUM, `${WED}T10:00:00Z`, 0))).toBe('0.500000');
    // 447: connect 0.05, no minimum.
    expect(cost(LONDON, call(UK_MOBILE, `${WED}T10:00:00Z`, 0))).toBe('0.050000');
    // 44: no fee: 0, but rated.
    expect(cost(LONDON, call(UK_FIXED, `${WED}T10:00:00Z`, 0))).toBe('0.000000');
  });

  it('free below: billableSec < freeBelowSec costs 0, connect fee, minimum and roaming surcharge included', () => {
    // Prefix 1: freeBelowSec 3, connect 0.02, minimum 0.05, 0.10 per minute in 6 s increments; roaming 0.10/started minute.
    expect(cost(LONDON, call(US, `${WED}T10:00:00Z`, 2, { roaming: true }))).toBe('0.000000');
    expect(rating(LONDON, call(US, `${WED}T10:00:00Z`, 2)).note).toBe('FREE_BELOW');
    // An answered 0-second call is below 3 s too.
    expect(cost(LONDON, call(US, `${WED}T10:00:00Z`, 0))).toBe('0.000000');
    // 3 s is not below 3: 0.02 + ceil(3/6) = 1 increment × 6/60 × 0.10 = 0.01 -> 0.03 < 0.05 -> 0.05.
    expect(cost(LONDON, call(US, `${WED}T10:00:00Z`, 3))).toBe('0.050000');
  });

  it('increments are rounded up per rate group: B = 61 in a 60/60 group is 2 increments', () => {
    // 449: 2 × 60/60 × 1.50 = 3.00, + connect 0.10 = 3.10. B = 60: 1.50 + 0.10 = 1.60.
    expect(cost(LONDON, call(UK_PREMIUM, `${WED}T10:00:00Z`, 61))).toBe('3.100000');
    expect(cost(LONDON, call(UK_PREMIUM, `${WED}T10:00:00Z`, 60))).toBe('1.600000');
  });

  it('rate groups by offset from the answer instant', () => {
    // 447 at peak, B = 61: group 0 covers [0, 60): s = 60, 1 increment × 0.60; group 1 from 60 s per second:
    // s = 1, 1 × 1/60 × 0.06 = 0.001. 0.05 + 0.60 + 0.001 = 0.651.
    expect(cost(LONDON, call(UK_MOBILE, `${WED}T10:00:00Z`, 61))).toBe('0.651000');
    // B = 125: group 1 s = 65 -> 65 × 0.001 = 0.065. 0.05 + 0.60 + 0.065 = 0.715.
    expect(cost(LONDON, call(UK_MOBILE, `${WED}T10:00:00Z`, 125))).toBe('0.715000');
  });

  it('an increment straddling a band boundary is priced at the band where it starts; groups apply once per call', () => {
    // 447 answered Wed 18:59:30 for 90 s. Increment 0 (offset 0, 60 s, 18:59:30 peak): 0.60, although it
    // runs to 19:00:30. Group 1, offsets 60-89, start 19:00:30 and later: off-peak, 30 × 0.03/60 = 0.015.
    // The first-minute group is not restarted off-peak. Connect 0.05 once. 0.05 + 0.60 + 0.015 = 0.665.
    const r = rating(LONDON, call(UK_MOBILE, `${WED}T18:59:30Z`, 90));
    expect(formatMicros(r.totalMicros)).toBe('0.665000');
    expect(r.bands).toBe('peak+offpeak');
  });

  it('boundary: a call that starts before a band boundary and ends after it is priced per increment', () => {
    // 44 per second, Wed 18:59:30 + 60 s: 30 × 0.001 + 30 × 0.0005 = 0.03 + 0.015 = 0.045.
    expect(cost(LONDON, call(UK_FIXED, `${WED}T18:59:30Z`, 60))).toBe('0.045000');
  });

  it('the minimum charge applies to connect fee + increments', () => {
    // 1: B = 12 -> 2 increments × 0.01 = 0.02 + 0.02 = 0.04 -> minimum 0.05. B = 60 -> 10 × 0.01 + 0.02 = 0.12.
    expect(cost(LONDON, call(US, `${WED}T10:00:00Z`, 12))).toBe('0.050000');
    expect(cost(LONDON, call(US, `${WED}T10:00:00Z`, 60))).toBe('0.120000');
  });

  it('the roaming surcharge is r × started minutes, added after the minimum charge', () => {
    // 1, B = 3, roaming: max(0.03, 0.05) = 0.05, + 0.10 × ceil(3/60) = 0.10 -> 0.15 (not max(0.13, 0.05)).
    expect(cost(LONDON, call(US, `${WED}T10:00:00Z`, 3, { roaming: true }))).toBe('0.150000');
    // 449, B = 61, roaming: 3.10 + 0.10 × 2 = 3.30.
    expect(cost(LONDON, call(UK_PREMIUM, `${WED}T10:00:00Z`, 61, { roaming: true }))).toBe('3.300000');
    // 449, answered 0 s, roaming: 0.50 + 0.10 × ceil(0/60) = 0.50.
    expect(cost(LONDON, call(UK_PREMIUM, `${WED}T10:00:00Z`, 0, { roaming: true }))).toBe('0.500000');
  });
});

describe('R4 time bands', () => {
  const one = (at: string) => cost(LONDON, call(UK_FIXED, at, 1));
  it('peak is peakStart <= local time < peakEnd on peak days', () => {
    expect(one(`${WED}T07:59:59Z`)).toBe('0.000500'); // off-peak
    expect(one(`${WED}T08:00:00Z`)).toBe('0.001000'); // peak
    expect(one(`${WED}T18:59:59Z`)).toBe('0.001000'); // peak
    expect(one(`${WED}T19:00:00Z`)).toBe('0.000500'); // off-peak
  });

  it('weekend days, and holidays before weekend and peak', () => {
    expect(one('2025-03-15T10:00:00Z')).toBe('0.000200'); // Saturday
    expect(one('2025-03-16T10:00:00Z')).toBe('0.000200'); // Sunday
    expect(one('2025-12-25T10:00:00Z')).toBe('0.000100'); // Thursday, holiday (not peak)
    expect(one('2026-12-26T10:00:00Z')).toBe('0.000100'); // Saturday, holiday (not weekend)
  });

  it('without a band calendar every instant is band "any"', () => {
    const r = rating(VERSIONED, call(UK_FIXED, '2025-03-15T10:00:00Z', 60));
    expect(r.band).toBe('any');
    expect(formatMicros(r.totalMicros)).toBe('0.060000'); // 60 × 0.001
  });

  it('a string ratePerUnit is the same rate in every band', () => {
    // 449 on Saturday and on a peak Wednesday: 1.50 + 0.10.
    expect(cost(LONDON, call(UK_PREMIUM, '2025-03-15T10:00:00Z', 60))).toBe('1.600000');
    expect(cost(LONDON, call(UK_PREMIUM, `${WED}T10:00:00Z`, 60))).toBe('1.600000');
  });

  it('boundary: a call that ends exactly at 08:00:00 does not cross 08:00', () => {
    // 07:59:00 + 60 s: offsets 0-59 all off-peak: 60 × 0.0005 = 0.03. One second more starts at 08:00: + 0.001.
    expect(cost(LONDON, call(UK_FIXED, `${WED}T07:59:00Z`, 60))).toBe('0.030000');
    expect(rating(LONDON, call(UK_FIXED, `${WED}T07:59:00Z`, 60)).bands).toBe('offpeak');
    expect(cost(LONDON, call(UK_FIXED, `${WED}T07:59:00Z`, 61))).toBe('0.031000');
  });

  it('a midnight into a weekend, out of a weekend, into a holiday', () => {
    // Fri 23:59:30 + 60: 30 × 0.0005 + 30 × 0.0002 = 0.015 + 0.006 = 0.021.
    expect(cost(LONDON, call(UK_FIXED, '2025-03-14T23:59:30Z', 60))).toBe('0.021000');
    // Sun 23:59:30 + 60: 30 × 0.0002 + 30 × 0.0005 = 0.021.
    expect(cost(LONDON, call(UK_FIXED, '2025-03-16T23:59:30Z', 60))).toBe('0.021000');
    // Wed 24 Dec 23:59:30 + 60: 30 × 0.0005 + 30 × 0.0001 = 0.015 + 0.003 = 0.018.
    expect(cost(LONDON, call(UK_FIXED, '2025-12-24T23:59:30Z', 60))).toBe('0.018000');
  });

  it('a midnight between two off-peak days is not a boundary', () => {
    // Tue 23:59:30 + 60: 60 × 0.0005 = 0.03, one band.
    const r = rating(LONDON, call(UK_FIXED, '2025-03-11T23:59:30Z', 60));
    expect(formatMicros(r.totalMicros)).toBe('0.030000');
    expect(r).toMatchObject({ bands: 'offpeak', segments: null });
  });

  describe('daylight saving, both ways, in two zones (peak every day 08:00-19:00)', () => {
    it('Europe/London, spring (Sun 30 Mar 2025): 08:00 BST is 07:00Z', () => {
      // 06:59:30Z + 60: 30 off-peak + 30 peak = 0.015 + 0.03 = 0.045.
      expect(cost(EVERYDAY_LONDON, call(UK_FIXED, '2025-03-30T06:59:30Z', 60))).toBe('0.045000');
      // The day before (GMT) 06:59:30Z is 06:59:30 local: all off-peak, 0.03.
      expect(cost(EVERYDAY_LONDON, call(UK_FIXED, '2025-03-29T06:59:30Z', 60))).toBe('0.030000');
      // From local midnight (00:00Z) for 7.5 h: off-peak lasts 7 real hours (to 07:00Z): 25200 × 0.0005 =
      // 12.60, then 1800 × 0.001 = 1.80 -> 14.40.
      expect(cost(EVERYDAY_LONDON, call(UK_FIXED, '2025-03-30T00:00:00Z', 27_000))).toBe('14.400000');
    });

    it('Europe/London, autumn (Sun 26 Oct 2025): 08:00 GMT is 08:00Z', () => {
      // 07:59:30Z + 60: 0.015 + 0.03 = 0.045.
      expect(cost(EVERYDAY_LONDON, call(UK_FIXED, '2025-10-26T07:59:30Z', 60))).toBe('0.045000');
      // The day before (BST) 07:59:30Z is 08:59:30 local: all peak, 0.06.
      expect(cost(EVERYDAY_LONDON, call(UK_FIXED, '2025-10-25T07:59:30Z', 60))).toBe('0.060000');
      // From local midnight (25 Oct 23:00Z, BST) to 08:00 GMT (08:00Z) is 9 real hours, all off-peak:
      // 32400 × 0.0005 = 16.20; one second more is peak: 16.201.
      expect(cost(EVERYDAY_LONDON, call(UK_FIXED, '2025-10-25T23:00:00Z', 32_400))).toBe('16.200000');
      expect(cost(EVERYDAY_LONDON, call(UK_FIXED, '2025-10-25T23:00:00Z', 32_401))).toBe('16.201000');
    });

    it('America/New_York, spring (Sun 9 Mar 2025): 08:00 EDT is 12:00Z', () => {
      // 11:59:30Z + 60: 0.015 + 0.03 = 0.045.
      expect(cost(EVERYDAY_NY, call(UK_FIXED, '2025-03-09T11:59:30Z', 60))).toBe('0.045000');
      // The day before (EST) 11:59:30Z is 06:59:30 local: off-peak, 0.03.
      expect(cost(EVERYDAY_NY, call(UK_FIXED, '2025-03-08T11:59:30Z', 60))).toBe('0.030000');
      // From local midnight (05:00Z, EST) to 08:00 EDT (12:00Z) is 7 real hours: 12.60 + 1800 s peak 1.80 = 14.40.
      expect(cost(EVERYDAY_NY, call(UK_FIXED, '2025-03-09T05:00:00Z', 27_000))).toBe('14.400000');
    });

    it('America/New_York, autumn (Sun 2 Nov 2025): 08:00 EST is 13:00Z', () => {
      // 12:59:30Z + 60: 0.045.
      expect(cost(EVERYDAY_NY, call(UK_FIXED, '2025-11-02T12:59:30Z', 60))).toBe('0.045000');
      // The day before (EDT) 12:59:30Z is 08:59:30 local: peak, 0.06.
      expect(cost(EVERYDAY_NY, call(UK_FIXED, '2025-11-01T12:59:30Z', 60))).toBe('0.060000');
      // From local midnight (04:00Z, EDT) to 08:00 EST (13:00Z): 9 real hours off-peak, 16.20.
      expect(cost(EVERYDAY_NY, call(UK_FIXED, '2025-11-02T04:00:00Z', 32_400))).toBe('16.200000');
    });
  });
});

describe('R5 SMS', () => {
  const sms = (smsSegments: number, o: Partial<Event> = {}): Event => ({ eventType: 'sms', destination: UK_MOBILE, answerTimeUtc: `${WED}T10:00:00Z`, smsSegments, ...o });
  it('price per segment × segments; 0 segments costs 0', () => {
    expect(cost(LONDON, sms(1))).toBe('0.040000');
    expect(cost(LONDON, sms(3))).toBe('0.120000'); // 3 × 0.04
    expect(cost(LONDON, sms(0))).toBe('0.000000');
  });

  it('no bands and no roaming surcharge', () => {
    // Saturday, and roaming in France: still 3 × 0.04.
    expect(cost(LONDON, sms(3, { answerTimeUtc: '2025-03-15T10:00:00Z' }))).toBe('0.120000');
    expect(cost(LONDON, sms(3, { roaming: true }))).toBe('0.120000');
  });

  it('a multi-segment message is rounded once', () => {
    // 3 × 0.0333 = 0.0999 -> 2 decimals half-up: 0.10 (three rounded segments would be 3 × 0.03 = 0.09).
    const SMS2: Tariff = { timeZone: 'Europe/London', rounding: { decimals: 2, method: 'halfUp' }, versions: [{ effectiveFromLocal: null, sms: [{ prefix: '1', pricePerSegment: '0.0333' }] }] };
    expect(cost(SMS2, sms(3, { destination: US }))).toBe('0.100000');
    expect(cost(SMS2, sms(1, { destination: US }))).toBe('0.030000');
  });
});

describe('R6 data', () => {
  const data = (network: string, volumeBytes: number, at = `${WED}T10:00:00Z`): Event => ({ eventType: 'data', destination: network, answerTimeUtc: at, volumeBytes });
  it('whole increments of bytes, 1 MB = 10^6 bytes', () => {
    // Home network 23499: 1,000,000 B = 1000 increments of 1000 B = 1 MB × 0.01 = 0.01.
    expect(cost(LONDON, data(HOME, 1_000_000))).toBe('0.010000');
    // 1 MiB = 1,048,576 B -> ceil(1048.576) = 1049 increments = 1,049,000 B = 1.049 MB × 0.01 = 0.01049.
    expect(cost(LONDON, data(HOME, 1_048_576))).toBe('0.010490');
    expect(cost(LONDON, data(HOME, 0))).toBe('0.000000');
  });

  it('priced by the serving network: longest prefix, then the default', () => {
    // 20810 (France, not Orange): prefix 208. 1,234,567 B -> ceil(123.4567) = 124 × 10,000 = 1.24 MB × 0.50 = 0.62.
    expect(cost(LONDON, data('20810', 1_234_567))).toBe('0.620000');
    // 20801: prefix 20801 beats 208: 1.24 × 0.40 = 0.496.
    const orange = rating(LONDON, data('20801', 1_234_567));
    expect(formatMicros(orange.totalMicros)).toBe('0.496000');
    expect(orange.matchedPrefix).toBe('20801');
    // 310260 (US): the default: ceil(12.34567) = 13 × 100,000 = 1.3 MB × 5.00 = 6.50.
    expect(cost(LONDON, data('310260', 1_234_567))).toBe('6.500000');
  });

  it('no bands, no roaming surcharge (the tariff has one for voice)', () => {
    expect(cost(LONDON, data(HOME, 1_000_000, '2025-03-15T10:00:00Z'))).toBe('0.010000'); // Saturday
    expect(rating(LONDON, data('20810', 1_234_567)).surchargeMicros).toBe(0);
  });

  it('a network without an entry and no default is unratable', () => {
    const UK_ONLY: Tariff = { timeZone: 'Europe/London', rounding: { decimals: 6, method: 'halfUp' }, versions: [{ effectiveFromLocal: null, data: [{ prefix: '234', incrementBytes: 1000, pricePerMB: '0.01' }] }] };
    expect(cost(UK_ONLY, data(HOME, 2000))).toBe('0.000020'); // 0.002 MB × 0.01
    expect(rating(UK_ONLY, data('310260', 2000))).toMatchObject({ status: 'UNRATED', reason: 'NO_MATCHING_PREFIX', totalMicros: 0 });
  });
});

describe('R7 rounding', () => {
  const flat = (rate: string, decimals: number, method: Method): Tariff => ({ timeZone: 'Europe/London', rounding: { decimals, method }, versions: [{ effectiveFromLocal: null, voice: perSecond(rate) }] });
  const priced = (rate: string, decimals: number, method: Method, sec: number) => cost(flat(rate, decimals, method), call(UK_FIXED, `${WED}T10:00:00Z`, sec));
  // [per-minute rate, decimals, seconds, exact value, expected by method up / down / halfUp / halfEven]
  const cases: [string, number, number, string, Record<Method, string>][] = [
    // Boundary: 10 s at 0.09 per minute is exactly 0.015, a tie at 2 decimals; 1 is odd, so halfEven goes to 0.02.
    ['0.09', 2, 10, '0.015', { up: '0.020000', down: '0.010000', halfUp: '0.020000', halfEven: '0.020000' }],
    // 10 s at 0.15 = 0.025: a tie where the even neighbour is below.
    ['0.15', 2, 10, '0.025', { up: '0.030000', down: '0.020000', halfUp: '0.030000', halfEven: '0.020000' }],
    // 7 s at 0.10 = 0.011666…: not a tie.
    ['0.10', 2, 7, '0.011666…', { up: '0.020000', down: '0.010000', halfUp: '0.010000', halfEven: '0.010000' }],
    // 12 s at 0.10 = 0.02 exactly: nothing to round.
    ['0.10', 2, 12, '0.02', { up: '0.020000', down: '0.020000', halfUp: '0.020000', halfEven: '0.020000' }],
    // 6 decimals: 7 s at 0.10 = 0.0116666… -> 0.011667 / 0.011666.
    ['0.10', 6, 7, '0.0116666…', { up: '0.011667', down: '0.011666', halfUp: '0.011667', halfEven: '0.011667' }],
    // 6 decimals tie: 3 s at 0.00001 per minute = 0.0000005; 0 is even. Never negative.
    ['0.00001', 6, 3, '0.0000005', { up: '0.000001', down: '0.000000', halfUp: '0.000001', halfEven: '0.000000' }],
    // 0 decimals tie: 10 s at 3.00 = 0.50.
    ['3.00', 0, 10, '0.5', { up: '1.000000', down: '0.000000', halfUp: '1.000000', halfEven: '0.000000' }],
    // 0 decimals tie with an odd neighbour: 30 s at 3.00 = 1.50.
    ['3.00', 0, 30, '1.5', { up: '2.000000', down: '1.000000', halfUp: '2.000000', halfEven: '2.000000' }],
  ];
  for (const [rate, decimals, sec, exact, want] of cases) {
    it(`${sec} s at ${rate}/min = ${exact} to ${decimals} decimals, every method`, () => {
      const got = Object.fromEntries((Object.keys(want) as Method[]).map((m) => [m, priced(rate, decimals, m, sec)]));
      expect(got).toEqual(want);
    });
  }

  const UP2: Tariff = {
    timeZone: 'Europe/London',
    rounding: { decimals: 2, method: 'up' },
    bandCalendar: CAL,
    versions: [
      {
        effectiveFromLocal: null,
        voice: [
          { prefix: '44', rateGroups: [{ startSec: 0, unitSec: 60, incrementSec: 1, ratePerUnit: PER_SECOND }] },
          { prefix: '33', connectFee: '0.005', rateGroups: [{ startSec: 0, unitSec: 60, incrementSec: 1, ratePerUnit: '0.30' }] },
          { prefix: '39', minCharge: '0.015', rateGroups: [{ startSec: 0, unitSec: 60, incrementSec: 1, ratePerUnit: '0.06' }] },
        ],
        roamingSurchargePerStartedMinute: '0.005',
      },
    ],
  };

  it('once per event, not per band segment (round-up, per second, across 08:00)', () => {
    // Wed 07:59:50 + 21 s: 10 × 0.0005 = 0.005 off-peak + 11 × 0.001 = 0.011 peak = 0.016 -> up 0.02
    // (rounding each segment up would give 0.01 + 0.02 = 0.03).
    const r = rating(UP2, call(UK_FIXED, `${WED}T07:59:50Z`, 21));
    expect(formatMicros(r.totalMicros)).toBe('0.020000');
    expect(r.segments?.map((s) => formatMicros(s.costMicros))).toEqual(['0.005000', '0.011000']);
  });

  it('once per event, not per part: connect fee, minimum charge and roaming surcharge are summed exactly first', () => {
    // 33, B = 1: connect 0.005 + 1 × 0.005 = 0.010 -> 0.01 (0.01 + 0.01 if parts were rounded).
    expect(cost(UP2, call(FRANCE, `${WED}T10:00:00Z`, 1))).toBe('0.010000');
    // Roaming: 0.010 + 0.005 × ceil(1/60) = 0.015 -> up 0.02 (0.03 if parts were rounded).
    expect(cost(UP2, call(FRANCE, `${WED}T10:00:00Z`, 1, { roaming: true }))).toBe('0.020000');
    // 39, B = 1: 0.001 < minimum 0.015 -> 0.015 -> up 0.02.
    expect(cost(UP2, call('390612345678', `${WED}T10:00:00Z`, 1))).toBe('0.020000');
  });
});
