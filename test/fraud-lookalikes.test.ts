/**
 * Issue #13 point 5, "no alerts on benign look-alikes", for SMS pumping / AIT (reference §2.10) and the SIM-box
 * "A calls A" forwarding cover-up (reference §2 item 4b, §5.2 S2): golden sequences that fire, the near misses one
 * step below each threshold, and the look-alikes — an A2P/OTP gateway's steady traffic (its first day
 * included), a campaign to many domestic numbers, a sender whose volume grows towards the countries it always
 * serves, a customer who forwards their mobile to their landline (or to their own mobile abroad) and calls
 * themselves, voicemail self-calls, busy self-calls.
 *
 * Thresholds are read from the loaded RuleBook (schemas/fraud/rules.json) so each test states its intent.
 * Calendar: Wednesday 2024-05-15, subscribers on UTC. Parties: 44... home (GB); the pumping ranges are unlisted
 * high-cost ones (Cuba 5352, Somalia 25261, Sierra Leone 23276, Guinea 224655, Latvia premium 37190), none
 * hot-listed; a gateway's users are in 18 ordinary countries.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Cdr, FraudAlert, FraudEvent, SourcedCdr } from '../schemas/index.js';
import { bandOf, createFraudKeyer, Detector } from '../enrich/fraud/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { SEC, MIN, HOUR, T0, micros, dec, book, P, num } from './fraud-fixtures.js';




interface Party {
  other: string;
  otherCountry: string;
  otherCategory: string;
  highRisk: boolean;
  international: boolean;
  range: string | null;
}
const to = {
  home: (n = '447700900999', category = 'mobile'): Party => ({ other: n, otherCountry: 'GB', otherCategory: category, highRisk: false, international: false, range: null }),
  voicemail: (n = '447900000121'): Party => ({ other: n, otherCountry: 'GB', otherCategory: 'voicemail', highRisk: false, international: false, range: null }),
  abroad: (n: string, country: string, highRisk = false): Party => ({ other: n, otherCountry: country, otherCategory: 'international', highRisk, international: true, range: null }),
  /** An SMS abroad: its range is the prefix (the number minus its last 4 digits), as the keyer writes it. */
  sms: (n: string, country: string, highRisk = false): Party => ({ other: n, otherCountry: country, otherCategory: 'international', highRisk, international: true, range: n.slice(0, -4) }),
};

interface Opts extends Partial<FraudEvent> {
  /** Seizure, ms after T0. */
  at?: number;
  /** Answered seconds (0: not answered). Default 60 for calls, 0 for SMS. */
  talkSec?: number;
  /** Seconds from seizure to answer (or release). Default 5 for calls, 0 for SMS. */
  ringSec?: number;
  cost?: string;
}

/** Events of one scenario with record ids `${prefix}-1`, `${prefix}-2`... */
function builder(prefix: string) {
  let n = 0;
  const make = (kind: FraudEvent['kind'], msisdn: string, party: Party, o: Opts = {}): FraudEvent => {
    const voice = kind !== 'SMS';
    const { at = 0, talkSec = voice ? 60 : 0, ringSec = voice ? 5 : 0, cost = '0', ...over } = o;
    const start = T0 + at;
    return {
      group: 'LINE',
      key: msisdn,
      recordId: `${prefix}-${++n}`,
      kind,
      start,
      end: start + (ringSec + talkSec) * SEC,
      talkMs: talkSec * SEC,
      answered: talkSec > 0,
      msisdn,
      imsi: `23415${msisdn.slice(-10)}`,
      imei: '356938035643809',
      ...party,
      costMicros: micros(cost),
      currency: 'GBP',
      accountId: `ACC-${msisdn}`,
      accountClass: 'business',
      band: bandOf(start),
      businessHours: 0,
      lineAgeDays: 400,
      roaming: false,
      visitedPlmn: null,
      cellId: 4711,
      lat: 51.5074,
      lon: -0.1278,
      redirectionCounter: 0,
      cause: null,
      originalCalled: null,
      source: 0,
      ...over,
    };
  };
  return {
    mo: (msisdn: string, party: Party, o?: Opts) => make('MO', msisdn, party, { accountClass: 'private', ...o }),
    fwd: (msisdn: string, party: Party, o?: Opts) => make('FWD', msisdn, party, { accountClass: 'private', ...o }),
    sms: (msisdn: string, party: Party, o?: Opts) => make('SMS', msisdn, party, { cost: '0.200000', ...o }),
  };
}

