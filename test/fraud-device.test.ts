/**
 * SIM-box signals that survive evasion (issue #13): the calling pattern of a box that mimics a person or
 * moves along cells (`simbox.behaviour`, LINE), several SIMs arriving on one handset (`simbox.device`,
 * the DEVICE group keyed by IMEI) and one new SIM moving through several handsets (`simbox.rotation`, DEVICE
 * keyed by the SIM). Golden sequences that fire, near misses one step short of each threshold,
 * and the benign look-alikes the issue names: M2M/IoT SIMs, phone swaps, dual-SIM phones, travellers, a
 * family sharing a handset, an IMEI reused after a phone repair. Also forwarding loops behind a B2BUA that
 * resets the redirection counter (`forwarding.loop`), the keyer's DEVICE and `hop:` events, and the alert
 * schema's new fraud types (enum evolution).
 *
 * Thresholds are read from the loaded RuleBook (schemas/fraud/rules.json), so each test states its intent.
 * Calendar: Wednesday 2024-05-15, UTC; 10:00 is the "day" band.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import type { Cdr, FraudAlert, FraudEvent, FraudEventGroup, FraudEventKind } from '../schemas/index.js';
import { AvroDecodeError, avroCodec, avroCodecOf, schemaPath } from '../schemas/index.js';
import { alertIdOf, bandOf, createFraudKeyer, Detector, RULES } from '../enrich/fraud/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { SEC, MIN, HOUR, T0, book, P, num } from './fraud-fixtures.js';

const DAY = 24 * HOUR;


interface Opts {
  /** Seizure, ms after T0. */
  at: number;
  talkSec?: number;
  ringSec?: number;
  other?: string | null;
  cellId?: number;
  imei?: string;
  lineAgeDays?: number;
  roaming?: boolean;
  group?: FraudEventGroup;
  key?: string;
}

/** Events of one scenario; record ids `${prefix}-n`. */
function builder(prefix: string, msisdn: string, imsi = `23415${msisdn.slice(-10)}`) {
  let n = 0;
  const make = (kind: FraudEventKind, o: Opts): FraudEvent => {
    const voice = kind === 'MO' || kind === 'MT' || kind === 'FWD';
    const { at, talkSec = voice ? 90 : 0, ringSec = voice ? 8 : 0 } = o;
    const start = T0 + at;
    return {
      group: o.group ?? 'LINE',
      key: o.key ?? msisdn,
      recordId: `${prefix}-${++n}`,
      kind,
      start,
      end: start + (ringSec + talkSec) * SEC,
      talkMs: talkSec * SEC,
      answered: talkSec > 0,
      msisdn,
      imsi,
      imei: o.imei ?? '356938035643809',
      other: o.other === undefined ? null : o.other,
      otherCountry: o.other ? 'GB' : null,
      otherCategory: o.other ? 'mobile' : null,
      highRisk: false,
      international: false,
      range: null,
      costMicros: kind === 'MO' && talkSec > 0 ? 50_000 : 0,
      currency: 'GBP',
      accountId: `ACC-${msisdn}`,
      accountClass: 'private',
      band: bandOf(start),
      businessHours: 0,
      lineAgeDays: o.lineAgeDays ?? 400,
      roaming: o.roaming ?? false,
      visitedPlmn: o.roaming ? '20801' : null,
      cellId: o.cellId ?? 4711,
      lat: 51.5074,
      lon: -0.1278,
      redirectionCounter: 0,
      cause: null,
      originalCalled: null,
      source: 0,
    };
  };
  return {
    mo: (o: Opts) => make('MO', o),
    mt: (o: Opts) => make('MT', o),
    sms: (o: Opts) => make('SMS', o),
    data: (o: Opts) => make('DATA', o),
    fwd: (o: Opts & { counter?: number }) => ({ ...make('FWD', o), redirectionCounter: o.counter ?? 1 }) as FraudEvent,
  };
}

function run(events: readonly FraudEvent[], det = new Detector(book)): FraudAlert[] {
  const out: FraudAlert[] = [];
  [...events].sort((a, b) => a.end - b.end).forEach((e, i) => out.push(...det.process(0, i, e)));
  return out;
}
const of = (alerts: readonly FraudAlert[], rule: string) => alerts.filter((a) => a.rule === rule);
const opened = (alerts: readonly FraudAlert[], rule: string) => of(alerts, rule).filter((a) => a.version === 1);

// ---------------------------------------------------------------------------------------------------------
// simbox.behaviour
// ---------------------------------------------------------------------------------------------------------

