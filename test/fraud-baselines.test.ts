/**
 * Issue #13, "money fraud that evades hot lists": rules that judge a line or an account against its OWN recent
 * history and the rated price of what it calls, in several windows, and the detector adding the later parts of
 * a call recorded in parts (CDR contract v3) to the call's event. Golden sequences that fire, the near misses
 * one step below each threshold, and the benign look-alikes of the issue: family calls to high-risk countries,
 * expatriates and travellers forwarding to their own number abroad, call centres and telesales, travellers
 * roaming.
 *
 * Thresholds are read from the loaded RuleBook (schemas/fraud/rules.json) so each test states its intent.
 * Calendar: Wednesday 2024-05-15, subscribers on UTC. Parties: 44... home (GB), 224... Guinea priced like an
 * unlisted revenue-share range (not hot-listed), 53555... Cuba (hot-listed), 34... Spain (cheap).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Cdr, FraudAlert, FraudEvent, SourcedCdr } from '../schemas/index.js';
import { bandOf, createFraudKeyer, Detector, type Params } from '../enrich/fraud/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { SEC, MIN, HOUR, T0, micros, dec, book, P, num } from './fraud-fixtures.js';



const money = (p: Params, k: string): number => micros(String(p[k]));

interface Party {
  other: string;
  otherCountry: string;
  otherCategory: string;
  highRisk: boolean;
  international: boolean;
  range: string | null;
}
const to = {
  home: (n = '447700900999'): Party => ({ other: n, otherCountry: 'GB', otherCategory: 'mobile', highRisk: false, international: false, range: null }),
  /** Guinea, an unlisted range (no hot list names it). */
  unlisted: (k = 0): Party => ({ other: `22465505${String(5500 + k)}`, otherCountry: 'GN', otherCategory: 'fixed', highRisk: false, international: true, range: '2246550' }),
  /** Cuba, hot-listed. */
  hotListed: (n = '5355500001'): Party => ({ other: n, otherCountry: 'CU', otherCategory: 'fixed', highRisk: true, international: true, range: '53555' }),
  spain: (n = '34612345678'): Party => ({ other: n, otherCountry: 'ES', otherCategory: 'mobile', highRisk: false, international: true, range: '34612' }),
};

interface Opts extends Partial<FraudEvent> {
  at?: number;
  talkSec?: number;
  cost?: string;
}