/** With each SMS abroad also on its destination prefix (RANGE), as the keyer publishes it. */
const withRanges = (evs: readonly FraudEvent[]): FraudEvent[] => evs.flatMap((e) => (e.kind === 'SMS' && e.range !== null ? [e, { ...e, group: 'RANGE' as const, key: e.range }] : [e]));

/** Feeds the events in seizure order (ties keep their order) and returns every alert version published. */
function run(events: readonly FraudEvent[], det = new Detector(book)): FraudAlert[] {
  const out: FraudAlert[] = [];
  [...events].sort((a, b) => a.start - b.start).forEach((e, i) => out.push(...det.process(0, i, e)));
  return out;
}
const of = (alerts: readonly FraudAlert[], rule: string) => alerts.filter((a) => a.rule === rule);
const first = (alerts: readonly FraudAlert[], rule: string): FraudAlert => {
  const a = of(alerts, rule);
  expect(a.length, `${rule} must fire`).toBeGreaterThanOrEqual(1);
  expect(a[0]!.version).toBe(1);
  return a[0]!;
};
function quiet(alerts: readonly FraudAlert[], ...rules: string[]): void {
  for (const r of rules) expect(of(alerts, r), `${r} must not fire`).toEqual([]);
}

/** Deterministic pseudo-random integers (a 32-bit LCG): the same sequence every run. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s % n;
  };
}

// ---------------------------------------------------------------------------------------------------------
// SMS pumping / AIT
// ---------------------------------------------------------------------------------------------------------

/** A global service's users: 18 ordinary countries (country code, mobile head, subscriber digits). */
const USERS: readonly (readonly [string, string, number])[] = [
  ['IE', '3538', 8], ['FR', '336', 8], ['DE', '4917', 8], ['ES', '346', 8], ['IT', '393', 9], ['PL', '485', 8],
  ['RO', '407', 8], ['PT', '3519', 8], ['GR', '3069', 8], ['TR', '905', 9], ['US', '1212', 7], ['IN', '919', 9],
  ['PK', '923', 9], ['NG', '2348', 9], ['AU', '614', 8], ['CN', '861', 10], ['PH', '639', 9], ['AE', '9715', 8],
];
/** 18 more countries the line never sent to (synthetic codes 8xx: only their being new matters). */
const ELSEWHERE: readonly (readonly [string, string, number])[] = Array.from({ length: 18 }, (_, i) => [`Q${i}`, `8${String(10 + i)}`, 8] as const);
/** The unlisted high-cost ranges of an evasive campaign (none hot-listed, none priced yet). */
const COSTLY: readonly (readonly [string, string, number])[] = [['CU', '5352', 6], ['SO', '25261', 7], ['SL', '23276', 6], ['GN', '224655', 6], ['LV', '37190', 6]];

const numberIn = (head: string, digits: number, r: (n: number) => number) => head + Array.from({ length: digits }, () => String(r(10))).join('');

/**
 * A sender's steady traffic abroad: `perHour` messages an hour by day (07-23), a quarter of it by night, to
 * random numbers of `countries` picked at random, from `from` for `hours`.
 */
function steady(b: ReturnType<typeof builder>, sender: string, countries: readonly (readonly [string, string, number])[], perHour: number, from: number, hours: number, seed: number): FraudEvent[] {
  const r = lcg(seed);
  const out: FraudEvent[] = [];
  for (let t = from; t < from + hours * HOUR; ) {
    const [iso, head, digits] = countries[r(countries.length)]!;
    out.push(b.sms(sender, to.sms(numberIn(head, digits, r), iso), { at: t }));
    const hour = new Date(T0 + t).getUTCHours();
    const rate = hour >= 7 && hour < 23 ? perHour : perHour / 4;
    t += Math.round(HOUR / rate) + r(20) * SEC - 10 * SEC;
  }
  return out;
}