describe('simbox.behaviour', () => {
  const R = 'simbox.behaviour';
  const p = P(R);
  const LINE = '447700900801';
  const IMSI = `23415${LINE.slice(-10)}`;
  const fresh = (i: number) => `4477009200${String(i).padStart(2, '0')}`;
  /**
   * A dialler: n calls back to back (talkSec each, idle gaps from `gaps`, cycled) to numbers never called
   * before, from `cell(i)`. Returns the calls in seizure order.
   */
  const dial = (b: ReturnType<typeof builder>, n: number, o: { from?: number; talkSec?: number; gapsSec?: number[]; cell?: (i: number) => number; callee?: (i: number) => string; roaming?: boolean; lineAgeDays?: number } = {}) => {
    const { from = 0, talkSec = 90, gapsSec = [40], cell = () => 4711, callee = fresh } = o;
    const out: FraudEvent[] = [];
    let at = from;
    for (let i = 0; i < n; i++) {
      const e = b.mo({ at, talkSec, other: callee(i), cellId: cell(i), ...(o.roaming !== undefined && { roaming: o.roaming }), ...(o.lineAgeDays !== undefined && { lineAgeDays: o.lineAgeDays }) });
      out.push(e);
      at = e.end - T0 + (gapsSec[i % gapsSec.length] as number) * SEC;
    }
    return out;
  };
  const shortN = num(p, 'shortMinCalls');

  it('fires on shortMinCalls back-to-back calls to fresh numbers within the short window, on the IMSI, with the pattern as evidence', () => {
    const b = builder('bx', LINE);
    const calls = dial(b, shortN);
    expect(calls[calls.length - 1]!.start - calls[0]!.start).toBeLessThanOrEqual(num(p, 'shortWindowMinutes') * MIN);
    const alerts = run(calls);
    const mine = of(alerts, R);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      version: 1,
      status: 'OPEN',
      entityKind: 'IMSI',
      entity: IMSI,
      fraudType: 'SIM_BOX',
      firstSeen: calls[0]!.start,
      detectedAt: calls[calls.length - 1]!.end,
      exposure: ((shortN * 50_000) / 1e6).toFixed(6),
    });
    expect(mine[0]!.alertId).toBe(alertIdOf(R, 'IMSI', IMSI, calls[0]!.start));
    expect(mine[0]!.evidence.recordIds).toEqual(calls.map((e) => e.recordId));
    expect(mine[0]!.evidence.counts).toMatchObject({ outgoing: shortN, freshPct: 100, inMinutesX10: 0, medianGapSeconds: 40, regularPct: 100, cells: 1, imeis: 1 });
    expect(mine[0]!.evidence.facts).toMatchObject({ msisdn: LINE, trigger: 'short-window' });
  });

  it('the evasive box fires too: incoming calls, SMS and data in between, a new cell for every call (moving), an old line', () => {
    const b = builder('bx-ev', LINE);
    const calls = dial(b, shortN, { cell: (i) => 5000 + i, gapsSec: [35, 45, 40, 50, 30] });
    const human = [b.mt({ at: calls[2]!.end - T0 + 5 * SEC, talkSec: 20, ringSec: 3, other: '447700900111' }), b.sms({ at: calls[4]!.end - T0 + 2 * SEC }), b.data({ at: calls[5]!.end - T0 + 1 * SEC, talkSec: 0 })];
    const alerts = run([...calls, ...human]);
    expect(opened(alerts, R)).toHaveLength(1);
    expect(opened(alerts, R)[0]!.evidence.counts).toMatchObject({ cells: shortN, freshPct: 100 });
    // The old rule misses it (SMS/data, more than two cells): this is what the new one is for.
    expect(of(alerts, 'simbox.profile')).toEqual([]);
  });

  it('near miss: one call fewer than shortMinCalls does not fire (and is far below the long window\'s minCalls)', () => {
    expect(of(run(dial(builder('bx-few', LINE), shortN - 1)), R)).toEqual([]);
  });

  it('slow variant: minCalls calls in bursts below the short threshold within windowMinutes fire on the long window; one fewer does not', () => {
    const burst = shortN - 1;
    const pauseMin = num(p, 'sessionGapMinutes') + 5;
    const build = (total: number) => {
      const b = builder('bx-slow', LINE);
      const out: FraudEvent[] = [];
      let from = 0;
      for (let made = 0, k = 0; made < total; k++) {
        const n = Math.min(burst, total - made);
        const calls = dial(b, n, { from, callee: (i) => fresh(made + i) });
        out.push(...calls);
        made += n;
        from = calls[calls.length - 1]!.end - T0 + pauseMin * MIN;
      }
      return out;
    };
    const calls = build(num(p, 'minCalls'));
    expect(calls[calls.length - 1]!.start - calls[0]!.start).toBeLessThanOrEqual(num(p, 'windowMinutes') * MIN);
    const a = opened(run(calls), R);
    expect(a).toHaveLength(1);
    expect(a[0]!.evidence.facts.trigger).toBe('window');
    expect(a[0]!.detectedAt).toBe(calls[calls.length - 1]!.end);
    expect(of(run(build(num(p, 'minCalls') - 1)), R)).toEqual([]);
  });

  it('near miss: a person ringing round (gaps from seconds to minutes, the same count of fresh numbers) does not fire', () => {
    // Idle gaps spread like a person's: few of them within +-50% of their median.
    const calls = dial(builder('bx-person', LINE), shortN, { gapsSec: [5, 150, 15, 60, 240, 10, 30] });
    expect(calls[calls.length - 1]!.start - calls[0]!.start).toBeLessThanOrEqual(num(p, 'shortWindowMinutes') * MIN);
    expect(of(run(calls), R)).toEqual([]);
  });

  it('near miss: a regular pace with a median idle gap above maxMedianGapSeconds does not fire', () => {
    const gap = num(p, 'maxMedianGapSeconds') + 30;
    const calls = dial(builder('bx-slowpace', LINE), shortN, { gapsSec: [gap], talkSec: 30 });
    expect(calls[calls.length - 1]!.start - calls[0]!.start).toBeLessThanOrEqual(num(p, 'shortWindowMinutes') * MIN);
    expect(of(run(calls), R)).toEqual([]);
  });

  it('near miss: callees the SIM called or heard from earlier that day (fresh share below minFreshShare) do not fire; all fresh does', () => {
    const b = builder('bx-known', LINE);
    const knownCount = Math.floor((1 - num(p, 'minFreshShare')) * shortN) + 1;
    const history = Array.from({ length: knownCount }, (_, i) => b.mt({ at: -5 * HOUR + i * HOUR, other: fresh(i) }));
    const calls = dial(b, shortN);
    expect(of(run([...history, ...calls]), R)).toEqual([]);
    // The same history with other numbers: every callee fresh again.
    const b2 = builder('bx-known2', LINE);
    const other = Array.from({ length: knownCount }, (_, i) => b2.mt({ at: -5 * HOUR + i * HOUR, other: `4477009300${i}0` }));
    expect(opened(run([...other, ...dial(b2, shortN)]), R)).toHaveLength(1);
  });

  it('benign: an agent line with long incoming calls (outgoing minutes below minOutInMinutesRatio x incoming) does not fire', () => {
    const b = builder('bx-agent', LINE);
    const calls = dial(b, shortN);
    const outMin = (shortN * 90) / 60;
    // An incoming call inside the window, before the dialling starts.
    const incoming = b.mt({ at: -Math.ceil((outMin / num(p, 'minOutInMinutesRatio')) * 60 + 120) * SEC, talkSec: Math.ceil((outMin / num(p, 'minOutInMinutesRatio')) * 60) + 60, other: '447700900222' });
    expect(of(run([incoming, ...calls]), R)).toEqual([]);
  });

  it('benign: an M2M/IoT SIM reporting to its platform at a machine\'s pace (the same number every time) does not fire', () => {
    const calls = dial(builder('bx-m2m', LINE), 3 * shortN, { talkSec: 15, gapsSec: [45], callee: () => '447700900333' });
    expect(of(run(calls), R)).toEqual([]);
  });

  it('benign: a traveller abroad calling round hotels back to back (roaming records) does not fire', () => {
    const calls = dial(builder('bx-travel', LINE), shortN, { roaming: true });
    expect(of(run(calls), R)).toEqual([]);
  });

  it('the line-age limit is a parameter: above maxLineAgeDays a line is not judged', () => {
    const calls = dial(builder('bx-age', LINE), shortN, { lineAgeDays: num(p, 'maxLineAgeDays') + 1 });
    expect(of(run(calls), R)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// simbox.device
// ---------------------------------------------------------------------------------------------------------

describe('simbox.device', () => {
  const R = 'simbox.device';
  const p = P(R);
  const MODULE = '359000000000017';
  const young = num(p, 'maxLineAgeDays') - 1;
  const old = 900;
  /** A SIM arriving on the IMEI (the keyer's DEVICE event: its first record on that handset). */
  const msisdnOf = (sim: number) => `4477009008${String(sim).padStart(2, '0')}`;
  const imsiOf = (sim: number) => `23415${msisdnOf(sim).slice(-10)}`;
  const arrive = (sim: number, at: number, lineAgeDays: number, imei = MODULE) => builder(`dev-${sim}-${at}`, msisdnOf(sim)).mo({ at, other: '447700900444', imei, lineAgeDays, group: 'DEVICE', key: imei });

  it('fires when minImsis SIMs arrive on one IMEI within the window (gateway modules rotating new SIMs), on the IMSI that makes it minImsis', () => {
    const n = num(p, 'minImsis');
    const evs = Array.from({ length: n }, (_, i) => arrive(i, i * DAY, young));
    const alerts = run(evs);
    const mine = of(alerts, R);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ version: 1, status: 'OPEN', entityKind: 'IMSI', entity: imsiOf(n - 1), fraudType: 'SIM_BOX', detectedAt: evs[n - 1]!.end, firstSeen: evs[0]!.start });
    expect(mine[0]!.evidence.counts).toMatchObject({ imsis: n, youngImsis: n, arrivals: n });
    expect(mine[0]!.evidence.facts.imei).toBe(MODULE);
    expect(mine[0]!.evidence.recordIds).toEqual(evs.map((e) => e.recordId));
  });

  it('near miss: the same SIMs spread over more than windowMinutes do not fire', () => {
    const n = num(p, 'minImsis');
    const step = Math.ceil((num(p, 'windowMinutes') * MIN) / (n - 1)) + HOUR;
    expect(of(run(Array.from({ length: n }, (_, i) => arrive(i, i * step, young))), R)).toEqual([]);
  });

  it('benign: a dual-SIM phone, and a family sharing a handset (two SIMs swapped in and out many times), do not fire', () => {
    const dual = [arrive(1, 0, young), arrive(2, MIN, young)];
    expect(of(run(dual), R)).toEqual([]);
    const family = Array.from({ length: 12 }, (_, i) => arrive(1 + (i % 2), i * 4 * HOUR, old));
    expect(of(run(family), R)).toEqual([]);
  });

  it('benign: three old SIMs of one household sharing a handset (fewer than minYoungImsis new SIMs) do not fire', () => {
    const n = num(p, 'minImsis');
    expect(of(run(Array.from({ length: n }, (_, i) => arrive(i, i * 6 * HOUR, old))), R)).toEqual([]);
    // With minYoungImsis of them new, it does.
    const mixed = Array.from({ length: n }, (_, i) => arrive(i, i * 6 * HOUR, i < num(p, 'minYoungImsis') ? young : old));
    expect(opened(run(mixed), R)).toHaveLength(1);
  });

  it('benign: an IMEI reused after a phone repair (owner, workshop test SIM, owner again; a new owner weeks later) does not fire', () => {
    const evs = [arrive(1, 0, old), arrive(9, 2 * DAY, old), arrive(1, 3 * DAY, old), arrive(3, 40 * DAY, young)];
    expect(of(run(evs), R)).toEqual([]);
  });

  it('benign: phone swaps (each SIM on its own new handset) never put several SIMs on one IMEI', () => {
    const evs = Array.from({ length: 5 }, (_, i) => arrive(i, i * HOUR, young, `35900000000010${i}`));
    expect(of(run(evs), R)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// simbox.rotation
// ---------------------------------------------------------------------------------------------------------

describe('simbox.rotation', () => {
  const R = 'simbox.rotation';
  const p = P(R);
  const LINE = '447700900851';
  const IMSI = `23415${LINE.slice(-10)}`;
  const young = num(p, 'maxLineAgeDays') - 1;
  /** The SIM arriving on handset `imei` (the keyer's DEVICE event keyed by the SIM). */
  const onto = (b: ReturnType<typeof builder>, imei: string, at: number, lineAgeDays = young) => b.mo({ at, other: '447700900444', imei, lineAgeDays, group: 'DEVICE', key: `imsi:${IMSI}` });
  const handset = (i: number) => `35900000000${String(1000 + i)}`;

  it('fires when a new SIM arrives on minImeis handsets within the window (daily rotation over gateway modules)', () => {
    const b = builder('rot', LINE);
    const evs = Array.from({ length: num(p, 'minImeis') }, (_, i) => onto(b, handset(i), i * DAY));
    const mine = of(run(evs), R);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ version: 1, status: 'OPEN', entityKind: 'IMSI', entity: IMSI, fraudType: 'SIM_BOX', firstSeen: evs[0]!.start, detectedAt: evs[evs.length - 1]!.end });
    expect(mine[0]!.evidence.counts).toMatchObject({ imeis: num(p, 'minImeis'), arrivals: evs.length });
    expect(mine[0]!.evidence.recordIds).toEqual(evs.map((e) => e.recordId));
  });

  it('near miss: minImeis handsets spread over more than windowMinutes do not fire', () => {
    const b = builder('rot-slow', LINE);
    const step = Math.ceil((num(p, 'windowMinutes') * MIN) / (num(p, 'minImeis') - 1)) + HOUR;
    expect(of(run(Array.from({ length: num(p, 'minImeis') }, (_, i) => onto(b, handset(i), i * step))), R)).toEqual([]);
  });

  it('benign: a phone swap, and a repair loaner then the own phone again (two handsets, however often), do not fire', () => {
    const b = builder('rot-swap', LINE);
    expect(of(run([onto(b, handset(0), 0), onto(b, handset(1), 2 * HOUR)]), R)).toEqual([]);
    const b2 = builder('rot-repair', LINE);
    expect(of(run([onto(b2, handset(0), 0), onto(b2, handset(9), DAY), onto(b2, handset(0), 2 * DAY), onto(b2, handset(9), 2 * DAY + HOUR)]), R)).toEqual([]);
  });

  it('benign: an old line going through three handsets (broken phone, loaner, new phone) is not judged', () => {
    const b = builder('rot-old', LINE);
    expect(of(run(Array.from({ length: num(p, 'minImeis') }, (_, i) => onto(b, handset(i), i * 10 * HOUR, num(p, 'maxLineAgeDays') + 1))), R)).toEqual([]);
  });

  it('the two DEVICE rules read only their own keys: IMEI arrivals never fire rotation, SIM arrivals never fire device', () => {
    const b = builder('rot-keys', LINE);
    const bySim = Array.from({ length: 4 }, (_, i) => onto(b, handset(i), i * HOUR));
    expect(of(run(bySim), 'simbox.device')).toEqual([]);
    const byImei = Array.from({ length: 4 }, (_, i) => builder(`rot-k${i}`, `4477009009${i}0`).mo({ at: i * HOUR, other: '447700900444', imei: handset(0), lineAgeDays: young, group: 'DEVICE', key: handset(0) }));
    const a = run(byImei);
    expect(of(a, R)).toEqual([]);
    // Every SIM from the minImsis-th on is named in an alert of its own (the SIMs to bar).
    expect(opened(a, 'simbox.device').map((x) => x.entity)).toEqual(byImei.slice(num(P('simbox.device'), 'minImsis') - 1).map((e) => e.imsi));
  });
});

// ---------------------------------------------------------------------------------------------------------
// forwarding.loop (issue #13 "Forwarding chains and loops")
// ---------------------------------------------------------------------------------------------------------

describe('forwarding.loop', () => {
  const R = 'forwarding.loop';
  const p = P(R);
  const reps = num(p, 'minRepeats');
  let legN = 0;
  /** A forwarded leg: `from` diverts a call to `to`, seized `atMs` after T0, released `upMs` later (keyed `hop:` + from). */
  const leg = (from: string, to: string, atMs: number, upMs: number, counter = 1) => {
    const e = builder(`loop-${++legN}`, from).fwd({ at: atMs, other: to, talkSec: 0, ringSec: 0, counter, group: 'CHAIN', key: `hop:${from}` });
    return { ...e, end: e.start + upMs, talkMs: upMs, answered: true };
  };
  const B = '447700900901';
  const C = '447700900902';
  const D = '447700900903';
  /**
   * One call looping through `ring` (B -> C -> ... -> B) for `hops` diversions 300 ms apart, every counter 1 (a
   * B2BUA resets it); all legs released together when the call ends `callMs` after it started.
   */
  const loopCall = (ring: string[], hops: number, atMs = 0, callMs = 20_000) =>
    Array.from({ length: hops }, (_, i) => leg(ring[i % ring.length]!, ring[(i + 1) % ring.length]!, atMs + i * 300, atMs + callMs - (atMs + i * 300)));

  it('a loop behind a B2BUA that resets the counter (B -> C -> D -> B ..., every counter 1) flags every diverting line once; forwarding.chain stays blind', () => {
    const ring = [B, C, D];
    const legs = loopCall(ring, ring.length * reps);
    const alerts = run(legs);
    const mine = opened(alerts, R);
    expect(mine.map((a) => a.entity).sort()).toEqual([...ring].sort());
    for (const a of mine) {
      expect(a).toMatchObject({ entityKind: 'MSISDN', fraudType: 'FORWARDING', status: 'OPEN' });
      expect(a.evidence.counts).toMatchObject({ legs: reps, maxCounter: 1 });
      expect(a.evidence.facts.loop).toBe('true');
    }
    expect(of(alerts, 'forwarding.chain')).toEqual([]);
    // Twenty more calls into the loop within the episode: still one alert per line (versions, not new alerts).
    const more = Array.from({ length: 20 }, (_, k) => loopCall(ring, ring.length * reps, (k + 1) * 10 * MIN)).flat();
    const all = run([...legs, ...more]);
    expect(new Set(of(all, R).map((a) => a.alertId)).size).toBe(ring.length);
  });

  it('near miss: the call coming back minRepeats - 1 times does not fire', () => {
    expect(of(run(loopCall([B, C], 2 * (reps - 1))), R)).toEqual([]);
  });

  it('benign: a redial (the line forwarding the same caller to the same number again, after the first call ended) does not fire', () => {
    const legs = Array.from({ length: reps + 2 }, (_, i) => leg(B, C, i * 30 * SEC, 20 * SEC));
    expect(of(run(legs), R)).toEqual([]);
  });

  it('near miss: minRepeats long calls forwarded to one number at once, but arriving minutes apart (not one call looping), do not fire', () => {
    const gap = (num(p, 'maxHopGapSeconds') + 20) * SEC;
    const legs = Array.from({ length: reps + 1 }, (_, i) => leg(B, C, i * gap, 10 * MIN));
    expect(legs[legs.length - 1]!.start - legs[0]!.start).toBeLessThanOrEqual(num(p, 'windowMinutes') * MIN);
    expect(of(run(legs), R)).toEqual([]);
    // The same legs maxHopGapSeconds apart are a loop.
    const tight = Array.from({ length: reps }, (_, i) => leg(B, C, i * num(p, 'maxHopGapSeconds') * SEC, 10 * MIN));
    expect(opened(run(tight), R)).toHaveLength(1);
  });

  it('benign: a busy forwarded line (calls from several people, each forwarded leg ending before the next call) does not fire', () => {
    const legs = Array.from({ length: 10 }, (_, i) => leg(B, C, i * 12 * SEC, 2 * SEC));
    expect(of(run(legs), R)).toEqual([]);
  });

  it('benign: an ordinary two-hop chain (office -> assistant -> assistant\'s mobile) does not fire', () => {
    expect(of(run([leg(B, C, 0, 60 * SEC, 1), leg(C, D, 300, 60 * SEC - 300, 2)]), R)).toEqual([]);
  });

  it('legs keyed by diverting line never feed forwarding.chain (its own keys are the chain heads)', () => {
    const deep = leg(B, C, 0, 10 * SEC, 5);
    expect(of(run([deep]), 'forwarding.chain')).toEqual([]);
    expect(of(run([{ ...deep, key: B, recordId: 'head-1' }]), 'forwarding.chain')).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Keying: DEVICE events
// ---------------------------------------------------------------------------------------------------------

describe('keying: DEVICE events (a SIM arriving on a handset), end to end with the detector', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fraud-device-'));
  // A small population with real reference data; the simbox scenario adds young lines (new SIMs).
  const traffic = createTraffic({ seed: 5, subscribers: 300, startMs: T0 - 6 * HOUR, endMs: T0 + 6 * HOUR, scenarios: ['simbox'] });
  const records = [...traffic.records()];
  writeReference(dir, traffic.reference());
  const stage = createRatingStage(dir, '');
  const ref = stage.reference;
  const ageOf = (msisdn: string) => Math.floor(T0 / DAY) - Math.floor(Date.parse(`${ref.lines.find((l) => l.msisdn === msisdn)!.installDate}T00:00:00Z`) / DAY);
  const youngLines = ref.lines.filter((l) => l.imsi && ageOf(l.msisdn) >= 0 && ageOf(l.msisdn) <= 30).map((l) => l.msisdn);
  const oldLine = ref.lines.find((l) => l.imsi && ageOf(l.msisdn) > 400)!.msisdn;
  const template = records.find((c) => c.eventType === 'VOICE_MO' && c.cellId !== null && c.servingPlmn === ref.operator.plmn)!;
  let n = 0;
  const rec = (msisdn: string, at: number, imei: string): Cdr => {
    const line = ref.lines.find((l) => l.msisdn === msisdn)!;
    return { ...template, recordId: `dev-rec-${++n}`, servedMsisdn: msisdn, servedImsi: line.imsi, servedImei: imei, seizureTime: T0 + at, answerTime: T0 + at + 5 * SEC, releaseTime: T0 + at + 65 * SEC, durationMs: 60 * SEC, billableMs: 60 * SEC, calledNumber: '07700900997', disposition: 'ANSWERED', recordSequenceNumber: null };
  };
  const devices = (keyer: ReturnType<typeof createFraudKeyer>, c: Cdr) => keyer({ cdr: c, topic: 't', partition: 0, offset: '0' }).filter((e) => e.group === 'DEVICE').map((e) => `${e.key}:${e.imsi}`);

  it('a young line\'s first handset is keyed; the same handset again is not; another handset is; an old line\'s first record (a restart) is not', () => {
    expect(youngLines.length).toBeGreaterThanOrEqual(3);
    expect(template).toBeTruthy();
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    const y = youngLines[0]!;
    const imsi = ref.lines.find((l) => l.msisdn === y)!.imsi;
    // Keyed by the IMEI and by the SIM.
    expect(devices(keyer, rec(y, 0, '359000000000025'))).toEqual([`359000000000025:${imsi}`, `imsi:${imsi}:${imsi}`]);
    expect(devices(keyer, rec(y, 10 * MIN, '359000000000025'))).toEqual([]);
    expect(devices(keyer, rec(y, 20 * MIN, '359000000000033'))).toEqual([`359000000000033:${imsi}`, `imsi:${imsi}:${imsi}`]);
    expect(devices(keyer, rec(oldLine, 0, '359000000000041'))).toEqual([]);
    // ...but an old line moving to another handset is (a SIM rotated into a module).
    const oldImsi = ref.lines.find((l) => l.msisdn === oldLine)!.imsi;
    expect(devices(keyer, rec(oldLine, 30 * MIN, '359000000000058'))).toEqual([`359000000000058:${oldImsi}`, `imsi:${oldImsi}:${oldImsi}`]);
  });

  it('a forwarded leg to a number other than voicemail is keyed on CHAIN by its diverting line (and by the line it goes to); a leg to voicemail is not', () => {
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    const line = ref.lines.find((l) => l.imsi && ageOf(l.msisdn) > 400)!.msisdn;
    const fwd = (to: string): Cdr => ({ ...rec(line, 0, '359000000000090'), eventType: 'VOICE_FWD', callingNumber: '447700900123', calledNumber: to, redirectionCounter: 1, originalCalledNumber: line, redirectingNumber: line, redirectionReason: 'CFU' });
    const chains = (c: Cdr) => keyer({ cdr: c, topic: 't', partition: 0, offset: '0' }).filter((e) => e.group === 'CHAIN').map((e) => e.key);
    const onNet = ref.lines.find((l) => l.msisdn !== line && l.imsi)!.msisdn;
    expect(chains(fwd(onNet))).toEqual([`hop:${line}`, `hop:${onNet}`]);
    expect(chains(fwd(ref.operator.voicemailNumber))).toEqual([]);
  });

  it('three new SIMs rotating through one gateway module over three days raise simbox.device through keyer and detector', () => {
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    const det = new Detector(book);
    const alerts: FraudAlert[] = [];
    let off = 0;
    const module = '359000000000066';
    const [a, b, c] = youngLines as [string, string, string];
    // Day d: SIM k on module (k + d) % 3 — each module sees a new SIM every day.
    const mods = ['359000000000074', '359000000000082', module];
    for (let d = 0; d < 3; d++) for (const [k, sim] of [a, b, c].entries()) for (const e of keyer({ cdr: rec(sim, d * DAY + k * MIN, mods[(k + d) % 3]!), topic: 't', partition: 0, offset: '0' })) if (e.group === 'DEVICE') alerts.push(...det.process(0, off++, e));
    const fired = opened(alerts, 'simbox.device');
    expect(fired.length).toBeGreaterThanOrEqual(1);
    expect(new Set(fired.map((x) => x.evidence.facts.imei)).size).toBe(fired.length);
    expect(fired.every((x) => x.evidence.counts.imsis === 3)).toBe(true);
    // Each SIM went through three modules: simbox.rotation on every one of them.
    const imsis = [a, b, c].map((m) => ref.lines.find((l) => l.msisdn === m)!.imsi).sort();
    expect(opened(alerts, 'simbox.rotation').map((x) => x.entity).sort()).toEqual(imsis);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Schemas: the DEVICE group and the new fraud types
// ---------------------------------------------------------------------------------------------------------

describe('schemas: DEVICE events and the SMS_PUMPING / SUBSCRIPTION fraud types', () => {
  const alertSchema = JSON.parse(readFileSync(schemaPath('avro', 'fraud-alert.avsc'), 'utf8')) as { fields: { name: string; type: { symbols?: string[] } }[] };
  const eventSchema = JSON.parse(readFileSync(schemaPath('avro', 'fraud-event.avsc'), 'utf8')) as { fields: { name: string; type: { symbols?: string[] } }[] };
  const withSymbols = <T extends { fields: { name: string; type: { symbols?: string[] } }[] }>(s: T, field: string, keep: (x: string) => boolean): T => ({ ...s, fields: s.fields.map((f) => (f.name === field ? { ...f, type: { ...f.type, symbols: f.type.symbols!.filter(keep) } } : f)) });

  it('the rules report SMS pumping and subscription fraud under their own fraud types', () => {
    const type = (id: string) => RULES.find((r) => r.id === id)!.fraudType;
    expect(type('sms.pumping_sender')).toBe('SMS_PUMPING');
    expect(type('sms.pumping_prefix')).toBe('SMS_PUMPING');
    expect(type('subscription.bust_out')).toBe('SUBSCRIPTION');
    expect(type('simbox.behaviour')).toBe('SIM_BOX');
    expect(type('simbox.device')).toBe('SIM_BOX');
    expect(type('simbox.rotation')).toBe('SIM_BOX');
  });

  it('symbols were appended: an alert of SMS_PUMPING written now reads as OTHER with the previous schema; old alerts read unchanged', () => {
    const codec = avroCodec<FraudAlert>('fraud-alert.avsc');
    const symbols = alertSchema.fields.find((f) => f.name === 'fraudType')!.type.symbols!;
    expect(symbols.slice(-2)).toEqual(['SMS_PUMPING', 'SUBSCRIPTION']);
    const before = withSymbols(alertSchema, 'fraudType', (s) => s !== 'SMS_PUMPING' && s !== 'SUBSCRIPTION');
    const alert: FraudAlert = { alertId: 'a1', version: 1, rule: 'sms.pumping_sender', fraudType: 'SMS_PUMPING', entityKind: 'MSISDN', entity: '447700900555', severity: 'HIGH', score: 0.7, status: 'OPEN', firstSeen: T0, lastSeen: T0, detectedAt: T0, windowStart: T0, windowEnd: T0, exposure: '1.000000', currency: 'GBP', evidence: { recordIds: ['r1'], counts: {}, facts: {} }, eventsPartition: 0, eventsOffset: 1 };
    const oldType = avro.Type.forSchema(before as avro.Schema);
    const newType = avro.Type.forSchema(alertSchema as unknown as avro.Schema);
    const read = oldType.fromBuffer(codec.encode(alert), oldType.createResolver(newType)) as FraudAlert;
    expect(read.fraudType).toBe('OTHER');
    expect(read.rule).toBe('sms.pumping_sender');
    // The other way: an alert the previous version wrote reads unchanged now.
    const old = oldType.toBuffer({ ...alert, fraudType: 'IRSF' });
    expect((newType.fromBuffer(old, newType.createResolver(oldType)) as FraudAlert).fraudType).toBe('IRSF');
  });

  it('a DEVICE event round-trips; a reader without DEVICE refuses it (dead letter) instead of reading it as another group', () => {
    const codec = avroCodec<FraudEvent>('fraud-event.avsc');
    const ev = builder('sch', '447700900901').mo({ at: 0, other: '447700900444', group: 'DEVICE', key: '359000000000017' });
    expect(codec.decode(codec.encode(ev))).toMatchObject({ group: 'DEVICE', key: '359000000000017', imei: ev.imei });
    const groups = eventSchema.fields.find((f) => f.name === 'group')!.type.symbols!;
    expect(groups[groups.length - 1]).toBe('DEVICE');
    const beforeSchema = withSymbols(eventSchema, 'group', (s) => s !== 'DEVICE');
    // The service reads its topic with its own schema: the unknown group index is a decode fault (the
    // FRAUD_EVENT_UNREADABLE dead letter), and a schema resolution against the new writer is refused outright.
    const old = avroCodecOf<FraudEvent>(beforeSchema);
    expect(() => old.decode(codec.encode(ev))).toThrow(AvroDecodeError);
    expect(old.decode(codec.encode({ ...ev, group: 'LINE' })).group).toBe('LINE');
    const before = avro.Type.forSchema(beforeSchema as unknown as avro.Schema);
    expect(() => before.createResolver(avro.Type.forSchema(eventSchema as unknown as avro.Schema))).toThrow(/FraudEventGroup/);
  });
});
