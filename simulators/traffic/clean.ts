/**
 * Clean traffic: what each line does when nobody attacks it. A line is a point process in "activity
 * time" (the Intensity tables: hour of day, day of week, holidays, trend): gaps are Weibull per line
 * (Jiang et al., Weibull inter-call times for 73% of active users; power law for robots and telesales —
 *), so the diurnal and weekly shape and the holidays come out of the calendar while
 * each line keeps its own burstiness. Each activity is an outgoing call, SMS or data session, or an incoming
 * call or SMS from outside; calls to our own lines ring those lines (which may be busy, absent, diverting).
 * Holding times are log-logistic per line (Vaz de Melo et al., truncated log-logistic fits for >96% of 3.1M
 * users), truncated at 3 h.
 */
import type { Rng } from './random.js';
import { cumulative, gamma, hash2, hash3, unit } from './random.js';
import { COUNTRIES, REGIONS } from './geography.js';
import { dialledForm, fixedNumber, foreignNumber, freephoneNumber, offnetMobile, premiumNumber, sharedCostNumber, digits } from './numbering.js';
import { Behaviour, F, LineKind, LineStatus, type Population } from './population.js';
import { PLAN, perHome } from './home.js';
import { State, type Engine, type Where } from './engine.js';
import { installLookalikes } from './lookalikes.js';
import type { RiskRange } from './numbering.js';

/** Destination classes of outgoing calls. */
const D = { MOBILE: 0, LOCAL: 1, NATIONAL: 2, INTL: 3, FREE: 4, PREMIUM: 5, SHARED: 6, CARE: 7, VM: 8, EMERGENCY: 9, DIRECTORY: 10 } as const;
const D_COUNT = 11;

/**
 * Call mixes by kind of caller, weights over the D classes. PBX lines use `mayconbordin/cdr-gen`'s fixed-line
 * mix (Local 61.7%, Mobile 18.5%, National 12.3%, International 6.2%, Free 0.6%, PRS 0.6%);
 * mobile mixes keep its international, free and premium shares and move weight to mobiles [proposal].
 */
const MIX = {
  private: [0.58, 0.14, 0.1, 0.062, 0.006, 0.006, 0.03, 0.02, 0.04, 0.0008, 0.002],
  business: [0.5, 0.16, 0.16, 0.09, 0.01, 0.004, 0.04, 0.01, 0.03, 0.0003, 0.003],
  pbx: [0.185, 0.617, 0.123, 0.062, 0.006, 0.006, 0.02, 0, 0, 0.0005, 0.002],
  heavyIntl: [0.35, 0.08, 0.06, 0.4, 0.006, 0.004, 0.02, 0.02, 0.04, 0.0008, 0.002],
  visitor: [0.35, 0.1, 0.05, 0.45, 0.01, 0, 0.01, 0, 0, 0.0005, 0.005],
  telesales: [0.45, 0.3, 0.25, 0, 0, 0, 0, 0, 0, 0, 0],
  callCentre: [0.5, 0.25, 0.25, 0, 0, 0, 0, 0, 0, 0, 0],
  abroad: [0.45, 0.1, 0.05, 0.4, 0, 0, 0, 0, 0, 0, 0],
} as const;
type MixName = keyof typeof MIX;
const MIX_NAMES = Object.keys(MIX) as MixName[];

/** Duration multiplier and off-net answer probability per destination class [proposal]. */
const DUR_FACTOR = [1, 1, 1, 1.5, 1.4, 0.9, 1.3, 2.5, 0.3, 1.5, 0.4];
const ANSWER = [0.7, 0.65, 0.65, 0.65, 0.95, 0.97, 0.95, 0.98, 1, 1, 1];
const MAX_TALK_MS = 3 * 3_600_000;

