/**
 * PBX hacking / toll fraud: an enterprise PBX is probed through its
 * voicemail/DISA (many short inbound calls from one number: "ineffective call attempts"), then out of hours
 * its extensions carry many concurrent long international calls to destinations the PBX never calls.
 */
import { Rng, hash2 } from '../random.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../calendar.js';
import { REGIONS } from '../geography.js';
import { dialledForm } from '../numbering.js';
import { AccountClass, Segment } from '../population.js';
import { type Actor, type Engine, type LabelAcc } from '../engine.js';
import { Destination, attackerNumber, labelParams, minutes, nextLocal, pickRange, resolveStart, staticWhere, startParam, type ScenarioDef } from './common.js';
import type { ParamValues } from '../params.js';

const FRIDAY = 5;
const SATURDAY = 6;

export const pbxHack: ScenarioDef = {
  name: 'pbx-hack',
  ref: 'docs/FRAUD.md',
  summary: 'PBX hacking: short probing calls into a PBX (DISA/voicemail PIN guessing), then out of business hours many concurrent long calls from its extensions to high-risk international ranges',
  entityKind: 'account',
  params: [
    { name: 'accounts', kind: 'int', default: 1, min: 1, max: 100, help: 'hacked PBX accounts (one campaign each)', source: '[proposal]' },
    { name: 'probeCalls', kind: 'int', default: 30, min: 0, max: 10_000, help: 'short inbound probing calls in the hour before', source: 'DEFINITY "many ineffective attempts"' },
    { name: 'concurrentCalls', kind: 'int', default: 15, min: 1, max: 100, help: 'calls kept up at once (capped at the PBX\'s lines)', source: '[proposal] 10-30' },
    { name: 'callMinutesMin', kind: 'number', default: 20, min: 0.1, help: 'shortest call, minutes', source: 'PollCat LONG_INTL >=20 min' },
    { name: 'callMinutesMax', kind: 'number', default: 90, min: 0.1, help: 'longest call, minutes', source: '[proposal]' },
    startParam('Friday or Saturday 22:00 local, out of business hours'),
    { name: 'durationHours', kind: 'number', default: 8, min: 0.1, max: 240, help: 'how long new calls are started', source: 'holiday-weekend cases [proposal]' },
    { name: 'destination', kind: 'string', default: 'caribbean', choices: ['caribbean', 'high-risk', 'unlisted'], help: 'destination ranges (three of them)', source: 'Caribbean NANP or premium ranges (Variphy)' },
    { name: 'duringBusinessHours', kind: 'bool', default: false, help: 'evasive: attack during business hours, mixed with normal traffic', source: 'evasive variant' },
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const durMs = (p.durationHours as number) * HOUR_MS;
    const candidates = p.duringBusinessHours ? [nextLocal(ctx.startMs + HOUR_MS, [1, 2, 3, 4, 5], 10 * 60)] : [nextLocal(ctx.startMs + HOUR_MS, [FRIDAY, SATURDAY], 22 * 60), nextLocal(ctx.startMs + HOUR_MS, null, 22 * 60)];
    const start = resolveStart(p.start as string, ctx, candidates, Math.min(durMs, 3 * HOUR_MS));
    const end = Math.min(ctx.endMs, start + durMs);
    // Victims: enterprise PBXs, the largest first among a random sample (they can carry the concurrency).
    const pbxs: number[] = [];
    for (let a = 0; a < pop.accountCount; a++) if (pop.accClass[a] === AccountClass.PBX && pop.accSegment[a] === Segment.ENTERPRISE && (pop.accPilot[a] as number) >= 0 && !ctx.used.has(pop.accPilot[a] as number)) pbxs.push(a);
    // Small populations may have too few enterprise PBXs: add customers (with clean traffic) to hack.
    while (pbxs.length < (p.accounts as number)) pbxs.push(pop.addScenarioPbx(ctx.rng.int(REGIONS.length), 20 + ctx.rng.int(20), ctx.startMs - (400 + ctx.rng.int(2000)) * DAY_MS, ctx.rng));
    const accounts: number[] = [];
    while (accounts.length < (p.accounts as number) && pbxs.length > 0) {
      const sample = Array.from({ length: Math.min(5, pbxs.length) }, () => pbxs[ctx.rng.int(pbxs.length)] as number);
      const best = sample.reduce((x, y) => ((pop.accLines[y] as number) > (pop.accLines[x] as number) ? y : x));
      accounts.push(best);
      pbxs.splice(pbxs.indexOf(best), 1);
      for (let k = 0; k < (pop.accLines[best] as number); k++) ctx.used.add((pop.accFirstLine[best] as number) + k);
    }
    const plans = accounts.map((a, k) => ({
      a,
      dests: [0, 1, 2].map((j) => new Destination(pickRange(ctx.rng, p.destination as string), ctx.rng, hash2(pop.seed, 0xb0c + k * 7 + j))),
      t0: start + k * 17 * MINUTE_MS,
    }));
    return (eng) => {
      plans.forEach(({ a, dests, t0 }, k) => {
        const attacker = attackerNumber(hash2(pop.seed, 0xb1c + k), 0, true);
        const label = eng.newLabel('pbx-hack', `pbx-hack-${k + 1}`, null, 'account', pop.accountId(a), labelParams(p, { pilot: pop.msisdn(pop.accPilot[a] as number), ranges: dests.map((d) => d.prefix), attacker }));
        const seed = hash2(pop.seed, 0xb2c + k);
        const probes = p.probeCalls as number;
        if (probes > 0) eng.addActor(new Prober(pop.accPilot[a] as number, attacker, probes, t0, label, seed), t0 - HOUR_MS);
        const lines = Array.from({ length: pop.accLines[a] as number }, (_, j) => (pop.accFirstLine[a] as number) + j);
        const slots = Math.min(p.concurrentCalls as number, lines.length);
        const pool = { lines, next: 0 };
        for (let s = 0; s < slots; s++) eng.addActor(new TollCaller(pool, dests, end, p, label, hash2(seed, s + 1)), t0 + s * (20_000 + (hash2(seed, s) % 40_000)));
      });
    };
  },
};

