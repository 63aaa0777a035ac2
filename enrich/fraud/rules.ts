/**
 * The rule book: thresholds as data (schemas/fraud/rules.json, or a file of the operator's), resolved per
 * account class and traffic-time band, and the rules themselves — each a pure function of an entity's
 * recent events. Money thresholds are exact (micro-units).
 */
import { readFileSync } from 'node:fs';
import type { EntityKind, FraudEvent, FraudType, Severity } from '../../schemas/index.js';
import { schemaPath } from '../../schemas/index.js';
import { parseMoney } from '../../schemas/reference.js';

export class RuleBookError extends Error {
  override name = 'RuleBookError';
}

export type Params = Record<string, number | string | boolean>;

interface RuleSpec extends Params {
  enabled: boolean;
  severity: string;
  windowMinutes: number;
}

export interface RuleBookFile {
  episodeGapMinutes: number;
  updateEveryMinutes: number;
  evidenceRecordIds: number;
  severity: { highExposure: string; criticalExposure: string };
  rules: Record<string, RuleSpec & { overrides?: (Params & { accountClass?: string; band?: string })[]; source?: string }>;
}

/** What a rule found in the window ending at the triggering event. */
export interface Finding {
  /** Seizure of the window's first contributing event (the episode start). */
  windowStart: number;
  counts: Record<string, number>;
  facts: Record<string, string>;
  /** Contributing events of the window (exposure, evidence). */
  events: FraudEvent[];
  /** Observed / threshold of the strongest trigger (>= 1 when firing). */
  strength: number;
  fraudType?: FraudType;
}

export interface Rule {
  id: string;
  group: FraudEvent['group'];
  fraudType: FraudType;
  entityKind: EntityKind;
  /** The entity named in the alert (the group key, or the IMSI for IMSI rules). */
  entity(ev: FraudEvent): string;
  /** Events that count towards the rule (and its exposure). */
  contributes(ev: FraudEvent, p: Params): boolean;
  /** Events that extend an open episode without triggering it (Wangiri callbacks). */
  extends?(ev: FraudEvent): boolean;
  /** Looks at the entity's events (oldest first, the trigger included) and decides. */
  evaluate(events: readonly FraudEvent[], ev: FraudEvent, p: Params): Finding | null;
  /** How far back the rule looks, ms (the state it needs). */
  retentionMs(p: Params): number;
}

const MIN = 60_000;
const num = (p: Params, k: string) => p[k] as number;
const money = (p: Params, k: string) => Number(parseMoney(String(p[k]), 6));
/**
 * The events with seizure in [now - ms, now] that satisfy pred, oldest first. The detector keeps an entity's
 * events ordered by seizure, so the window is found by binary search and only it is read.
 */
const inWindow = (events: readonly FraudEvent[], now: number, ms: number, pred: (e: FraudEvent) => boolean): FraudEvent[] => {
  const from = now - ms;
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.start < from) lo = mid + 1;
    else hi = mid;
  }
  const out: FraudEvent[] = [];
  for (let i = lo; i < events.length; i++) {
    const e = events[i]!;
    if (e.start > now) break;
    if (pred(e)) out.push(e);
  }
  return out;
};
const sum = (events: readonly FraudEvent[], f: (e: FraudEvent) => number) => events.reduce((a, e) => a + f(e), 0);
const minutes = (events: readonly FraudEvent[]) => sum(events, (e) => e.talkMs) / MIN;
const cost = (events: readonly FraudEvent[]) => sum(events, (e) => e.costMicros);
const distinct = (events: readonly FraudEvent[], f: (e: FraudEvent) => string | null) => new Set(events.map(f).filter((x) => x !== null)).size;
const fmtMin = (m: number) => m.toFixed(1);
const risky = (e: FraudEvent) => e.highRisk || e.otherCategory === 'premium';
const finding = (events: FraudEvent[], counts: Record<string, number>, facts: Record<string, string>, strength: number, fraudType?: FraudType): Finding => ({
  windowStart: events.reduce((m, e) => Math.min(m, e.start), Infinity),
  counts,
  facts,
  events,
  strength,
  ...(fraudType ? { fraudType } : {}),
});

function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 12_742 * Math.asin(Math.sqrt(a));
}

const imsiOf = (ev: FraudEvent) => ev.imsi ?? ev.msisdn;
/** A call the handset itself took part in: one it made (answered or not) or answered. */
const handsetCall = (e: FraudEvent) => e.kind === 'MO' || (e.kind === 'MT' && e.answered);
/** A record with the position of its cell. */
const located = (e: FraudEvent) => e.lat !== null && e.lon !== null;

/**
 * Forwarding graph (keying.ts `hop:` keys): a node — one of our lines, or a number calls are diverted to — holds
 * the forwarded legs out of it (served = the node) and into it (forwarded-to = the node). `hop:` + N is N.
 */
const nodeOf = (ev: FraudEvent) => ev.key.slice(4);
const isHop = (ev: FraudEvent) => ev.kind === 'FWD' && ev.key.startsWith('hop:');
/** A leg the node diverted (its own) / a leg another line diverted to the node. */
const outOf = (e: FraudEvent, node: string) => e.msisdn === node && e.other !== null && e.other !== node;
const into = (e: FraudEvent, node: string) => e.other === node && e.msisdn !== node;
/** One call diverted twice by our network: the leg into the middle hop and the middle hop's own leg onward. */
interface Relay {
  in: FraudEvent;
  out: FraudEvent;
}
/** Index of the first event seized at or after t (events are ordered by seizure). */
const firstFrom = (events: readonly FraudEvent[], t: number): number => {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.start < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};
/**
 * The calls relayed through `node` whose onward leg was seized in [from, to] (oldest first): a leg into the node
 * and the node's own leg seized at most pairMs after it, while the first is still up. A switch diverts at once
 * (CFU, CFB) and a B2BUA within its set-up time; what ties the two legs to one call is the number (the first
 * leg's forwarded-to number is the line that diverts the second) and the time, not the redirection counter or
 * the original called number, which a B2BUA resets (RFC 7332). Where the diversion history is intact, it must
 * agree: an onward leg naming another original called number than the first leg's (or its line) is another
 * call's. Of several legs into the node, the latest before the onward leg is its call's.
 */
function relaysAt(events: readonly FraudEvent[], node: string, from: number, to: number, pairMs: number): Relay[] {
  const out: Relay[] = [];
  for (let i = firstFrom(events, from); i < events.length && events[i]!.start <= to; i++) {
    const o = events[i]!;
    if (o.kind !== 'FWD' || !outOf(o, node)) continue;
    let best: FraudEvent | null = null;
    for (let j = firstFrom(events, o.start - pairMs); j < events.length && events[j]!.start <= o.start; j++) {
      const e = events[j]!;
      if (e === o || e.kind !== 'FWD' || !into(e, node) || e.end < o.start || e.msisdn === o.other) continue;
      if (o.originalCalled !== null && o.originalCalled !== node && o.originalCalled !== e.originalCalled && o.originalCalled !== e.msisdn) continue;
      best = e;
    }
    if (best) out.push({ in: best, out: o });
  }
  return out;
}
/** An onward leg that makes a relayed call a chain's: to a high-risk, premium or priced-like-IRSF number, or abroad. */
const onward = (e: FraudEvent) => risky(e) || e.international;
/** The calls one line upstream had relayed through the node, and whether the trigger is one of their legs. */
interface Relayed {
  relays: Relay[];
  calls: number;
  upstream: boolean;
}
/**
 * The chain through the trigger's node (forwarding.relay, forwarding.chain_target): the relayed calls of one line
 * upstream — the trigger's own line for a leg into the node, else the line with the most — whose onward leg
 * (seized up to pairSeconds after the trigger; `to`: to that number only) goes to a risky number, or merely
 * abroad while the node relays the calls of at most maxUpstreamLines lines (a hunt group's pilot relaying the
 * calls of many lines to an offshore centre is not a chain) and they carry abroadMinMinutes answered minutes.
 * The trigger's own call may not be complete yet — its other leg, released with it, may come next: a leg that
 * repeats those relays counts as one more call. Null when the trigger is no leg of the node's, its call is
 * known and does not count, or no relay counts.
 */
function relayedCalls(events: readonly FraudEvent[], ev: FraudEvent, p: Params, to: string | null): Relayed | null {
  const node = nodeOf(ev);
  const upstream = into(ev, node);
  if (!upstream && !outOf(ev, node)) return null;
  const pairMs = num(p, 'pairSeconds') * 1000;
  const found = relaysAt(events, node, ev.start - num(p, 'windowMinutes') * MIN, ev.start + pairMs, pairMs);
  let all = found.filter((r) => onward(r.out));
  if (!all.every((r) => risky(r.out)) && new Set(all.map((r) => r.in.msisdn)).size > num(p, 'maxUpstreamLines')) all = all.filter((r) => risky(r.out));
  if (to !== null) all = all.filter((r) => r.out.other === to);
  const mine = all.find((r) => r.in === ev || r.out === ev);
  const own = mine !== undefined;
  if (!own && found.some((r) => r.in === ev || r.out === ev)) return null;
  let relays: Relay[];
  if (upstream) relays = all.filter((r) => r.in.msisdn === ev.msisdn);
  else {
    const byLine = new Map<string, Relay[]>();
    for (const r of all) {
      const l = byLine.get(r.in.msisdn);
      if (l) l.push(r);
      else byLine.set(r.in.msisdn, [r]);
    }
    relays = mine ? byLine.get(mine.in.msisdn)! : [...byLine.values()].reduce<Relay[]>((m, l) => (l.length > m.length ? l : m), []);
    // (an onward leg not yet paired repeats them only if it goes where they went: risky, or abroad as they did)
    if (!own && !(risky(ev) || (ev.international && relays.some((r) => !risky(r.out))))) return null;
  }
  if (relays.length === 0) return null;
  // Calls relayed merely abroad are a chain's when they carry minutes (revenue-share pumping is answered
  // minutes): a family's calls relayed to a relative's mobile abroad are a few short ones a day. (A call's legs
  // share its answer and release: a leg not yet paired stands for its call's minutes.)
  if (!relays.every((r) => risky(r.out))) {
    const talk = relays.reduce((m, r) => m + r.out.talkMs, own ? 0 : ev.talkMs);
    if (talk < num(p, 'abroadMinMinutes') * MIN) return null;
  }
  return { relays, calls: relays.length + (own ? 0 : 1), upstream };
}

