/**
 * Fraud rules (issue #6): "Each rule has unit tests with golden event sequences, including the near misses
 * that must not fire." For every rule in RULES a golden sequence that fires (exactly one OPEN alert, version
 * 1, for the right entity, with the exact exposure and evidence) and the near misses that must stay quiet;
 * then the detector's general behaviour (episodes, versions and throttling, duplicates, determinism,
 * restore after a restart, low watermark), the per-class/band overrides and rule-file validation.
 *
 * Thresholds are read from the loaded RuleBook (schemas/fraud/rules.json) so each test states its intent
 * ("one below minTargets does not fire, exactly minTargets fires") rather than copying numbers.
 *
 * Calendar: Wednesday 2024-05-15, subscribers on UTC (utcOffset 0): 10:00 is the "day" band, 02:00 "night".
 * Parties: 44... domestic (GB, home country), 33... France (international), 53555... Cuba (high-risk,
 * range block 53555), 4490... GB premium rate.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EntityKind, FraudAlert, FraudEvent, FraudEventGroup, FraudEventKind, FraudType } from '../schemas/index.js';
import { alertIdOf, bandOf, createFraudKeyer, Detector, loadRuleBook, RuleBook, RuleBookError, RULES, type Params, type RuleBookFile } from '../enrich/fraud/index.js';
import type { Cdr, SourcedCdr } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { SEC, MIN, HOUR, T0, micros, dec, book, P, num } from './fraud-fixtures.js';

// ---------------------------------------------------------------------------------------------------------
// Time, money and parameters
// ---------------------------------------------------------------------------------------------------------

/** Wednesday 2024-05-15 02:00 UTC: "night" band. */
const NIGHT = Date.UTC(2024, 4, 15, 2, 0, 0);

/** Exact decimal string -> micro-units (independent of the code under test). */
/** Micro-units -> Decimal(18,6) string. */
const exposureOf = (evs: readonly FraudEvent[]) => dec(evs.reduce((a, e) => a + e.costMicros, 0));

const moneyParam = (p: Params, k: string): number => micros(String(p[k]));

// ---------------------------------------------------------------------------------------------------------
// Event builder
// ---------------------------------------------------------------------------------------------------------

type Party = Pick<FraudEvent, 'other' | 'otherCountry' | 'otherCategory' | 'highRisk' | 'international' | 'range'>;
const party = {
  domestic: (n = '447700900999'): Party => ({ other: n, otherCountry: 'GB', otherCategory: 'mobile', highRisk: false, international: false, range: null }),
  intl: (n = '33612345678'): Party => ({ other: n, otherCountry: 'FR', otherCategory: 'mobile', highRisk: false, international: true, range: n.slice(0, 5) }),
  highRisk: (n = '5355500001'): Party => ({ other: n, otherCountry: 'CU', otherCategory: 'fixed', highRisk: true, international: true, range: n.slice(0, 5) }),
  premium: (n = '449090000001'): Party => ({ other: n, otherCountry: 'GB', otherCategory: 'premium', highRisk: false, international: false, range: null }),
  none: (): Party => ({ other: null, otherCountry: null, otherCategory: null, highRisk: false, international: false, range: null }),
};

interface Opts extends Partial<Omit<FraudEvent, 'start' | 'end' | 'talkMs' | 'answered' | 'costMicros' | 'kind'>> {
  /** Seizure, ms after `base` (default T0). */
  at?: number;
  base?: number;
  /** Answered duration in seconds; 0 = not answered. Default 60 for voice, 0 for SMS/data. */
  talkSec?: number;
  /** Seconds from seizure to answer (or to release when not answered). Default 5. */
  ringSec?: number;
  /** Rated cost, exact decimal string. */
  cost?: string;
}

/** Events of one scenario; record ids are `${prefix}-1`, `${prefix}-2`... so a scenario built twice is identical. */
function builder(prefix: string) {
  let n = 0;
  const make = (kind: FraudEventKind, msisdn: string, to: Party | string | null, o: Opts = {}): FraudEvent => {
    const voice = kind === 'MO' || kind === 'MT' || kind === 'FWD';
    const { at = 0, base = T0, talkSec = voice ? 60 : 0, ringSec = voice ? 5 : 0, cost = '0', ...over } = o;
    const p = to === null ? party.none() : typeof to === 'string' ? party.domestic(to) : to;
    const start = base + at;
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
      ...p,
      costMicros: micros(cost),
      currency: 'GBP',
      accountId: `ACC-${msisdn}`,
      accountClass: 'private',
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
    mo: (msisdn: string, to: Party | string, o?: Opts) => make('MO', msisdn, to, o),
    mt: (msisdn: string, from: Party | string, o?: Opts) => make('MT', msisdn, from, o),
    fwd: (msisdn: string, to: Party | string, o?: Opts) => make('FWD', msisdn, to, o),
    sms: (msisdn: string, o?: Opts) => make('SMS', msisdn, null, o),
    data: (msisdn: string, o?: Opts) => make('DATA', msisdn, null, o),
  };
}

/** The same CDR's event on another entity key (keying.ts: one CDR yields one event per entity it concerns). */
function on(e: FraudEvent, group: FraudEventGroup, key?: string): FraudEvent {
  const k = key ?? (group === 'RANGE' ? e.range : group === 'DEST' ? e.other : group === 'CHAIN' ? (e.originalCalled ?? e.msisdn) : group === 'ACCOUNT' ? e.accountId : e.msisdn);
  if (!k) throw new Error(`no ${group} key for ${e.recordId}`);
  return { ...e, group, key: k };
}

const copy = (evs: readonly FraudEvent[]) => evs.map((e) => ({ ...e }));

/** Feeds events (offsets firstOffset, firstOffset+1, ...) and returns every alert version published. */
function run(events: readonly FraudEvent[], opts: { det?: Detector; rules?: RuleBook; partition?: number; firstOffset?: number } = {}): FraudAlert[] {
  const det = opts.det ?? new Detector(opts.rules ?? book);
  const out: FraudAlert[] = [];
  events.forEach((e, i) => out.push(...det.process(opts.partition ?? 0, (opts.firstOffset ?? 0) + i, e)));
  return out;
}
const of = (alerts: readonly FraudAlert[], rule: string) => alerts.filter((a) => a.rule === rule);

interface Golden {
  entityKind: EntityKind;
  entity: string;
  fraudType: FraudType;
  /** The events the alert is about, in seizure order (exposure, evidence, firstSeen). */
  contributing: readonly FraudEvent[];
  counts?: Record<string, number>;
  facts?: Record<string, string>;
}

/** Exactly one alert for the rule: version 1, OPEN, for the entity, with exact exposure and evidence. */
function expectOneOpen(alerts: readonly FraudAlert[], rule: string, g: Golden): FraudAlert {
  const mine = of(alerts, rule);
  expect(mine, `alerts of ${rule}`).toHaveLength(1);
  const a = mine[0]!;
  const firstSeen = Math.min(...g.contributing.map((e) => e.start));
  const detectedAt = Math.max(...g.contributing.map((e) => e.end));
  expect(a).toMatchObject({
    rule,
    version: 1,
    status: 'OPEN',
    entityKind: g.entityKind,
    entity: g.entity,
    fraudType: g.fraudType,
    firstSeen,
    windowStart: firstSeen,
    lastSeen: Math.max(...g.contributing.map((e) => e.start)),
    detectedAt,
    windowEnd: detectedAt,
    exposure: exposureOf(g.contributing),
    currency: 'GBP',
  });
  expect(a.alertId).toBe(alertIdOf(rule, g.entityKind, g.entity, firstSeen));
  expect(a.evidence.recordIds).toEqual(g.contributing.map((e) => e.recordId));
  expect(a.evidence.counts.events).toBe(g.contributing.length);
  if (g.counts) expect(a.evidence.counts).toMatchObject(g.counts);
  if (g.facts) expect(a.evidence.facts).toMatchObject(g.facts);
  // Below the money escalation thresholds the severity is the rule's own.
  if (micros(a.exposure) < book.highExposureMicros) expect(a.severity).toBe(book.baseSeverity(rule));
  expect(a.score).toBeGreaterThanOrEqual(0.5);
  expect(a.score).toBeLessThanOrEqual(1);
  return a;
}

function expectQuiet(alerts: readonly FraudAlert[], rule: string): void {
  expect(of(alerts, rule), `${rule} must not fire`).toEqual([]);
}

const COVERED = new Set<string>();
const ruleDescribe = (rule: string, fn: () => void) => {
  COVERED.add(rule);
  describe(rule, fn);
};

// ---------------------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------------------

ruleDescribe('forwarding.high_risk_spike', () => {
  const R = 'forwarding.high_risk_spike';
  const p = P(R);
  const LINE = '447700900101';

  it('fires on minLegsHighRisk forwarded legs to high-risk numbers within the window', () => {
    const b = builder('hrs');
    const legs = Array.from({ length: num(p, 'minLegsHighRisk') }, (_, i) => b.fwd(LINE, party.highRisk(`535550000${i + 1}`), { at: i * 10 * MIN, talkSec: 300, cost: '2.345678' }));
    const alerts = run([b.fwd(LINE, party.domestic(), { at: -5 * MIN, cost: '9.00' }), ...legs]);
    expectOneOpen(alerts, R, {
      entityKind: 'MSISDN',
      entity: LINE,
      fraudType: 'FORWARDING',
      contributing: legs,
      counts: { legs: legs.length, highRiskLegs: legs.length, destinations: legs.length, forwardedMinutesX10: legs.length * 50 },
      facts: { windowMinutes: String(p.windowMinutes) },
    });
  });

  it('near miss: one high-risk leg fewer (padded with international legs below minLegs) does not fire', () => {
    const b = builder('hrs-nm');
    const hr = Array.from({ length: num(p, 'minLegsHighRisk') - 1 }, (_, i) => b.fwd(LINE, party.highRisk(`535550000${i + 1}`), { at: i * MIN, talkSec: 3600 }));
    const intl = Array.from({ length: num(p, 'minLegs') - 1 - hr.length }, (_, i) => b.fwd(LINE, party.intl(`3361234500${i}`), { at: (10 + i) * MIN, talkSec: 3600 }));
    expectQuiet(run([...hr, ...intl]), R);
  });

  it('near miss: the high-risk legs further apart than windowMinutes do not fire', () => {
    const b = builder('hrs-apart');
    const legs = Array.from({ length: num(p, 'minLegsHighRisk') }, (_, i) => b.fwd(LINE, party.highRisk(), { at: i * (num(p, 'windowMinutes') * MIN + SEC) }));
    expectQuiet(run(legs), R);
  });

  it('near miss: forwarding to domestic numbers never counts', () => {
    const b = builder('hrs-dom');
    const legs = Array.from({ length: num(p, 'minLegs') * 2 }, (_, i) => b.fwd(LINE, party.domestic(`44770090090${i % 10}`), { at: i * MIN, talkSec: 3600 }));
    expectQuiet(run(legs), R);
  });

  it('volume: minLegs international legs with exactly minMinutes fire; one minute less does not', () => {
    const legsN = num(p, 'minLegs');
    const each = (num(p, 'minMinutes') * 60) / legsN;
    const build = (short: number) => {
      const b = builder('hrs-vol');
      return Array.from({ length: legsN }, (_, i) => b.fwd(LINE, party.intl(`3361234500${i}`), { at: i * 2 * MIN, talkSec: i === legsN - 1 ? each - short : each, cost: '0.50' }));
    };
    const legs = build(0);
    expectOneOpen(run(legs), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: legs, counts: { legs: legsN, highRiskLegs: 0, forwardedMinutesX10: num(p, 'minMinutes') * 10 } });
    expectQuiet(run(build(60)), R);
  });

  it('band override: at night fewer legs and minutes fire, the same legs in the day do not', () => {
    const night = P(R, null, 'night');
    expect(num(night, 'minLegs')).toBeLessThan(num(p, 'minLegs'));
    const legsN = num(night, 'minLegs');
    const each = (num(night, 'minMinutes') * 60) / legsN;
    const build = (base: number) => {
      const b = builder('hrs-night');
      return Array.from({ length: legsN }, (_, i) => b.fwd(LINE, party.intl(`3361234500${i}`), { base, at: i * 2 * MIN, talkSec: each, cost: '1.10' }));
    };
    const atNight = build(NIGHT);
    expect(atNight.every((e) => e.band === 'night')).toBe(true);
    expectOneOpen(run(atNight), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: atNight });
    expectQuiet(run(build(T0)), R);
  });

  // An expat forwarding to their own number abroad (hard negative of the evaluation): one long call home
  // made the week's only false alert of this rule before established forwards were recognised.
  const EXPAT = '33612345999';
  const history = (b: ReturnType<typeof builder>, to = EXPAT) => b.fwd(LINE, party.intl(to), { at: -(num(p, 'establishedAfterMinutes') + 30) * MIN, talkSec: 240, cost: '0.40' });
  const spike = (b: ReturnType<typeof builder>, total: number, to = EXPAT) => {
    const legsN = num(p, 'minLegs');
    return Array.from({ length: legsN }, (_, i) => b.fwd(LINE, party.intl(to), { at: i * 2 * MIN, talkSec: (total * 60) / legsN, cost: '0.50' }));
  };

  it('near miss: an established forward (legs to the number more than establishedAfterMinutes before) does not fire at minLegs/minMinutes', () => {
    expect(num(p, 'establishedMinMinutes')).toBeGreaterThan(num(p, 'windowMinutes'));
    const b = builder('hrs-expat');
    expectQuiet(run([history(b), ...spike(b, num(p, 'establishedMinMinutes') - 1)]), R);
  });

  it('an established forward fires at establishedMinMinutes in the window (more than one person can talk: several legs at once)', () => {
    const b = builder('hrs-expat-pump');
    const old = history(b);
    const legs = spike(b, num(p, 'establishedMinMinutes'));
    expectOneOpen(run([old, ...legs]), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: legs, counts: { legs: legs.length, establishedLegs: legs.length, forwardedMinutesX10: num(p, 'establishedMinMinutes') * 10 } });
  });

  it('established only by legs before the window: the same history less than establishedAfterMinutes before, or older than lookbackMinutes, does not count', () => {
    const recent = builder('hrs-recent');
    const r = recent.fwd(LINE, party.intl(EXPAT), { at: -(num(p, 'establishedAfterMinutes') - 30) * MIN, talkSec: 240 });
    expect(of(run([r, ...spike(recent, num(p, 'minMinutes'))]), R)).toHaveLength(1);
    const stale = builder('hrs-stale');
    const s = stale.fwd(LINE, party.intl(EXPAT), { at: -(num(p, 'lookbackMinutes') + 30) * MIN, talkSec: 240 });
    expect(of(run([s, ...spike(stale, num(p, 'minMinutes'))]), R)).toHaveLength(1);
  });

  it('a hijack to a new number next to an established forward fires; high-risk legs count to a new number, not to an established one (an expat\'s own mobile in a hot-listed country)', () => {
    const b = builder('hrs-new');
    const legs = spike(b, num(p, 'minMinutes'), '33612345001');
    expectOneOpen(run([history(b), ...legs]), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: legs, counts: { establishedLegs: 0 } });
    // (issue #13: the expat forwarding to his own number in a hot-listed country was a false alert)
    const h = builder('hrs-hr-established');
    const old = h.fwd(LINE, party.highRisk(), { at: -(num(p, 'establishedAfterMinutes') + 30) * MIN });
    const hr = Array.from({ length: num(p, 'minLegsHighRisk') }, (_, i) => h.fwd(LINE, party.highRisk(), { at: i * 5 * MIN, talkSec: 120 }));
    expectQuiet(run([old, ...hr]), R);
    const n = builder('hrs-hr-new');
    const oldN = n.fwd(LINE, party.highRisk(), { at: -(num(p, 'establishedAfterMinutes') + 30) * MIN });
    const hrN = Array.from({ length: num(p, 'minLegsHighRisk') }, (_, i) => n.fwd(LINE, party.highRisk(`535550009${i}`), { at: i * 5 * MIN, talkSec: 120 }));
    expectOneOpen(run([oldN, ...hrN]), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: hrN, counts: { highRiskLegs: hrN.length, establishedLegs: 0 } });
  });
});