/** Events of one scenario with record ids `${prefix}-1`, `${prefix}-2`... */
function builder(prefix: string) {
  let n = 0;
  const make = (kind: FraudEvent['kind'], msisdn: string, party: Party, o: Opts = {}): FraudEvent => {
    const { at = 0, talkSec = 60, cost = '0', ...over } = o;
    const start = T0 + at;
    return {
      group: 'LINE',
      key: msisdn,
      recordId: `${prefix}-${++n}`,
      kind,
      start,
      end: start + (5 + talkSec) * SEC,
      talkMs: talkSec * SEC,
      answered: talkSec > 0,
      msisdn,
      imsi: `23415${msisdn.slice(-10)}`,
      imei: '356938035643809',
      ...party,
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
    mo: (msisdn: string, party: Party, o?: Opts) => make('MO', msisdn, party, o),
    mt: (msisdn: string, party: Party, o?: Opts) => make('MT', msisdn, party, o),
    fwd: (msisdn: string, party: Party, o?: Opts) => make('FWD', msisdn, party, o),
  };
}

function run(events: readonly FraudEvent[], det = new Detector(book)): FraudAlert[] {
  const out: FraudAlert[] = [];
  events.forEach((e, i) => out.push(...det.process(0, i, e)));
  return out;
}
const of = (alerts: readonly FraudAlert[], rule: string) => alerts.filter((a) => a.rule === rule);

/** Exactly one OPEN alert, version 1, about exactly these events (exposure, evidence, first seen). */
function expectOne(alerts: readonly FraudAlert[], rule: string, g: { entityKind: string; entity: string; fraudType: string; contributing: readonly FraudEvent[]; counts?: Record<string, number>; facts?: Record<string, string> }): FraudAlert {
  const mine = of(alerts, rule);
  expect(mine, `alerts of ${rule}`).toHaveLength(1);
  const a = mine[0]!;
  expect(a).toMatchObject({
    version: 1,
    status: 'OPEN',
    entityKind: g.entityKind,
    entity: g.entity,
    fraudType: g.fraudType,
    firstSeen: Math.min(...g.contributing.map((e) => e.start)),
    detectedAt: Math.max(...g.contributing.map((e) => e.end)),
    exposure: dec(g.contributing.reduce((s, e) => s + e.costMicros, 0)),
  });
  expect(a.evidence.recordIds).toEqual(g.contributing.map((e) => e.recordId));
  if (g.counts) expect(a.evidence.counts).toMatchObject(g.counts);
  if (g.facts) expect(a.evidence.facts).toMatchObject(g.facts);
  return a;
}
const expectQuiet = (alerts: readonly FraudAlert[], rule: string) => expect(of(alerts, rule), `${rule} must not fire`).toEqual([]);

// ---------------------------------------------------------------------------------------------------------

describe('irsf.destination_spike (unlisted range, judged against the line\'s own history)', () => {
  const R = 'irsf.destination_spike';
  const p = P(R);
  const LINE = '447700905001';
  const longSec = num(p, 'longCallMinutes') * 60;
  /**
   * minCalls answered calls to one unlisted country within windowMinutes: short test calls, then long calls
   * of `longSec`+ whose minutes just reach minMinutes and whose cost (1.00 per minute, below the keyer's
   * "priced like IRSF" mark) just reaches minCost.
   */
  const burst = (prefix: string, o: { minutesLess?: number; costLess?: number; calls?: number } = {}) => {
    const b = builder(prefix);
    const calls = o.calls ?? num(p, 'minCalls');
    const tests = calls - 2;
    const out: FraudEvent[] = [];
    for (let i = 0; i < tests; i++) out.push(b.mo(LINE, to.unlisted(0), { at: i * MIN, talkSec: 20, cost: '1.00' }));
    const longTotal = num(p, 'minMinutes') * 60 - (o.minutesLess ?? 0);
    // The calls cost exactly minCost together (less costLess): about 0.65 per minute, below the keyer's mark.
    const costTotal = money(p, 'minCost') - tests * 1_000_000 - (o.costLess ?? 0);
    const first = Math.ceil(longTotal / 2);
    out.push(b.mo(LINE, to.unlisted(1), { at: 10 * MIN, talkSec: first, cost: dec(Math.round(costTotal / 2)) }));
    out.push(b.mo(LINE, to.unlisted(2), { at: 10 * MIN + first * SEC + 2 * MIN, talkSec: longTotal - first, cost: dec(costTotal - Math.round(costTotal / 2)) }));
    return out;
  };

  it('fires on minCalls answered calls with minMinutes of long calls and minCost to one unlisted country within windowMinutes', () => {
    const evs = burst('ds');
    expectOne(run(evs), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'IRSF', contributing: evs, counts: { calls: evs.length, minutesX10: num(p, 'minMinutes') * 10, historyMinutesX10: 0 }, facts: { country: 'GN', windowMinutes: String(p.windowMinutes) } });
    // Not hot-listed and not priced like IRSF: the list rule does not see it.
    expectQuiet(run(evs), 'irsf.high_risk');
  });

  it('near misses: one call fewer, one second of long calls less, or one micro-unit below minCost do not fire', () => {
    expectQuiet(run(burst('ds-calls', { calls: num(p, 'minCalls') - 1 })), R);
    expectQuiet(run(burst('ds-min', { minutesLess: 1 })), R);
    expectQuiet(run(burst('ds-cost', { costLess: 1 })), R);
  });

  it('slow campaign: slowMinCalls calls spread over slowWindowMinutes (no burst window reached) fire with the slow window', () => {
    const b = builder('ds-slow');
    const n = num(p, 'slowMinCalls');
    const each = Math.ceil((num(p, 'slowMinMinutes') * 60) / n);
    const step = Math.floor((num(p, 'slowWindowMinutes') * MIN - each * SEC) / n);
    expect(step).toBeGreaterThan(num(p, 'windowMinutes') * MIN / (num(p, 'minCalls') - 1)); // never minCalls in one burst window
    const evs = Array.from({ length: n }, (_, i) => b.mo(LINE, to.unlisted(i), { at: i * step, talkSec: each, cost: dec(Math.ceil(money(p, 'slowMinCost') / n) + each * 10_000) }));
    expectOne(run(evs), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'IRSF', contributing: evs, facts: { windowMinutes: String(p.slowWindowMinutes) } });
    // One call fewer stays quiet.
    expectQuiet(run(evs.slice(1)), R);
  });

  it('benign look-alike: family calls to a hot-listed country — two long calls, however long and costly — do not fire', () => {
    const b = builder('ds-family');
    const evs = [b.mo(LINE, to.hotListed(), { at: 0, talkSec: 3 * 3600, cost: '250.00' }), b.mo(LINE, to.hotListed(), { at: 3 * HOUR + 10 * MIN, talkSec: 40 * 60, cost: '60.00' })];
    expectQuiet(run(evs), R);
  });

  it('benign look-alike: an expat who called that country as much in the day before (its own baseline) does not fire', () => {
    const b = builder('ds-expat');
    const history = [b.mo(LINE, to.unlisted(9), { at: -20 * HOUR, talkSec: num(p, 'minMinutes') * 60, cost: '45.00' })];
    expectQuiet(run([...history, ...burst('ds-expat-2')]), R);
    // The same history older than lookbackMinutes is forgotten: the burst fires.
    const old = builder('ds-expat-old').mo(LINE, to.unlisted(9), { at: -(num(p, 'lookbackMinutes') + 60) * MIN, talkSec: num(p, 'minMinutes') * 60, cost: '45.00' });
    expect(of(run([old, ...burst('ds-expat-3')]), R)).toHaveLength(1);
  });

  it('benign look-alike: a call centre / telesales agent making many short calls to one foreign country does not fire', () => {
    const b = builder('ds-tele');
    // 40 calls of 9 minutes within the window: 360 minutes, 90.00, but not one long call.
    const evs = Array.from({ length: 40 }, (_, i) => b.mo(LINE, to.spain(`346123${String(40000 + i)}`), { at: i * 3 * MIN, talkSec: longSec - 60, cost: '2.25' }));
    expectQuiet(run(evs), R);
  });

  it('peer group: a business line needs the business thresholds (overrides per account class)', () => {
    const evs = burst('ds-biz').map((e) => ({ ...e, accountClass: 'business' }));
    const pb = P(R, 'business');
    expect(money(pb, 'minCost')).toBeGreaterThan(money(p, 'minCost'));
    expectQuiet(run(evs), R);
  });

  it('a SIM roaming abroad calling a third country is reported as ROAMING; a traveller\'s calls home do not count', () => {
    const abroad = { roaming: true, visitedPlmn: '40410' };
    const evs = burst('ds-roam').map((e) => ({ ...e, ...abroad }));
    expectOne(run(evs), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'ROAMING', contributing: evs, facts: { visitedPlmn: '40410' } });
    const b = builder('ds-home');
    const home = Array.from({ length: 4 }, (_, i) => b.mo(LINE, to.home(), { ...abroad, at: i * 25 * MIN, talkSec: 20 * 60, cost: '40.00' }));
    expectQuiet(run(home), R);
  });
});

