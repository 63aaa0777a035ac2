/**
 * Call-forwarding fraud: hijacked forwarding to revenue-share
 * numbers, forward chains and loops, and the SIM-box "A calls A" cover-up.
 */
import { Rng, hash2 } from '../random.js';
import { HOUR_MS, MINUTE_MS, localHour, utcOffsetMinutes } from '../calendar.js';
import { dialledForm, offnetMobile, fixedNumber } from '../numbering.js';
import { REGIONS } from '../geography.js';
import { HOME_ZONE, LineKind } from '../population.js';
import { offnet, type Actor, type Engine, type LabelAcc } from '../engine.js';

/** Regions of the active home country (a live binding: the count depends on the country). */
const regionCount = () => REGIONS.length;
import { Destination, activeLine, attackerNumber, firstHoliday, labelParams, minutes, nextLocal, pickLines, pickRange, resolveStart, startParam, staticWhere, type ScenarioDef } from './common.js';

const FRIDAY = 5;

export const cfHijack: ScenarioDef = {
  name: 'cf-hijack',
  ref: 'docs/FRAUD.md',
  summary: 'forwarding hijack: a business/PBX line gets an unconditional forward (CFU) to a revenue-share number, then the attacker calls it repeatedly; a spike of forwarded minutes (VOICE_FWD legs with originalCalledNumber/redirectingNumber/redirectionReason CFU)',
  entityKind: 'msisdn',
  params: [
    { name: 'victims', kind: 'int', default: 2, min: 1, max: 1000, help: 'hijacked lines (one campaign each)', source: '[proposal]' },
    startParam('Friday 18:00 local, else the first bank holiday 10:00; Flowroute, XINTEC'),
    { name: 'durationHours', kind: 'number', default: 3, min: 0.1, max: 240, help: 'how long forwarding stays hijacked', source: 'iCONX "no more than 2 or 3 hours"' },
    { name: 'concurrentLegs', kind: 'int', default: 10, min: 1, max: 100, help: 'forwarded legs the attacker keeps up at once', source: '[proposal] 5-30' },
    { name: 'legMinutesMin', kind: 'number', default: 10, min: 0.1, help: 'shortest forwarded leg, minutes', source: '[proposal] 10-60' },
    { name: 'legMinutesMax', kind: 'number', default: 60, min: 0.1, help: 'longest forwarded leg, minutes', source: 'PollCat flags >=20 min' },
    { name: 'destination', kind: 'string', default: 'high-risk', choices: ['high-risk', 'unlisted', 'international'], help: 'forwarded-to number: hot-listed range, unlisted high-cost range, or ordinary international', source: 'ClearIP' },
    { name: 'slow', kind: 'bool', default: false, help: 'evasive "slow pumping": 1-2 legs at a time from start to the end of the window', source: 'evasive variant' },
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const victims = pickLines(ctx, p.victims as number, (i) => activeLine(pop, i) && pop.isBusinessLine(i) && (pop.kind[i] === LineKind.MOBILE || pop.accPilot[pop.account[i] as number] === i));
    const slow = p.slow as boolean;
    const durMs = slow ? Infinity : (p.durationHours as number) * HOUR_MS;
    const start = resolveStart(p.start as string, ctx, [Math.min(nextLocal(ctx.startMs, [FRIDAY], 18 * 60), firstHoliday(ctx, 10 * 60)), nextLocal(ctx.startMs + 6 * HOUR_MS, null, 18 * 60)], Math.min(durMs, 3 * HOUR_MS));
    const end = Math.min(ctx.endMs, start + durMs);
    const plans = victims.map((v, k) => {
      const dest = new Destination(p.destination === 'international' ? null : pickRange(ctx.rng, p.destination as string), ctx.rng, hash2(pop.seed, 0xcf00 + k));
      return { v, dest, target: dest.number(0), t0: start + k * 7 * MINUTE_MS };
    });
    return (eng) => {
      plans.forEach(({ v, dest, target, t0 }, k) => {
        const campaign = `cf-hijack-${k + 1}`;
        const label = eng.newLabel('cf-hijack', campaign, null, 'msisdn', pop.msisdn(v), labelParams(p, { forwardedTo: target, range: dest.prefix, account: pop.accountId(pop.account[v] as number) }));
        const rng = new Rng(hash2(pop.seed, 0xcf1 + k));
        const minMs = minutes(p.legMinutesMin as number);
        const maxMs = Math.max(minMs, minutes(p.legMinutesMax as number));
        eng.addForwardOverride(v, { from: t0, to: end, reason: 'CFU', line: -1, number: target, answerProbability: 1, talkMs: () => Math.round(rng.range(minMs, maxMs)), label });
        const legs = slow ? 1 + rng.int(2) : (p.concurrentLegs as number);
        for (let s = 0; s < legs; s++) eng.addActor(new ForwardPump(v, end, label, hash2(pop.seed, 0xa77 + k * 131 + s), minMs, maxMs), t0 + s * (5000 + rng.int(20_000)));
      });
    };
  },
};