ruleDescribe('forwarding.chain', () => {
  const R = 'forwarding.chain';
  const p = P(R);
  const HEAD = '447700900201';
  const HOP = '447700900202';

  it('fires on a forwarded leg at minCounter diversions, keyed by the original called number', () => {
    const b = builder('chain');
    const leg = on(b.fwd(HOP, party.intl(), { originalCalled: HEAD, redirectionCounter: num(p, 'minCounter'), cost: '0.420000' }), 'CHAIN');
    expect(leg.key).toBe(HEAD);
    expectOneOpen(run([leg]), R, {
      entityKind: 'MSISDN',
      entity: HEAD,
      fraudType: 'FORWARDING',
      contributing: [leg],
      counts: { calls: 1, loops: 0, maxCounter: num(p, 'minCounter'), members: 1 },
      facts: { members: HOP, loop: 'false' },
    });
  });

  it('near miss: one diversion fewer than minCounter (a benign double diversion) does not fire', () => {
    const b = builder('chain-nm');
    const legs = Array.from({ length: 5 }, (_, i) => on(b.fwd(HOP, party.intl(), { at: i * MIN, originalCalled: HEAD, redirectionCounter: num(p, 'minCounter') - 1, cause: 16 }), 'CHAIN'));
    expectQuiet(run(legs), R);
  });

  it('a loop released at the hop limit (cause 25) fires even below minCounter', () => {
    const b = builder('chain-loop');
    const leg = on(b.fwd(HOP, party.domestic(HEAD), { originalCalled: HEAD, redirectionCounter: num(p, 'minCounter') - 1, cause: 25, talkSec: 0 }), 'CHAIN');
    expectOneOpen(run([leg]), R, { entityKind: 'MSISDN', entity: HEAD, fraudType: 'FORWARDING', contributing: [leg], counts: { loops: 1 }, facts: { loop: 'true' } });
  });

  it('without an original called number the chain is named by the served MSISDN', () => {
    const b = builder('chain-self');
    const leg = on(b.fwd(HOP, party.intl(), { redirectionCounter: num(p, 'minCounter') + 1 }), 'CHAIN');
    expectOneOpen(run([leg]), R, { entityKind: 'MSISDN', entity: HOP, fraudType: 'FORWARDING', contributing: [leg], counts: { maxCounter: num(p, 'minCounter') + 1 } });
  });
});

ruleDescribe('forwarding.self_call', () => {
  const R = 'forwarding.self_call';
  const p = P(R);
  const LINE = '447700900301';

  it('fires on minCalls calls from the line to itself, naming where it forwards', () => {
    const b = builder('self');
    const fwd = b.fwd(LINE, party.intl(), { at: 0, talkSec: 600, cost: '3.00' });
    const selfCalls = Array.from({ length: num(p, 'minCalls') }, (_, i) => b.mo(LINE, LINE, { at: (i + 1) * HOUR, talkSec: 1200, cost: '0.055555' }));
    expectOneOpen(run([fwd, b.mo(LINE, '447700900999', { at: 30 * MIN }), ...selfCalls]), R, {
      entityKind: 'MSISDN',
      entity: LINE,
      fraudType: 'FORWARDING',
      contributing: selfCalls,
      counts: { selfCalls: selfCalls.length, forwardedLegs: 1, minutesX10: selfCalls.length * 200 },
      facts: { forwardedTo: '33612345678' },
    });
  });

  it('near miss: one self-call fewer than minCalls, with ordinary calls around it, does not fire', () => {
    const b = builder('self-nm');
    const evs = [
      ...Array.from({ length: num(p, 'minCalls') - 1 }, (_, i) => b.mo(LINE, LINE, { at: i * MIN })),
      ...Array.from({ length: 5 }, (_, i) => b.mo(LINE, `44770090040${i}`, { at: (10 + i) * MIN })),
    ];
    expectQuiet(run(evs), R);
  });

  it('near miss: self-calls further apart than windowMinutes do not fire', () => {
    const b = builder('self-apart');
    const evs = Array.from({ length: num(p, 'minCalls') }, (_, i) => b.mo(LINE, LINE, { at: i * (num(p, 'windowMinutes') * MIN + MIN) }));
    expectQuiet(run(evs), R);
  });

  // The cover-up's own record pair: A calls A (MO) and the network diverts it to B (FWD seized just after).
  const selfPair = (b: ReturnType<typeof builder>, at: number, to: Party | string, gapMs = 500) => {
    const mo = b.mo(LINE, LINE, { at, talkSec: 180, cost: '0.10' });
    return [mo, b.fwd(LINE, to, { at: at + gapMs, talkSec: 180, ringSec: 5 - gapMs / 1000, cost: '0.20' })] as const;
  };

  it('fires on minForwardedCalls self-calls diverted to different numbers (their own forwarded legs), whichever record arrives first', () => {
    expect(num(p, 'minForwardedCalls')).toBeLessThan(num(p, 'minCalls'));
    const n = num(p, 'minForwardedCalls');
    for (const order of ['mo-first', 'fwd-first']) {
      const b = builder(`self-fwd-${order}`);
      // (one number each time: the box re-points the forward; one target is a customer's own forward,
      // test/fraud-lookalikes.test.ts)
      const pairs = Array.from({ length: n }, (_, i) => selfPair(b, i * 10 * MIN, `44770090055${i}`));
      const evs = pairs.flatMap(([mo, fwd]) => (order === 'mo-first' ? [mo, fwd] : [fwd, mo]));
      const contributing = pairs.flat();
      const alerts = run(evs);
      expectOneOpen(alerts, R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing, counts: { selfCalls: n, forwardedSelfCalls: n }, facts: { forwardedTo: pairs.map(([, f]) => f.other).join(',') } });
    }
  });

  it('near miss: a customer calling their own number lands in voicemail (diverted to the voicemail number) does not fire', () => {
    const b = builder('self-vm');
    const vm: Party = { other: '447900000121', otherCountry: 'GB', otherCategory: 'voicemail', highRisk: false, international: false, range: null };
    expectQuiet(run(Array.from({ length: num(p, 'minCalls') - 1 }, (_, i) => selfPair(b, i * 10 * MIN, vm)).flat()), R);
  });

  it('near miss: a self-call and a forwarded leg of another call more than pairSeconds later are not a pair', () => {
    const b = builder('self-apart-fwd');
    expectQuiet(run([...selfPair(b, 0, '447700900555', num(p, 'pairSeconds') * 1000 + 1000)]), R);
  });
});

ruleDescribe('forwarding.shared_destination', () => {
  const R = 'forwarding.shared_destination';
  const p = P(R);
  const DEST = '5355500999';
  const line = (i: number) => `4477009004${String(i).padStart(2, '0')}`;

  it('fires when minLines distinct lines forward to the same destination', () => {
    const b = builder('dest');
    const legs = Array.from({ length: num(p, 'minLines') }, (_, i) => on(b.fwd(line(i), party.highRisk(DEST), { at: i * HOUR, talkSec: 900, cost: '4.50' }), 'DEST'));
    expectOneOpen(run(legs), R, { entityKind: 'NUMBER', entity: DEST, fraudType: 'FORWARDING', contributing: legs, counts: { lines: legs.length, legs: legs.length, minutesX10: legs.length * 150 } });
  });

  it('near miss: many legs from one line fewer than minLines do not fire', () => {
    const b = builder('dest-nm');
    const legs = Array.from({ length: 10 }, (_, i) => on(b.fwd(line(i % (num(p, 'minLines') - 1)), party.highRisk(DEST), { at: i * 10 * MIN, talkSec: 900 }), 'DEST'));
    expectQuiet(run(legs), R);
  });

  it('near miss: the lines forwarding more than windowMinutes apart do not fire', () => {
    const b = builder('dest-apart');
    const n = num(p, 'minLines');
    const legs = Array.from({ length: n }, (_, i) => on(b.fwd(line(i), party.highRisk(DEST), { at: i === n - 1 ? num(p, 'windowMinutes') * MIN + MIN : i * MIN }), 'DEST'));
    expectQuiet(run(legs), R);
  });
});

ruleDescribe('wangiri.burst', () => {
  const R = 'wangiri.burst';
  const p = P(R);
  const RANGE = '53555';
  const victim = (i: number) => `4477009005${String(i).padStart(2, '0')}`;
  const caller = (i: number) => party.highRisk(`5355500${String(i % 7).padStart(3, '0')}`);
  /** One-ring calls from the range to `targets` distinct subscribers, 20 s apart. */
  const burst = (b: ReturnType<typeof builder>, targets: number, o: Opts = {}) =>
    Array.from({ length: targets }, (_, i) => on(b.mt(victim(i), caller(i), { at: i * 20 * SEC, talkSec: 0, ringSec: num(p, 'maxRingSeconds') - 2, ...o }), 'RANGE'));

  it('fires on minTargets short unanswered calls from one range block', () => {
    const b = builder('wan');
    const calls = burst(b, num(p, 'minTargets'));
    expect(calls.every((e) => e.key === RANGE)).toBe(true);
    expectOneOpen(run(calls), R, {
      entityKind: 'RANGE',
      entity: RANGE,
      fraudType: 'WANGIRI',
      contributing: calls,
      counts: { targets: calls.length, shortCalls: calls.length, inboundCalls: calls.length, callingNumbers: 7 },
      facts: { country: 'CU' },
    });
  });

  it('near miss: one target fewer than minTargets (the last one called twice) does not fire', () => {
    const b = builder('wan-nm');
    const calls = burst(b, num(p, 'minTargets') - 1);
    calls.push(on(b.mt(victim(0), caller(1), { at: 10 * MIN, talkSec: 0, ringSec: 2 }), 'RANGE'));
    expectQuiet(run(calls), R);
  });

  it('near miss: a ring one second longer than maxRingSeconds is not a one-ring call', () => {
    const b = builder('wan-ring');
    const calls = burst(b, num(p, 'minTargets'));
    const last = calls.length - 1;
    calls[last] = on(b.mt(victim(last), caller(last), { at: last * 20 * SEC, talkSec: 0, ringSec: num(p, 'maxRingSeconds') + 1 }), 'RANGE');
    expectQuiet(run(calls), R);
  });

  it('near miss: too many answered inbound calls from the range (short share below minShortShare) do not fire; at the share it fires', () => {
    const targets = num(p, 'minTargets');
    // Smallest number of answered calls that pushes the share below the threshold.
    const tooMany = Math.floor(targets / num(p, 'minShortShare') - targets) + 1;
    const build = (answeredCalls: number) => {
      const b = builder('wan-share');
      const answered = Array.from({ length: answeredCalls }, (_, i) => on(b.mt(victim(50 + i), caller(i), { at: -10 * MIN + i * SEC, talkSec: 120 }), 'RANGE'));
      return { answered, short: burst(b, targets) };
    };
    const below = build(tooMany);
    expectQuiet(run([...below.answered, ...below.short]), R);
    const at = build(tooMany - 1);
    expectOneOpen(run([...at.answered, ...at.short]), R, { entityKind: 'RANGE', entity: RANGE, fraudType: 'WANGIRI', contributing: at.short, counts: { inboundCalls: targets + tooMany - 1 } });
  });

  it('near miss: the same calls spread over more than windowMinutes do not fire', () => {
    const b = builder('wan-slow');
    const step = Math.ceil((num(p, 'windowMinutes') * MIN) / (num(p, 'minTargets') - 1)) + SEC;
    const calls = Array.from({ length: num(p, 'minTargets') }, (_, i) => on(b.mt(victim(i), caller(i), { at: i * step, talkSec: 0, ringSec: 2 }), 'RANGE'));
    expectQuiet(run(calls), R);
  });

  it('callbacks (MO on the range key) extend the open episode: callbacks and exposure grow under the same alert', () => {
    const b = builder('wan-cb');
    const calls = burst(b, num(p, 'minTargets'));
    const t = calls[calls.length - 1]!.end;
    const cb1 = on(b.mo(victim(0), party.highRisk('5355500001'), { base: t, at: MIN, talkSec: 120, cost: '3.20' }), 'RANGE');
    const cb2 = on(b.mo(victim(1), party.highRisk('5355500002'), { base: t, at: 3 * MIN, talkSec: 60, cost: '0.50' }), 'RANGE');
    const cb3 = on(b.mo(victim(2), party.highRisk('5355500003'), { base: cb1.end, at: book.updateEveryMs + MIN, talkSec: 30, cost: '0.25' }), 'RANGE');
    const alerts = of(run([...calls, cb1, cb2, cb3]), R);
    const ids = new Set(alerts.map((a) => a.alertId));
    expect(ids.size, 'no second alert').toBe(1);
    expect(alerts.map((a) => [a.version, a.status, a.evidence.counts.callbacks ?? 0, a.exposure])).toEqual([
      [1, 'OPEN', 0, '0.000000'],
      // cb1 is a big enough increase to publish at once; cb2 is not (throttled); cb3 comes after updateEveryMinutes.
      [2, 'UPDATED', 1, '3.200000'],
      [3, 'UPDATED', 3, '3.950000'],
    ]);
    expect(alerts[2]!.lastSeen).toBe(cb3.start);
    expect(alerts[2]!.evidence.recordIds.slice(-3)).toEqual([cb1.recordId, cb2.recordId, cb3.recordId]);
  });

  it('near miss: callbacks to the range alone never open an alert', () => {
    const b = builder('wan-cbonly');
    const cbs = Array.from({ length: num(p, 'minTargets') * 2 }, (_, i) => on(b.mo(victim(i), caller(i), { at: i * 10 * SEC, talkSec: 30, cost: '1.00' }), 'RANGE'));
    expectQuiet(run(cbs), R);
  });
});