/** Cumulative mixes with international and/or premium barred: index = mix * 4 + (barIntl ? 1 : 0) + (barPremium ? 2 : 0). */
const MIX_CUM: Float64Array[] = [];
for (const name of MIX_NAMES) {
  for (let bar = 0; bar < 4; bar++) {
    const w = [...MIX[name]];
    if (bar & 1) w[D.INTL] = 0;
    if (bar & 2) w[D.PREMIUM] = w[D.DIRECTORY] = 0;
    MIX_CUM.push(cumulative(w));
  }
}
if (MIX_CUM.length !== MIX_NAMES.length * 4 || D_COUNT !== MIX.private.length) throw new Error('call mix tables are inconsistent');

/** Cumulative call weights of the foreign countries seen from the active home country. */
const callCumOf = perHome(() => cumulative(COUNTRIES.map((c) => c.callWeight)));

export function installCleanTraffic(eng: Engine): void {
  const pop = eng.pop;
  const g = gapParameters(pop);
  eng.lineStep = (e, i, now, rng) => stepLine(e, g, i, now, rng);
  const start = eng.o.startMs;
  for (let i = 0; i < pop.lineCount; i++) {
    const b = pop.behaviour[i];
    if (pop.status[i] !== LineStatus.ACTIVE || b === Behaviour.SCENARIO || b === Behaviour.M2M || b === Behaviour.A2P) continue;
    const r = eng.lineRngFor(i);
    let from = start;
    if (pop.kind[i] === LineKind.VISITOR) {
      const st = pop.stays.get(i);
      if (!st || st.to <= start) continue;
      from = Math.max(start, st.from);
    }
    const t = firstActivity(eng, g, i, from, r);
    eng.saveLineRng(i, r);
    if (t < eng.o.endMs) eng.scheduleLine(i, t);
  }
  installLookalikes(eng);
}

/** One of a few relatives' numbers in a hot-listed country (stable per line and relative). */
function relativeIn(pop: Population, i: number, r: RiskRange, h: number): string {
  return r.prefix + digits(hash3(pop.seed ^ 0xfa, i, h % 4), r.length - r.prefix.length, 2);
}

/**
 * Per-line gap distributions, computed once: Weibull scale for a mean gap of 1/rate (rate = all activities
 * per normal weekday), or the Pareto minimum for power-law lines; 0 for silent lines.
 */
interface Gaps {
  param: Float64Array;
  rate: Float64Array;
}

const PARETO_ALPHA = 1.5;

function gapParameters(pop: Population): Gaps {
  const param = new Float64Array(pop.lineCount);
  const rate = new Float64Array(pop.lineCount);
  for (let i = 0; i < pop.lineCount; i++) {
    const total = (pop.voiceRate[i] as number) + (pop.smsRate[i] as number) + (pop.dataRate[i] as number) + (pop.mtRate[i] as number) + (pop.smsMtRate[i] as number);
    rate[i] = total;
    if (total <= 0) continue;
    const k = pop.gapShape[i] as number;
    param[i] = pop.behaviour[i] === Behaviour.TELESALES ? (PARETO_ALPHA - 1) / (PARETO_ALPHA * total) : 1 / (total * gamma(1 + 1 / k));
  }
  return { param, rate };
}

function stepLine(eng: Engine, g: Gaps, i: number, now: number, rng: Rng): number {
  const w = eng.where(i, now, rng);
  if (w.state === State.ABSENT) return w.until === Infinity ? Infinity : firstActivity(eng, g, i, w.until, rng);
  // Phone off while travelling: resume after arrival.
  if (w.state === State.TRANSIT) return firstActivity(eng, g, i, w.until, rng);
  const busy = eng.busyUntil[i] as number;
  if (busy > now) return busy + 5000 + Math.round(rng.exp(60_000));
  activity(eng, i, now, w, rng);
  return advance(eng, i, now, gapUnits(eng.pop, g, i, rng));
}

