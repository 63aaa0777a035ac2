/**
 * Revenue-share bursts from one SIM: a few short test
 * calls to a number range, then long calls to the same range back to back — to international premium
 * ranges (IRSF), national premium-rate 09 numbers (PRS), or from a SIM roaming abroad.
 */
import { Rng, hash2 } from '../random.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../calendar.js';
import { COUNTRIES, REGIONS } from '../geography.js';
import { dialledForm, premiumNumber } from '../numbering.js';
import { F, LineKind } from '../population.js';
import { State, type Actor, type Engine, type LabelAcc, type Where } from '../engine.js';
import { Destination, activeLine, labelParams, minutes, nextLocal, pickLines, pickRange, resolveStart, startParam, type ScenarioDef, type SetupContext } from './common.js';
import { ParamError, type ParamDef, type ParamValues } from '../params.js';

const SATURDAY = 6;
const SUNDAY = 0;

function burstParams(d: { calls: number; min: number; max: number; src: string }): ParamDef[] {
  return [
    { name: 'testCalls', kind: 'int', default: 3, min: 0, max: 100, help: 'short test calls first (5-30 s)', source: 'test calls then long calls (PRISM)' },
    { name: 'longCalls', kind: 'int', default: d.calls, min: 1, max: 10_000, help: 'long calls after the tests', source: '[proposal]' },
    { name: 'callMinutesMin', kind: 'number', default: d.min, min: 0.1, help: 'shortest long call, minutes', source: d.src },
    { name: 'callMinutesMax', kind: 'number', default: d.max, min: 0.1, help: 'longest long call, minutes', source: '[proposal]' },
    { name: 'gapSecondsMax', kind: 'number', default: 120, min: 1, help: 'longest pause between calls, seconds (shortest 5 s)', source: '[proposal]' },
  ];
}

/** Test calls then long calls from one line, sequentially (a SIM holds one call at a time). */
class Burst implements Actor {
  private done = 0;
  private readonly rng: Rng;
  constructor(
    private readonly line: number,
    private readonly where: (eng: Engine, now: number, rng: Rng) => Where,
    private readonly numbers: string[],
    private readonly p: ParamValues,
    private readonly label: LabelAcc,
    seed: number,
    private readonly onStart?: (eng: Engine, now: number) => void,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    const rng = this.rng;
    if (this.done === 0) this.onStart?.(eng, now);
    const tests = this.p.testCalls as number;
    if (this.done >= tests + (this.p.longCalls as number) || now >= eng.o.endMs) return Infinity;
    const test = this.done < tests;
    const to = test ? (this.numbers[0] as string) : (this.numbers[1 + (this.done % (this.numbers.length - 1))] as string);
    const minMs = minutes(this.p.callMinutesMin as number);
    const talk = test ? 5000 + rng.int(25_000) : Math.round(rng.range(minMs, Math.max(minMs, minutes(this.p.callMinutesMax as number))));
    const w = this.where(eng, now, rng);
    const leg = eng.call(this.line, w, dialledForm(to, w.state === State.ABROAD, rng.next()), to, -1, now, talk, rng, this.label, 1, true);
    this.done++;
    const gapMax = (this.p.gapSecondsMax as number) * 1000;
    // Between the test calls and the long calls the fraudster checks the revenue report: minutes to an hour.
    const pause = this.done === tests ? 5 * MINUTE_MS + rng.int(55 * MINUTE_MS) : 5000 + rng.int(Math.max(1, gapMax - 5000));
    return Math.max(leg.release, now + 1000) + pause;
  }
}

function burstNumbers(dest: Destination, n: number): string[] {
  return Array.from({ length: n }, (_, k) => dest.number(k));
}