/** The most answered legs (oldest first) up at the same time. */
function mostAtOnce(legs: readonly FraudEvent[]): number {
  const ends: number[] = [];
  let most = 0;
  for (const e of legs) {
    if (!e.answered) continue;
    for (let i = ends.length - 1; i >= 0; i--) if (ends[i]! <= e.start) ends.splice(i, 1);
    ends.push(e.end);
    most = Math.max(most, ends.length);
  }
  return most;
}

export const RULES: Rule[] = [
  {
    id: 'forwarding.high_risk_spike',
    group: 'LINE',
    fraudType: 'FORWARDING',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    contributes: (ev) => ev.kind === 'FWD' && (ev.international || risky(ev)),
    retentionMs: (p) => Math.max(num(p, 'windowMinutes'), num(p, 'slowWindowMinutes'), num(p, 'lookbackMinutes')) * MIN,
    evaluate(events, ev, p) {
      const windowMs = num(p, 'windowMinutes') * MIN;
      const w = inWindow(events, ev.start, windowMs, (e) => e.kind === 'FWD' && (e.international || risky(e)));
      // An established forward — legs to the same number already more than establishedAfterMinutes before
      // (an expat's, a second home's) — is the subscriber's profile, not a hijack (forwarding
      // "where subscribers do not typically forward"): its legs fire the volume trigger only beyond what one
      // person can talk (establishedMinMinutes in the window, i.e. several legs at once). High-risk and
      // premium legs always count.
      const before = ev.start - num(p, 'establishedAfterMinutes') * MIN;
      const since = ev.start - num(p, 'lookbackMinutes') * MIN;
      const known = new Set<string>();
      for (const e of events) {
        if (e.start >= before) break;
        if (e.start >= since && e.kind === 'FWD' && e.other !== null && (e.international || risky(e))) known.add(e.other);
      }
      const fresh = known.size === 0 ? w : w.filter((e) => e.other === null || !known.has(e.other));
      // High-risk legs count when they go to a number the line was not already forwarding to: an expat's own
      // mobile in a hot-listed country is established (it needs the volume one person cannot talk, below).
      const hrLegs = fresh.filter(risky);
      const hr = hrLegs.length;
      // ...and when they look like pumping (ClearIP, Flowroute: many callers' long legs at once or back to back,
      // right after the forward is set) rather than a line seen forwarding for the first time — the detector's
      // cold start, or a forward older than lookbackMinutes — to its owner's mobile in a hot-listed country,
      // which carries his callers' calls one at a time, of ordinary length:
      // highRiskMinConcurrent answered legs up at once, legs to more than one such number (a forward
      // re-pointed), or highRiskMinMinutes answered minutes.
      const hrPumping = hr >= num(p, 'minLegsHighRisk') && (distinct(hrLegs, (e) => e.other) >= 2 || minutes(hrLegs) >= num(p, 'highRiskMinMinutes') || mostAtOnce(hrLegs) >= num(p, 'highRiskMinConcurrent'));
      const m = minutes(w);
      const mFresh = fresh === w ? m : minutes(fresh);
      const byVolume = fresh.length >= num(p, 'minLegs') && mFresh >= num(p, 'minMinutes');
      const byEstablished = w.length >= num(p, 'minLegs') && m >= num(p, 'establishedMinMinutes');
      if (!(hrPumping || byVolume || byEstablished)) {
        // Slow pumping (ClearIP "Slow Traffic Pumping", 60 min and more): one or two legs at a time for hours
        // to numbers the line was not forwarding to, priced like a costly range. The rated cost tells it from
        // an expat's own mobile abroad, whose day of forwarded calls costs a fraction of it.
        const slowMs = num(p, 'slowWindowMinutes') * MIN;
        const slow = inWindow(events, ev.start, slowMs, (e) => e.kind === 'FWD' && (e.international || risky(e)) && (e.other === null || !known.has(e.other)));
        const mSlow = minutes(slow);
        const cSlow = cost(slow);
        if (slow.length < num(p, 'slowMinLegs') || mSlow < num(p, 'slowMinMinutes') || cSlow < money(p, 'slowMinCost')) return null;
        return finding(slow, { legs: slow.length, highRiskLegs: slow.filter(risky).length, forwardedMinutesX10: Math.round(mSlow * 10), destinations: distinct(slow, (e) => e.other), establishedLegs: 0 }, { forwardedTo: [...new Set(slow.map((e) => e.other ?? '?'))].slice(0, 5).join(','), forwardedMinutes: fmtMin(mSlow), windowMinutes: String(p.slowWindowMinutes), trigger: 'slow' }, Math.min(slow.length / num(p, 'slowMinLegs'), mSlow / num(p, 'slowMinMinutes'), cSlow / money(p, 'slowMinCost')));
      }
      const s = Math.max(hrPumping ? hr / num(p, 'minLegsHighRisk') : 0, Math.min(fresh.length / num(p, 'minLegs'), mFresh / num(p, 'minMinutes')), Math.min(w.length / num(p, 'minLegs'), m / num(p, 'establishedMinMinutes')));
      return finding(w, { legs: w.length, highRiskLegs: hr, forwardedMinutesX10: Math.round(m * 10), destinations: distinct(w, (e) => e.other), establishedLegs: w.length - fresh.length }, { forwardedTo: [...new Set(w.map((e) => e.other ?? '?'))].slice(0, 5).join(','), forwardedMinutes: fmtMin(m), windowMinutes: String(p.windowMinutes) }, s);
    },
  },
  {
    id: 'forwarding.chain',
    group: 'CHAIN',
    fraudType: 'FORWARDING',
    entityKind: 'MSISDN',
    entity: (ev) => ev.originalCalled ?? ev.msisdn,
    // (not the legs keyed by diverting line: forwarding.loop's)
    contributes: (ev, p) => ev.kind === 'FWD' && (ev.redirectionCounter >= num(p, 'minCounter') || ev.cause === 25) && !ev.key.startsWith('hop:'),
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'FWD' && (e.redirectionCounter >= num(p, 'minCounter') || e.cause === 25));
      if (w.length < num(p, 'minCalls')) return null;
      const loops = w.filter((e) => e.cause === 25).length;
      const maxCounter = w.reduce((m, e) => Math.max(m, e.redirectionCounter), 0);
      return finding(w, { calls: w.length, loops, maxCounter, members: distinct(w, (e) => e.msisdn) }, { members: [...new Set(w.map((e) => e.msisdn))].slice(0, 10).join(','), loop: String(loops > 0) }, Math.max(1, maxCounter / num(p, 'minCounter')));
    },
  },
  {
    id: 'forwarding.self_call',
    group: 'LINE',
    fraudType: 'FORWARDING',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    contributes: (ev) => (ev.kind === 'MO' && ev.other === ev.msisdn) || (ev.kind === 'FWD' && ev.otherCategory !== 'voicemail'),
    // (voicemail legs are kept in the window by the group's retention: they clear a self-call)
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const ms = num(p, 'windowMinutes') * MIN;
      const pairMs = num(p, 'pairSeconds') * 1000;
      const w = inWindow(events, ev.start, ms, (e) => e.kind === 'MO' && e.other === e.msisdn);
      if (w.length === 0) return null;
      // Each self-call's own forwarded leg: a FWD record seized within pairSeconds after it.
      const fwd = events.filter((e) => e.kind === 'FWD' && e.start >= ev.start - ms && e.start <= ev.start + pairMs);
      const paired: FraudEvent[] = [];
      const targets = new Set<string>();
      const suspect: FraudEvent[] = [];
      const unrecorded: FraudEvent[] = [];
      let riskyLegs = 0;
      // (both in seizure order: one pass)
      let j = 0;
      for (const s of w) {
        while (j < fwd.length && fwd[j]!.start < s.start) j++;
        let leg: FraudEvent | undefined;
        let voicemail = false;
        for (let i = j; i < fwd.length && fwd[i]!.start - s.start <= pairMs; i++) {
          const f = fwd[i]!;
          if (f.other === f.msisdn) continue;
          if (f.otherCategory === 'voicemail') voicemail = true;
          else leg ??= f;
        }
        // Diverted to voicemail: a customer reaching their mailbox by calling their own number.
        if (voicemail) continue;
        if (leg) {
          paired.push(leg);
          suspect.push(s);
          targets.add(leg.other ?? '?');
          if (risky(leg)) riskyLegs++;
        } else if (s.answered) {
          // Answered, and no leg recorded: who answered? The cover-up with only partial CDRs (reference §5.2
          // S2 evasive). Unanswered self-calls (busy: a line without voicemail) are not it, which connects.
          unrecorded.push(s);
          suspect.push(s);
        }
      }
      // What makes "A calls A" the SIM-box cover-up rather than a customer testing their own forward
      // (FraudBuster; cf_self): the box re-points the forward to each bypassed call's real B-number, so its
      // self-calls go to several numbers (a subscriber's self-call always meets the one CFB/CFU target: the
      // line is busy with the call itself), or to a high-cost number (hot-listed, premium, priced like IRSF);
      // without the legs (partial CDRs) it calls back to back, at a machine's pace; and it talks hundreds of
      // minutes a day where a person's self-calls take a few.
      const minFwd = num(p, 'minForwardedCalls');
      const byTargets = paired.length >= minFwd && (targets.size >= num(p, 'minTargets') || riskyLegs > 0);
      const runMs = num(p, 'runMinutes') * MIN;
      const k = num(p, 'minCalls');
      let byRun = false;
      for (let i = k - 1; i < unrecorded.length && !byRun; i++) byRun = unrecorded[i]!.start - unrecorded[i - k + 1]!.start <= runMs;
      const m = minutes(suspect);
      const byMinutes = suspect.length >= k && m >= num(p, 'minMinutes');
      if (!byTargets && !byRun && !byMinutes) return null;
      const trigger = byTargets ? (riskyLegs > 0 && targets.size < num(p, 'minTargets') ? 'high-cost' : 'targets') : byRun ? 'back-to-back' : 'minutes';
      return finding(
        [...w, ...paired].sort((a, b) => a.start - b.start),
        { selfCalls: w.length, forwardedSelfCalls: paired.length, forwardedLegs: fwd.length, targets: targets.size, riskyLegs, unrecorded: unrecorded.length, minutesX10: Math.round(minutes(w) * 10) },
        { forwardedTo: [...new Set(fwd.map((e) => e.other ?? '?'))].slice(0, 5).join(','), trigger },
        Math.max(byTargets ? Math.max(1, paired.length / minFwd) : 0, byRun ? unrecorded.length / k : 0, byMinutes ? m / num(p, 'minMinutes') : 0),
      );
    },
  },
  {
    id: 'forwarding.shared_destination',
    group: 'DEST',
    fraudType: 'FORWARDING',
    entityKind: 'NUMBER',
    entity: (ev) => ev.other ?? '',
    contributes: (ev) => ev.kind === 'FWD',
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'FWD');
      const lines = distinct(w, (e) => e.msisdn);
      if (lines < num(p, 'minLines')) return null;
      return finding(w, { lines, legs: w.length, minutesX10: Math.round(minutes(w) * 10) }, { lines: [...new Set(w.map((e) => e.msisdn))].slice(0, 10).join(',') }, lines / num(p, 'minLines'));
    },
  },
  {
    id: 'wangiri.burst',
    group: 'RANGE',
    fraudType: 'WANGIRI',
    entityKind: 'RANGE',
    entity: (ev) => ev.range ?? '',
    contributes: (ev, p) => ev.kind === 'MT' && !ev.answered && ev.end - ev.start <= num(p, 'maxRingSeconds') * 1000,
    extends: (ev) => ev.kind === 'MO',
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const ms = num(p, 'windowMinutes') * MIN;
      const mt = inWindow(events, ev.start, ms, (e) => e.kind === 'MT');
      const short = mt.filter((e) => !e.answered && e.end - e.start <= num(p, 'maxRingSeconds') * 1000);
      const targets = distinct(short, (e) => e.msisdn);
      if (targets < num(p, 'minTargets') || short.length < num(p, 'minShortShare') * mt.length) return null;
      return finding(short, { targets, shortCalls: short.length, inboundCalls: mt.length, callingNumbers: distinct(short, (e) => e.other) }, { callingNumbers: [...new Set(short.map((e) => e.other ?? '?'))].slice(0, 10).join(','), country: short[0]?.otherCountry ?? '' }, targets / num(p, 'minTargets'));
    },
  },
  {
    id: 'irsf.high_risk',
    group: 'LINE',
    fraudType: 'IRSF',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    contributes: (ev) => ev.kind === 'MO' && risky(ev),
    retentionMs: (p) => Math.max(num(p, 'windowMinutes'), num(p, 'testWindowMinutes')) * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'MO' && risky(e));
      const answered = w.filter((e) => e.answered);
      const m = minutes(answered);
      const c = cost(w);
      const tests = inWindow(events, ev.start, num(p, 'testWindowMinutes') * MIN, (e) => e.kind === 'MO' && risky(e) && e.answered && e.talkMs <= num(p, 'maxTestSeconds') * 1000);
      const young = ev.lineAgeDays >= 0 && ev.lineAgeDays <= num(p, 'youngLineDays');
      const minTests = young ? num(p, 'minTestsYoungLine') : num(p, 'minTestsOldLine');
      const byTests = tests.length >= minTests;
      const byVolume = answered.length >= num(p, 'minCalls') && m >= num(p, 'minMinutes');
      const byCost = c >= money(p, 'minCost') && answered.length >= num(p, 'costMinCalls');
      if (!byTests && !byVolume && !byCost) return null;
      const domesticPremium = w.every((e) => e.otherCategory === 'premium' && !e.international);
      const trigger = [byTests ? 'test-calls' : '', byVolume ? 'volume' : '', byCost ? 'cost' : ''].filter(Boolean).join('+');
      return finding(w, { calls: w.length, answered: answered.length, testCalls: tests.length, minutesX10: Math.round(m * 10) }, { trigger, destinations: [...new Set(w.map((e) => e.range ?? e.other ?? '?'))].slice(0, 5).join(','), lineAgeDays: String(ev.lineAgeDays) }, Math.max(tests.length / minTests, Math.min(answered.length / num(p, 'minCalls'), m / num(p, 'minMinutes')), c / money(p, 'minCost')), domesticPremium ? 'PREMIUM_RATE' : 'IRSF');
    },
  },
  {
    id: 'irsf.destination_spike',
    group: 'LINE',
    fraudType: 'IRSF',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    // Risk from what the pipeline knows when no list names the range (GSMA: destinations are dynamic): every
    // call is rated, so sustained answered minutes and rated cost to ONE foreign country that departs from the
    // line's own recent history are IRSF-like whatever the price per minute (ClearIP fast and slow traffic
    // pumping per destination country; PollCat LONG_INTL counts long international calls; Cahill et al.:
    // "calls that look like fraud for one account look like expected behavior for another"). Two windows:
    // a burst (windowMinutes) and a slow campaign (slowWindowMinutes). Family calls and an expat's calls home
    // are one or two long calls, or a country the line already talks to (the look-back), and stay quiet.
    contributes: (ev) => ev.kind === 'MO' && ev.answered && ev.international && ev.otherCountry !== null,
    retentionMs: (p) => Math.max(num(p, 'windowMinutes'), num(p, 'slowWindowMinutes'), num(p, 'lookbackMinutes')) * MIN,
    evaluate(events, ev, p) {
      const country = ev.otherCountry;
      const to = (e: FraudEvent) => e.kind === 'MO' && e.answered && e.international && e.otherCountry === country;
      // Minutes of long calls only (PollCat LONG_INTL): a call centre or telesales agent makes many short
      // calls to one country, revenue-share pumping keeps each call up.
      const longMs = num(p, 'longCallMinutes') * MIN;
      const tryWindow = (windowMinutes: number, minCalls: number, minMinutes: number, minCost: number) => {
        const w = inWindow(events, ev.start, windowMinutes * MIN, to);
        if (w.length < minCalls) return null;
        const m = sum(w, (e) => (e.talkMs >= longMs ? e.talkMs : 0)) / MIN;
        const c = cost(w);
        if (m < minMinutes || c < minCost) return null;
        return { w, m, c, windowMinutes, strength: Math.min(w.length / minCalls, m / minMinutes, c / minCost) };
      };
      const hit = tryWindow(num(p, 'windowMinutes'), num(p, 'minCalls'), num(p, 'minMinutes'), money(p, 'minCost')) ?? tryWindow(num(p, 'slowWindowMinutes'), num(p, 'slowMinCalls'), num(p, 'slowMinMinutes'), money(p, 'slowMinCost'));
      if (!hit) return null;
      // The line's own baseline: minutes to that country in the look-back before the window. A country it
      // already talks to this much (an expat's family, a business partner) is its profile, not a new range.
      const from = ev.start - num(p, 'lookbackMinutes') * MIN;
      const windowFrom = ev.start - hit.windowMinutes * MIN;
      let beforeMs = 0;
      for (const e of events) {
        if (e.start >= windowFrom) break;
        if (e.start >= from && to(e)) beforeMs += e.talkMs;
      }
      if (beforeMs / MIN > num(p, 'maxHistoryShare') * hit.m) return null;
      const roaming = hit.w.every((e) => e.roaming);
      return finding(
        hit.w,
        { calls: hit.w.length, numbers: distinct(hit.w, (e) => e.other), minutesX10: Math.round(hit.m * 10), historyMinutesX10: Math.round((beforeMs / MIN) * 10) },
        { country: country ?? '', cost: (hit.c / 1e6).toFixed(2), windowMinutes: String(hit.windowMinutes), destinations: [...new Set(hit.w.map((e) => e.range ?? e.other ?? '?'))].slice(0, 5).join(','), ...(roaming ? { visitedPlmn: ev.visitedPlmn ?? '' } : {}) },
        hit.strength,
        roaming ? 'ROAMING' : 'IRSF',
      );
    },
  },
  {
    id: 'pbx.destination_spike',
    group: 'ACCOUNT',
    fraudType: 'PBX_HACKING',
    entityKind: 'ACCOUNT',
    entity: (ev) => ev.accountId ?? '',
    // A hacked PBX at any hour, also during business hours mixed with its normal traffic: many of its lines
    // calling ONE foreign country at once, a country the account did not call so in its own recent history
    // (PollCat/Variphy: calls to destinations the PBX never uses; OpenSIPS: concurrent calls per user and
    // prefix; AT&T DEFINITY: "calls to unusual international destinations"). Calls at once stand for the
    // extensions (a trunk written with its pilot as served party is one "line"; a person holds one call).
    contributes: (ev) => ev.kind === 'MO' && ev.international && ev.otherCountry !== null,
    retentionMs: (p) => Math.max(num(p, 'windowMinutes'), num(p, 'lookbackMinutes')) * MIN,
    evaluate(events, ev, p) {
      const country = ev.otherCountry;
      const to = (e: FraudEvent) => e.kind === 'MO' && e.international && e.otherCountry === country;
      const windowMs = num(p, 'windowMinutes') * MIN;
      const w = inWindow(events, ev.start, windowMs, to);
      if (w.length < num(p, 'minCalls')) return null;
      const lines = distinct(w, (e) => e.msisdn);
      let concurrent = 0;
      for (const e of w) {
        let n = 0;
        for (const o of w) if (o.start <= e.start && o.end > e.start) n++;
        if (n > concurrent) concurrent = n;
      }
      // Calls at once, whatever the lines: a trunk written with its pilot as served party is one "line".
      if (concurrent < num(p, 'minConcurrent')) return null;
      // The account's own baseline: its calls to that country in the look-back before the window.
      const from = ev.start - num(p, 'lookbackMinutes') * MIN;
      let before = 0;
      for (const e of events) {
        if (e.start >= ev.start - windowMs) break;
        if (e.start >= from && to(e)) before++;
      }
      if (before > num(p, 'maxHistoryShare') * w.length) return null;
      return finding(
        w,
        { calls: w.length, lines, concurrent, historyCalls: before, minutesX10: Math.round(minutes(w) * 10) },
        { country: country ?? '', destinations: [...new Set(w.map((e) => e.range ?? e.other ?? '?'))].slice(0, 5).join(','), band: ev.band, businessHours: ev.businessHours === 1 ? 'open' : ev.businessHours === 2 ? 'closed' : 'unknown' },
        Math.min(w.length / num(p, 'minCalls'), concurrent / num(p, 'minConcurrent')),
      );
    },
  },
  {
    id: 'pbx.probing',
    group: 'LINE',
    fraudType: 'PBX_HACKING',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    // The step before PBX toll fraud: PIN guessing through the voicemail or DISA of a line, many short answered
    // calls from ONE number (AT&T DEFINITY guidance: "short holding times", "many ineffective attempts",
    // "numerous calls to the same number"; pbxdom: voicemail/DISA through-dialling with default PINs). An alert
    // on the probed number warns before the out-of-hours calls start; people who call back after a dropped
    // call do it a few times, not minCalls times in windowMinutes.
    contributes: (ev, p) => ev.kind === 'MT' && ev.answered && ev.other !== null && ev.talkMs <= num(p, 'maxSeconds') * 1000,
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const caller = ev.other;
      const fromCaller = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'MT' && e.other === caller);
      const short = fromCaller.filter((e) => e.answered && e.talkMs <= num(p, 'maxSeconds') * 1000);
      if (short.length < num(p, 'minCalls') || short.length < num(p, 'minShortShare') * fromCaller.length) return null;
      return finding(short, { calls: short.length, fromCaller: fromCaller.length, talkSecondsX10: Math.round(sum(short, (e) => e.talkMs) / 100) }, { caller: caller ?? '', account: ev.accountId ?? '', accountClass: ev.accountClass ?? '' }, short.length / num(p, 'minCalls'));
    },
  },
  {
    id: 'simbox.profile',
    group: 'LINE',
    fraudType: 'SIM_BOX',
    entityKind: 'IMSI',
    entity: imsiOf,
    contributes: (ev, p) => ev.kind === 'MO' && ev.cellId !== null && ev.lineAgeDays >= 0 && ev.lineAgeDays <= num(p, 'maxLineAgeDays'),
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, () => true);
      const out = w.filter((e) => e.kind === 'MO');
      if (out.length < num(p, 'minCalls')) return null;
      const incoming = w.filter((e) => e.kind === 'MT').length;
      const smsData = w.filter((e) => e.kind === 'SMS' || e.kind === 'DATA').length;
      const callees = distinct(out, (e) => e.other);
      const cells = distinct(w, (e) => (e.cellId === null ? null : String(e.cellId)));
      if (incoming * num(p, 'minOutInRatio') > out.length || smsData > num(p, 'maxSmsData') || callees < num(p, 'minDistinctShare') * out.length || cells > num(p, 'maxCells')) return null;
      return finding(out, { outgoing: out.length, incoming, smsData, distinctCallees: callees, cells }, { msisdn: ev.msisdn, imei: ev.imei ?? '', cell: String(ev.cellId ?? '') }, out.length / num(p, 'minCalls'));
    },
  },
  {
    id: 'simbox.behaviour',
    group: 'LINE',
    fraudType: 'SIM_BOX',
    entityKind: 'IMSI',
    entity: imsiOf,
    // Calling patterns a box keeps when it mimics a person (some incoming calls, SMS and data) or moves
    // along cells: dialling back-to-back at a machine's regular pace, almost only numbers the SIM never
    // called or heard from, and far more minutes out than in (Kouam et al. survey; HAUD B-party diversity;
    // VoltDB OUTGOING_INCOMING_RATIO on minutes rather than counts). Counts, cells, SMS and data are not
    // required: a box simulating a human adds exactly those.
    contributes: (ev, p) => ev.kind === 'MO' && ev.cellId !== null && !ev.roaming && ev.lineAgeDays >= 0 && ev.lineAgeDays <= num(p, 'maxLineAgeDays'),
    retentionMs: (p) => Math.max(num(p, 'windowMinutes'), num(p, 'shortWindowMinutes')) * MIN,
    evaluate(events, ev, p) {
      const mo = (e: FraudEvent) => e.kind === 'MO' && e.cellId !== null;
      // Two windows: minutes for a box that starts dialling (short), hours for one that paces itself.
      const short = inWindow(events, ev.start, num(p, 'shortWindowMinutes') * MIN, mo);
      const byShort = short.length >= num(p, 'shortMinCalls');
      const long = byShort ? null : inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, mo);
      if (!byShort && long!.length < num(p, 'minCalls')) return null;
      const out = byShort ? short : long!;
      const from = out[0]!.start;
      // Idle gaps between consecutive calls (release to next seizure) within a session: a dialler's are short
      // and alike, a person's (and a telesales agent's) spread over orders of magnitude (Weibull shape < 1,
      // power law). Regularity = the share of gaps within +-50% of their median: ~0.35 for exponential gaps,
      // less for heavier tails, ~1 for a dialler's pace. (A share, not a spread: a long call keyed on its
      // first partial record, or an interleaved human-looking record, only removes a few gaps from the band.)
      const gaps: number[] = [];
      for (let i = 1; i < out.length; i++) {
        const g = out[i]!.start - out[i - 1]!.end;
        if (g >= 0 && g <= num(p, 'sessionGapMinutes') * MIN) gaps.push(g);
      }
      if (gaps.length < 0.5 * (out.length - 1)) return null;
      gaps.sort((a, b) => a - b);
      const median = gaps[gaps.length >> 1]!;
      let inBand = 0;
      for (const g of gaps) if (g >= 0.5 * median && g <= 1.5 * median) inBand++;
      const regular = inBand / (out.length - 1);
      if (median > num(p, 'maxMedianGapSeconds') * 1000 || regular < num(p, 'minRegularShare')) return null;
      // Fresh callees: numbers this SIM never called nor heard from before the call (within the line's
      // history); minutes out against minutes in over the same window.
      const windowFrom = ev.start - (byShort ? num(p, 'shortWindowMinutes') : num(p, 'windowMinutes')) * MIN;
      const known = new Set<string>();
      let inMs = 0;
      let outMs = 0;
      let fresh = 0;
      for (const e of events) {
        if (e.start > ev.start) break;
        if (e.start >= from && mo(e)) {
          outMs += e.talkMs;
          if (e.other !== null && !known.has(e.other)) fresh++;
        } else if (e.kind === 'MT' && e.start >= windowFrom) inMs += e.talkMs;
        if (e.other !== null && (e.kind === 'MO' || e.kind === 'MT' || e.kind === 'SMS')) known.add(e.other);
      }
      const freshShare = fresh / out.length;
      if (freshShare < num(p, 'minFreshShare') || outMs < num(p, 'minOutInMinutesRatio') * inMs || outMs < num(p, 'minOutMinutes') * MIN) return null;
      const cells = distinct(out, (e) => String(e.cellId));
      const imeis = distinct(out, (e) => e.imei);
      return finding(
        out,
        { outgoing: out.length, freshPct: Math.round(freshShare * 100), outMinutesX10: Math.round(outMs / 6000), inMinutesX10: Math.round(inMs / 6000), medianGapSeconds: Math.round(median / 1000), regularPct: Math.round(regular * 100), cells, imeis },
        { msisdn: ev.msisdn, imei: ev.imei ?? '', trigger: byShort ? 'short-window' : 'window', windowMinutes: String(byShort ? p.shortWindowMinutes : p.windowMinutes) },
        byShort ? short.length / num(p, 'shortMinCalls') : out.length / num(p, 'minCalls'),
      );
    },
  },
  {
    id: 'simbox.device',
    group: 'DEVICE',
    fraudType: 'SIM_BOX',
    entityKind: 'IMSI',
    entity: imsiOf,
    // Several SIMs arriving on one handset (IMEI) within days, new SIMs among them: the modules of a SIM box
    // that rotates its SIMs (HAUD "IMSI/IMEI ratios"; fastcdrgen's SIMBOX profile, many MSISDN per IMEI).
    // A dual-SIM phone or a family sharing a handset shows 2 SIMs, old ones; a repaired phone's IMEI its
    // owner's SIM and the workshop's.
    contributes: (ev) => !ev.key.startsWith('imsi:'),
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, () => true);
      const sims = new Map<string, FraudEvent>();
      for (const e of w) if (!sims.has(imsiOf(e))) sims.set(imsiOf(e), e);
      if (sims.size < num(p, 'minImsis')) return null;
      let young = 0;
      for (const e of sims.values()) if (e.lineAgeDays >= 0 && e.lineAgeDays <= num(p, 'maxLineAgeDays')) young++;
      if (young < num(p, 'minYoungImsis')) return null;
      return finding(w, { imsis: sims.size, youngImsis: young, arrivals: w.length }, { imei: ev.key, msisdns: [...new Set(w.map((e) => e.msisdn))].slice(0, 10).join(',') }, sims.size / num(p, 'minImsis'));
    },
  },
  {
    id: 'simbox.rotation',
    group: 'DEVICE',
    fraudType: 'SIM_BOX',
    entityKind: 'IMSI',
    entity: imsiOf,
    // A new SIM moving through several handsets within days: a box rotating its SIMs over its modules
    // ("SIM rotation across IMEIs", §5.2 S6 evasive (c)). A phone swap, a repair loaner and back, or a
    // traveller's second phone make 2 handsets; an old line is not judged (maxLineAgeDays).
    contributes: (ev, p) => ev.key.startsWith('imsi:') && ev.lineAgeDays >= 0 && ev.lineAgeDays <= num(p, 'maxLineAgeDays'),
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, () => true);
      const imeis = distinct(w, (e) => e.imei);
      if (imeis < num(p, 'minImeis')) return null;
      return finding(w, { imeis, arrivals: w.length, lineAgeDays: ev.lineAgeDays }, { msisdn: ev.msisdn, imeis: [...new Set(w.map((e) => e.imei ?? '?'))].slice(0, 10).join(',') }, imeis / num(p, 'minImeis'));
    },
  },
  {
    id: 'forwarding.loop',
    group: 'CHAIN',
    fraudType: 'FORWARDING',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    // A loop passes the same call through the same line again and again: the line's forwarded legs to one
    // number pile up, each seized while the previous is still up (they all belong to one call, released
    // together), whatever the redirection counter says — a B2BUA that resets it (RFC 7332; FreeSWITCH
    // max_forwards) or strips the diversion history hides the loop from forwarding.chain, not from the
    // repeated numbers. Keyed by the diverting line (keying.ts `hop:`), so every line of a loop, on-net middle
    // hops included, is flagged by its own legs, once per episode. (Only at the line's own node: the same legs
    // keyed at the node they go to are forwarding.relay's and forwarding.chain_target's.)
    contributes: (ev) => isHop(ev) && ev.key.length === ev.msisdn.length + 4 && ev.key.endsWith(ev.msisdn),
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      if (ev.other === null) return null;
      // The legs to the same number seized within the window and still up when the trigger was seized: the
      // call came back (a redial's legs ended before; another caller's call to a busy target ends at once).
      const up = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'FWD' && e.other === ev.other && e.end > ev.start);
      if (up.length < num(p, 'minRepeats')) return null;
      // The rounds of one looping call follow each other within seconds (a hop is a switch's set-up time);
      // independent calls that happen to overlap arrive minutes apart: the run of legs ending at the trigger
      // with consecutive seizures at most maxHopGapSeconds apart.
      let first = up.length - 1;
      while (first > 0 && up[first]!.start - up[first - 1]!.start <= num(p, 'maxHopGapSeconds') * 1000) first--;
      const legs = up.slice(first);
      if (legs.length < num(p, 'minRepeats')) return null;
      const span = legs[legs.length - 1]!.start - legs[0]!.start;
      return finding(legs, { legs: legs.length, spanMs: span, maxCounter: legs.reduce((m, e) => Math.max(m, e.redirectionCounter), 0) }, { loop: 'true', forwardedTo: ev.other }, legs.length / num(p, 'minRepeats'));
    },
  },
  {
    id: 'forwarding.relay',
    group: 'CHAIN',
    fraudType: 'FORWARDING',
    entityKind: 'MSISDN',
    // Chains through on-net middle hops (reference §2.1 cf_chain), found by the numbers, not the redirection
    // counter: at a middle hop's node (keying.ts `hop:`) the calls it relays — a leg into it and its own leg
    // onward seized seconds later — to a high-risk, premium or priced-like-IRSF number. The line named is the
    // one that diverted the trigger leg: the middle hop by its legs onward, each line upstream by its legs into
    // it, so every diverting line is flagged by its own legs (the head of a chain with more than one on-net
    // middle hop only when the diversion history is intact: forwarding.chain).
    entity: (ev) => ev.msisdn,
    contributes: (ev) => isHop(ev),
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const r = relayedCalls(events, ev, p, null);
      if (!r || r.calls < num(p, 'minCalls')) return null;
      // The line's own legs: into the node (a line upstream), or onward (the middle hop).
      const legs = r.relays.map((x) => (r.upstream ? x.in : x.out));
      if (!legs.includes(ev as FraudEvent)) legs.push(ev);
      const onwardLegs = r.relays.map((x) => x.out);
      return finding(legs, { calls: r.calls, minutesX10: Math.round(minutes(onwardLegs) * 10), targets: distinct(onwardLegs, (e) => e.other) }, { via: nodeOf(ev), role: r.upstream ? 'upstream' : 'middle hop', upstream: r.relays[0]!.in.msisdn, forwardedTo: [...new Set(onwardLegs.map((e) => e.other ?? '?'))].slice(0, 5).join(',') }, r.calls / num(p, 'minCalls'));
    },
  },
  {
    id: 'forwarding.chain_target',
    group: 'CHAIN',
    fraudType: 'FORWARDING',
    entityKind: 'NUMBER',
    // The number a chain or a loop ends at (the forwarded-to number of the trigger leg): the target of the calls
    // a middle hop relays (as forwarding.relay, at the middle hop's node), or the far end of a loop — the
    // legs of one call into the number from our lines, round after round (a line repeats), released together
    // (an off-net B2BUA that presents each call it receives as a new call to another of our lines, RFC 7332).
    // Many lines forwarding their own calls to one number (a hunt group, a call centre) repeat no line within
    // a call and end at different times.
    entity: (ev) => ev.other ?? '',
    contributes: (ev) => isHop(ev) && ev.other !== null && ev.other !== ev.msisdn,
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const node = nodeOf(ev);
      if (outOf(ev, node)) {
        const r = relayedCalls(events, ev, p, ev.other);
        if (!r || r.calls < num(p, 'minCalls')) return null;
        const legs = r.relays.map((x) => x.out);
        if (!legs.includes(ev as FraudEvent)) legs.push(ev);
        return finding(legs, { calls: r.calls, minutesX10: Math.round(minutes(legs) * 10) }, { via: node, trigger: 'relay', upstream: r.relays[0]!.in.msisdn }, r.calls / num(p, 'minCalls'));
      }
      if (!into(ev, node)) return null;
      // A loop's far end: the legs of the trigger's call into the node (seized around it, released with it).
      const gapMs = num(p, 'maxHopGapSeconds') * 1000;
      const relMs = num(p, 'releaseSeconds') * 1000;
      const spanMs = num(p, 'loopWindowMinutes') * MIN;
      const call: FraudEvent[] = [];
      for (let i = firstFrom(events, ev.start - spanMs); i < events.length && events[i]!.start <= ev.start + spanMs; i++) {
        const e = events[i]!;
        if (e.kind === 'FWD' && Math.abs(e.end - ev.end) <= relMs && (into(e, node) || e.msisdn === node)) call.push(e);
      }
      const k = call.indexOf(ev);
      if (k < 0) return null; // (the trigger is older than a closed episode: the rule does not see it)
      let a = k;
      let b = k;
      while (a > 0 && call[a]!.start - call[a - 1]!.start <= gapMs) a--;
      while (b < call.length - 1 && call[b + 1]!.start - call[b]!.start <= gapMs) b++;
      const run = call.slice(a, b + 1);
      // (the node diverting within the run: a ping-pong between our own lines, forwarding.chain's and .loop's)
      if (run.length < num(p, 'minRepeats') || run.some((e) => e.msisdn === node)) return null;
      // Several of our lines, each diverting the call at least twice on average (it came back): one line's
      // concurrent calls to the number (a hijack, forwarding.high_risk_spike and .loop), or a burst of
      // different lines' calls (a call centre), are not a loop's far end.
      const lines = distinct(run, (e) => e.msisdn);
      if (lines < 2 || run.length < 2 * lines) return null;
      return finding(run, { legs: run.length, lines, spanMs: run[run.length - 1]!.start - run[0]!.start }, { loop: 'true', trigger: 'loop', lines: [...new Set(run.map((e) => e.msisdn))].slice(0, 10).join(',') }, run.length / num(p, 'minRepeats'));
    },
  },
  {
    id: 'pbx.out_of_hours',
    group: 'ACCOUNT',
    fraudType: 'PBX_HACKING',
    entityKind: 'ACCOUNT',
    entity: (ev) => ev.accountId ?? '',
    contributes: (ev) => ev.kind === 'MO' && ev.businessHours === 2,
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'MO' && e.businessHours === 2);
      if (w.length < num(p, 'minCalls')) return null;
      const lines = distinct(w, (e) => e.msisdn);
      // A trunk whose switch writes the pilot number as served party shows one "line": the calls it carries
      // at once stand for the extensions (both conventions, DDI and pilot, give the same alert).
      let concurrent = 0;
      for (const e of w) {
        let n = 0;
        for (const o of w) if (o.start <= e.start && o.end > e.start) n++;
        if (n > concurrent) concurrent = n;
      }
      if (lines < num(p, 'minLines') && concurrent < num(p, 'minConcurrent')) return null;
      return finding(w, { calls: w.length, lines, concurrent, minutesX10: Math.round(minutes(w) * 10) }, { destinations: [...new Set(w.map((e) => e.range ?? e.other ?? '?'))].slice(0, 5).join(','), band: ev.band }, Math.min(w.length / num(p, 'minCalls'), Math.max(lines / num(p, 'minLines'), concurrent / num(p, 'minConcurrent'))));
    },
  },
  {
    id: 'cloning.overlap',
    group: 'LINE',
    fraudType: 'SIM_CLONING',
    entityKind: 'IMSI',
    entity: imsiOf,
    // Every record that shows a handset: calls it made or answered, and records with a known cell — the
    // keyer's sightings bring data sessions and SMS when the handset or the place changed (keying.ts).
    contributes: (ev) => ev.imei !== null && (handsetCall(ev) || located(ev)),
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      // Compare the trigger with the line's other records from a different IMEI (one handset moving fast is
      // a traveller or a bad cell position, not a clone), the nearest few in time: two handsets in calls at
      // once (collision), or too far apart for the time between them (impossible travel).
      if (ev.imei === null) return null;
      const minKm = num(p, 'minKm');
      const maxKmh = num(p, 'maxKmh');
      const from = ev.start - num(p, 'windowMinutes') * MIN;
      const here = located(ev);
      const km = (o: FraudEvent) => (here && located(o) ? haversineKm(o.lat!, o.lon!, ev.lat!, ev.lon!) : 0);
      let hit: { other: FraudEvent; why: string; kmh: number; km: number } | null = null;
      // A handset far away between two records of this one (A, B, A) is the other signature of a clone used
      // when the original is idle, when the records are too far apart in time for the velocity check.
      let far: FraudEvent | null = null;
      let compared = 0;
      // Bounded look-back: the state is per line, the work per event must stay small.
      for (let i = events.length - 1, scanned = 0; i >= 0 && !hit && compared < 16 && scanned < 64; i--) {
        const o = events[i]!;
        if (o.start < from) break;
        if (o === ev || o.recordId === ev.recordId || o.imei === null || !(handsetCall(o) || located(o))) continue;
        scanned++;
        if (o.imei === ev.imei) {
          if (far && o.start < far.start) hit = { other: far, why: 'alternating', kmh: 0, km: km(far) };
          continue;
        }
        compared++;
        const d = km(o);
        if (!far && d >= minKm) far = o;
        if (handsetCall(o) && handsetCall(ev) && o.start < ev.end && ev.start < o.end) hit = { other: o, why: 'overlap', kmh: 0, km: d };
        else if (d >= minKm && o.cellId !== ev.cellId) {
          const gapH = Math.max(0, o.end <= ev.start ? ev.start - o.end : ev.end <= o.start ? o.start - ev.end : 0) / 3_600_000;
          const kmh = gapH === 0 ? Infinity : d / gapH;
          if (kmh > maxKmh) hit = { other: o, why: 'velocity', kmh, km: d };
        }
      }
      if (!hit) return null;
      const pair = hit.other.start <= ev.start ? [hit.other, ev] : [ev, hit.other];
      return finding(pair, { km: Math.round(hit.km), kmh: Number.isFinite(hit.kmh) ? Math.round(hit.kmh) : -1 }, { reason: hit.why, imeis: [...new Set(pair.map((e) => e.imei))].join(','), cells: `${pair[0]!.cellId ?? '?'}->${pair[1]!.cellId ?? '?'}`, records: pair.map((e) => e.kind).join('->') }, hit.why === 'velocity' ? Math.min(5, hit.kmh / maxKmh) : 2);
    },
  },
  {
    id: 'roaming.high_usage',
    group: 'LINE',
    fraudType: 'ROAMING',
    entityKind: 'IMSI',
    entity: imsiOf,
    contributes: (ev) => ev.roaming && ev.kind === 'MO',
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.roaming && e.kind === 'MO');
      // Spend abroad: calls to numbers outside the home country or risky ones. A traveller's calls home are
      // their profile, whatever the visited network charges for them (a SIM stolen abroad pumps revenue-share
      // ranges, not the owner's family): with every part of a long call counted, two hours of calls home
      // reach minCost.
      const spend = w.filter((e) => e.international || risky(e));
      const c = cost(spend);
      const riskMin = minutes(w.filter(risky));
      // Cost over several answered calls: one long call is a traveller's (unanswered attempts cost nothing
      // and do not make it several).
      const answered = spend.reduce((n, e) => n + (e.answered ? 1 : 0), 0);
      if ((c < money(p, 'minCost') || answered < num(p, 'costMinCalls')) && riskMin < num(p, 'minRiskMinutes')) return null;
      return finding(w, { calls: w.length, answered, riskMinutesX10: Math.round(riskMin * 10), minutesX10: Math.round(minutes(w) * 10) }, { visitedPlmn: ev.visitedPlmn ?? '', msisdn: ev.msisdn }, Math.max(c / money(p, 'minCost'), riskMin / num(p, 'minRiskMinutes')));
    },
  },
  {
    id: 'velocity.generic',
    group: 'LINE',
    fraudType: 'VELOCITY',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    contributes: (ev) => ev.kind === 'MO',
    retentionMs: (p) => Math.max(num(p, 'windowMinutes') * MIN, num(p, 'burstSeconds') * 1000),
    evaluate(events, ev, p) {
      const burst = inWindow(events, ev.start, num(p, 'burstSeconds') * 1000, (e) => e.kind === 'MO');
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'MO');
      const c = cost(w);
      const byBurst = burst.length >= num(p, 'maxCalls');
      // Spend velocity is spending spread over several answered calls: without its costliest call the
      // window must still reach spreadShare of maxCost (one long call and a few short ones is a customer's
      // long call; long and risky calls are the IRSF and roaming rules' business).
      let answered = 0;
      let top = 0;
      for (const e of w) {
        if (!e.answered) continue;
        answered++;
        if (e.costMicros > top) top = e.costMicros;
      }
      const byCost = c >= money(p, 'maxCost') && answered >= num(p, 'costMinCalls') && c - top >= money(p, 'maxCost') * num(p, 'spreadShare');
      if (!byBurst && !byCost) return null;
      return finding(byCost ? w : burst, { burstCalls: burst.length, calls: w.length, answered }, { trigger: [byBurst ? 'calls' : '', byCost ? 'cost' : ''].filter(Boolean).join('+') }, Math.max(burst.length / num(p, 'maxCalls'), c / money(p, 'maxCost')));
    },
  },
  {
    id: 'wangiri.slow',
    group: 'RANGE',
    fraudType: 'WANGIRI',
    entityKind: 'RANGE',
    entity: (ev) => ev.range ?? '',
    // Low and slow: the same signature as the burst over hours, with rings up to maxRingSeconds.
    contributes: (ev, p) => ev.kind === 'MT' && !ev.answered && ev.end - ev.start <= num(p, 'maxRingSeconds') * 1000,
    extends: (ev) => ev.kind === 'MO',
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const mt = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'MT');
      const short = mt.filter((e) => !e.answered && e.end - e.start <= num(p, 'maxRingSeconds') * 1000);
      const targets = distinct(short, (e) => e.msisdn);
      if (targets < num(p, 'minTargets') || short.length < num(p, 'minShortShare') * mt.length) return null;
      // One caller ringing many people unanswered, never talking: a dialler, not a family.
      const answered = mt.length - mt.filter((e) => !e.answered).length;
      if (answered > num(p, 'maxAnswered')) return null;
      return finding(short, { targets, shortCalls: short.length, inboundCalls: mt.length, callingNumbers: distinct(short, (e) => e.other) }, { callingNumbers: [...new Set(short.map((e) => e.other ?? '?'))].slice(0, 10).join(','), country: short[0]?.otherCountry ?? '', windowMinutes: String(p.windowMinutes) }, targets / num(p, 'minTargets'));
    },
  },
  {
    id: 'wangiri.callback',
    group: 'RANGE',
    fraudType: 'WANGIRI',
    entityKind: 'RANGE',
    entity: (ev) => ev.range ?? '',
    // A subscriber calling back a foreign number that rang them, unanswered, shortly before — when that
    // number rang several subscribers so (Twomey: losses accrue on the callback leg).
    contributes: (ev) => ev.kind === 'MO' || (ev.kind === 'MT' && !ev.answered),
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      if (ev.kind !== 'MO' || ev.other === null) return null;
      const from = ev.start - num(p, 'windowMinutes') * MIN;
      // Bounded look-back (newest first): the work per callback stays small on a busy range.
      const rang: FraudEvent[] = [];
      for (let i = events.length - 1, scanned = 0; i >= 0 && scanned < 4096; i--, scanned++) {
        const e = events[i]!;
        if (e.start < from) break;
        if (e.kind === 'MT' && !e.answered && e.other === ev.other && e.start < ev.start) rang.push(e);
      }
      rang.reverse();
      if (!rang.some((e) => e.msisdn === ev.msisdn)) return null;
      const targets = distinct(rang, (e) => e.msisdn);
      if (targets < num(p, 'minTargets')) return null;
      return finding([...rang, ev], { targets, callbacks: 1 }, { callingNumber: ev.other, country: ev.otherCountry ?? '' }, targets / num(p, 'minTargets'));
    },
  },
  {
    id: 'sms.pumping_sender',
    group: 'LINE',
    fraudType: 'SMS_PUMPING',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    contributes: (ev) => ev.kind === 'SMS' && (ev.international || risky(ev)),
    retentionMs: (p) => Math.max(num(p, 'windowMinutes'), num(p, 'baselineMinutes')) * MIN,
    evaluate(events, ev, p) {
      const isSms = (e: FraudEvent) => e.kind === 'SMS' && (e.international || risky(e));
      const windowMs = num(p, 'windowMinutes') * MIN;
      const w = inWindow(events, ev.start, windowMs, isSms);
      const burst = inWindow(events, ev.start, num(p, 'burstMinutes') * MIN, isSms);
      if (burst.length < num(p, 'minBurst') && w.length < num(p, 'minSms')) return null;
      // The sender's own history: the look-back before this window, as far as the line has been seen (the
      // oldest event it holds, of any kind). A line seen for less than minHistoryMinutes has no baseline to
      // depart from (cold start: a gateway seen for the first time), so volume and spread alone never fire.
      const lookMs = (num(p, 'baselineMinutes') - num(p, 'windowMinutes')) * MIN;
      const windowFrom = ev.start - windowMs;
      const historyMs = Math.max(0, Math.min(lookMs, windowFrom - (events[0]?.start ?? ev.start)));
      const known = historyMs >= num(p, 'minHistoryMinutes') * MIN;
      const baseEvents = inWindow(events, windowFrom, lookMs, isSms);
      // Messages abroad per window over the history seen (not over the nominal look-back: a line seen for
      // 2 h has not been quiet for the 21 h before).
      const baseRate = baseEvents.length / Math.max(1, historyMs / windowMs);
      // Pumping signatures (coss.com, Kaleyra; reference §2.10): consecutive numbers (range walking), costly
      // destinations (hot-listed, premium, priced like IRSF), many numbers in one prefix, or many prefixes in
      // several countries — concentrated on a few (the ranges the fraudsters share revenue on) or in countries
      // the line never sent to in its history. An A2P gateway's codes spread over its users' many countries,
      // the ones it sends to every day.
      const nums = w.map((e) => Number((e.other ?? '0').slice(-9))).sort((a, b) => a - b);
      let seq = 0;
      for (let i = 1; i < nums.length; i++) if (nums[i]! - nums[i - 1]! <= 2) seq++;
      const seqShare = nums.length > 1 ? seq / (nums.length - 1) : 0;
      const costly = w.filter(risky).length / Math.max(1, w.length);
      const byPrefix = new Map<string, Set<string>>();
      const byCountry = new Map<string, number>();
      for (const e of w) {
        const px = e.range ?? '?';
        let s = byPrefix.get(px);
        if (!s) byPrefix.set(px, (s = new Set()));
        s.add(e.other ?? '?');
        if (e.otherCountry !== null) byCountry.set(e.otherCountry, (byCountry.get(e.otherCountry) ?? 0) + 1);
      }
      const prefixes = byPrefix.size;
      const countries = byCountry.size;
      let depth = 0;
      for (const s of byPrefix.values()) depth = Math.max(depth, s.size);
      const top = [...byCountry.values()].sort((a, b) => b - a).slice(0, num(p, 'concentrationCountries')).reduce((a, n) => a + n, 0) / Math.max(1, w.length);
      const spread = prefixes >= num(p, 'minPrefixes') && countries >= num(p, 'minCountries') && prefixes >= 0.5 * w.length;
      let freshShare = 0;
      if (spread && known && top < num(p, 'minConcentration')) {
        const seen = new Set(baseEvents.map((e) => e.otherCountry));
        freshShare = w.filter((e) => !seen.has(e.otherCountry)).length / Math.max(1, w.length);
      }
      const signature =
        seqShare >= num(p, 'minSequentialShare') ||
        costly >= num(p, 'minCostlyShare') ||
        depth >= num(p, 'minPrefixDepth') ||
        (spread && (top >= num(p, 'minConcentration') || freshShare >= num(p, 'minNewCountryShare')));
      if (!signature) return null;
      const byBurst = burst.length >= num(p, 'minBurst') && burst.length >= num(p, 'baselineFactor') * baseRate * (num(p, 'burstMinutes') / num(p, 'windowMinutes'));
      const byVolume = w.length >= num(p, 'minSms') && w.length >= num(p, 'baselineFactor') * baseRate;
      if (!byBurst && !byVolume) return null;
      return finding(
        byVolume ? w : burst,
        { messages: w.length, burst: burst.length, baselinePerWindowX10: Math.round(baseRate * 10), historyMinutes: Math.round(historyMs / MIN), prefixes, countries, topCountriesPct: Math.round(top * 100), newCountriesPct: Math.round(freshShare * 100), maxPrefixNumbers: depth, costlyPct: Math.round(costly * 100), sequentialPct: Math.round(seqShare * 100) },
        { trigger: byBurst ? 'burst' : 'volume', prefixes: [...byPrefix.keys()].slice(0, 5).join(',') },
        Math.max(burst.length / num(p, 'minBurst'), w.length / num(p, 'minSms')),
      );
    },
  },
  {
    id: 'sms.pumping_prefix',
    group: 'RANGE',
    fraudType: 'SMS_PUMPING',
    entityKind: 'RANGE',
    entity: (ev) => ev.key,
    contributes: (ev) => ev.kind === 'SMS',
    retentionMs: (p) => num(p, 'windowMinutes') * MIN,
    evaluate(events, ev, p) {
      const w = inWindow(events, ev.start, num(p, 'windowMinutes') * MIN, (e) => e.kind === 'SMS');
      if (w.length < num(p, 'minSms')) return null;
      const numbers = distinct(w, (e) => e.other);
      if (numbers < num(p, 'minNumbers')) return null;
      return finding(w, { messages: w.length, numbers, senders: distinct(w, (e) => e.msisdn) }, { country: ev.otherCountry ?? '' }, numbers / num(p, 'minNumbers'));
    },
  },
  {
    id: 'subscription.bust_out',
    group: 'LINE',
    fraudType: 'SUBSCRIPTION',
    entityKind: 'MSISDN',
    entity: (ev) => ev.msisdn,
    // Spend abroad or on premium numbers by a line young enough that its history is short (new, or
    // dormant since it was opened).
    contributes: (ev, p) => ev.kind === 'MO' && ev.answered && (ev.international || risky(ev)) && ev.lineAgeDays >= 0 && ev.lineAgeDays <= num(p, 'maxLineAgeDays'),
    retentionMs: (p) => num(p, 'lookbackMinutes') * MIN,
    evaluate(events, ev, p) {
      if (ev.lineAgeDays < 0 || ev.lineAgeDays > num(p, 'maxLineAgeDays')) return null;
      const spend = (e: FraudEvent) => e.kind === 'MO' && e.answered && (e.international || risky(e));
      const windowMs = num(p, 'windowMinutes') * MIN;
      const w = inWindow(events, ev.start, windowMs, spend);
      const c = cost(w);
      if (c < money(p, 'minCost') || w.length < num(p, 'minCalls')) return null;
      // Departs from its own history: what the line spent so before this window (look-back) is small.
      const before = cost(inWindow(events, ev.start - windowMs - 1, (num(p, 'lookbackMinutes') - num(p, 'windowMinutes')) * MIN, spend));
      if (before > num(p, 'maxHistoryShare') * c) return null;
      return finding(w, { calls: w.length, lineAgeDays: ev.lineAgeDays, minutesX10: Math.round(minutes(w) * 10) }, { spendBefore: (before / 1e6).toFixed(2), destinations: [...new Set(w.map((e) => e.otherCountry ?? '?'))].slice(0, 5).join(',') }, c / money(p, 'minCost'));
    },
  },
];