/** One attacker line calling the hijacked number again and again; every call is forwarded. */
class ForwardPump implements Actor {
  private n = 0;
  private readonly rng: Rng;
  constructor(
    private readonly victim: number,
    private readonly end: number,
    private readonly label: LabelAcc,
    private readonly seed: number,
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (now >= this.end) return Infinity;
    const rng = this.rng;
    const caller = attackerNumber(this.seed, this.n++ % 3, this.seed % 2 === 0);
    const talk = Math.round(rng.range(this.minMs, this.maxMs));
    const leg = eng.deliver(this.victim, caller, now, talk, { rng, counter: 0, original: null, redirecting: null, label: this.label, inTrunk: eng.trunkFor(caller) });
    return Math.max(now + 1000, leg.release) + 5000 + rng.int(55_000);
  }
}

export const cfChain: ScenarioDef = {
  name: 'cf-chain',
  ref: 'docs/FRAUD.md',
  summary: 'forward chains (our lines forwarding to each other, the last one abroad; redirectionCounter up to N) and loops (two lines forwarding to each other until the ISUP limit of 5 releases the call with Q.850 cause 25)',
  entityKind: 'msisdn',
  params: [
    { name: 'chains', kind: 'int', default: 2, min: 0, max: 100, help: 'chains (one campaign each)', source: '[proposal]' },
    { name: 'chainLength', kind: 'int', default: 3, min: 2, max: 5, help: 'diversions in a chain (redirectionCounter of the last leg; benign traffic reaches 2)', source: 'chains of 2-5 (ISUP counter max 5)' },
    { name: 'loops', kind: 'int', default: 1, min: 0, max: 100, help: 'loops B->C->B (one campaign each)', source: 'published cases' },
    { name: 'callsPerCampaign', kind: 'int', default: 20, min: 1, max: 10_000, help: 'calls into each chain or loop', source: '[proposal]' },
    startParam('the second day 09:00 local'),
    { name: 'durationHours', kind: 'number', default: 24, min: 0.1, max: 2400, help: 'period over which the calls arrive', source: '[proposal]' },
    { name: 'destination', kind: 'string', default: 'high-risk', choices: ['high-risk', 'unlisted', 'international'], help: 'where the last link of a chain forwards to', source: 'published cases' },
    { name: 'legMinutesMin', kind: 'number', default: 5, min: 0.1, help: 'shortest answered chain call, minutes', source: '[proposal]' },
    { name: 'legMinutesMax', kind: 'number', default: 30, min: 0.1, help: 'longest answered chain call, minutes', source: '[proposal]' },
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const n = p.chainLength as number;
    const ok = (i: number) => activeLine(pop, i) && pop.kind[i] === LineKind.MOBILE;
    const chains = Array.from({ length: p.chains as number }, () => pickLines(ctx, n, ok)).filter((c) => c.length === n);
    const loops = Array.from({ length: p.loops as number }, () => pickLines(ctx, 2, ok)).filter((c) => c.length === 2);
    const durMs = (p.durationHours as number) * HOUR_MS;
    const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs + 12 * HOUR_MS, null, 9 * 60), nextLocal(ctx.startMs, null, 9 * 60)], Math.min(durMs, 6 * HOUR_MS));
    const end = Math.min(ctx.endMs, start + durMs);
    const dests = chains.map((_, k) => new Destination(p.destination === 'international' ? null : pickRange(ctx.rng, p.destination as string), ctx.rng, hash2(pop.seed, 0xc4a + k)));
    return (eng) => {
      const rng = new Rng(hash2(pop.seed, 0xc4b));
      const minMs = minutes(p.legMinutesMin as number);
      const maxMs = Math.max(minMs, minutes(p.legMinutesMax as number));
      const campaigns: { members: number[]; label: LabelAcc }[] = [];
      chains.forEach((members, k) => {
        const dest = dests[k] as Destination;
        const final = dest.number(1);
        const label = eng.newLabel('cf-chain', `cf-chain-${k + 1}`, null, 'msisdn', pop.msisdn(members[0] as number), labelParams(p, { kind: 'chain', members: members.map((m) => pop.msisdn(m)), forwardedTo: final, range: dest.prefix }));
        members.forEach((m, j) => {
          const last = j === members.length - 1;
          eng.addForwardOverride(m, { from: start, to: end, reason: 'CFU', line: last ? -1 : (members[j + 1] as number), number: last ? final : null, answerProbability: 0.95, talkMs: () => Math.round(rng.range(minMs, maxMs)), label });
        });
        campaigns.push({ members, label });
      });
      loops.forEach((members, k) => {
        const [a, b] = members as [number, number];
        const label = eng.newLabel('cf-chain', `cf-loop-${k + 1}`, null, 'msisdn', pop.msisdn(a), labelParams(p, { kind: 'loop', members: members.map((m) => pop.msisdn(m)) }));
        eng.addForwardOverride(a, { from: start, to: end, reason: 'CFU', line: b, number: null, label });
        eng.addForwardOverride(b, { from: start, to: end, reason: 'CFU', line: a, number: null, label });
        campaigns.push({ members, label });
      });
      campaigns.forEach((c, k) => eng.addActor(new ChainCaller(c.members[0] as number, start, end, p.callsPerCampaign as number, c.label, hash2(pop.seed, 0xc11 + k)), start + rng.int(10 * MINUTE_MS)));
    };
  },
};