export const irsf: ScenarioDef = {
  name: 'irsf',
  ref: 'docs/FRAUD.md',
  summary: 'IRSF via a new (subscription-fraud) or stolen SIM: short test calls to a revenue-share range, then long calls to the same range back to back, typically over a weekend night',
  entityKind: 'msisdn',
  params: [
    { name: 'sims', kind: 'int', default: 1, min: 1, max: 1000, help: 'SIMs (one campaign each)', source: '[proposal]' },
    { name: 'newSim', kind: 'bool', default: true, help: 'a SIM activated in the day before the attack (else an existing customer line, stolen)', source: 'new or stolen SIM' },
    { name: 'destination', kind: 'string', default: 'high-risk', choices: ['high-risk', 'unlisted'], help: 'hot-listed revenue-share range, or a high-cost range missing from the lists (evasive)', source: 'GSMA: dynamic destinations' },
    startParam('Saturday 01:00 local (weekend IRSF, XINTEC ~80% Fri night-Mon morning)'),
    ...burstParams({ calls: 20, min: 20, max: 60, src: 'PollCat LONG_INTL: >=20 min' }),
  ],
  setup(ctx, p) {
    return setupBurst(ctx, p, 'irsf', (rng, k) => new Destination(pickRange(rng, p.destination as string), rng, hash2(ctx.pop.seed, 0x125f + k)));
  },
};

export const premiumRate: ScenarioDef = {
  name: 'premium-rate',
  ref: 'docs/FRAUD.md',
  summary: 'premium-rate (PRS) pumping: lines call one national 09 premium number, test calls then long calls',
  entityKind: 'msisdn',
  params: [
    { name: 'sims', kind: 'int', default: 2, min: 1, max: 1000, help: 'lines pumping (one campaign each)', source: '[proposal]' },
    { name: 'newSim', kind: 'bool', default: true, help: 'SIMs activated in the day before the attack (else existing customer lines)', source: 'published cases' },
    startParam('Sunday 02:00 local'),
    ...burstParams({ calls: 15, min: 10, max: 45, src: '[proposal]' }),
  ],
  setup(ctx, p) {
    // All lines pump the same service: one 09 number (and its test number next to it).
    const service = premiumNumber(hash2(ctx.pop.seed, 0x9e5));
    return setupBurst(ctx, p, 'premium-rate', () => null, [service, service]);
  },
};

function setupBurst(ctx: SetupContext, p: ParamValues, name: string, dest: (rng: Rng, k: number) => Destination | null, fixedNumbers?: string[]): (eng: Engine) => void {
  const pop = ctx.pop;
  // Weekend nights (XINTEC: ~80% of IRSF between Friday night and Monday morning), else any night.
  const [day, minute] = name === 'irsf' ? [SATURDAY, 60] : [SUNDAY, 120];
  const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs, [day], minute), nextLocal(ctx.startMs + 6 * HOUR_MS, null, minute)], 4 * HOUR_MS);
  const n = p.sims as number;
  const lines = p.newSim
    ? Array.from({ length: n }, () => pop.addScenarioLine({ installMs: start - (2 + ctx.rng.int(20)) * HOUR_MS, region: ctx.rng.int(REGIONS.length) }))
    : pickLines(ctx, n, (i) => activeLine(pop, i) && pop.kind[i] === LineKind.MOBILE && !pop.isBusinessLine(i) && !((pop.features[i] as number) & F.BAR_INTL));
  const plans = lines.map((line, k) => {
    const d = dest(ctx.rng, k);
    return { line, numbers: fixedNumbers ?? burstNumbers(d as Destination, 6), prefix: d ? d.prefix : '', t0: start + k * (3 + ctx.rng.int(25)) * MINUTE_MS };
  });
  return (eng) => {
    plans.forEach(({ line, numbers, prefix, t0 }, k) => {
      const label = eng.newLabel(name, `${name}-${k + 1}`, null, 'msisdn', pop.msisdn(line), labelParams(p, { range: prefix || (numbers[0] as string), numbers: [...new Set(numbers)], newSim: p.newSim as boolean }));
      // A stolen SIM is out of its owner's hands from the attack on: the owner's own traffic stops.
      const onStart = p.newSim ? undefined : (e: Engine, now: number) => e.occupy(line, now + 2 * DAY_MS);
      eng.addActor(new Burst(line, (e, now, rng) => e.where(line, now, rng), numbers, p, label, hash2(pop.seed, 0xb00 + k + name.length * 97), onStart), t0);
    });
  };
}