/**
 * Records reach an entity in release order, and entities fed by several CDR partitions (ranges, accounts,
 * destinations, chain heads) get them interleaved — while the pipeline catches up one partition can be
 * hours of traffic ahead of another. So a record often arrives after records seized later than it, whose
 * windows were judged without it. Its rule then judges not only the window ending at it but, in seizure
 * order, the windows ending at those later records that it joins (within windowMinutes, at most
 * maxLaterWindows): the first that fires is the decision, and its time is the latest release it used —
 * detection does not depend on the order in which partitions arrive. (cloning.overlap compares the
 * trigger with later records itself; simbox.profile counts a day of a box that calls every minute.)
 */
const ORDER_FREE = new Set(['forwarding.high_risk_spike', 'forwarding.chain', 'forwarding.loop', 'forwarding.self_call', 'forwarding.shared_destination', 'wangiri.burst', 'irsf.high_risk', 'pbx.out_of_hours', 'roaming.high_usage', 'velocity.generic']);
const maxLaterWindows = 64;

function orderFree(rule: Rule): Rule['evaluate'] {
  const inner = rule.evaluate.bind(rule);
  return (events, ev, p) => {
    const f = inner(events, ev, p);
    if (f || events.length === 0 || events[events.length - 1]!.start <= ev.start) return f;
    const horizon = ev.start + num(p, 'windowMinutes') * MIN;
    let i = events.length - 1;
    while (i > 0 && events[i - 1]!.start > ev.start) i--;
    for (let tried = 0; i < events.length && events[i]!.start <= horizon && tried < maxLaterWindows; i++) {
      const later = events[i]!;
      if (later.start <= ev.start || !rule.contributes(later, p)) continue;
      tried++;
      const g = inner(events, later, p);
      if (g) return g;
    }
    return null;
  };
}
for (const r of RULES) if (ORDER_FREE.has(r.id)) r.evaluate = orderFree(r);