/** A gap between activities of line i, in activity units (normal weekdays), or Infinity for a silent line. */
function gapUnits(pop: Population, g: Gaps, i: number, rng: Rng): number {
  const p = g.param[i] as number;
  if (p === 0) return Infinity;
  // Power-law gaps (Pareto, tail index 1.5) for robot/telesales callers (Jiang et al.), Weibull otherwise.
  if (pop.behaviour[i] === Behaviour.TELESALES) return rng.pareto(p, PARETO_ALPHA);
  return rng.weibull(pop.gapShape[i] as number, p);
}

function advance(eng: Engine, i: number, from: number, units: number): number {
  if (units === Infinity) return Infinity;
  const p = eng.pop.profile[i] as number;
  const t = eng.cal.inverse(p, eng.cal.at(p, from) + units);
  return Math.round(Math.max(t, from + 1000));
}

/**
 * The first activity, as if the line had been active forever: the forward recurrence time of a stationary
 * renewal process is U x L with L drawn length-biased (density x f(x) / mean); drawn by rejection against
 * 20 mean gaps. Starting every line at a fresh gap instead would inflate the first day's volume.
 */
function firstActivity(eng: Engine, g: Gaps, i: number, from: number, rng: Rng): number {
  const total = g.rate[i] as number;
  if (total <= 0) return Infinity;
  const cap = 20 / total;
  let gap = gapUnits(eng.pop, g, i, rng);
  for (let k = 0; k < 64 && rng.next() * cap > gap; k++) gap = gapUnits(eng.pop, g, i, rng);
  return advance(eng, i, from, rng.next() * gap);
}

function activity(eng: Engine, i: number, now: number, w: Where, rng: Rng): void {
  const pop = eng.pop;
  const v = pop.voiceRate[i] as number;
  const s = pop.smsRate[i] as number;
  const d = pop.dataRate[i] as number;
  const m = pop.mtRate[i] as number;
  const x = rng.next() * (v + s + d + m + (pop.smsMtRate[i] as number));
  if (x < v) outgoingCall(eng, i, now, w, rng);
  else if (x < v + s) outgoingSms(eng, i, now, w, rng);
  else if (x < v + s + d) dataSession(eng, i, now, w, rng);
  else if (x < v + s + d + m) incomingCall(eng, i, now, rng);
  else incomingSms(eng, i, now, w, rng);
}

function mixOf(pop: Population, i: number, w: Where): number {
  const b = pop.behaviour[i] as number;
  let name: MixName;
  if (w.state === State.ABROAD) name = 'abroad';
  else if (pop.kind[i] === LineKind.VISITOR) name = 'visitor';
  else if (b === Behaviour.TELESALES) name = 'telesales';
  else if (b === Behaviour.CALL_CENTRE) name = 'callCentre';
  else if (pop.kind[i] === LineKind.FIXED) name = 'pbx';
  else if (b === Behaviour.HEAVY_INTL) name = 'heavyIntl';
  else name = pop.isBusinessLine(i) ? 'business' : 'private';
  const f = pop.features[i] as number;
  return MIX_NAMES.indexOf(name) * 4 + (f & F.BAR_INTL ? 1 : 0) + (f & F.BAR_PREMIUM ? 2 : 0);
}

interface Destination {
  cls: number;
  e164: string;
  line: number;
}