describe('sms.pumping_sender and sms.pumping_prefix: benign look-alikes', () => {
  const R = 'sms.pumping_sender';
  const RP = 'sms.pumping_prefix';
  const p = P(R, 'business');
  const GATEWAY = '447700900700';

  it('an A2P/OTP gateway seen for the first time at its daytime peak (no baseline), then steady for 30 h, never fires', () => {
    // 150 codes an hour abroad by day to random numbers in 18 countries: well above minSms and minBurst from the
    // first hour on, many prefixes in several countries, one message per prefix — but spread, not concentrated.
    const b = builder('gw');
    const evs = steady(b, GATEWAY, USERS, 150, 0, 30, 0xa2b);
    expect(evs.length).toBeGreaterThan(30 * num(p, 'minSms'));
    quiet(run(withRanges(evs)), R, RP);
  });

  it('the same gateway, established, doubling its volume to the countries it always serves (a campaign abroad), does not fire', () => {
    const b = builder('gw2');
    const evs = [...steady(b, GATEWAY, USERS, 60, -24 * HOUR, 24, 1), ...steady(b, GATEWAY, USERS, 120, 0, 3, 2)];
    quiet(run(withRanges(evs)), R, RP);
  });

  it('an OTP burst after a marketing campaign to many domestic numbers (consecutive ones, from a sorted list) does not fire', () => {
    const b = builder('dom');
    const evs = Array.from({ length: 10 * num(p, 'minBurst') }, (_, i) => b.sms(GATEWAY, to.home(`4477009${String(10_000 + i)}`), { at: i * SEC }));
    quiet(run(evs), R);
  });

  it('near miss: a new line sending minSms codes to random numbers in one prefix fewer than minPrefixDepth per prefix, widely spread, does not fire', () => {
    const b = builder('depth-nm');
    const r = lcg(7);
    const depth = num(p, 'minPrefixDepth');
    const deep = Array.from({ length: depth - 1 }, (_, i) => b.sms(GATEWAY, to.sms(`22524321${String(1000 + i * 37)}`, 'CI'), { at: i * 30 * SEC }));
    const wide = Array.from({ length: num(p, 'minSms') }, (_, i) => {
      const [iso, head, digits] = USERS[i % USERS.length]!;
      return b.sms(GATEWAY, to.sms(numberIn(head, digits, r), iso), { at: i * 60 * SEC + 7 * SEC });
    });
    quiet(run([...deep, ...wide]), R);
  });
});