describe('roaming.high_usage counts spend abroad, not a traveller\'s calls home', () => {
  const R = 'roaming.high_usage';
  const p = P(R);
  const LINE = '447700905101';
  const abroad = { roaming: true, visitedPlmn: '310410' };
  it('benign look-alike: a traveller\'s long calls home above minCost over costMinCalls calls do not fire; the same spend to a third country does', () => {
    const n = num(p, 'costMinCalls') + 1;
    const each = dec(Math.ceil(money(p, 'minCost') / n) + 1_000_000);
    const b = builder('rh-home');
    expectQuiet(run(Array.from({ length: n }, (_, i) => b.mo(LINE, to.home(`44770090${String(1200 + i)}`), { ...abroad, at: i * 50 * MIN, talkSec: 45 * 60, cost: each }))), R);
    const c = builder('rh-third');
    const third = Array.from({ length: n }, (_, i) => c.mo(LINE, to.unlisted(i), { ...abroad, at: i * 50 * MIN, talkSec: 45 * 60, cost: each }));
    expect(of(run(third), R)).toHaveLength(1);
  });
});

describe('forwarding.high_risk_spike: slow pumping window', () => {
  const R = 'forwarding.high_risk_spike';
  const p = P(R);
  const LINE = '447700905201';
  /** n legs one after the other (one or two at a time) to one fresh number, spread over the slow window. */
  const slow = (prefix: string, n: number, minutesEach: number, costEach: string, party = to.unlisted(7)) => {
    const b = builder(prefix);
    const step = Math.floor((num(p, 'slowWindowMinutes') * MIN - minutesEach * MIN) / n);
    return Array.from({ length: n }, (_, i) => b.fwd(LINE, party, { at: i * step, talkSec: minutesEach * 60, cost: costEach }));
  };
  const legs = num(p, 'slowMinLegs');
  const each = Math.ceil(num(p, 'slowMinMinutes') / legs);

  it('fires on slowMinLegs legs with slowMinMinutes and slowMinCost to a fresh number within slowWindowMinutes, below the 60-minute spike', () => {
    const evs = slow('cfs', legs, each, dec(Math.ceil(money(p, 'slowMinCost') / legs)));
    expect(evs[1]!.start - evs[0]!.start).toBeGreaterThan(num(p, 'windowMinutes') * MIN / 2); // at most two legs per spike window
    expectOne(run(evs), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: evs, facts: { trigger: 'slow', windowMinutes: String(p.slowWindowMinutes) } });
  });

  it('near misses: one leg fewer, or one micro-unit below slowMinCost, do not fire', () => {
    expectQuiet(run(slow('cfs-legs', legs - 1, each * 2, dec(money(p, 'slowMinCost')))), R);
    const total = money(p, 'slowMinCost') - 1;
    const evs = slow('cfs-cost', legs, each, '0').map((e, i) => ({ ...e, costMicros: i === 0 ? total - (legs - 1) * Math.floor(total / legs) : Math.floor(total / legs) }));
    expectQuiet(run(evs), R);
  });

  it('benign look-alike: an expatriate forwarding to his own cheap mobile abroad all day does not fire', () => {
    expectQuiet(run(slow('cfs-expat', legs * 2, each, '3.00', to.spain())), R);
  });

  it('benign look-alike: a traveller forwarding to his own number in a hot-listed country that he already forwarded to yesterday does not fire', () => {
    const b = builder('cfs-hot');
    const yesterday = b.fwd(LINE, to.hotListed(), { at: -(num(p, 'establishedAfterMinutes') + 60) * MIN, talkSec: 300, cost: '6.00' });
    const today = Array.from({ length: num(p, 'minLegsHighRisk') }, (_, i) => b.fwd(LINE, to.hotListed(), { at: i * 10 * MIN, talkSec: 240, cost: '4.80' }));
    expectQuiet(run([yesterday, ...today]), R);
  });
});