/** Whom line i calls or texts: a contact (Zipf over the line's contacts) or a service. */
function destination(eng: Engine, i: number, w: Where, rng: Rng, cls: number): Destination {
  const pop = eng.pop;
  const b = pop.behaviour[i] as number;
  // Telesales and call-centre agents dial customers, not contacts: (almost) every number is new.
  const random = b === Behaviour.TELESALES || b === Behaviour.CALL_CENTRE;
  const j = random ? rng.int(0x7fffffff) : rng.zipf(pop.contacts[i] as number, 1);
  const h = hash3(pop.seed, i, j * 16 + cls);
  switch (cls) {
    case D.MOBILE: {
      if (!random && unit(hash2(h, 1)) < pop.clean.onNetShare) {
        const line = pop.onNetContact(i, h);
        if (line !== i && line < pop.homeLines) return { cls, e164: pop.msisdn(line), line };
      }
      return { cls, e164: offnetMobile(h), line: -1 };
    }
    case D.LOCAL:
      return { cls, e164: fixedNumber(pop.region[i] as number, h), line: -1 };
    case D.NATIONAL: {
      let r = h % REGIONS.length;
      if (r === pop.region[i]) r = (r + 1) % REGIONS.length;
      return { cls, e164: fixedNumber(r, h), line: -1 };
    }
    case D.INTL: {
      if (w.state === State.ABROAD) {
        // Local calls in the visited country (70%) or elsewhere abroad.
        const c = unit(hash2(h, 3)) < 0.7 ? w.country : pickCountry(unit(hash2(h, 4)));
        return { cls, e164: foreignNumber(COUNTRIES[c] as (typeof COUNTRIES)[number], unit(hash2(h, 2)) < 0.6, h), line: -1 };
      }
      const fav = pop.favCountry[i] as number;
      const favShare = pop.behaviour[i] === Behaviour.HEAVY_INTL ? 0.9 : 0.7;
      const risk = pop.familyRisk.get(i);
      if (risk !== undefined && unit(hash2(h, 5)) < favShare) return { cls, e164: relativeIn(pop, i, risk, h), line: -1 };
      const c = fav >= 0 && unit(hash2(h, 5)) < favShare ? fav : pickCountry(unit(hash2(h, 6)));
      return { cls, e164: foreignNumber(COUNTRIES[c] as (typeof COUNTRIES)[number], unit(hash2(h, 2)) < 0.6, h), line: -1 };
    }
    case D.FREE:
      return { cls, e164: freephoneNumber(hash3(pop.seed, i, 0xf000 + rng.int(15))), line: -1 };
    case D.PREMIUM:
      return { cls, e164: premiumNumber(hash2(pop.seed, 0x9000 + rng.int(300))), line: -1 };
    case D.SHARED:
      return { cls, e164: sharedCostNumber(hash2(pop.seed, 0x5000 + rng.int(800))), line: -1 };
    case D.CARE:
      return { cls, e164: PLAN.care, line: -1 };
    case D.VM:
      // Some customers reach their voicemail by calling their own number (the switch diverts it there):
      // a benign "A calls A" (hard negative of forwarding.self_call).
      // Where the operator has mailbox numbers (DE: 0157 33 + the subscriber number), half the others dial
      // that: a call to a number that embeds their own, classed voicemail by the numbering plan.
      if (rng.chance(0.4)) return { cls, e164: pop.msisdn(i), line: i };
      {
        const mailbox = PLAN.mailbox(pop.msisdn(i));
        return mailbox !== null && unit(hash2(h, 13)) < 0.5 ? { cls, e164: mailbox, line: -1 } : { cls, e164: PLAN.voicemailCode, line: -1 };
      }
    case D.EMERGENCY:
      return { cls, e164: rng.chance(PLAN.emergency.share) ? PLAN.emergency.first : PLAN.emergency.second, line: -1 };
    default:
      return { cls, e164: rng.pick(PLAN.directory), line: -1 };
  }
}

function pickCountry(u: number): number {
  const cum = callCumOf();
  const x = u * (cum[cum.length - 1] as number);
  let k = 0;
  while ((cum[k] as number) <= x && k < cum.length - 1) k++;
  return k;
}

function talkMs(pop: Population, i: number, cls: number, rng: Rng): number {
  const s = rng.logLogistic(pop.durMedianS[i] as number, pop.durShape[i] as number) * (DUR_FACTOR[cls] as number);
  return Math.round(Math.min(MAX_TALK_MS, Math.max(1000, s * 1000)));
}