describe('sms.pumping_sender: what pumping looks like against the same look-alikes', () => {
  const R = 'sms.pumping_sender';
  const p = P(R, 'business');
  const OTP = '447700900701';

  /** Random numbers in `prefixes` prefixes of the costly ranges, one every gapSec, from `from`. */
  const pump = (b: ReturnType<typeof builder>, n: number, from: number, gapSec: number, seed: number, ranges = COSTLY, prefixes = 60) => {
    const r = lcg(seed);
    // A prefix is the number minus its last 4 digits: the range's head and digits - 4 random ones.
    const heads = Array.from({ length: prefixes }, (_, k) => {
      const [iso, head, digits] = ranges[k % ranges.length]!;
      return [iso, numberIn(head, digits - 4, r)] as const;
    });
    return Array.from({ length: n }, (_, i) => {
      const [iso, px] = heads[r(heads.length)]!;
      return b.sms(OTP, to.sms(px + String(r(10_000)).padStart(4, "0"), iso), { at: from + Math.round(i * gapSec * SEC) });
    });
  };

  it('an established OTP line pumped at a few a minute into many prefixes of 5 unlisted high-cost countries fires within the hour, on volume', () => {
    const b = builder('pump');
    const history = steady(b, OTP, USERS.slice(0, 10), 2, -30 * HOUR, 30, 3);
    const pumped = pump(b, 120, 0, 55, 4);
    const alerts = run([...history, ...pumped]);
    quiet(alerts.filter((a) => a.detectedAt < T0), R);
    const a = first(alerts, R);
    expect(a.entity).toBe(OTP);
    expect(a.evidence.facts.trigger).toBe('volume');
    expect(a.evidence.counts.topCountriesPct).toBeGreaterThanOrEqual(num(p, 'minConcentration') * 100);
    expect(a.evidence.counts.newCountriesPct).toBe(0); // (concentrated: the departure is not needed)
    expect(a.evidence.counts.historyMinutes).toBeGreaterThanOrEqual(num(p, 'minHistoryMinutes'));
    // minSms pumped messages (the history adds at most a couple abroad in the hour): within the first hour.
    expect(a.detectedAt).toBeLessThanOrEqual(pumped[num(p, 'minSms') - 1]!.end);
    expect(a.detectedAt - T0).toBeLessThan(HOUR);
  });

  it('departure from its own history: an established line sending minSms codes an hour into 18 countries it never sent to fires; into the 18 it always serves it does not', () => {
    const R2 = R;
    const make = (countries: typeof USERS, prefix: string) => {
      const b = builder(prefix);
      return [...steady(b, OTP, USERS, 8, -24 * HOUR, 24, 5), ...steady(b, OTP, countries, 2 * num(p, 'minSms'), 0, 1, 6)];
    };
    const fresh = run(make(ELSEWHERE, 'dep'));
    const a = first(fresh, R2);
    expect(a.evidence.counts.topCountriesPct).toBeLessThan(num(p, 'minConcentration') * 100);
    expect(a.evidence.counts.newCountriesPct).toBeGreaterThanOrEqual(num(p, 'minNewCountryShare') * 100);
    quiet(run(make(USERS, 'dep-same')), R2);
  });

  it('near miss: the same departure on a line seen for less than minHistoryMinutes (cold start: no baseline) does not fire', () => {
    const b = builder('dep-cold');
    // Seen from minHistoryMinutes - 30 min before the new traffic: at the end of its hour, the look-back
    // before the window still holds less than minHistoryMinutes.
    const seenMin = num(p, 'minHistoryMinutes') - 30;
    const evs = [...steady(b, OTP, USERS, 8, -seenMin * MIN, seenMin / 60, 5), ...steady(b, OTP, ELSEWHERE, 2 * num(p, 'minSms'), 0, 1, 6)];
    quiet(run(evs), R);
  });

  it('near miss: concentrated traffic to 5 countries at less than baselineFactor x the line\'s own rate to them does not fire; above it, it fires', () => {
    const factor = num(p, 'baselineFactor');
    const windowMs = num(p, 'windowMinutes') * MIN;
    const lookMs = num(p, 'baselineMinutes') * MIN - windowMs;
    // A regional sender: the same 5 countries all day, below minSms an hour (its baseline), then k x its rate
    // per window, in 55 min.
    const make = (k: number, prefix: string) => {
      const b = builder(prefix);
      const history = steady(b, OTP, COSTLY, num(p, 'minSms') - 10, -24 * HOUR, 24, 8);
      const base = history.filter((e) => e.start >= T0 - lookMs).length / (lookMs / windowMs);
      const n = Math.round(k * factor * base);
      expect(n).toBeGreaterThanOrEqual(num(p, 'minSms'));
      return [...history, ...pump(b, n, 0, 3300 / n, 9)];
    };
    const low = run(make(0.75, 'reg-low'));
    quiet(low, R);
    const high = run(make(1.5, 'reg-high'));
    quiet(high.filter((a) => a.detectedAt < T0), R);
    first(high, R);
  });

  it('range walking: minPrefixDepth different numbers in one prefix among widely spread codes fires on a line never seen before', () => {
    const b = builder('depth');
    const r = lcg(7);
    const depth = num(p, 'minPrefixDepth');
    const deep = Array.from({ length: depth }, (_, i) => b.sms(OTP, to.sms(`22524321${String(1000 + i * 37)}`, 'CI'), { at: i * 30 * SEC }));
    const wide = Array.from({ length: num(p, 'minSms') }, (_, i) => {
      const [iso, head, digits] = USERS[i % USERS.length]!;
      return b.sms(OTP, to.sms(numberIn(head, digits, r), iso), { at: i * 60 * SEC + 7 * SEC });
    });
    const a = first(run([...deep, ...wide]), R);
    expect(a.evidence.counts.maxPrefixNumbers).toBeGreaterThanOrEqual(depth);
    expect(a.evidence.counts.topCountriesPct).toBeLessThan(num(p, 'minConcentration') * 100);
  });

  it('costly destinations: minCostlyShare of the messages to premium or priced-like-IRSF ranges fire on a line never seen before', () => {
    const b = builder('costly');
    const r = lcg(11);
    const n = num(p, 'minSms');
    const costlyN = Math.ceil(num(p, 'minCostlyShare') * n);
    const evs = Array.from({ length: n }, (_, i) => {
      const [iso, head, digits] = USERS[i % USERS.length]!;
      return i < costlyN ? b.sms(OTP, to.sms(`37190${numberIn('', 6, r)}`, 'LV', true), { at: i * 60 * SEC }) : b.sms(OTP, to.sms(numberIn(head, digits, r), iso), { at: i * 60 * SEC });
    });
    expect(first(run(evs), R).evidence.counts.costlyPct).toBeGreaterThanOrEqual(num(p, 'minCostlyShare') * 100);
    // One fewer costly message: the same traffic is an ordinary spread.
    const b2 = builder('costly-nm');
    const r2 = lcg(11);
    const evs2 = Array.from({ length: n }, (_, i) => {
      const [iso, head, digits] = USERS[i % USERS.length]!;
      return i < costlyN - 1 ? b2.sms(OTP, to.sms(`37190${numberIn('', 6, r2)}`, 'LV', true), { at: i * 60 * SEC }) : b2.sms(OTP, to.sms(numberIn(head, digits, r2), iso), { at: i * 60 * SEC });
    });
    quiet(run(evs2), R);
  });
});