describe('pbx.destination_spike (account baseline, any hour)', () => {
  const R = 'pbx.destination_spike';
  const p = P(R, 'pbx');
  const ACCOUNT = 'ACC-PBX-1';
  const ext = (i: number) => `4412234000${String(10 + i).padStart(2, '0')}`;
  /** n calls from n extensions to one country, started a minute apart, each lasting `talkMin` (so they overlap). */
  const attack = (prefix: string, n: number, talkMin: number, o: Partial<FraudEvent> = {}) => {
    const b = builder(prefix);
    return Array.from({ length: n }, (_, i) => ({ ...b.mo(ext(i), to.unlisted(i), { at: i * MIN, talkSec: talkMin * 60, cost: dec(talkMin * 1_000_000) }), group: 'ACCOUNT' as const, key: ACCOUNT, accountId: ACCOUNT, accountClass: 'pbx', businessHours: 1, ...o }));
  };

  it('fires during business hours on minCalls calls to one country with minConcurrent at once', () => {
    const evs = attack('pbx', num(p, 'minCalls'), 30);
    expectOne(run(evs), R, { entityKind: 'ACCOUNT', entity: ACCOUNT, fraudType: 'PBX_HACKING', contributing: evs, counts: { calls: evs.length, lines: evs.length, concurrent: evs.length, historyCalls: 0 }, facts: { country: 'GN', businessHours: 'open' } });
  });

  it('PBX traffic written with the trunk pilot as served party (one "line") still fires', () => {
    const evs = attack('pbx-pilot', num(p, 'minCalls'), 30, { msisdn: '441223400000' });
    expectOne(run(evs), R, { entityKind: 'ACCOUNT', entity: ACCOUNT, fraudType: 'PBX_HACKING', contributing: evs, counts: { lines: 1 } });
  });

  it('near misses: one call fewer, or the same calls one after the other (never minConcurrent at once), do not fire', () => {
    expectQuiet(run(attack('pbx-few', num(p, 'minCalls') - 1, 30)), R);
    const b = builder('pbx-seq');
    const seq = Array.from({ length: num(p, 'minCalls') }, (_, i) => ({ ...b.mo(ext(i), to.unlisted(i), { at: i * 9 * MIN, talkSec: 8 * 60, cost: '8.00' }), group: 'ACCOUNT' as const, key: ACCOUNT, accountId: ACCOUNT, accountClass: 'pbx' }));
    expectQuiet(run(seq), R);
  });

  it('benign look-alike: a call centre account that calls that country every day (its own baseline) does not fire', () => {
    const b = builder('pbx-cc');
    const n = num(p, 'minCalls');
    // Yesterday: the same country all day long, one call at a time (quiet by itself).
    const yesterday = Array.from({ length: n }, (_, i) => ({ ...b.mo(ext(i), to.unlisted(20 + i), { at: -20 * HOUR + i * 30 * MIN, talkSec: 20 * 60, cost: '20.00' }), group: 'ACCOUNT' as const, key: ACCOUNT, accountId: ACCOUNT, accountClass: 'pbx' }));
    expectQuiet(run(yesterday), R);
    expectQuiet(run([...yesterday, ...attack('pbx-cc-2', n, 30)]), R);
  });
});