/** Calls arriving at the head of a chain or loop, spread evenly (exponential gaps) over the period. */
class ChainCaller implements Actor {
  private made = 0;
  private readonly rng: Rng;
  constructor(
    private readonly head: number,
    private readonly start: number,
    private readonly end: number,
    private readonly calls: number,
    private readonly label: LabelAcc,
    private readonly seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (this.made >= this.calls || now >= this.end) return Infinity;
    const rng = this.rng;
    const caller = rng.chance(0.5) ? offnetMobile(hash2(this.seed, this.made)) : fixedNumber(hash2(this.seed, this.made) % regionCount(), hash2(this.seed, this.made + 1));
    eng.deliver(this.head, caller, now, 60_000, { rng, counter: 0, original: null, redirecting: null, label: this.label, inTrunk: eng.trunkFor(caller) });
    this.made++;
    return now + Math.max(1000, Math.round(rng.exp((this.end - this.start) / this.calls)));
  }
}

export const aCallsA: ScenarioDef = {
  name: 'a-calls-a',
  ref: 'docs/FRAUD.md',
  summary: 'SIM-box forwarding cover-up: new SIMs at one static cell call themselves ("A calls A", VOICE_MO) and the network forwards each call unconditionally to the real local B-number (VOICE_FWD), hundreds of minutes a day per SIM',
  entityKind: 'msisdn',
  params: [
    { name: 'sims', kind: 'int', default: 3, min: 1, max: 1000, help: 'SIMs doing it (one campaign each)', source: '[proposal]' },
    { name: 'minutesPerDay', kind: 'number', default: 1000, min: 1, max: 23_000, help: 'forwarded minutes per SIM per day', source: 'FraudBuster up to 23,000, [proposal] 300-3,000' },
    { name: 'partialShare', kind: 'number', default: 0, min: 0, max: 1, help: 'share of calls whose forwarded leg is not recorded (only "A calls A" is seen)', source: 'evasive variant' },
    startParam('the first 08:00 local 6 h after the window start'),
    { name: 'durationHours', kind: 'number', default: 0, min: 0, help: 'how long it runs (0 = to the end of the window)', source: '[proposal]' },
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs + 6 * HOUR_MS, null, 8 * 60), nextLocal(ctx.startMs, null, 8 * 60)], HOUR_MS);
    const end = (p.durationHours as number) > 0 ? Math.min(ctx.endMs, start + (p.durationHours as number) * HOUR_MS) : ctx.endMs;
    const region = ctx.rng.int(regionCount());
    const sims = Array.from({ length: p.sims as number }, () => pop.addScenarioLine({ installMs: start - (1 + ctx.rng.int(48)) * HOUR_MS, region }));
    // All SIMs of the box sit in one cell (static location, Murynets et al.).
    const cell = pop.homeCell[sims[0] as number] as number;
    for (const s of sims) pop.homeCell[s] = cell;
    return (eng) => {
      sims.forEach((line, k) => {
        const label = eng.newLabel('a-calls-a', `a-calls-a-${k + 1}`, null, 'msisdn', pop.msisdn(line), labelParams(p, { cellId: pop.cells.cellId[cell] as number }));
        eng.addActor(new SelfCaller(line, cell, end, p.minutesPerDay as number, p.partialShare as number, label, hash2(pop.seed, 0xaa + k)), start + ctx.rng.int(20 * MINUTE_MS));
      });
    };
  },
};