describe('keying: risk from rating for SMS abroad', () => {
  it('an SMS to a premium-rate or international-network range abroad is high-risk; to an ordinary mobile abroad it is not; a domestic one is not keyed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sms-key-'));
    const t = createTraffic({ seed: 5, subscribers: 300, startMs: Date.UTC(2026, 9, 5), endMs: Date.UTC(2026, 9, 6), scenarios: 'none' });
    writeReference(dir, t.reference());
    const stage = createRatingStage(dir, '');
    const keyer = createFraudKeyer(stage.reference, stage.rating.normaliser);
    const old = new Set([...t.reference().lines()].filter((l) => l.installDate < '2026-06-01').map((l) => l.msisdn));
    const real = [...t.records()].find((c) => c.eventType === 'SMS_MO' && old.has(c.servedMsisdn) && (c.servingPlmn === null || c.servingPlmn === c.homePlmn))!;
    expect(real).toBeDefined();
    const keyed = (called: string, k: number) => {
      const sc: SourcedCdr = { cdr: { ...real, recordId: `s-${k}`, calledNumber: called } as Cdr, topic: 'cdrs', partition: 0, offset: String(k) };
      stage.rateBatch([sc]);
      return keyer(sc).filter((e) => e.kind === 'SMS');
    };
    const premium = keyed('0037190123456', 1);
    expect(premium.map((e) => [e.group, e.highRisk, e.international])).toEqual([
      ['LINE', true, true],
      ['RANGE', true, true],
    ]);
    expect(keyed('0088301234567', 2).every((e) => e.highRisk)).toBe(true);
    const ordinary = keyed('0033612345678', 3);
    expect(ordinary.length).toBe(2);
    expect(ordinary.some((e) => e.highRisk)).toBe(false);
    expect(keyed('07700900123', 4)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// "A calls A"
// ---------------------------------------------------------------------------------------------------------

describe('forwarding.self_call: the cover-up and its look-alikes', () => {
  const R = 'forwarding.self_call';
  const p = P(R);
  const LINE = '447700900301';
  const self = to.home(LINE);
  const pairMs = num(p, 'pairSeconds') * 1000;

  /** A self-call (MO, A calls A) at `at`, with its own forwarded leg to `leg` (seized 500 ms later) unless null. */
  const selfCall = (b: ReturnType<typeof builder>, at: number, leg: Party | null, talkSec = 180, o: Opts = {}): FraudEvent[] => {
    const mo = b.mo(LINE, self, { at, talkSec, cost: '0.100000', ...o });
    return leg === null ? [mo] : [mo, b.fwd(LINE, leg, { at: at + 500, talkSec, ringSec: 4.5, cost: '0.200000', ...o })];
  };
  /** Back to back: each call seizes 40 s after the previous one's release. */
  const backToBack = (b: ReturnType<typeof builder>, n: number, leg: (i: number) => Party | null, talkSec = 180, from = 0) => {
    const out: FraudEvent[] = [];
    for (let i = 0, t = from; i < n; i++) {
      const pair = selfCall(b, t, leg(i), talkSec);
      out.push(...pair);
      t = pair[0]!.end - T0 + 40 * SEC;
    }
    return out;
  };

  it('fires on minForwardedCalls self-calls whose own legs go to minTargets different numbers (the box re-points the forward to each B-number), whichever record arrives first', () => {
    const n = num(p, 'minForwardedCalls');
    expect(num(p, 'minTargets')).toBeLessThanOrEqual(n);
    for (const order of ['mo-first', 'fwd-first']) {
      const b = builder(`cover-${order}`);
      const evs = backToBack(b, n, (i) => to.home(`44770090055${i}`));
      const det = new Detector(book);
      const fed = order === 'mo-first' ? evs : evs.flatMap((e, i) => (i % 2 === 0 ? [evs[i + 1]!, e] : []));
      const alerts: FraudAlert[] = [];
      fed.forEach((e, i) => alerts.push(...det.process(0, i, e)));
      const mine = of(alerts, R);
      expect(mine).toHaveLength(1);
      const a = mine[0]!;
      expect(a).toMatchObject({ version: 1, status: 'OPEN', entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', firstSeen: evs[0]!.start, detectedAt: Math.max(...evs.map((e) => e.end)), exposure: dec(evs.reduce((s, e) => s + e.costMicros, 0)) });
      expect(a.evidence.recordIds).toEqual(evs.map((e) => e.recordId));
      expect(a.evidence.counts).toMatchObject({ selfCalls: n, forwardedSelfCalls: n, targets: n, unrecorded: 0 });
      expect(a.evidence.facts.trigger).toBe('targets');
    }
  });

  it('fires on minForwardedCalls self-calls forwarded to one high-cost number (hot-listed or priced like IRSF)', () => {
    const b = builder('cover-hr');
    const a = first(run(backToBack(b, num(p, 'minForwardedCalls'), () => to.abroad('5355500001', 'CU', true), 120)), R);
    expect(a.evidence.facts.trigger).toBe('high-cost');
    expect(a.evidence.counts.targets).toBe(1);
  });

  it('near miss: one self-call fewer than minForwardedCalls, to a new number each time, does not fire', () => {
    const b = builder('cover-nm');
    quiet(run(backToBack(b, num(p, 'minForwardedCalls') - 1, (i) => to.home(`44770090055${i}`))), R);
  });

  it('benign: a customer whose mobile forwards to their home landline calls themselves through the day (one target, a few minutes) and does not fire', () => {
    const b = builder('landline');
    const landline = to.home('441224643505', 'national');
    const evs = [0, 2, 5, 9, 13, 20].flatMap((h) => selfCall(b, h * HOUR, landline, 45));
    expect(evs.length / 2).toBeGreaterThan(num(p, 'minCalls'));
    quiet(run(evs), R);
  });

  it('benign: an expatriate whose line forwards to their own mobile abroad calls themselves (one target, not high-cost) and does not fire', () => {
    const b = builder('expat');
    quiet(run([1, 3, 6, 8].flatMap((h) => selfCall(b, h * HOUR, to.abroad('33612345678', 'FR'), 90))), R);
  });

  it('near miss on minutes: self-calls to one landline just under minMinutes do not fire; at minMinutes they do (more than a person tests a forward)', () => {
    const k = num(p, 'minCalls');
    const each = (num(p, 'minMinutes') * 60) / k;
    const landline = to.home('441224643505', 'national');
    const nm = builder('min-nm');
    quiet(run(Array.from({ length: k }, (_, i) => selfCall(nm, i * 3 * HOUR, landline, each - 1)).flat()), R);
    const b = builder('min');
    const evs = Array.from({ length: k }, (_, i) => selfCall(b, i * 3 * HOUR, landline, each)).flat();
    const a = first(run(evs), R);
    expect(a.evidence.facts.trigger).toBe('minutes');
    expect(a.evidence.counts.minutesX10).toBe(num(p, 'minMinutes') * 10);
  });

  it('evasive (partial CDRs, no leg recorded): minCalls answered self-calls back to back fire on the last of them', () => {
    const b = builder('partial');
    const evs = backToBack(b, num(p, 'minCalls'), () => null);
    const a = first(run(evs), R);
    expect(a.evidence.facts.trigger).toBe('back-to-back');
    expect(a.evidence.counts).toMatchObject({ selfCalls: evs.length, unrecorded: evs.length, forwardedSelfCalls: 0 });
    expect(a.detectedAt).toBe(evs[evs.length - 1]!.end);
  });

  it('near miss: minCalls short answered self-calls without a leg, spread over more than runMinutes, do not fire', () => {
    const b = builder('partial-nm');
    const k = num(p, 'minCalls');
    const gap = (num(p, 'runMinutes') * MIN) / (k - 1) + MIN;
    quiet(run(Array.from({ length: k }, (_, i) => selfCall(b, i * gap, null, 60)).flat()), R);
  });

  it('benign: voicemail self-calls (diverted to the mailbox), even back to back and long, do not fire', () => {
    const b = builder('vm');
    const evs = backToBack(b, 3 * num(p, 'minCalls'), () => to.voicemail(), 600);
    expect(evs.filter((e) => e.kind === 'MO').reduce((s, e) => s + e.talkMs, 0)).toBeGreaterThan(num(p, 'minMinutes') * MIN);
    quiet(run(evs), R);
  });

  it('benign: busy self-calls (a line without voicemail: unanswered, no leg) back to back do not fire', () => {
    const b = builder('busy');
    quiet(run(backToBack(b, 3 * num(p, 'minCalls'), () => null, 0)), R);
  });

  it('a voicemail leg seized more than pairSeconds after a self-call does not clear it', () => {
    const b = builder('vm-late');
    const evs: FraudEvent[] = [];
    for (let i = 0, t = 0; i < num(p, 'minCalls'); i++) {
      const mo = b.mo(LINE, self, { at: t, talkSec: 120 });
      evs.push(mo, b.fwd(LINE, to.voicemail(), { at: t + pairMs + SEC, talkSec: 60 }));
      t = mo.end - T0 + 40 * SEC;
    }
    expect(first(run(evs), R).evidence.facts.trigger).toBe('back-to-back');
  });
});

describe('rule book entries', () => {
  it('the look-alike parameters are present, sourced and consistent', () => {
    const s = P('sms.pumping_sender', 'business');
    for (const k of ['minPrefixDepth', 'concentrationCountries', 'minConcentration', 'minHistoryMinutes', 'minNewCountryShare']) expect(typeof s[k], k).toBe('number');
    expect(num(s, 'minHistoryMinutes')).toBeLessThan(num(s, 'baselineMinutes'));
    const c = P('forwarding.self_call');
    for (const k of ['minTargets', 'runMinutes', 'minMinutes']) expect(typeof c[k], k).toBe('number');
    expect(num(c, 'runMinutes')).toBeLessThan(num(c, 'windowMinutes'));
    for (const id of ['sms.pumping_sender', 'forwarding.self_call']) expect(book.file.rules[id]?.source).toMatch(/\[proposal/);
  });
});