describe('pbx.probing (PIN guessing through voicemail/DISA)', () => {
  const R = 'pbx.probing';
  const p = P(R);
  const PILOT = '441223400000';
  const probes = (prefix: string, n: number, talkSec: number, from: (i: number) => string = () => '353832742650') => {
    const b = builder(prefix);
    const intl = (n: string): Party => ({ other: n, otherCountry: 'IE', otherCategory: 'mobile', highRisk: false, international: true, range: n.slice(0, 7) });
    return Array.from({ length: n }, (_, i) => b.mt(PILOT, intl(from(i)), { at: i * 90 * SEC, talkSec }));
  };
  it('fires on minCalls short answered calls from one number within windowMinutes', () => {
    const evs = probes('pr', num(p, 'minCalls'), 15);
    expectOne(run(evs), R, { entityKind: 'MSISDN', entity: PILOT, fraudType: 'PBX_HACKING', contributing: evs, counts: { calls: evs.length }, facts: { caller: '353832742650' } });
  });
  it('near misses: one call fewer, or calls longer than maxSeconds (conversations), do not fire', () => {
    expectQuiet(run(probes('pr-few', num(p, 'minCalls') - 1, 15)), R);
    expectQuiet(run(probes('pr-long', num(p, 'minCalls'), num(p, 'maxSeconds') + 1)), R);
  });
  it('benign look-alike: a call centre\'s inbound — many short calls from different numbers — does not fire', () => {
    expectQuiet(run(probes('pr-cc', num(p, 'minCalls') * 3, 15, (i) => `3538327${String(40000 + i)}`)), R);
  });
});