export const roamingHighUsage: ScenarioDef = {
  name: 'roaming-high-usage',
  ref: 'docs/FRAUD.md',
  summary: 'a SIM stolen abroad: from a visited network (servingPlmn != homePlmn) it makes long calls to revenue-share ranges back to back; with clean.nrtrdeDelayMaxMinutes its records also arrive late',
  entityKind: 'imsi',
  params: [
    { name: 'sims', kind: 'int', default: 1, min: 1, max: 1000, help: 'SIMs (one campaign each)', source: '[proposal]' },
    { name: 'country', kind: 'string', default: 'auto', choices: ['auto', ...COUNTRIES.filter((c) => c.networks.length > 0).map((c) => c.iso), 'GB'], help: 'visited country (not the home country)', source: '[proposal]' },
    { name: 'destination', kind: 'string', default: 'high-risk', choices: ['high-risk', 'unlisted'], help: 'revenue-share range called', source: 'hot-listing on roaming traffic (PRISM)' },
    startParam('Saturday 00:00 local'),
    ...burstParams({ calls: 25, min: 10, max: 60, src: 'long-duration calls, NRTRDE FMS' }),
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs + 8 * HOUR_MS, [SATURDAY], 0), nextLocal(ctx.startMs + 8 * HOUR_MS, null, 0)], 4 * HOUR_MS);
    const roamable = COUNTRIES.map((c, i) => ({ c, i })).filter((x) => x.c.networks.length > 0 && x.c.cities.length > 0);
    const lines = pickLines(ctx, p.sims as number, (i) => activeLine(pop, i) && pop.kind[i] === LineKind.MOBILE && !((pop.features[i] as number) & (F.TRAVELLER | F.BAR_INTL)) && ((pop.features[i] as number) & F.ROAMING) !== 0);
    const chosen = COUNTRIES.findIndex((c) => c.iso === p.country);
    if (p.country !== 'auto' && chosen < 0) throw new ParamError(`roaming-high-usage.country: ${String(p.country)} is the home country`);
    const plans = lines.map((line, k) => {
      const country = p.country === 'auto' ? (ctx.rng.pick(roamable) as { i: number }).i : chosen;
      const network = ctx.rng.int((COUNTRIES[country] as (typeof COUNTRIES)[number]).networks.length);
      const dest = new Destination(pickRange(ctx.rng, p.destination as string), ctx.rng, hash2(pop.seed, 0x40a + k));
      return { line, country, network, dest, t0: start + k * 11 * MINUTE_MS };
    });
    return (eng) => {
      plans.forEach(({ line, country, network, dest, t0 }, k) => {
        const ctry = COUNTRIES[country] as (typeof COUNTRIES)[number];
        const label = eng.newLabel('roaming-high-usage', `roaming-high-usage-${k + 1}`, null, 'imsi', pop.imsi(line) as string, labelParams(p, { msisdn: pop.msisdn(line), visitedPlmn: (ctry.networks[network] as { plmn: string }).plmn, range: dest.prefix }));
        // The SIM went abroad (and out of its owner's hands) 6 h before the first call: long enough that the
        // move from the last home cell is not impossible travel.
        const away = t0 - 6 * HOUR_MS;
        eng.moveAbroad(line, away, ctx.endMs + DAY_MS, country, network);
        eng.addActor(new Burst(line, (e, now, rng) => e.where(line, now, rng), burstNumbers(dest, 6), p, label, hash2(pop.seed, 0x40b + k)), t0);
        eng.addActor({ step: (_now, e) => (e.occupy(line, ctx.endMs + DAY_MS), Infinity) }, Math.max(ctx.startMs, away));
      });
    };
  },
};