ruleDescribe('irsf.high_risk', () => {
  const R = 'irsf.high_risk';
  const p = P(R);
  const LINE = '447700900601';
  const testSec = num(p, 'maxTestSeconds') - 20;
  const youngAge = num(p, 'youngLineDays');
  const oldAge = num(p, 'youngLineDays') + 1;
  const testCalls = (b: ReturnType<typeof builder>, n: number, o: Opts = {}) =>
    Array.from({ length: n }, (_, i) => b.mo(LINE, party.highRisk(`535550010${i}`), { at: i * 2 * MIN, talkSec: testSec, cost: '0.800000', ...o }));

  it('test calls: minTestsYoungLine short answered calls from a young line fire (trigger test-calls)', () => {
    const b = builder('irsf-young');
    const calls = testCalls(b, num(p, 'minTestsYoungLine'), { lineAgeDays: youngAge });
    expectOneOpen(run(calls), R, {
      entityKind: 'MSISDN',
      entity: LINE,
      fraudType: 'IRSF',
      contributing: calls,
      counts: { calls: calls.length, answered: calls.length, testCalls: calls.length },
      facts: { trigger: 'test-calls', lineAgeDays: String(youngAge), destinations: '53555' },
    });
  });

  it('test calls: the same calls from an old line (one day past youngLineDays, or unknown age) do not fire; minTestsOldLine do', () => {
    expect(num(p, 'minTestsOldLine')).toBeGreaterThan(num(p, 'minTestsYoungLine'));
    for (const age of [oldAge, -1]) expectQuiet(run(testCalls(builder('irsf-old'), num(p, 'minTestsYoungLine'), { lineAgeDays: age })), R);
    const calls = testCalls(builder('irsf-old3'), num(p, 'minTestsOldLine'), { lineAgeDays: oldAge });
    expectOneOpen(run(calls), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'IRSF', contributing: calls, facts: { trigger: 'test-calls' } });
  });

  it('near miss: calls one second longer than maxTestSeconds are not test calls', () => {
    const calls = testCalls(builder('irsf-long'), num(p, 'minTestsOldLine'), { lineAgeDays: youngAge, talkSec: num(p, 'maxTestSeconds') + 1 });
    expectQuiet(run(calls), R);
  });

  it('near miss: test calls further apart than testWindowMinutes do not fire', () => {
    const b = builder('irsf-apart');
    const calls = Array.from({ length: num(p, 'minTestsYoungLine') }, (_, i) => b.mo(LINE, party.highRisk(), { at: i * (num(p, 'testWindowMinutes') * MIN + MIN), talkSec: testSec, lineAgeDays: youngAge }));
    expectQuiet(run(calls), R);
  });

  it('near miss: short calls to ordinary international numbers are not IRSF test calls', () => {
    const b = builder('irsf-intl');
    const calls = Array.from({ length: 10 }, (_, i) => b.mo(LINE, party.intl(`3361234560${i}`), { at: i * MIN, talkSec: testSec, lineAgeDays: youngAge, cost: '5.00' }));
    expectQuiet(run(calls), R);
  });

  it('volume: minCalls answered calls with exactly minMinutes fire (trigger volume); a minute less does not', () => {
    const n = num(p, 'minCalls');
    const each = (num(p, 'minMinutes') * 60) / n;
    const build = (short: number) => {
      const b = builder('irsf-vol');
      return Array.from({ length: n }, (_, i) => b.mo(LINE, party.highRisk(`535550020${i}`), { at: i * MIN, talkSec: i === n - 1 ? each - short : each, cost: '0.50' }));
    };
    const calls = build(0);
    expectOneOpen(run(calls), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'IRSF', contributing: calls, counts: { answered: n, testCalls: 0, minutesX10: num(p, 'minMinutes') * 10 }, facts: { trigger: 'volume' } });
    expectQuiet(run(build(60)), R);
  });

  it('near miss: minMinutes in one call fewer than minCalls does not fire by volume', () => {
    const b = builder('irsf-fewcalls');
    const calls = Array.from({ length: num(p, 'minCalls') - 1 }, (_, i) => b.mo(LINE, party.highRisk(), { at: i * MIN, talkSec: num(p, 'minMinutes') * 60, cost: '1.00' }));
    expectQuiet(run(calls), R);
  });

  it('cost: minCost fires only with costMinCalls answered calls', () => {
    const minCost = moneyParam(p, 'minCost');
    expect(num(p, 'costMinCalls')).toBe(2); // the sequence below: one expensive call, then a cheap one
    const b = builder('irsf-cost');
    const big = b.mo(LINE, party.highRisk('5355500301'), { at: 0, talkSec: 300, cost: dec(minCost + 5_000_000) });
    const cheap = b.mo(LINE, party.highRisk('5355500302'), { at: 10 * MIN, talkSec: 60, cost: '0.100000' });
    const det = new Detector(book);
    expectQuiet(run([big], { det }), R);
    const alerts = run([cheap], { det, firstOffset: 1 });
    expectOneOpen(alerts, R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'IRSF', contributing: [big, cheap], counts: { answered: 2, testCalls: 0 }, facts: { trigger: 'cost' } });
  });

  it('near miss: one micro-unit below minCost does not fire; an unanswered call does not count towards costMinCalls', () => {
    const minCost = moneyParam(p, 'minCost');
    const b = builder('irsf-cost-nm');
    expectQuiet(run([b.mo(LINE, party.highRisk(), { at: 0, talkSec: 300, cost: dec(minCost - 1_000_000) }), b.mo(LINE, party.highRisk(), { at: MIN, talkSec: 60, cost: '0.999999' })]), R);
    const c = builder('irsf-cost-unans');
    expectQuiet(run([c.mo(LINE, party.highRisk(), { at: 0, talkSec: 300, cost: dec(minCost * 2) }), c.mo(LINE, party.highRisk(), { at: MIN, talkSec: 0, cost: '1.00' })]), R);
  });

  it('domestic premium-rate numbers only -> fraudType PREMIUM_RATE; mixed with international high-risk -> IRSF', () => {
    const b = builder('irsf-prem');
    const prem = Array.from({ length: num(p, 'minTestsYoungLine') }, (_, i) => b.mo(LINE, party.premium(`44909000000${i}`), { at: i * MIN, talkSec: testSec, lineAgeDays: 1, cost: '1.500000' }));
    expectOneOpen(run(prem), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'PREMIUM_RATE', contributing: prem });
    const c = builder('irsf-mixed');
    const mixed = [c.mo(LINE, party.premium(), { at: 0, talkSec: testSec, lineAgeDays: 1, cost: '1.50' }), c.mo(LINE, party.highRisk(), { at: MIN, talkSec: testSec, lineAgeDays: 1, cost: '2.00' })];
    expectOneOpen(run(mixed), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'IRSF', contributing: mixed });
  });

  it('per-class override: a business account needs the higher minCost', () => {
    const biz = P(R, 'business');
    expect(moneyParam(biz, 'minCost')).toBeGreaterThan(moneyParam(p, 'minCost'));
    const build = (accountClass: string, total: number) => {
      const b = builder(`irsf-${accountClass}`);
      const half = Math.floor(total / 2);
      return [b.mo(LINE, party.highRisk(), { at: 0, talkSec: 300, cost: dec(half), accountClass }), b.mo(LINE, party.highRisk(), { at: MIN, talkSec: 300, cost: dec(total - half), accountClass })];
    };
    const priv = build('private', moneyParam(p, 'minCost'));
    expectOneOpen(run(priv), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'IRSF', contributing: priv, facts: { trigger: 'cost' } });
    expectQuiet(run(build('business', moneyParam(p, 'minCost'))), R);
    expectQuiet(run(build('business', moneyParam(biz, 'minCost') - 1)), R);
    const bizCalls = build('business', moneyParam(biz, 'minCost'));
    expectOneOpen(run(bizCalls), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'IRSF', contributing: bizCalls, facts: { trigger: 'cost' } });
  });
});