describe('later parts of a call recorded in parts (CDR contract v3) add to the call\'s event', () => {
  const LINE = '447700905301';
  /** Parts of one call: the same record id and seizure, each covering `partMin` minutes more. */
  const parts = (call: FraudEvent, n: number, partMin: number, partCost: string): FraudEvent[] =>
    Array.from({ length: n }, (_, k) => ({ ...call, end: call.end + (k + 1) * partMin * MIN, talkMs: partMin * MIN, costMicros: micros(partCost) }));

  it('cost rules see the whole call: irsf.high_risk fires on the minutes of the later parts of calls to a hot-listed range', () => {
    const R = 'irsf.high_risk';
    const p = P(R);
    const b = builder('parts');
    // minCalls calls whose first parts hold 5 minutes each: together below minMinutes.
    const firsts = Array.from({ length: num(p, 'minCalls') }, (_, i) => b.mo(LINE, to.hotListed(`535550010${i}`), { at: i * 30 * SEC, talkSec: 300, cost: '0.50' }));
    expect(firsts.length * 5).toBeLessThan(num(p, 'minMinutes'));
    expectQuiet(run(firsts), R);
    const det = new Detector(book);
    const later = firsts.flatMap((f) => parts(f, 2, 5, '0.50'));
    const alerts = run([...firsts, ...later], det);
    const a = of(alerts, R);
    expect(new Set(a.map((x) => x.alertId)).size).toBe(1);
    expect(a[0]!.version).toBe(1);
    expect(Math.max(...a.map((x) => x.evidence.counts.minutesX10 ?? 0))).toBeGreaterThanOrEqual(num(p, 'minMinutes') * 10);
    expect(det.stats().continued).toBe(later.length);
    // Parts join the stored call: no new events in the state.
    expect(det.stats().events).toBe(firsts.length);
  });

  it('a re-sent part (a replay) is a duplicate: the cost is not counted twice', () => {
    const b = builder('parts-dup');
    const call = b.mo(LINE, to.unlisted(3), { at: 0, talkSec: 300, cost: '5.00' });
    const [p2] = parts(call, 1, 5, '5.00');
    const det = new Detector(book);
    run([call, p2!, { ...p2! }, { ...call }], det);
    expect(det.stats().continued).toBe(1);
    expect(det.stats().duplicates).toBe(2);
  });

  it('an open episode\'s exposure grows by each later part\'s cost, once', () => {
    const R = 'irsf.high_risk';
    const p = P(R);
    const b = builder('parts-exp');
    const tests = Array.from({ length: num(p, 'minTestsOldLine') }, (_, i) => b.mo(LINE, to.hotListed(), { at: i * MIN, talkSec: 20, cost: '1.000000' }));
    const long = b.mo(LINE, to.hotListed(), { at: 5 * MIN, talkSec: 300, cost: '5.000000' });
    const det = new Detector(book, {});
    const latest = (as: FraudAlert[]) => as.sort((x, y) => y.version - x.version)[0]!;
    const first = of(run([...tests, long], det), R);
    expect(new Set(first.map((a) => a.alertId)).size).toBe(1);
    expect(micros(latest(first).exposure)).toBe((tests.length + 5) * 1_000_000);
    // Three later parts of 5.00 each (the last version goes out at the forced sweep).
    const more = parts(long, 3, 5, '5.000000');
    const out = of([...run(more, det), ...det.sweep(0, true)], R);
    expect(micros(latest(out).exposure)).toBe((tests.length + 5 + 15) * 1_000_000);
  });

  it('the keyer keys the later parts of a call abroad (and only of calls some rule sums)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parts-key-'));
    const t = createTraffic({ seed: 5, subscribers: 300, startMs: Date.UTC(2026, 9, 5), endMs: Date.UTC(2026, 9, 6), scenarios: 'none' });
    writeReference(dir, t.reference());
    const stage = createRatingStage(dir, '');
    const keyer = createFraudKeyer(stage.reference, stage.rating.normaliser);
    const real = [...t.records()].find((c) => c.eventType === 'VOICE_MO' && c.disposition === 'ANSWERED' && c.servedMsisdn.startsWith('44791') && c.recordSequenceNumber === null && (c.servingPlmn === null || c.servingPlmn === c.homePlmn))!;
    const s = Date.UTC(2026, 9, 5, 12, 0, 0);
    const part = (k: number, called: string): Cdr => ({ ...real, recordId: `p-${called}`, seizureTime: s, answerTime: s + 5000, releaseTime: s + 5000 + (k + 1) * 300_000, durationMs: k === 0 ? 305_000 : 300_000, billableMs: 300_000, recordSequenceNumber: k + 1, causeForTerm: k < 2 ? 1 : 0, calledNumber: called });
    const keyed = (called: string) =>
      [0, 1, 2].map((k) => {
        const sc: SourcedCdr = { cdr: part(k, called), topic: 'cdrs', partition: 0, offset: String(k) };
        stage.rateBatch([sc]);
        return keyer(sc).filter((e) => e.group === 'LINE').length;
      });
    expect(keyed('0034612345678')).toEqual([1, 1, 1]); // abroad: every part
    expect(keyed('02079460000')).toEqual([1, 0, 0]); // a domestic call: its first part only
  });
});