/** PIN guessing through the PBX's voicemail/DISA: short answered inbound calls from one number. */
class Prober implements Actor {
  private made = 0;
  private readonly rng: Rng;
  constructor(
    private readonly pilot: number,
    private readonly attacker: string,
    private readonly calls: number,
    private readonly until: number,
    private readonly label: LabelAcc,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (this.made >= this.calls || now >= this.until) return Infinity;
    const rng = this.rng;
    const leg = eng.deliver(this.pilot, this.attacker, now, 5000 + rng.int(20_000), { rng, counter: 0, original: null, redirecting: null, label: this.label, inTrunk: eng.trunkFor(this.attacker), answerProbability: 1 });
    this.made++;
    return Math.max(leg.release, now + 1000) + 5000 + rng.int(60_000);
  }
}

/** One concurrent call slot: a free extension of the PBX calls a destination range, again and again. */
class TollCaller implements Actor {
  private n = 0;
  private readonly rng: Rng;
  constructor(
    private readonly pool: { lines: number[]; next: number },
    private readonly dests: Destination[],
    private readonly end: number,
    private readonly p: ParamValues,
    private readonly label: LabelAcc,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (now >= this.end) return Infinity;
    const rng = this.rng;
    // A free extension: one call per line at a time.
    const lines = this.pool.lines;
    let ext = -1;
    for (let k = 0; k < lines.length; k++) {
      const cand = lines[(this.pool.next + k) % lines.length] as number;
      if (!eng.isBusy(cand, now)) {
        ext = cand;
        this.pool.next = (this.pool.next + k + 1) % lines.length;
        break;
      }
    }
    if (ext < 0) return now + 30_000 + rng.int(30_000);
    const dest = this.dests[this.n % this.dests.length] as Destination;
    const to = dest.number(this.n++ % 5);
    const minMs = minutes(this.p.callMinutesMin as number);
    const talk = Math.round(rng.range(minMs, Math.max(minMs, minutes(this.p.callMinutesMax as number))));
    const leg = eng.call(ext, staticWhere(-1), dialledForm(to, false, rng.next()), to, -1, now, talk, rng, this.label, 0.95);
    return Math.max(leg.release, now + 1000) + 10_000 + rng.int(80_000);
  }
}