/** A SIM calling itself back to back, 07:00-24:00 local, until its daily minutes are used. */
class SelfCaller implements Actor {
  private day = -1;
  private readonly rng: Rng;
  private usedMs = 0;
  constructor(
    private readonly line: number,
    private readonly cell: number,
    private readonly end: number,
    private readonly minutesPerDay: number,
    private readonly partialShare: number,
    private readonly label: LabelAcc,
    private readonly seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (now >= this.end) return Infinity;
    const rng = this.rng;
    const off = utcOffsetMinutes(HOME_ZONE, now);
    const day = Math.floor((now + off * MINUTE_MS) / 86_400_000);
    if (day !== this.day) {
      this.day = day;
      this.usedMs = 0;
    }
    const hour = localHour(now, off);
    if (hour < 7 || this.usedMs >= this.minutesPerDay * MINUTE_MS) return nextLocal(now + 60_000, null, 7 * 60) + rng.int(600_000);
    const pop = eng.pop;
    const a = pop.msisdn(this.line);
    const w = staticWhere(this.cell);
    const h = hash2(this.seed, rng.int(0x7fffffff));
    const bNumber = rng.chance(0.7) ? offnetMobile(h) : fixedNumber(h % regionCount(), h);
    const talk = Math.round(Math.min(30 * MINUTE_MS, Math.max(20_000, rng.lognormal(180_000, 0.6))));
    const leg = offnet(bNumber, now + 500, talk, rng, 0.75);
    // The self-call record: A calls A, answered when the forwarded leg is.
    const mo = eng.record(this.line, 'VOICE_MO', now, leg.answer, Math.max(leg.release, now), w);
    mo.callingNumber = a;
    mo.calledNumber = dialledForm(a, false, rng.next());
    mo.connectedNumber = leg.connected;
    mo.disposition = leg.disposition;
    mo.q850Cause = leg.q850;
    if (leg.answer === null) mo.causeForTerm = 3;
    eng.emit(mo, this.label);
    if (!rng.chance(this.partialShare)) {
      const fwd = eng.record(this.line, 'VOICE_FWD', now + 500, leg.answer, Math.max(leg.release, now + 500), null);
      fwd.callingNumber = a;
      fwd.calledNumber = bNumber;
      fwd.connectedNumber = leg.connected;
      fwd.originalCalledNumber = a;
      fwd.redirectingNumber = a;
      fwd.redirectionReason = 'CFU';
      fwd.redirectionCounter = 1;
      fwd.disposition = leg.disposition;
      fwd.q850Cause = leg.q850;
      if (leg.answer === null) fwd.causeForTerm = 3;
      fwd.outTrunkGroup = eng.trunkFor(bNumber);
      eng.emit(fwd, this.label);
    }
    eng.occupy(this.line, mo.releaseTime);
    if (leg.answer !== null) this.usedMs += leg.release - leg.answer;
    return mo.releaseTime + 20_000 + rng.int(40_000);
  }
}