function outgoingCall(eng: Engine, i: number, now: number, w: Where, rng: Rng): void {
  const pop = eng.pop;
  const cls = rng.weighted(MIX_CUM[mixOf(pop, i, w)] as Float64Array);
  const d = destination(eng, i, w, rng, cls);
  const abroad = w.state === State.ABROAD;
  const dialled = dialledForm(d.e164, abroad, rng.next());
  const b = pop.behaviour[i];
  const answer = b === Behaviour.TELESALES ? 0.35 : (ANSWER[cls] as number);
  eng.call(i, w, dialled, d.e164, d.line, now, talkMs(pop, i, cls, rng), rng, null, answer);
}

function outgoingSms(eng: Engine, i: number, now: number, w: Where, rng: Rng): void {
  const pop = eng.pop;
  const intlShare = pop.features[i]! & F.BAR_INTL ? 0 : pop.behaviour[i] === Behaviour.HEAVY_INTL || pop.kind[i] === LineKind.VISITOR ? 0.4 : 0.05;
  const d = destination(eng, i, w, rng, rng.chance(intlShare) ? D.INTL : D.MOBILE);
  eng.sms(i, w, dialledForm(d.e164, w.state === State.ABROAD, rng.next()), d.line, now, rng, null);
}

function dataSession(eng: Engine, i: number, now: number, w: Where, rng: Rng): void {
  const dur = Math.round(Math.min(3_600_000, Math.max(10_000, rng.lognormal(480_000, 1.0))));
  const down = Math.round((dur / 1000) * Math.min(2e6, rng.lognormal(40_000, 1.2)));
  eng.data(i, w, now, dur, Math.round(down * rng.range(0.05, 0.2)), down, null);
}

/** A caller outside our network rings line i: a contact for private lines, a customer for businesses. */
function incomingCaller(pop: Population, i: number, rng: Rng): string {
  const b = pop.behaviour[i] as number;
  const random = pop.kind[i] === LineKind.FIXED || b === Behaviour.CALL_CENTRE;
  const j = random ? rng.int(0x7fffffff) : rng.zipf(pop.contacts[i] as number, 1);
  const h = hash3(pop.seed, i, j * 16 + 15);
  const u = unit(hash2(h, 9));
  const intl = pop.kind[i] === LineKind.VISITOR ? 0.6 : b === Behaviour.HEAVY_INTL ? 0.45 : pop.features[i]! & F.BAR_INTL ? 0.03 : 0.08;
  if (u < intl) {
    const risk = pop.familyRisk.get(i);
    if (risk !== undefined && unit(hash2(h, 10)) < 0.8) return relativeIn(pop, i, risk, h);
    const fav = pop.favCountry[i] as number;
    const c = fav >= 0 && unit(hash2(h, 10)) < 0.8 ? fav : pickCountry(unit(hash2(h, 11)));
    return foreignNumber(COUNTRIES[c] as (typeof COUNTRIES)[number], unit(hash2(h, 12)) < 0.6, h);
  }
  const v = (u - intl) / (1 - intl);
  if (v < 0.62) return offnetMobile(h);
  if (v < 0.85) return fixedNumber(pop.region[i] as number, h);
  return fixedNumber(h % REGIONS.length, h);
}

function incomingCall(eng: Engine, i: number, now: number, rng: Rng): void {
  const pop = eng.pop;
  const caller = incomingCaller(pop, i, rng);
  eng.deliver(i, caller, now, talkMs(pop, i, D.MOBILE, rng), { rng, counter: 0, original: null, redirecting: null, label: null, inTrunk: eng.trunkFor(caller) });
}

function incomingSms(eng: Engine, i: number, now: number, w: Where, rng: Rng): void {
  const pop = eng.pop;
  // One in five incoming SMS is application-to-person (bank codes, deliveries) from a 5-digit short code [proposal].
  const from = rng.chance(0.2) ? digits(hash2(pop.seed, 0xa2f + rng.int(40)), 5, 6) : incomingCaller(pop, i, rng);
  eng.smsMt(i, w, from, now, null);
}