ruleDescribe('simbox.profile', () => {
  const R = 'simbox.profile';
  const p = P(R);
  const LINE = '447700900701';
  const IMSI = `23415${LINE.slice(-10)}`;
  const young = num(p, 'maxLineAgeDays') - 25;
  const callee = (i: number) => `4477009100${String(i).padStart(2, '0')}`;
  /** n outgoing calls, 10 minutes apart, from one cell to distinct domestic numbers (callee(i % distinct)). */
  const outgoing = (b: ReturnType<typeof builder>, n: number, o: Opts & { distinct?: number; cells?: number } = {}) => {
    const { distinct = n, cells = 1, ...rest } = o;
    return Array.from({ length: n }, (_, i) => b.mo(LINE, callee(i % distinct), { at: i * 10 * MIN, talkSec: 120, cost: '0.050000', lineAgeDays: young, cellId: 4711 + (i % cells), ...rest }));
  };

  it('fires on an outgoing-only young line at one cell calling minCalls distinct numbers', () => {
    const b = builder('simbox');
    const calls = outgoing(b, num(p, 'minCalls'));
    const alerts = run(calls);
    expectOneOpen(alerts, R, {
      entityKind: 'IMSI',
      entity: IMSI,
      fraudType: 'SIM_BOX',
      contributing: calls,
      counts: { outgoing: calls.length, incoming: 0, smsData: 0, distinctCallees: calls.length, cells: 1 },
      facts: { msisdn: LINE, cell: '4711', imei: '356938035643809' },
    });
    expect(of(alerts, R)[0]!.detectedAt).toBe(calls[calls.length - 1]!.end);
  });

  it('near miss: one call fewer than minCalls does not fire', () => {
    expectQuiet(run(outgoing(builder('simbox-few'), num(p, 'minCalls') - 1)), R);
  });

  it('near miss: a single SMS or data session on the line does not fire', () => {
    for (const kind of ['sms', 'data'] as const) {
      const b = builder(`simbox-${kind}`);
      const calls = outgoing(b, num(p, 'minCalls'));
      expectQuiet(run([b[kind](LINE, { at: -MIN, lineAgeDays: young }), ...calls]), R);
    }
  });

  it('near miss: incoming calls above the out/in ratio do not fire; at the ratio it fires', () => {
    const n = num(p, 'minCalls');
    const maxIncoming = Math.floor(n / num(p, 'minOutInRatio'));
    const build = (incoming: number) => {
      const b = builder('simbox-mt');
      const mts = Array.from({ length: incoming }, (_, i) => b.mt(LINE, callee(90 + i), { at: -HOUR + i * MIN, lineAgeDays: young }));
      return { mts, calls: outgoing(b, n) };
    };
    const above = build(maxIncoming + 1);
    expectQuiet(run([...above.mts, ...above.calls]), R);
    const at = build(maxIncoming);
    expectOneOpen(run([...at.mts, ...at.calls]), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_BOX', contributing: at.calls, counts: { incoming: maxIncoming } });
  });

  it('near miss: repeated callees (distinct share below minDistinctShare) do not fire', () => {
    const n = num(p, 'minCalls');
    const minDistinct = Math.ceil(num(p, 'minDistinctShare') * n);
    expectQuiet(run(outgoing(builder('simbox-rep'), n, { distinct: minDistinct - 1 })), R);
    const calls = outgoing(builder('simbox-rep-ok'), n, { distinct: minDistinct });
    expectOneOpen(run(calls), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_BOX', contributing: calls, counts: { distinctCallees: minDistinct } });
  });

  it('near miss: more than maxCells cells do not fire', () => {
    expectQuiet(run(outgoing(builder('simbox-cells'), num(p, 'minCalls'), { cells: num(p, 'maxCells') + 1 })), R);
  });

  it('near miss: an old line (one day past maxLineAgeDays) or a line of unknown age does not fire', () => {
    for (const age of [num(p, 'maxLineAgeDays') + 1, -1]) expectQuiet(run(outgoing(builder('simbox-old'), num(p, 'minCalls'), { lineAgeDays: age })), R);
  });
});

ruleDescribe('pbx.out_of_hours', () => {
  const R = 'pbx.out_of_hours';
  const p = P(R, 'pbx', 'night');
  const ACC = 'ACC-PBX-1';
  const lines = Array.from({ length: 8 }, (_, i) => `44770090080${i + 1}`);
  /** n calls to high-risk numbers, 2 minutes apart, round-robin over `nLines` lines of the PBX account, at night. */
  const calls = (prefix: string, n: number, nLines: number, businessHours: number, step = 2 * MIN) => {
    const b = builder(prefix);
    return Array.from({ length: n }, (_, i) =>
      on(b.mo(lines[i % nLines]!, party.highRisk(`535550080${i}`), { base: NIGHT, at: i * step, talkSec: 180, cost: '1.200000', accountId: ACC, accountClass: 'pbx', businessHours }), 'ACCOUNT'),
    );
  };

  it('fires on minCalls out-of-hours calls from minLines lines of the account', () => {
    const evs = calls('pbx', num(p, 'minCalls'), num(p, 'minLines'), 2);
    expect(evs.every((e) => e.key === ACC)).toBe(true);
    expectOneOpen(run(evs), R, { entityKind: 'ACCOUNT', entity: ACC, fraudType: 'PBX_HACKING', contributing: evs, counts: { calls: evs.length, lines: num(p, 'minLines'), minutesX10: evs.length * 30 }, facts: { band: 'night' } });
  });

  it('near miss: the same calls inside business hours (1) or for an account without hours (0) never fire', () => {
    for (const bh of [0, 1]) expectQuiet(run(calls(`pbx-bh${bh}`, num(p, 'minCalls') * 4, lines.length, bh)), R);
  });

  it('near miss: one call fewer than minCalls, or all calls from one line fewer than minLines, does not fire', () => {
    expectQuiet(run(calls('pbx-few', num(p, 'minCalls') - 1, lines.length, 2)), R);
    expectQuiet(run(calls('pbx-oneline', num(p, 'minCalls') * 2, num(p, 'minLines') - 1, 2)), R);
  });

  it('near miss: the calls spread over more than windowMinutes do not fire', () => {
    const n = num(p, 'minCalls');
    expectQuiet(run(calls('pbx-slow', n, lines.length, 2, Math.ceil((num(p, 'windowMinutes') * MIN) / (n - 1)) + SEC)), R);
  });
});

ruleDescribe('cloning.overlap', () => {
  const R = 'cloning.overlap';
  const p = P(R);
  const LINE = '447700900901';
  const IMSI = `23415${LINE.slice(-10)}`;
  const LONDON = { lat: 51.5074, lon: -0.1278 };
  const EDINBURGH = { lat: 55.9533, lon: -3.1883 };
  const WATFORD = { lat: 51.6565, lon: -0.3903 };
  const km = (a: { lat: number; lon: number }, b: { lat: number; lon: number }) => {
    const r = Math.PI / 180;
    const h = Math.sin(((b.lat - a.lat) * r) / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(((b.lon - a.lon) * r) / 2) ** 2;
    return 12_742 * Math.asin(Math.sqrt(h));
  };

  it('fires on overlapping answered calls from different IMEIs', () => {
    const b = builder('clone');
    const a = b.mo(LINE, '447700900998', { at: 0, talkSec: 600, imei: '356938035643809', cost: '0.600000' });
    const c = b.mt(LINE, '447700900997', { at: 5 * MIN, talkSec: 180, imei: '490154203237518', cost: '0.010000' });
    expectOneOpen(run([a, c]), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_CLONING', contributing: [a, c], facts: { reason: 'overlap', imeis: '356938035643809,490154203237518' } });
  });

  it('near miss: overlapping calls on the same handset, or an unanswered overlapping call, do not fire', () => {
    const b = builder('clone-same');
    expectQuiet(run([b.mo(LINE, '447700900998', { at: 0, talkSec: 600 }), b.mt(LINE, '447700900997', { at: 5 * MIN, talkSec: 180 })]), R);
    const c = builder('clone-unans');
    expectQuiet(run([c.mo(LINE, '447700900998', { at: 0, talkSec: 600 }), c.mt(LINE, '447700900997', { at: 5 * MIN, talkSec: 0, imei: '490154203237518' })]), R);
  });

  it('near miss: a handset swap (different IMEIs one after the other) does not fire', () => {
    const b = builder('clone-swap');
    const a = b.mo(LINE, '447700900998', { at: 0, talkSec: 600 });
    expectQuiet(run([a, b.mo(LINE, '447700900997', { base: a.end, at: MIN, imei: '490154203237518' })]), R);
  });

  it('impossible travel: calls from another handset too far away for the time between them fire', () => {
    const dist = km(LONDON, EDINBURGH);
    expect(dist).toBeGreaterThan(num(p, 'minKm'));
    // Travel time at twice the speed ceiling: half the time needed.
    const gap = Math.floor(((dist / num(p, 'maxKmh')) * HOUR) / 2);
    const b = builder('clone-travel');
    const a = b.mo(LINE, '447700900998', { at: 0, talkSec: 300, ...LONDON, cellId: 1001, cost: '0.30' });
    const c = b.mo(LINE, '447700900997', { base: a.end, at: gap, talkSec: 60, ...EDINBURGH, cellId: 2002, imei: '490154203237518', cost: '0.06' });
    const alert = expectOneOpen(run([a, c]), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_CLONING', contributing: [a, c], facts: { reason: 'velocity', cells: '1001->2002' }, counts: { km: Math.round(dist) } });
    expect(alert.evidence.counts.kmh).toBeGreaterThan(num(p, 'maxKmh'));
  });

  it('near miss: a plausible trip (below maxKmh) does not fire, even with another handset', () => {
    const dist = km(LONDON, EDINBURGH);
    const gap = Math.ceil((dist / num(p, 'maxKmh')) * HOUR * 1.2); // a fast flight, still below the ceiling
    const b = builder('clone-trip');
    const a = b.mo(LINE, '447700900998', { at: 0, talkSec: 300, ...LONDON, cellId: 1001 });
    expectQuiet(run([a, b.mo(LINE, '447700900997', { base: a.end, at: gap, ...EDINBURGH, cellId: 2002, imei: '490154203237518' })]), R);
  });

  it('near miss: one handset moving impossibly fast is a traveller (or a bad cell position), not a clone', () => {
    const dist = km(LONDON, EDINBURGH);
    const gap = Math.floor(((dist / num(p, 'maxKmh')) * HOUR) / 2);
    const b = builder('clone-onehandset');
    const a = b.mo(LINE, '447700900998', { at: 0, talkSec: 300, ...LONDON, cellId: 1001 });
    expectQuiet(run([a, b.mo(LINE, '447700900997', { base: a.end, at: gap, ...EDINBURGH, cellId: 2002 })]), R);
  });

  it('near miss: a short hop below minKm does not fire however fast', () => {
    expect(km(LONDON, WATFORD)).toBeLessThan(num(p, 'minKm'));
    const b = builder('clone-hop');
    const a = b.mo(LINE, '447700900998', { at: 0, talkSec: 300, ...LONDON, cellId: 1001 });
    expectQuiet(run([a, b.mo(LINE, '447700900997', { base: a.end, at: SEC, ...WATFORD, cellId: 1002, imei: '490154203237518' })]), R);
  });

  // Sightings: the keyer keys data sessions and SMS when the handset or the place changed (keying.ts), so the
  // clone's calls are compared with where the original handset was last seen, whatever it was doing.
  const ORIGINAL = '356938035643809';
  const CLONE = '490154203237518';
  const travelGap = (from: { lat: number; lon: number }, to: { lat: number; lon: number }, factor: number) => Math.floor(((km(from, to) / num(p, 'maxKmh')) * HOUR) / factor);

  it('sightings: the original\'s data session, then the clone\'s call too far away for the time between them, fire (velocity)', () => {
    const b = builder('clone-data');
    const data = b.data(LINE, { at: 0, talkSec: 900, ...LONDON, cellId: 1001, imei: ORIGINAL, cost: '0.12' });
    const call = b.mo(LINE, '447700900997', { base: data.end, at: travelGap(LONDON, EDINBURGH, 2), talkSec: 120, ...EDINBURGH, cellId: 2002, imei: CLONE, cost: '0.20' });
    expectOneOpen(run([data, call]), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_CLONING', contributing: [data, call], facts: { reason: 'velocity', cells: '1001->2002', records: 'DATA->MO' }, counts: { km: Math.round(km(LONDON, EDINBURGH)) } });
  });

  it('sightings: the clone\'s call, then the original\'s SMS back home too soon after it, fire (the later record triggers)', () => {
    const b = builder('clone-sms');
    const call = b.mo(LINE, '447700900997', { at: 0, talkSec: 120, ...EDINBURGH, cellId: 2002, imei: CLONE });
    const sms = b.sms(LINE, { base: call.end, at: travelGap(EDINBURGH, LONDON, 3), ...LONDON, cellId: 1001, imei: ORIGINAL });
    expectOneOpen(run([call, sms]), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_CLONING', contributing: [call, sms], facts: { reason: 'velocity', records: 'MO->SMS' } });
  });

  it('collision: the clone\'s answered call while the original is dialling (an unanswered attempt) fires (overlap)', () => {
    const b = builder('clone-attempt');
    const attempt = b.mo(LINE, '447700900998', { at: 0, talkSec: 0, ringSec: 30, ...LONDON, cellId: 1001, imei: ORIGINAL });
    const call = b.mo(LINE, '447700900997', { at: 20 * SEC, talkSec: 100, ...EDINBURGH, cellId: 2002, imei: CLONE });
    expectOneOpen(run([attempt, call]), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_CLONING', contributing: [attempt, call], facts: { reason: 'overlap' } });
  });

  it('alternating: the original at home, the clone far away, the original at home again within windowMinutes fire, whatever the speed', () => {
    const b = builder('clone-aba');
    const a1 = b.data(LINE, { at: 0, talkSec: 600, ...LONDON, cellId: 1001, imei: ORIGINAL });
    const clone = b.mo(LINE, '447700900997', { at: 5 * HOUR, talkSec: 120, ...EDINBURGH, cellId: 2002, imei: CLONE });
    const a2 = b.sms(LINE, { at: 10 * HOUR, ...LONDON, cellId: 1001, imei: ORIGINAL });
    expectOneOpen(run([a1, clone, a2]), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_CLONING', contributing: [clone, a2], facts: { reason: 'alternating' } });
  });

  it('near miss: a traveller flying (data before the flight, SMS and calls on landing) at a plausible speed does not fire, on one handset or a new one', () => {
    for (const imei of [ORIGINAL, CLONE]) {
      const b = builder(`clone-flight-${imei}`);
      const before = b.data(LINE, { at: 0, talkSec: 600, ...LONDON, cellId: 1001, imei: ORIGINAL });
      const landed = b.sms(LINE, { base: before.end, at: Math.ceil(travelGap(LONDON, EDINBURGH, 1) * 1.1), ...EDINBURGH, cellId: 2002, imei });
      const call = b.mo(LINE, '447700900997', { base: landed.end, at: 10 * MIN, ...EDINBURGH, cellId: 2002, imei });
      expectQuiet(run([before, landed, call]), R);
    }
  });

  it('near miss: a user swapping phones — the new IMEI at the same place, not overlapping, and back to the old phone — does not fire', () => {
    const b = builder('clone-swap-back');
    const old1 = b.data(LINE, { at: 0, talkSec: 600, ...LONDON, cellId: 1001, imei: ORIGINAL });
    const new1 = b.mo(LINE, '447700900997', { base: old1.end, at: 2 * MIN, talkSec: 300, ...WATFORD, cellId: 1002, imei: CLONE });
    const new2 = b.data(LINE, { base: new1.end, at: MIN, talkSec: 1200, ...LONDON, cellId: 1001, imei: CLONE });
    const old2 = b.sms(LINE, { base: new2.end, at: 30 * MIN, ...LONDON, cellId: 1003, imei: ORIGINAL });
    expectQuiet(run([old1, new1, new2, old2]), R);
  });

  it('near miss: a data session of the old handset still open while the new one calls nearby is not a collision (only calls collide)', () => {
    const b = builder('clone-data-overlap');
    const data = b.data(LINE, { at: 0, talkSec: 3600, ...LONDON, cellId: 1001, imei: ORIGINAL });
    expectQuiet(run([data, b.mo(LINE, '447700900997', { at: 10 * MIN, talkSec: 120, ...LONDON, cellId: 1001, imei: CLONE })]), R);
  });
});

ruleDescribe('roaming.high_usage', () => {
  const R = 'roaming.high_usage';
  const p = P(R);
  const LINE = '447700901001';
  const IMSI = `23415${LINE.slice(-10)}`;
  const abroad: Opts = { roaming: true, visitedPlmn: '20801' };

  it('cost: costMinCalls roaming calls abroad reaching minCost fire', () => {
    const minCost = moneyParam(p, 'minCost');
    const n = num(p, 'costMinCalls');
    const b = builder('roam');
    // (calls outside the home country: a traveller's calls home do not count, test/fraud-baselines.test.ts)
    const calls = Array.from({ length: n }, (_, i) => b.mo(LINE, party.intl(`3361234567${i}`), { ...abroad, at: i * 30 * MIN, talkSec: 600, cost: dec(i === 0 ? minCost - (n - 1) * 10_000_000 : 10_000_000) }));
    expectOneOpen(run(calls), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'ROAMING', contributing: calls, counts: { calls: n, riskMinutesX10: 0, minutesX10: n * 100 }, facts: { visitedPlmn: '20801', msisdn: LINE } });
  });

  it('near miss: one micro-unit below minCost, minCost in fewer than costMinCalls calls, or the same usage at home do not fire', () => {
    const minCost = moneyParam(p, 'minCost');
    const b = builder('roam-nm');
    expectQuiet(run([b.mo(LINE, '447700901101', { ...abroad, at: 0, cost: dec(minCost - 1) }), b.mo(LINE, '447700901102', { ...abroad, at: MIN, cost: '0' })]), R);
    expectQuiet(run(Array.from({ length: num(p, 'costMinCalls') - 1 }, (_, i) => b.mo(LINE, '447700901103', { ...abroad, at: i * MIN, cost: dec(minCost * 2) }))), R);
    expectQuiet(run(Array.from({ length: 5 }, (_, i) => b.mo(LINE, '447700901104', { at: i * MIN, cost: dec(minCost) }))), R);
  });

  it('near miss: a traveller\'s one long call home above minCost, with unanswered attempts around it, does not fire (costMinCalls counts answered calls)', () => {
    const minCost = moneyParam(p, 'minCost');
    const b = builder('roam-home');
    const attempts = Array.from({ length: num(p, 'costMinCalls') }, (_, i) => b.mo(LINE, party.intl('13104150730'), { ...abroad, at: (130 + i * 10) * MIN, talkSec: 0 }));
    const long = b.mo(LINE, party.intl('13104150730'), { ...abroad, at: 0, talkSec: 2 * 3600, cost: dec(minCost + 50_000_000) });
    expectQuiet(run([long, ...attempts]), R);
    // The same cost over costMinCalls answered calls fires.
    const c = builder('roam-home-2');
    const calls = Array.from({ length: num(p, 'costMinCalls') }, (_, i) => c.mo(LINE, party.intl('13104150730'), { ...abroad, at: i * 70 * MIN, talkSec: 3600, cost: dec(Math.ceil(minCost / num(p, 'costMinCalls'))) }));
    expectOneOpen(run(calls), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'ROAMING', contributing: calls, counts: { calls: calls.length, answered: calls.length } });
  });

  it('risk minutes: minRiskMinutes to high-risk numbers while roaming fire; one second less does not', () => {
    const build = (short: number) => builder('roam-risk').mo(LINE, party.highRisk(), { ...abroad, talkSec: num(p, 'minRiskMinutes') * 60 - short, cost: '5.00' });
    const call = build(0);
    expectOneOpen(run([call]), R, { entityKind: 'IMSI', entity: IMSI, fraudType: 'ROAMING', contributing: [call], counts: { riskMinutesX10: num(p, 'minRiskMinutes') * 10 } });
    expectQuiet(run([build(1)]), R);
  });
});

ruleDescribe('velocity.generic', () => {
  const R = 'velocity.generic';
  const p = P(R);
  const LINE = '447700901201';
  const burst = (prefix: string, n: number, stepMs: number, o: Opts = {}) => {
    const b = builder(prefix);
    return Array.from({ length: n }, (_, i) => b.mo(LINE, `4477009013${String(i).padStart(2, '0')}`, { at: i * stepMs, talkSec: 3, ringSec: 2, cost: '0.100000', ...o }));
  };

  it('burst: maxCalls calls within burstSeconds fire (trigger calls)', () => {
    const n = num(p, 'maxCalls');
    const calls = burst('vel', n, Math.floor((num(p, 'burstSeconds') * SEC) / (n - 1)));
    expectOneOpen(run(calls), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'VELOCITY', contributing: calls, counts: { burstCalls: n, calls: n }, facts: { trigger: 'calls' } });
  });

  it('near miss: one call fewer than maxCalls does not fire', () => {
    const n = num(p, 'maxCalls') - 1;
    expectQuiet(run(burst('vel-few', n, SEC)), R);
  });

  it('near miss: maxCalls calls spread just over burstSeconds do not fire', () => {
    const n = num(p, 'maxCalls');
    const step = Math.floor((num(p, 'burstSeconds') * SEC) / (n - 1)) + SEC;
    expect((n - 1) * step).toBeGreaterThan(num(p, 'burstSeconds') * SEC);
    expectQuiet(run(burst('vel-slow', n, step)), R);
  });

  it('cost: costMinCalls calls reaching maxCost within windowMinutes fire (trigger cost); a micro-unit less does not', () => {
    const maxCost = moneyParam(p, 'maxCost');
    const n = num(p, 'costMinCalls');
    const build = (total: number) => {
      const b = builder('vel-cost');
      const each = Math.floor(total / n);
      return Array.from({ length: n }, (_, i) => b.mo(LINE, `44770090140${i}`, { at: i * 10 * MIN, talkSec: 300, cost: dec(i === n - 1 ? total - each * (n - 1) : each) }));
    };
    const calls = build(maxCost);
    expectOneOpen(run(calls), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'VELOCITY', contributing: calls, counts: { calls: n }, facts: { trigger: 'cost' } });
    expectQuiet(run(build(maxCost - 1)), R);
  });

  it('near miss: one long expensive call among cheap ones (a customer\'s long call) does not fire; the same spend spread over the calls does', () => {
    // Hard negative of the evaluation: a 38-minute premium-rate call, or a 3-hour call, with two short calls.
    const maxCost = moneyParam(p, 'maxCost');
    const n = num(p, 'costMinCalls');
    const rest = Math.floor(maxCost * num(p, 'spreadShare')) - 1;
    const b = builder('vel-long');
    const calls = Array.from({ length: n }, (_, i) => b.mo(LINE, `44770090160${i}`, { at: i * 15 * MIN, talkSec: i === 0 ? 2300 : 60, cost: dec(i === 0 ? maxCost * 2 : Math.floor(rest / (n - 1))) }));
    expectQuiet(run(calls), R);
    const c = builder('vel-spread');
    const spread = Array.from({ length: n }, (_, i) => c.mo(LINE, `44770090160${i}`, { at: i * 15 * MIN, talkSec: 600, cost: dec(i === 0 ? maxCost - Math.ceil((maxCost * num(p, 'spreadShare')) / (n - 1)) * (n - 1) : Math.ceil((maxCost * num(p, 'spreadShare')) / (n - 1))) }));
    expectOneOpen(run(spread), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'VELOCITY', contributing: spread, counts: { calls: n, answered: n }, facts: { trigger: 'cost' } });
  });

  it('near miss: maxCost in fewer than costMinCalls calls does not fire', () => {
    const b = builder('vel-cost-few');
    expectQuiet(run(Array.from({ length: num(p, 'costMinCalls') - 1 }, (_, i) => b.mo(LINE, '447700901401', { at: i * MIN, talkSec: 300, cost: dec(moneyParam(p, 'maxCost') * 2) }))), R);
  });

  it('per-class override: a business account needs the higher maxCost and maxCalls', () => {
    const biz = P(R, 'business');
    expect(moneyParam(biz, 'maxCost')).toBeGreaterThan(moneyParam(p, 'maxCost'));
    expect(num(biz, 'maxCalls')).toBeGreaterThan(num(p, 'maxCalls'));
    const n = num(p, 'costMinCalls');
    const costly = (accountClass: string, each: number) => {
      const b = builder(`vel-${accountClass}`);
      return Array.from({ length: n }, (_, i) => b.mo(LINE, `44770090150${i}`, { at: i * 10 * MIN, talkSec: 300, accountClass, cost: dec(each) }));
    };
    const privEach = Math.ceil(moneyParam(p, 'maxCost') / n);
    expect(of(run(costly('private', privEach)), R)).toHaveLength(1);
    expectQuiet(run(costly('business', privEach)), R);
    expect(of(run(costly('business', Math.ceil(moneyParam(biz, 'maxCost') / n))), R)).toHaveLength(1);
    expectQuiet(run(burst('vel-biz', num(p, 'maxCalls'), SEC, { accountClass: 'business' })), R);
    expect(of(run(burst('vel-biz2', num(biz, 'maxCalls'), SEC, { accountClass: 'business' })), R)).toHaveLength(1);
  });
});

describe('keying: sightings for SIM cloning (one record per IMSI, keyed only when the handset or the place moves)', () => {
  // Real reference data (a small generated population) and a real DATA record as the template.
  const dir = mkdtempSync(join(tmpdir(), 'fraud-keying-'));
  const traffic = createTraffic({ seed: 5, subscribers: 300, startMs: T0 - 6 * HOUR, endMs: T0 + 6 * HOUR, scenarios: 'none' });
  writeReference(dir, traffic.reference());
  const stage = createRatingStage(dir, '');
  const ref = stage.reference;
  const old = new Set(ref.lines.filter((l) => l.imsi && Date.parse(`${l.installDate}T00:00:00Z`) < T0 - 400 * 24 * HOUR).map((l) => l.msisdn));
  const template = [...traffic.records()].find((c) => c.eventType === 'DATA' && old.has(c.servedMsisdn) && c.cellId !== null && c.servingPlmn === ref.operator.plmn)!;
  const home = ref.cells.find((c) => c.cellId === template.cellId && c.lac === template.lac)!;
  const dist = (a: { lat: number; lon: number }, b: { lat: number; lon: number }) => {
    const r = Math.PI / 180;
    const h = Math.sin(((b.lat - a.lat) * r) / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(((b.lon - a.lon) * r) / 2) ** 2;
    return 12_742 * Math.asin(Math.sqrt(h));
  };
  const far = ref.cells.find((c) => c.plmn === home.plmn && dist(c, home) > 300)!;
  const near = ref.cells.find((c) => c.plmn === home.plmn && c.cellId !== home.cellId && dist(c, home) < 20)!;
  let n = 0;
  const rec = (eventType: Cdr['eventType'], at: number, cell: { lac: number; cellId: number }, imei: string | null = template.servedImei): Cdr => ({ ...template, recordId: `sight-${++n}`, eventType, seizureTime: T0 + at, answerTime: T0 + at, releaseTime: T0 + at + 60 * SEC, durationMs: 60 * SEC, billableMs: 60 * SEC, lac: cell.lac, cellId: cell.cellId, servedImei: imei, calledNumber: eventType === 'VOICE_MO' ? '447700900997' : template.calledNumber, disposition: 'ANSWERED' });
  const keyOf = (keyer: ReturnType<typeof createFraudKeyer>, c: Cdr) => keyer({ cdr: c, topic: 't', partition: 0, offset: '0' }).filter((e) => e.group === 'LINE').map((e) => `${e.recordId}:${e.kind}`);

  it('an old line\'s data and SMS are not keyed while the handset stays in place (also on a nearby cell)', () => {
    expect(template && far && near).toBeTruthy();
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    expect(keyOf(keyer, rec('DATA', 0, home))).toEqual([]);
    expect(keyOf(keyer, rec('SMS_MO', 10 * MIN, home))).toEqual([]);
    expect(keyOf(keyer, rec('DATA', 20 * MIN, near))).toEqual([]);
  });

  it('another IMEI far away is keyed with the previous (unkeyed) sighting; the original\'s next record is keyed again, once', () => {
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    const data = rec('DATA', 0, home);
    expect(keyOf(keyer, data)).toEqual([]);
    const clone = rec('VOICE_MO', 15 * MIN, far, '490154203237518');
    expect(keyOf(keyer, clone)).toEqual([`${data.recordId}:DATA`, `${clone.recordId}:MO`]);
    const back = rec('SMS_MT', 40 * MIN, home);
    expect(keyOf(keyer, back)).toEqual([`${back.recordId}:SMS`]);
    expect(keyOf(keyer, rec('DATA', 50 * MIN, home))).toEqual([]);
  });

  it('the events it keys fire cloning.overlap in the detector', () => {
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    const det = new Detector(book);
    const alerts: FraudAlert[] = [];
    let off = 0;
    for (const c of [rec('DATA', 0, home), rec('VOICE_MO', 15 * MIN, far, '490154203237518')]) for (const e of keyer({ cdr: c, topic: 't', partition: 0, offset: '0' })) if (e.group === 'LINE') alerts.push(...det.process(0, off++, e));
    expect(of(alerts, 'cloning.overlap').map((a) => a.evidence.facts.reason)).toEqual(['velocity']);
  });

  it('the same handset moving far (a traveller) is keyed as a sighting, with the previous one', () => {
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    expect(keyOf(keyer, rec('DATA', 0, home))).toEqual([]);
    const there = rec('DATA', 15 * MIN, far);
    expect(keyOf(keyer, there).length).toBe(2);
  });
});

describe('the rule set', () => {
  it('every rule in RULES has golden tests here (or in the file named for it), and every rule is enabled by default', () => {
    // Rules whose golden sequences, near misses and benign look-alikes live in their own file.
    const elsewhere: Record<string, string> = { 'irsf.destination_spike': 'test/fraud-baselines.test.ts', 'pbx.destination_spike': 'test/fraud-baselines.test.ts', 'pbx.probing': 'test/fraud-baselines.test.ts', 'simbox.behaviour': 'test/fraud-device.test.ts', 'simbox.device': 'test/fraud-device.test.ts', 'simbox.rotation': 'test/fraud-device.test.ts', 'forwarding.loop': 'test/fraud-device.test.ts', 'forwarding.relay': 'test/fraud-chains.test.ts', 'forwarding.chain_target': 'test/fraud-chains.test.ts' };
    expect([...COVERED, ...Object.keys(elsewhere)].sort()).toEqual(RULES.map((r) => r.id).sort());
    expect(book.rules.map((r) => r.id).sort()).toEqual(RULES.map((r) => r.id).sort());
  });
});

// ---------------------------------------------------------------------------------------------------------
// Detector behaviour
// ---------------------------------------------------------------------------------------------------------

describe('Detector: episodes, versions and throttling', () => {
  const R = 'velocity.generic';
  const p = P(R);
  const LINE = '447700902001';
  /** n calls 5 s apart at 0.10 each (a velocity burst once n reaches maxCalls). */
  const calls = (b: ReturnType<typeof builder>, n: number, o: Opts = {}, from = 0) =>
    Array.from({ length: n }, (_, i) => b.mo(LINE, `4477009021${String((from + i) % 100).padStart(2, '0')}`, { at: (from + i) * 5 * SEC, talkSec: 3, ringSec: 1, cost: '0.100000', ...o }));

  it('one alert per entity, rule and episode: more events raise the version under the same alertId, throttled', () => {
    const n = num(p, 'maxCalls');
    const b = builder('ver');
    const evs = calls(b, n + 30);
    const alerts = of(run(evs), R);
    expect(new Set(alerts.map((a) => a.alertId)).size).toBe(1);
    // v1 at maxCalls events (1.20); an update is published when exposure grows by half and by at least 1.00
    // (2.20 after 22 events, 3.30 after 33), not once per event.
    expect(alerts.map((a) => [a.version, a.status, a.exposure, a.evidence.counts.events])).toEqual([
      [1, 'OPEN', '1.200000', 12],
      [2, 'UPDATED', '2.200000', 22],
      [3, 'UPDATED', '3.300000', 33],
    ]);
    expect(n).toBe(12); // the expectations above are written for the default maxCalls
    expect(alerts.every((a) => a.firstSeen === evs[0]!.start)).toBe(true);
    // Evidence is bounded: the first evidenceRecordIds records and the latest few.
    const last = alerts[alerts.length - 1]!;
    expect(last.evidence.recordIds.slice(0, book.evidenceRecordIds)).toEqual(evs.slice(0, book.evidenceRecordIds).map((e) => e.recordId));
    expect(last.evidence.recordIds.length).toBeLessThanOrEqual(book.evidenceRecordIds + 5);
    expect(last.evidence.recordIds[last.evidence.recordIds.length - 1]).toBe(evs[32]!.recordId);
  });

  it('a small change is published once updateEveryMinutes of traffic time have passed', () => {
    const b = builder('due');
    const evs = calls(b, num(p, 'maxCalls'));
    const lastEnd = evs[evs.length - 1]!.end;
    const early = b.mo(LINE, '447700902199', { base: lastEnd, at: book.updateEveryMs - 2 * MIN, talkSec: 3, cost: '0.010000' });
    const due = b.mo(LINE, '447700902198', { base: lastEnd, at: book.updateEveryMs, talkSec: 3, cost: '0.010000' });
    const det = new Detector(book);
    expect(of(run(evs, { det }), R)).toHaveLength(1);
    expect(of(run([early], { det }), R)).toEqual([]);
    const upd = of(run([due], { det }), R);
    expect(upd.map((a) => [a.version, a.status, a.exposure])).toEqual([[2, 'UPDATED', '1.220000']]);
  });

  it('exposure crossing the high/critical thresholds escalates the severity at once', () => {
    const b = builder('sev');
    const evs = calls(b, num(p, 'maxCalls'));
    const det = new Detector(book);
    run(evs, { det });
    const big = b.mo(LINE, '447700902197', { at: 2 * MIN, talkSec: 600, cost: dec(book.highExposureMicros) });
    const a = of(run([big], { det }), R);
    expect(a.map((x) => [x.version, x.severity])).toEqual([[2, 'HIGH']]);
    const huge = b.mo(LINE, '447700902196', { at: 3 * MIN, talkSec: 600, cost: dec(book.criticalExposureMicros) });
    expect(of(run([huge], { det }), R).map((x) => [x.version, x.severity])).toEqual([[3, 'CRITICAL']]);
  });

  it('a new episode after the episode gap gets a new alertId; the old one is published CLOSED', () => {
    const b = builder('gap');
    const first = calls(b, num(p, 'maxCalls'));
    const lastSeen = first[first.length - 1]!.start;
    const second = calls(b, num(p, 'maxCalls'), { base: lastSeen + book.episodeGapMs + SEC });
    const alerts = of(run([...first, ...second]), R);
    expect(alerts.map((a) => [a.version, a.status])).toEqual([
      [1, 'OPEN'],
      [2, 'CLOSED'],
      [1, 'OPEN'],
    ]);
    expect(alerts[1]!.alertId).toBe(alerts[0]!.alertId);
    expect(alerts[1]!.exposure).toBe(alerts[0]!.exposure);
    expect(alerts[2]!.alertId).not.toBe(alerts[0]!.alertId);
    expect(alerts[2]!.firstSeen).toBe(second[0]!.start);
    expect(alerts[2]!.exposure).toBe(exposureOf(second));
  });

  it('activity within the episode gap continues the same episode', () => {
    const b = builder('nogap');
    const first = calls(b, num(p, 'maxCalls'));
    const lastSeen = first[first.length - 1]!.start;
    const second = calls(b, num(p, 'maxCalls'), { base: lastSeen + book.episodeGapMs });
    const all = [...first, ...second];
    const alerts = of(run(all), R);
    expect(alerts.length).toBeGreaterThan(1);
    expect(alerts.every((a) => a.alertId === alerts[0]!.alertId && a.status !== 'CLOSED')).toBe(true);
    expect(alerts.map((a) => a.version)).toEqual(alerts.map((_, i) => i + 1));
    const last = alerts[alerts.length - 1]!;
    expect(last.evidence.counts.events).toBeGreaterThan(first.length);
    expect(last.exposure).toBe(exposureOf(all.slice(0, last.evidence.counts.events)));
  });

  it('sweep closes episodes idle for longer than the gap (traffic time of the partition)', () => {
    const b = builder('sweep');
    const det = new Detector(book);
    const first = calls(b, num(p, 'maxCalls'));
    const [open] = of(run(first, { det, partition: 3 }), R);
    expect(open).toBeDefined();
    // Another line's traffic moves the partition clock; the idle episode is not closed before the gap.
    const lastSeen = first[first.length - 1]!.start;
    run([b.mo('447700902999', '447700902998', { base: lastSeen + book.episodeGapMs })], { det, partition: 3, firstOffset: 100 });
    expect(det.sweep(3, true)).toEqual([]);
    run([b.mo('447700902999', '447700902998', { base: lastSeen + book.episodeGapMs + MIN })], { det, partition: 3, firstOffset: 101 });
    expect(det.sweep(7, true), 'another partition').toEqual([]);
    const closed = det.sweep(3, true);
    expect(closed.map((a) => [a.alertId, a.version, a.status, a.exposure])).toEqual([[open!.alertId, 2, 'CLOSED', open!.exposure]]);
    expect(det.sweep(3, true), 'closed once').toEqual([]);
  });

  it('with several CDR partitions feeding it, the watermark is the slowest source: a source hours ahead closes nothing, one more than holdMs behind stops holding it back', () => {
    const b = builder('wm');
    const det = new Detector(book, { sources: 2, holdMs: book.episodeGapMs + 2 * HOUR });
    const first = calls(b, num(p, 'maxCalls')).map((e) => ({ ...e, source: 0 }));
    const [open] = of(run(first, { det, partition: 1 }), R);
    expect(open).toBeDefined();
    const lastSeen = first[first.length - 1]!.start;
    // Source 1 (another CDR partition, catching up faster) is already past the gap; source 0 is not.
    run([{ ...b.mo('447700902999', '447700902998', { base: lastSeen + book.episodeGapMs + HOUR }), source: 1 }], { det, partition: 1, firstOffset: 100 });
    expect(det.watermark(1)).toBe(lastSeen);
    expect(det.sweep(1, true), 'the slow source may still deliver this line within the gap').toEqual([]);
    // Source 0 moves past the gap too: now the episode closes.
    run([{ ...b.mo('447700902997', '447700902998', { base: lastSeen + book.episodeGapMs + MIN }), source: 0 }], { det, partition: 1, firstOffset: 101 });
    expect(det.sweep(1, true).map((a) => [a.alertId, a.status])).toEqual([[open!.alertId, 'CLOSED']]);

    // A source more than holdMs of traffic time behind the fastest no longer holds it back — decided by
    // record times alone (no wall clock): the same events give the same watermark whenever they are processed.
    const det2 = new Detector(book, { sources: 2, holdMs: book.episodeGapMs + 2 * HOUR });
    const again = calls(builder('wm2'), num(p, 'maxCalls')).map((e) => ({ ...e, source: 0 }));
    const [open2] = of(run(again, { det: det2, partition: 0 }), R);
    const last2 = again[again.length - 1]!.start;
    run([{ ...b.mo('447700902996', '447700902998', { base: last2 + book.episodeGapMs + HOUR }), source: 1 }], { det: det2, partition: 0, firstOffset: 100 });
    expect(det2.sweep(0, true), 'source 0 is behind, but within holdMs').toEqual([]);
    const ahead = last2 + book.episodeGapMs + 3 * HOUR;
    run([{ ...b.mo('447700902995', '447700902998', { base: ahead }), source: 1 }], { det: det2, partition: 0, firstOffset: 101 });
    expect(det2.watermark(0)).toBe(ahead);
    expect(det2.sweep(0, true).map((a) => [a.alertId, a.status])).toEqual([[open2!.alertId, 'CLOSED']]);
  });

  it('a source never heard from holds the watermark back until the others are holdMs past the partition\'s first event', () => {
    const det = new Detector(book, { sources: 3, holdMs: HOUR });
    const evs = calls(builder('wm3'), num(p, 'maxCalls')).map((e) => ({ ...e, source: 2 }));
    run(evs, { det, partition: 0 });
    const first = evs[0]!.start;
    expect(det.watermark(0), 'sources 0 and 1 count as being at the first event').toBe(first);
    const later = { ...builder('wm3b').mo('447700902994', '447700902998', { base: first + HOUR + MIN }), source: 2 };
    run([later], { det, partition: 0, firstOffset: 100 });
    expect(det.watermark(0)).toBe(later.start);
  });

  it('without force, sweep runs at most once per minute of traffic time', () => {
    const b = builder('sweep-rate');
    const det = new Detector(book);
    run(calls(b, num(p, 'maxCalls')), { det });
    run([b.mo('447700902999', '447700902998', { at: book.episodeGapMs + HOUR })], { det, firstOffset: 50 });
    expect(det.sweep(0)).toHaveLength(1); // first sweep of the partition
    run([b.mo('447700902997', '447700902998', { at: book.episodeGapMs + HOUR + 10 * SEC })], { det, firstOffset: 51 });
    expect(det.sweep(0)).toEqual([]);
  });

  it('a new episode after the gap counts only events after the closed one (new alertId, old events not re-counted)', () => {
    // forwarding.self_call looks back 24 h; the episode gap is 6 h. After the gap, the next self-calls open a
    // new episode whose window still holds the previous episode's calls, so the new alert gets windowStart =
    // the old firstSeen -> the SAME alertId as the CLOSED one, restarting at version 1 (ReplacingMergeTree keeps
    // the higher CLOSED version: the new episode is invisible) and re-counting the old exposure.
    const R2 = 'forwarding.self_call';
    const p2 = P(R2);
    expect(num(p2, 'windowMinutes') * MIN).toBeGreaterThan(book.episodeGapMs);
    const b = builder('gap-long');
    const SELF = '447700902301';
    const first = Array.from({ length: num(p2, 'minCalls') }, (_, i) => b.mo(SELF, SELF, { at: i * MIN, cost: '1.000000' }));
    const resume = first[first.length - 1]!.start + book.episodeGapMs + HOUR;
    const second = Array.from({ length: num(p2, 'minCalls') }, (_, i) => b.mo(SELF, SELF, { base: resume, at: i * MIN, cost: '2.000000' }));
    const alerts = of(run([...first, ...second]), R2);
    const oldId = alerts[0]!.alertId;
    const closed = alerts.find((a) => a.status === 'CLOSED');
    expect(closed?.alertId).toBe(oldId);
    const reopened = alerts.filter((a) => a.status !== 'CLOSED' && a !== alerts[0]);
    expect(reopened.length).toBeGreaterThan(0);
    for (const a of reopened) {
      expect(a.alertId, 'a new episode must not reuse the closed alert id').not.toBe(oldId);
      expect(a.firstSeen).toBeGreaterThan(first[first.length - 1]!.start);
    }
    expect(reopened[reopened.length - 1]!.exposure).toBe(exposureOf(second));
  });
});

describe('Detector: duplicates and determinism', () => {
  /** A mixed scenario: several rules, entities and groups. */
  const scenario = () => {
    const b = builder('mix');
    const LINE = '447700903001';
    const evs: FraudEvent[] = [];
    for (let i = 0; i < 14; i++) evs.push(b.mo(LINE, `4477009031${String(i).padStart(2, '0')}`, { at: i * 4 * SEC, talkSec: 2, ringSec: 1, cost: '0.123456' }));
    for (let i = 0; i < 3; i++) evs.push(b.mo(LINE, party.highRisk(`53555003${i}`), { at: 2 * MIN + i * MIN, talkSec: 20, lineAgeDays: 2, cost: '0.777777' }));
    for (let i = 0; i < 11; i++) evs.push(on(b.mt(`4477009032${String(i).padStart(2, '0')}`, party.highRisk('5355500001'), { at: 5 * MIN + i * 10 * SEC, talkSec: 0, ringSec: 2 }), 'RANGE'));
    evs.push(on(b.mo('447700903200', party.highRisk('5355500001'), { at: 9 * MIN, talkSec: 300, cost: '2.500000' }), 'RANGE'));
    for (let i = 0; i < 3; i++) evs.push(on(b.fwd(`4477009033${i}`, party.highRisk('5355509999'), { at: 10 * MIN + i * MIN, talkSec: 100, cost: '0.333333' }), 'DEST'));
    return evs;
  };

  it('the same sequence into a fresh Detector gives identical alerts', () => {
    const a = run(scenario());
    const b = run(scenario());
    // (the callback after 11 unanswered rings of that number is wangiri.callback too)
    expect(new Set(a.map((x) => x.rule))).toEqual(new Set(['velocity.generic', 'irsf.high_risk', 'wangiri.burst', 'wangiri.callback', 'forwarding.shared_destination']));
    expect(b).toEqual(a);
    const det1 = new Detector(book);
    const det2 = new Detector(book);
    run(scenario(), { det: det1 });
    run(scenario(), { det: det2 });
    expect(det2.sweep(0, true)).toEqual(det1.sweep(0, true));
  });

  it('duplicate events (the same recordId re-processed) change nothing', () => {
    const evs = scenario();
    const det = new Detector(book);
    const out: FraudAlert[] = [];
    evs.forEach((e, i) => {
      out.push(...det.process(0, i * 2, e));
      // The batch is redelivered: the same record again, and all earlier ones of the same entity.
      expect(det.process(0, i * 2 + 1, { ...e }), `duplicate of ${e.recordId}`).toEqual([]);
    });
    expect(det.stats().duplicates).toBe(evs.length);
    for (const e of scenario()) expect(det.process(0, 999, e)).toEqual([]);
    // The same alerts; only the stream positions differ (this run used other offsets).
    const unpositioned = (as: FraudAlert[]) => as.map(({ eventsOffset: _o, eventsPartition: _p, ...x }) => x);
    expect(unpositioned(out)).toEqual(unpositioned(run(scenario())));
    // And the state is the same: the next real event publishes the same thing in both.
    const ref = new Detector(book);
    run(scenario(), { det: ref });
    const next = () => builder('mix-next').mo('447700903001', '447700903199', { at: 30 * MIN, talkSec: 600, cost: '60.000000' });
    expect(det.process(0, 1000, next())).toEqual(ref.process(0, 1000, next()));
    expect(det.sweep(0, true)).toEqual(ref.sweep(0, true));
  });

  it('the same record on different entity keys is not a duplicate', () => {
    const b = builder('multikey');
    const e = b.mo('447700903301', party.highRisk('5355500001'), { talkSec: 20 });
    const det = new Detector(book);
    det.process(0, 0, e);
    det.process(1, 0, on(e, 'RANGE'));
    expect(det.stats().duplicates).toBe(0);
    expect(det.stats().events).toBe(2);
  });
});

describe('Detector: restore after a restart', () => {
  const R = 'velocity.generic';
  const LINE = '447700904001';
  const seq = (prefix: string, longAt = -1) => {
    const b = builder(prefix);
    return Array.from({ length: 40 }, (_, i) => b.mo(LINE, `4477009041${String(i).padStart(2, '0')}`, { at: i * 5 * SEC, talkSec: i === longAt ? 600 : 3, ringSec: 1, cost: '0.100000' }));
  };

  it('restored from the last published alert and fed the replayed events, it continues the same alertId with the next version and does not double the exposure', () => {
    const evs = seq('restore');
    const crashAt = 14; // v1 was published at the 12th event; the 13th and 14th are not in any published version
    const a = new Detector(book);
    const before = of(run(evs.slice(0, crashAt), { det: a }), R);
    expect(before.map((x) => x.version)).toEqual([1]);
    const last = before[before.length - 1]!;

    // Restart: the alert store has v1; the partition is replayed from the low watermark.
    const from = a.lowWatermark(0, crashAt);
    expect(from).toBe(0);
    const b = new Detector(book);
    b.restore([last]);
    const replayed = of(run(copy(evs.slice(from, crashAt)), { det: b, firstOffset: from }), R);
    expect(replayed, 'replaying publishes nothing new').toEqual([]);

    const rest = evs.slice(crashAt);
    const afterA = of(run(rest, { det: a, firstOffset: crashAt }), R);
    const afterB = of(run(copy(rest), { det: b, firstOffset: crashAt }), R);
    expect(afterB).toEqual(afterA);
    expect(afterB[0]).toMatchObject({ alertId: last.alertId, version: last.version + 1, status: 'UPDATED' });
    const final = afterB[afterB.length - 1]!;
    expect(final.exposure).toBe(exposureOf(evs.slice(0, final.evidence.counts.events)));
    expect(new Set(afterB.map((x) => x.alertId))).toEqual(new Set([last.alertId]));
  });

  it('a restored CLOSED alert keeps its events from opening the episode again on replay', () => {
    const evs = seq('restore-closed');
    const a = new Detector(book);
    const [open] = of(run(evs.slice(0, 12), { det: a }), R);
    expect(open).toBeDefined();
    const b = new Detector(book);
    b.restore([{ ...open!, status: 'CLOSED', version: 2 }]);
    const again = of(run(copy(evs.slice(0, 12)), { det: b }), R);
    expect(again).toEqual([]);
  });

  it('events absorbed after the last published version, released before its windowEnd, survive a restore (the stored version knows its offset; the low watermark waits for unpublished ones)', () => {
    // An ACCOUNT key sees the CDRs of several lines, which come from different CDR partitions, so the
    // fraud-events topic interleaves them out of release order. Line D's long call (released 30 min later)
    // completes the burst and triggers v1, so v1.windowEnd is its release; lines B and C's calls, made and
    // released meanwhile, arrive after it and are absorbed but not yet published. A restart must neither
    // lose them (the low watermark waits for them) nor count them twice: the detector restored from v1
    // continues from v1's offset, and every later version equals the uninterrupted run's. (By release time
    // alone, restoredUntil = v1.windowEnd, they would be skipped and the exposure stay 2.00 short.)
    const R = 'pbx.out_of_hours';
    const ACC = 'ACC-PBX-9';
    const [A, B, C, D, E] = ['447700904101', '447700904102', '447700904103', '447700904104', '447700904105'];
    const b = builder('restore-ooo');
    const call = (line: string, atMin: number, talkSec = 60) =>
      on(b.mo(line, party.highRisk(), { base: NIGHT, at: atMin * MIN, talkSec, cost: '1.000000', accountId: ACC, accountClass: 'pbx', businessHours: 2 }), 'ACCOUNT');
    expect([num(P(R), 'minCalls'), num(P(R), 'minLines')]).toEqual([8, 4]);
    const before = [call(A, 0), call(B, 1), call(C, 2), call(D, 3), call(A, 4), call(B, 5), call(C, 6), call(D, 7, 1800), /* lagging: */ call(B, 8), call(C, 9)];
    const after = [call(E, 40), call(E, 41), call(E, 42)];
    const a = new Detector(book);
    const published = of(run(before, { det: a }), R);
    expect(published.map((x) => [x.version, x.exposure, x.eventsPartition, x.eventsOffset])).toEqual([[1, '8.000000', 0, 7]]);
    const v1 = published[0]!;
    expect(before[8]!.end).toBeLessThan(v1.windowEnd);
    const low = a.lowWatermark(0, before.length);
    expect(low, 'the replay starts at or before the first unpublished event').toBeLessThanOrEqual(8);
    const r = new Detector(book);
    r.restore([v1]);
    expect(of(run(copy(before.slice(low)), { det: r, firstOffset: low }), R), 'the replay publishes nothing new').toEqual([]);
    const expected = of(run(after, { det: a, firstOffset: before.length }), R);
    expect(expected.map((x) => [x.version, x.exposure])).toEqual([[2, '12.000000']]);
    expect(of(run(copy(after), { det: r, firstOffset: before.length }), R)).toEqual(expected);
  });

  it('a stored version without a position (older rows) falls back to its window end', () => {
    const R = 'pbx.out_of_hours';
    const b = builder('restore-nopos');
    const call = (line: string, atMin: number) => on(b.mo(line, party.highRisk(), { base: NIGHT, at: atMin * MIN, cost: '1.000000', accountId: 'ACC-PBX-8', accountClass: 'pbx', businessHours: 2 }), 'ACCOUNT');
    const evs = [0, 1, 2, 3, 4, 5, 6, 7].map((m) => call(`44770090420${m % 4}`, m));
    const a = new Detector(book);
    const [v1] = of(run(evs, { det: a }), R);
    const r = new Detector(book);
    r.restore([{ ...v1!, eventsPartition: -1, eventsOffset: -1 }]);
    run(copy(evs), { det: r });
    const next = [call('447700904209', 20), call('447700904209', 21)];
    expect(of(run(copy(next), { det: r, firstOffset: 8 }), R).map((x) => [x.version, x.exposure])).toEqual(of(run(next, { det: a, firstOffset: 8 }), R).map((x) => [x.version, x.exposure]));
  });
});

describe('Detector: low watermark', () => {
  it('returns the oldest retained offset and moves forward as events expire', () => {
    const b = builder('lwm');
    const keep = book.retentionMs('LINE');
    expect(keep).toBe(Math.max(...book.rules.filter((r) => r.group === 'LINE').map((r) => r.retentionMs(P(r.id)))));
    const det = new Detector(book);
    expect(det.lowWatermark(0, 7), 'no state: the next offset').toBe(7);
    det.process(0, 10, b.mo('447700905001', '447700905999', { at: 0 }));
    det.process(0, 11, b.mo('447700905002', '447700905999', { at: MIN }));
    expect(det.lowWatermark(0, 12)).toBe(10);
    expect(det.lowWatermark(1, 12), 'other partitions are independent').toBe(12);
    // Still inside the retention: nothing expires.
    det.process(0, 12, b.mo('447700905002', '447700905999', { at: keep / 2 }));
    det.sweep(0, true);
    expect(det.lowWatermark(0, 13)).toBe(10);
    // Line 2's own traffic expires its first event; line 1's event goes at the next sweep.
    det.process(0, 13, b.mo('447700905002', '447700905999', { at: keep + 2 * MIN }));
    expect(det.lowWatermark(0, 14)).toBe(10);
    det.sweep(0, true);
    expect(det.lowWatermark(0, 14)).toBe(12);
    det.process(0, 14, b.mo('447700905002', '447700905999', { at: keep + keep / 2 + 2 * MIN }));
    det.sweep(0, true);
    expect(det.lowWatermark(0, 15)).toBe(13);
  });

  it('each group keeps its own retention (a range keeps its longest rule: the callback look-back)', () => {
    const keepRange = book.retentionMs('RANGE');
    expect(keepRange).toBe(Math.max(...['wangiri.burst', 'wangiri.slow', 'wangiri.callback', 'sms.pumping_prefix'].map((r) => num(P(r), 'windowMinutes'))) * MIN);
    expect(keepRange).toBeLessThanOrEqual(book.retentionMs('LINE'));
    const b = builder('lwm-range');
    const det = new Detector(book);
    det.process(0, 0, on(b.mt('447700905101', party.highRisk(), { talkSec: 0, ringSec: 2 }), 'RANGE'));
    det.process(0, 1, b.mo('447700905102', '447700905999', { at: MIN }));
    det.process(0, 2, b.mo('447700905102', '447700905999', { at: keepRange + 2 * MIN }));
    det.sweep(0, true);
    expect(det.lowWatermark(0, 3), 'the range event expired, the line events did not').toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Rule files
// ---------------------------------------------------------------------------------------------------------

describe('rule files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdr-fraud-rules-'));
  let n = 0;
  const write = (content: unknown): string => {
    const f = join(dir, `rules-${++n}.json`);
    writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
    return f;
  };
  const errorOf = (fn: () => unknown): RuleBookError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(RuleBookError);
      return err as RuleBookError;
    }
    throw new Error('expected a RuleBookError');
  };

  it('a custom file overriding one parameter changes the outcome; the rest keep the defaults', () => {
    const R = 'velocity.generic';
    const def = P(R);
    const custom = loadRuleBook(write({ rules: { [R]: { maxCalls: num(def, 'maxCalls') - 4 } } }));
    const cp = custom.params(R, 'private', 'day');
    expect(cp.maxCalls).toBe(num(def, 'maxCalls') - 4);
    expect(cp.maxCost).toBe(def.maxCost);
    expect(custom.params(R, 'business', 'day').maxCalls).toBe(P(R, 'business').maxCalls);
    expect(custom.file.rules['irsf.high_risk']).toEqual(book.file.rules['irsf.high_risk']);
    expect(custom.episodeGapMs).toBe(book.episodeGapMs);
    const b = builder('custom');
    const evs = Array.from({ length: num(def, 'maxCalls') - 4 }, (_, i) => b.mo('447700906001', `4477009061${String(i).padStart(2, '0')}`, { at: i * SEC, talkSec: 1, ringSec: 1, cost: '0.01' }));
    expectQuiet(run(copy(evs)), R);
    expect(of(run(copy(evs), { rules: custom }), R).map((a) => [a.version, a.status])).toEqual([[1, 'OPEN']]);
  });

  it('a custom file can disable a rule', () => {
    const custom = loadRuleBook(write({ rules: { 'velocity.generic': { enabled: false } } }));
    expect(custom.rules.map((r) => r.id)).not.toContain('velocity.generic');
    const b = builder('disabled');
    const evs = Array.from({ length: 50 }, (_, i) => b.mo('447700906101', `4477009062${String(i).padStart(2, '0')}`, { at: i * SEC, talkSec: 1, ringSec: 1 }));
    expectQuiet(run(evs, { rules: custom }), 'velocity.generic');
  });

  it('the default file loads and names every rule with its source', () => {
    for (const r of RULES) expect(typeof book.file.rules[r.id]?.source).toBe('string');
    expect(book.episodeGapMs).toBeGreaterThan(0);
  });

  it('rejects an unknown rule, naming it and the known ones', () => {
    const e = errorOf(() => loadRuleBook(write({ rules: { 'irsf.velocity': { enabled: true, severity: 'HIGH', windowMinutes: 5 } } })));
    expect(e.message).toMatch(/unknown rule "irsf\.velocity" \(known: .*irsf\.high_risk/);
  });

  it('rejects a bad money string (and money given as a number)', () => {
    const e = errorOf(() => loadRuleBook(write({ rules: { 'irsf.high_risk': { minCost: '30,00' } } })));
    expect(e.message).toContain('irsf.high_risk.minCost: "30,00" is not a decimal string');
    const e2 = errorOf(() => loadRuleBook(write({ rules: { 'velocity.generic': { maxCost: 40 } } })));
    expect(e2.message).toContain('velocity.generic.maxCost: 40 is not a decimal string');
    const e3 = errorOf(() => loadRuleBook(write({ severity: { highExposure: '50.0.0' } })));
    expect(e3.message).toContain('severity.highExposure and severity.criticalExposure must be decimal strings');
  });

  it('rejects a bad band or an unknown parameter in overrides', () => {
    const e = errorOf(() => loadRuleBook(write({ rules: { 'forwarding.high_risk_spike': { overrides: [{ band: 'weekday', minLegs: 2 }] } } })));
    expect(e.message).toContain('forwarding.high_risk_spike.overrides: band "weekday" is not day, evening, night or weekend');
    const e2 = errorOf(() => loadRuleBook(write({ rules: { 'velocity.generic': { overrides: [{ accountClass: 'business', maxCallz: 3 }] } } })));
    expect(e2.message).toContain('velocity.generic.overrides: "maxCallz" is not a parameter of the rule');
    const e3 = errorOf(() => loadRuleBook(write({ rules: { 'velocity.generic': { overrides: [{ maxCalls: 3 }] } } })));
    expect(e3.message).toContain('each entry needs accountClass and/or band');
  });

  it('rejects bad numbers, severities and unreadable files, listing every problem', () => {
    const e = errorOf(() => loadRuleBook(write({ episodeGapMinutes: 0, rules: { 'wangiri.burst': { minTargets: -1, severity: 'URGENT' } } })));
    expect(e.message).toContain('episodeGapMinutes must be a positive number');
    expect(e.message).toContain('wangiri.burst.minTargets: -1 is not a non-negative number');
    expect(e.message).toContain('wangiri.burst.severity must be one of LOW, MEDIUM, HIGH, CRITICAL');
    const f = write('{ "rules": ');
    expect(errorOf(() => loadRuleBook(f)).message).toContain(f);
    expect(errorOf(() => loadRuleBook(join(dir, 'missing.json'))).message).toContain('missing.json');
    const direct = structuredClone(book.file) as RuleBookFile;
    direct.rules['pbx.out_of_hours']!.enabled = 'yes' as unknown as boolean;
    expect(errorOf(() => new RuleBook(direct)).message).toContain('pbx.out_of_hours.enabled must be true or false');
  });

  it('a bad money string inside an override is rejected at load', () => {
    // Validation checks override keys but not their values: '1OO.00' (letter O) loads fine, then
    // parseMoney throws in the middle of Detector.process for the first business-account IRSF event.
    const f = write({ rules: { 'irsf.high_risk': { overrides: [{ accountClass: 'business', minCost: '1OO.00' }] } } });
    const e = errorOf(() => loadRuleBook(f));
    expect(e.message).toContain('minCost');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Issue #13: rules for SMS pumping, subscription fraud, low-and-slow Wangiri and callbacks; PBX pilots
// ---------------------------------------------------------------------------------------------------------

const smsTo = (n: string, country: string, highRisk: boolean): Party => ({ other: n, otherCountry: country, otherCategory: 'mobile', highRisk, international: true, range: n.slice(0, -4) });

ruleDescribe('sms.pumping_sender', () => {
  const R = 'sms.pumping_sender';
  const p = P(R, 'business');
  const SENDER = '447700900555';
  it('fires on a burst of minBurst SMS to consecutive numbers of one prefix, and names the sender', () => {
    const b = builder('smsp');
    const evs = Array.from({ length: num(p, 'minBurst') }, (_, i) => b.sms(SENDER, { ...smsTo(`5352410${String(1000 + i)}`, 'CU', false), at: i * 10 * SEC, cost: '0.200000', accountClass: 'business' }));
    const a = of(run(evs), R);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ entityKind: 'MSISDN', entity: SENDER, detectedAt: evs[evs.length - 1]!.end });
    expect(a[0]!.evidence.facts.trigger).toBe('burst');
  });
  it('benign look-alike: an OTP gateway sending as many codes abroad to random numbers in a few ordinary countries does not fire', () => {
    const b = builder('smsok');
    const evs = Array.from({ length: num(p, 'minSms') + 20 }, (_, i) => b.sms(SENDER, { ...smsTo(`33${String(600000000 + ((i * 7_919_113) % 99_999_999))}`, i % 2 ? 'FR' : 'DE', false), at: i * 50 * SEC, cost: '0.200000' }));
    expectQuiet(run(evs), R);
  });
  it('near miss: one message fewer than minBurst to consecutive numbers does not fire', () => {
    const b = builder('smsfew');
    const evs = Array.from({ length: num(p, 'minBurst') - 1 }, (_, i) => b.sms(SENDER, { ...smsTo(`5352410${String(1000 + i)}`, 'CU', false), at: i * 10 * SEC }));
    expectQuiet(run(evs), R);
  });
  it('evasive spread: many prefixes in several countries, random numbers, above the sender\'s own baseline, fires on volume', () => {
    const b = builder('smsev');
    const cc = ['5352', '25261', '23276', '224655', '37190'];
    const evs = Array.from({ length: num(p, 'minSms') }, (_, i) => b.sms(SENDER, { ...smsTo(`${cc[i % 5]}${String(100 + i)}${String((i * 7919) % 10_000).padStart(4, '0')}`, ['CU', 'SO', 'SL', 'GN', 'LV'][i % 5]!, false), at: i * 80 * SEC }));
    const a = of(run(evs), R);
    expect(a.length).toBeGreaterThanOrEqual(1);
    expect(a[0]!.evidence.facts.trigger).toBe('volume');
  });
});

ruleDescribe('sms.pumping_prefix', () => {
  const R = 'sms.pumping_prefix';
  const p = P(R);
  it('fires on minSms messages to minNumbers numbers of one prefix, keyed by the prefix', () => {
    const b = builder('smspx');
    const evs = Array.from({ length: num(p, 'minSms') }, (_, i) => on(b.sms(`44770090${String(1000 + (i % 3))}`, { ...smsTo(`5352410${String(2000 + i)}`, 'CU', false), at: i * 20 * SEC }), 'RANGE'));
    expectOneOpen(run(evs), R, { entityKind: 'RANGE', entity: '5352410', fraudType: 'SMS_PUMPING', contributing: evs, counts: { messages: evs.length, numbers: evs.length } });
  });
  it('near miss: the same number over and over (one person texting a friend abroad) does not fire', () => {
    const b = builder('smspx1');
    const evs = Array.from({ length: num(p, 'minSms') * 2 }, (_, i) => on(b.sms('447700901000', { ...smsTo('53524102000', 'CU', false), at: i * 20 * SEC }), 'RANGE'));
    expectQuiet(run(evs), R);
  });
});

ruleDescribe('subscription.bust_out', () => {
  const R = 'subscription.bust_out';
  const p = P(R);
  const LINE = '447700900777';
  const calls = (prefix: string, lineAgeDays: number, cost: string, n = num(p, 'minCalls'), before: string | null = null) => {
    const b = builder(prefix);
    const out: FraudEvent[] = [];
    if (before) out.push(b.mo(LINE, party.intl(), { at: -10 * HOUR, talkSec: 1200, cost: before, lineAgeDays }));
    for (let i = 0; i < n; i++) out.push(b.mo(LINE, party.intl(`3361234567${i}`), { at: i * 25 * MIN, talkSec: 1200, cost, lineAgeDays }));
    return out;
  };
  it('fires on a new line whose international spend reaches minCost over minCalls calls with no history', () => {
    const evs = calls('sub', 2, dec(Math.ceil(moneyParam(p, 'minCost') / num(p, 'minCalls'))));
    expectOneOpen(run(evs), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'SUBSCRIPTION', contributing: evs, counts: { calls: evs.length } });
  });
  it('near miss: a line older than maxLineAgeDays (an established customer) does not fire', () => {
    expectQuiet(run(calls('sub-old', num(p, 'maxLineAgeDays') + 1, dec(moneyParam(p, 'minCost')))), R);
  });
  it('benign look-alike: a new customer who already called family abroad as much the day before does not fire', () => {
    expectQuiet(run(calls('sub-fam', 5, dec(moneyParam(p, 'minCost')), num(p, 'minCalls'), dec(moneyParam(p, 'minCost')))), R);
  });
});

ruleDescribe('wangiri.slow', () => {
  const R = 'wangiri.slow';
  const p = P(R);
  const victims = (n: number) => Array.from({ length: n }, (_, i) => `4477009${String(10000 + i)}`);
  it('fires on minTargets unanswered rings of up to maxRingSeconds from one range spread over hours', () => {
    const b = builder('wsl');
    const n = num(p, 'minTargets');
    const step = Math.floor((num(p, 'windowMinutes') * MIN * 0.9) / n);
    const evs = victims(n).map((v, i) => on(b.mt(v, party.highRisk(`53555000${String(10 + (i % 3))}`), { at: i * step, talkSec: 0, ringSec: num(p, 'maxRingSeconds') - 2 }), 'RANGE'));
    const a = of(run(evs), R);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ entityKind: 'RANGE', entity: '53555' });
  });
  it('near miss: one target fewer, or an answered call among them (people talk to family), does not fire', () => {
    const b = builder('wsl2');
    const n = num(p, 'minTargets');
    expectQuiet(run(victims(n - 1).map((v, i) => on(b.mt(v, party.highRisk(), { at: i * 10 * MIN, talkSec: 0, ringSec: 8 }), 'RANGE'))), R);
    const evs = victims(n).map((v, i) => on(b.mt(v, party.highRisk(), { at: i * 10 * MIN, talkSec: i === 3 ? 300 : 0, ringSec: 8 }), 'RANGE'));
    expectQuiet(run(evs), R);
  });
});

ruleDescribe('wangiri.callback', () => {
  const R = 'wangiri.callback';
  const p = P(R);
  const A = '5355500777';
  it('fires when a subscriber calls back a foreign number that rang minTargets subscribers unanswered', () => {
    const b = builder('wcb');
    const rings = Array.from({ length: num(p, 'minTargets') }, (_, i) => on(b.mt(`44770092000${i}`, party.highRisk(A), { at: i * 30 * MIN, talkSec: 0, ringSec: 10 }), 'RANGE'));
    const back = on(b.mo('447700920000', party.highRisk(A), { at: 3 * HOUR, talkSec: 300, cost: '6.000000' }), 'RANGE');
    const a = of(run([...rings, back]), R);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ entityKind: 'RANGE', detectedAt: back.end });
  });
  it('benign look-alike: calling back a relative abroad whose call one missed does not fire', () => {
    const b = builder('wcb2');
    const ring = on(b.mt('447700920000', party.highRisk(A), { talkSec: 0, ringSec: 25 }), 'RANGE');
    const back = on(b.mo('447700920000', party.highRisk(A), { at: 10 * MIN, talkSec: 600 }), 'RANGE');
    expectQuiet(run([ring, back]), R);
  });
});

describe('issue #13: conventions and benign look-alikes', () => {
  it('PBX traffic written with the trunk pilot as served party (one "line") still raises pbx.out_of_hours', () => {
    const R = 'pbx.out_of_hours';
    const p = P(R, 'pbx', 'night');
    const b = builder('pilot');
    const PILOT = '442079460000';
    // minCalls calls at once on the pilot, each 30 minutes, seized 20 s apart.
    const evs = Array.from({ length: Math.max(num(p, 'minCalls'), num(p, 'minConcurrent')) }, (_, i) => on(b.mo(PILOT, party.highRisk(`535550090${i}`), { base: NIGHT, at: i * 20 * SEC, talkSec: 1800, cost: '36.000000', accountId: 'ACC-PILOT', accountClass: 'pbx', businessHours: 2 }), 'ACCOUNT'));
    const a = of(run(evs), R);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ entityKind: 'ACCOUNT', entity: 'ACC-PILOT' });
    expect(a[0]!.evidence.counts.lines).toBe(1);
  });

  it('voicemail self-calls (answered, diverted to the voicemail platform) raise no alert', () => {
    const b = builder('vm');
    const LINE = '447700930001';
    const evs: FraudEvent[] = [];
    for (let i = 0; i < 6; i++) {
      const mo = b.mo(LINE, LINE, { at: i * 2 * HOUR, talkSec: 40 });
      evs.push(mo, b.fwd(LINE, { other: '447900000121', otherCountry: 'GB', otherCategory: 'voicemail', highRisk: false, international: false, range: null }, { at: i * 2 * HOUR + 2 * SEC, talkSec: 38 }));
    }
    evs.sort((x, y) => x.start - y.start);
    expect(run(evs)).toEqual([]);
  });

  it('an unlisted range priced like IRSF raises irsf.high_risk (risk from rating in the keyer)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'irsf-price-'));
    const t = createTraffic({ seed: 5, subscribers: 300, startMs: Date.UTC(2026, 9, 5), endMs: Date.UTC(2026, 9, 6), scenarios: 'none' });
    writeReference(dir, t.reference());
    const stage = createRatingStage(dir, '');
    const keyer = createFraudKeyer(stage.reference, stage.rating.normaliser);
    // A real answered call of one of our mobiles, redirected to Latvia 37190: priced 3.00 per minute in the
    // default tariffs, in no hot list.
    const real = [...t.records()].find((c) => c.eventType === 'VOICE_MO' && c.disposition === 'ANSWERED' && c.servedMsisdn.startsWith('44791') && c.recordSequenceNumber === null)!;
    const mk = (k: number, talkSec: number): Cdr => {
      const s = Date.UTC(2026, 9, 5, 12, 0, 0) + k * 20 * MIN;
      return { ...real, recordId: `lv-${k}`, seizureTime: s, answerTime: s + 5000, releaseTime: s + 5000 + talkSec * 1000, durationMs: 5000 + talkSec * 1000, billableMs: talkSec * 1000, calledNumber: `0037190${String(100000 + k)}` };
    };
    const det = new Detector(book);
    const alerts: FraudAlert[] = [];
    let off = 0;
    for (let k = 0; k < 4; k++) {
      const sc: SourcedCdr = { cdr: mk(k, 1100), topic: 'cdrs', partition: 0, offset: String(k) };
      stage.rateBatch([sc]);
      expect(sc.rated?.other_party_high_risk).toBe(0); // not hot-listed
      for (const ev of keyer(sc)) alerts.push(...det.process(0, off++, ev));
    }
    expect(alerts.some((a) => a.rule === 'irsf.high_risk' && a.fraudType === 'IRSF')).toBe(true);
  });
});