const SEVERITIES: Severity[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

/** Thresholds resolved per (account class, band), cached. */
export class RuleBook {
  readonly episodeGapMs: number;
  readonly updateEveryMs: number;
  readonly evidenceRecordIds: number;
  readonly highExposureMicros: number;
  readonly criticalExposureMicros: number;
  readonly rules: Rule[];
  private readonly cache = new Map<string, Params>();

  constructor(readonly file: RuleBookFile) {
    const problems: string[] = [];
    const known = new Map(RULES.map((r) => [r.id, r]));
    for (const id of Object.keys(file.rules ?? {})) if (!known.has(id)) problems.push(`unknown rule "${id}" (known: ${[...known.keys()].join(', ')})`);
    for (const [k, v] of [['episodeGapMinutes', file.episodeGapMinutes], ['updateEveryMinutes', file.updateEveryMinutes], ['evidenceRecordIds', file.evidenceRecordIds]] as const) if (!(typeof v === 'number' && v > 0)) problems.push(`${k} must be a positive number`);
    const moneyOk = (v: unknown) => {
      try {
        parseMoney(String(v), 6);
        return typeof v === 'string';
      } catch {
        return false;
      }
    };
    if (!moneyOk(file.severity?.highExposure) || !moneyOk(file.severity?.criticalExposure)) problems.push('severity.highExposure and severity.criticalExposure must be decimal strings');
    for (const [id, spec] of Object.entries(file.rules ?? {})) {
      if (typeof spec.enabled !== 'boolean') problems.push(`${id}.enabled must be true or false`);
      if (!SEVERITIES.includes(spec.severity as Severity)) problems.push(`${id}.severity must be one of ${SEVERITIES.join(', ')}`);
      for (const o of spec.overrides ?? []) {
        if (o.accountClass === undefined && o.band === undefined) problems.push(`${id}.overrides: each entry needs accountClass and/or band`);
        if (o.band !== undefined && !['day', 'evening', 'night', 'weekend'].includes(o.band)) problems.push(`${id}.overrides: band "${o.band}" is not day, evening, night or weekend`);
        if (o.accountClass !== undefined && !['private', 'business', 'pbx'].includes(o.accountClass)) problems.push(`${id}.overrides: accountClass "${o.accountClass}" is not private, business or pbx`);
        for (const [k, v] of Object.entries(o)) {
          if (k === 'accountClass' || k === 'band') continue;
          if (!(k in spec)) problems.push(`${id}.overrides: "${k}" is not a parameter of the rule`);
          else if (/(Cost|Exposure)$/.test(k) ? !moneyOk(v) : !(typeof v === 'number' && v >= 0)) problems.push(`${id}.overrides: ${k} ${JSON.stringify(v)} is not ${/(Cost|Exposure)$/.test(k) ? 'a decimal string' : 'a non-negative number'}`);
        }
      }
      for (const [k, v] of Object.entries(spec)) {
        if (k === 'overrides' || k === 'source' || k === 'enabled' || k === 'severity') continue;
        if (/(Cost|Exposure)$/.test(k) ? !moneyOk(v) : !(typeof v === 'number' && v >= 0)) problems.push(`${id}.${k}: ${JSON.stringify(v)} is not ${/(Cost|Exposure)$/.test(k) ? 'a decimal string' : 'a non-negative number'}`);
      }
    }
    if (problems.length) throw new RuleBookError(`fraud rules: ${problems.join('; ')}`);
    this.episodeGapMs = file.episodeGapMinutes * MIN;
    this.updateEveryMs = file.updateEveryMinutes * MIN;
    this.evidenceRecordIds = file.evidenceRecordIds;
    this.highExposureMicros = Number(parseMoney(file.severity.highExposure, 6));
    this.criticalExposureMicros = Number(parseMoney(file.severity.criticalExposure, 6));
    this.rules = RULES.filter((r) => file.rules[r.id]?.enabled === true);
  }

  private readonly byGroup = new Map<string, Rule[]>();
  private readonly contexts = new Map<string, Map<string, Params>>();

  rulesOf(group: FraudEvent['group']): Rule[] {
    let rs = this.byGroup.get(group);
    if (!rs) this.byGroup.set(group, (rs = this.rules.filter((r) => r.group === group)));
    return rs;
  }

  /** The parameters of every rule for one (account class, band): resolve once per event, not per rule. */
  context(accountClass: string | null, band: string): Map<string, Params> {
    const k = `${accountClass ?? ''}|${band}`;
    let c = this.contexts.get(k);
    if (!c) {
      c = new Map(this.rules.map((r) => [r.id, this.params(r.id, accountClass, band)]));
      this.contexts.set(k, c);
    }
    return c;
  }

  paramsIn(rule: Rule, ctx: Map<string, Params>): Params {
    return ctx.get(rule.id)!;
  }

  params(ruleId: string, accountClass: string | null, band: string): Params {
    const k = `${ruleId}|${accountClass ?? ''}|${band}`;
    let p = this.cache.get(k);
    if (!p) {
      const spec = this.file.rules[ruleId]!;
      p = { ...spec };
      delete p.overrides;
      for (const o of spec.overrides ?? []) {
        if ((o.accountClass === undefined || o.accountClass === accountClass) && (o.band === undefined || o.band === band)) {
          const { accountClass: _a, band: _b, ...rest } = o;
          Object.assign(p, rest);
        }
      }
      this.cache.set(k, p);
    }
    return p;
  }

  /** Longest look-back of any enabled rule of a group (how long events are kept). */
  retentionMs(group: FraudEvent['group']): number {
    let ms = 0;
    for (const r of this.rules) if (r.group === group) for (const p of this.variants(r.id)) ms = Math.max(ms, r.retentionMs(p));
    return ms;
  }

  private variants(ruleId: string): Params[] {
    const out = [this.params(ruleId, null, 'day')];
    for (const o of this.file.rules[ruleId]?.overrides ?? []) out.push(this.params(ruleId, o.accountClass ?? null, o.band ?? 'day'));
    return out;
  }

  baseSeverity(ruleId: string): Severity {
    return this.file.rules[ruleId]!.severity as Severity;
  }
}

export function defaultRulesPath(): string {
  return schemaPath('fraud', 'rules.json');
}

export function loadRuleBook(path = ''): RuleBook {
  const file = path || defaultRulesPath();
  let parsed: RuleBookFile;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as RuleBookFile;
  } catch (err) {
    throw new RuleBookError(`fraud rules ${file}: ${(err as Error).message}`);
  }
  // An operator's file may name only the rules it changes: the rest keep the defaults.
  if (path) {
    const defaults = JSON.parse(readFileSync(defaultRulesPath(), 'utf8')) as RuleBookFile;
    const merged: RuleBookFile = { ...defaults, ...parsed, severity: { ...defaults.severity, ...parsed.severity }, rules: { ...defaults.rules } };
    for (const [id, spec] of Object.entries(parsed.rules ?? {})) merged.rules[id] = { ...(defaults.rules[id] ?? {}), ...spec } as RuleBookFile['rules'][string];
    parsed = merged;
  }
  return new RuleBook(parsed);
}