describe('rule book entries', () => {
  it('the new rules are enabled, sourced and valid, with per-class overrides where a peer group differs', () => {
    for (const id of ['irsf.destination_spike', 'pbx.destination_spike', 'pbx.probing']) {
      expect(book.rules.some((r) => r.id === id), id).toBe(true);
      expect(typeof book.file.rules[id]?.source).toBe('string');
    }
    expect(money(P('irsf.destination_spike', 'pbx'), 'minCost')).toBeGreaterThan(money(P('irsf.destination_spike'), 'minCost'));
    expect(num(P('pbx.destination_spike', 'business'), 'minConcurrent')).toBeGreaterThan(num(P('pbx.destination_spike', 'pbx'), 'minConcurrent'));
  });
});

describe('forwarding.high_risk_spike: a line first seen forwarding to a hot-listed number (cold start)', () => {
  const R = 'forwarding.high_risk_spike';
  const p = P(R);
  const LINE = '447700905301';
  const OWN = '5355512345'; // the expatriate's own mobile in a hot-listed country
  const hrLegs = num(p, 'minLegsHighRisk');
  const hrMin = num(p, 'highRiskMinMinutes');
  const atOnce = num(p, 'highRiskMinConcurrent');
  /** Legs to one hot-listed number, none established (no history: the detector's first day, or an old forward). */
  const legs = (prefix: string, spec: { at: number; talkSec: number }[], n = OWN) => {
    const b = builder(prefix);
    return spec.map((s) => b.fwd(LINE, to.hotListed(n), { at: s.at, talkSec: s.talkSec, cost: dec(Math.ceil(s.talkSec / 60) * 1_200_000) }));
  };

  it('benign look-alike: an expatriate\'s forward seen for the first time, his callers\' few short calls one at a time, does not fire', () => {
    // more legs than minLegsHighRisk within the window, of ordinary length, one after another
    const spec = Array.from({ length: hrLegs + 2 }, (_, i) => ({ at: i * 12 * MIN, talkSec: 150 + 20 * i }));
    const evs = legs('cold-expat', spec);
    expect(evs[evs.length - 1]!.start - evs[0]!.start).toBeLessThan(num(p, 'windowMinutes') * MIN);
    expect(evs.reduce((m, e) => m + e.talkMs, 0)).toBeLessThan(hrMin * MIN);
    expectQuiet(run(evs), R);
  });

  it('hijack pumping to the same hot-listed number fires: highRiskMinConcurrent answered legs up at once, seen at their first partial record', () => {
    expect(atOnce).toBeGreaterThanOrEqual(hrLegs);
    // first parts of long legs (5 minutes into each), the attacker's lines calling seconds apart
    const n = atOnce;
    const evs = legs('cold-pump', Array.from({ length: n }, (_, i) => ({ at: i * 20 * SEC, talkSec: Math.floor((hrMin * 60 - 1) / n) })));
    expect(evs.reduce((m, e) => m + e.talkMs, 0)).toBeLessThan(hrMin * MIN);
    expectOne(run(evs), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: evs, counts: { legs: n, highRiskLegs: n, destinations: 1, establishedLegs: 0 } });
  });

  it('slow pumping, one leg after another: exactly highRiskMinMinutes answered minutes fire, one second less does not', () => {
    const spec = (less: number) => {
      const first = Math.ceil((hrMin * 60) / hrLegs);
      return Array.from({ length: hrLegs }, (_, i) => ({ at: i * (first + 30) * SEC, talkSec: i === 0 ? first : Math.floor((hrMin * 60 - first) / (hrLegs - 1)) - (i === hrLegs - 1 ? less : 0) }));
    };
    const at = legs('cold-slow', spec(0));
    expect(at.reduce((m, e) => m + e.talkMs, 0)).toBe(hrMin * MIN);
    expectOne(run(at), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: at, counts: { highRiskLegs: hrLegs, destinations: 1 } });
    expectQuiet(run(legs('cold-slow-nm', spec(1))), R);
  });

  it('near misses on "at once": one leg fewer up at once, the last leg seized as the first is released, or unanswered legs during a call (his mobile busy) do not fire; a second before the release fires', () => {
    const talk = 120;
    const released = (5 + talk) * SEC; // the builder's release: 5 s of ringing, then the talk
    const together = (prefix: string, lastAt: number, answered = true) =>
      legs(prefix, Array.from({ length: atOnce }, (_, i) => ({ at: i === atOnce - 1 ? lastAt : i * 10 * SEC, talkSec: i === atOnce - 1 && !answered ? 0 : talk })));
    expect((atOnce - 2) * 10 * SEC).toBeLessThan(released - SEC);
    // more than minLegsHighRisk legs, at most highRiskMinConcurrent - 1 of them up at once, 10 minutes apart
    const fewer = legs('cold-fewer', Array.from({ length: hrLegs + 1 }, (_, i) => ({ at: Math.floor(i / (atOnce - 1)) * 10 * MIN + (i % (atOnce - 1)) * 10 * SEC, talkSec: talk })));
    expect(fewer.reduce((m, e) => m + e.talkMs, 0)).toBeLessThan(hrMin * MIN);
    expectQuiet(run(fewer), R);
    expectQuiet(run(together('cold-b2b', released)), R);
    const busy = together('cold-busy', 30 * SEC, false);
    expect(busy[busy.length - 1]!.answered).toBe(false);
    expectQuiet(run(busy), R);
    const overlap = together('cold-overlap', released - SEC);
    expectOne(run(overlap), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: overlap, counts: { highRiskLegs: atOnce } });
  });

  it('short legs to more than one hot-listed number (a forward re-pointed) fire', () => {
    const evs = [...legs('cold-two', [{ at: 0, talkSec: 60 }]), ...legs('cold-two-b', [{ at: 15 * MIN, talkSec: 60 }], '5355598765')];
    expectOne(run(evs), R, { entityKind: 'MSISDN', entity: LINE, fraudType: 'FORWARDING', contributing: evs, counts: { highRiskLegs: 2, destinations: 2 } });
  });
});
