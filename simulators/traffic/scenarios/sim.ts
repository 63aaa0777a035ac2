/**
 * SIM-level fraud: SIM boxes (interconnect bypass) and SIM
 * cloning (one IMSI in two places: overlapping calls and impossible travel).
 */
import { Rng, hash2 } from '../random.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, localDay, localHour, utcOffsetMinutes } from '../calendar.js';
import { COUNTRIES, REGIONS, distanceKm } from '../geography.js';
import { dialledForm, fixedNumber, foreignNumber, offnetMobile } from '../numbering.js';
import { F, HOME_ZONE, LineKind, imeiOf } from '../population.js';
import { State, type Actor, type Engine, type LabelAcc, type Where } from '../engine.js';
import { activeLine, labelParams, nextLocal, pickLines, resolveStart, startParam, staticWhere, type ScenarioDef } from './common.js';
import type { ParamValues } from '../params.js';

export const simbox: ScenarioDef = {
  name: 'simbox',
  ref: 'docs/FRAUD.md',
  summary: 'SIM box: new SIMs in one gateway at one static cell make many short-gapped outgoing calls to many distinct local numbers, with a daily minute cap per SIM, no SMS or data and (almost) no incoming calls; SIMs rotate over the gateway modules (IMEIs)',
  entityKind: 'imsi',
  params: [
    { name: 'sims', kind: 'int', default: 0, min: 0, max: 10_000, help: 'SIMs in the box (0 = 0.1% of subscribers, at least 4)', source: 'fastcdrgen occurrence 0.001' },
    { name: 'modules', kind: 'int', default: 8, min: 1, max: 512, help: 'gateway modules (IMEIs) the SIMs rotate over daily', source: '50 MSISDN per IMEI (fastcdrgen) [proposal: 8]' },
    startParam('the first 08:00 local 6 h after the window start'),
    { name: 'durationHours', kind: 'number', default: 0, min: 0, help: 'how long it runs (0 = to the end of the window)', source: '[proposal]' },
    { name: 'gapSecondsMin', kind: 'number', default: 20, min: 1, help: 'shortest pause between calls of a SIM, seconds', source: '[proposal] 20-60 s' },
    { name: 'gapSecondsMax', kind: 'number', default: 60, min: 1, help: 'longest pause between calls of a SIM, seconds', source: '[proposal] 20-60 s' },
    { name: 'dailyMinutesCap', kind: 'number', default: 200, min: 1, help: 'answered minutes per SIM per day before it rests', source: '[proposal] 100-300 (2N gateway caps)' },
    { name: 'callMedianSeconds', kind: 'number', default: 150, min: 1, help: 'median call length (log-normal, sigma 0.7)', source: '[proposal]' },
    { name: 'activeFromHour', kind: 'int', default: 8, min: 0, max: 23, help: 'local hour the box starts calling', source: '[proposal]' },
    { name: 'activeToHour', kind: 'int', default: 23, min: 1, max: 24, help: 'local hour it stops', source: '[proposal]' },
    { name: 'incomingPerDay', kind: 'number', default: 0, min: 0, help: 'evasive: incoming calls, SMS and data sessions per SIM per day (human-behaviour simulation)', source: 'evasive (HAUD, FraudZen)' },
    { name: 'moving', kind: 'bool', default: false, help: 'evasive: the box moves to another cell every 2 min', source: 'evasive (VoltDB "truck")' },
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const n = (p.sims as number) > 0 ? (p.sims as number) : Math.max(4, Math.round(pop.homeLines * 0.001));
    const from = (p.activeFromHour as number) * 60;
    const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs + 6 * HOUR_MS, null, from), nextLocal(ctx.startMs, null, from)], 2 * HOUR_MS);
    const end = (p.durationHours as number) > 0 ? Math.min(ctx.endMs, start + (p.durationHours as number) * HOUR_MS) : ctx.endMs;
    const region = ctx.rng.int(REGIONS.length);
    // Activated within the last day (VoltDB NOT_NEW_ANY_MORE_DAYS: new SIMs are suspect).
    const sims = Array.from({ length: n }, () => pop.addScenarioLine({ installMs: start - (1 + ctx.rng.int(22)) * HOUR_MS, region }));
    const cell = pop.homeCell[sims[0] as number] as number;
    for (const s of sims) pop.homeCell[s] = cell;
    const modules = Array.from({ length: p.modules as number }, (_, m) => imeiOf(7, hash2(pop.seed, 0x5b0 + m)));
    return (eng) => {
      sims.forEach((line, k) => {
        const label = eng.newLabel('simbox', 'simbox-1', null, 'imsi', pop.imsi(line) as string, labelParams(p, { msisdn: pop.msisdn(line), imeis: modules, cellId: pop.cells.cellId[cell] as number, sims: n }));
        eng.addActor(new SimBoxSim(line, k, cell, modules, end, p, label, hash2(pop.seed, 0x5b1 + k)), start + Math.round((k / n) * 10 * MINUTE_MS));
      });
    };
  },
};

class SimBoxSim implements Actor {
  private day = -1;
  private usedMs = 0;
  private readonly rng: Rng;
  constructor(
    private readonly line: number,
    private readonly k: number,
    private readonly cell: number,
    private readonly modules: string[],
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
    const p = this.p;
    const off = utcOffsetMinutes(HOME_ZONE, now);
    const day = localDay(now, off);
    if (day !== this.day) {
      this.day = day;
      this.usedMs = 0;
    }
    const hour = localHour(now, off);
    const from = p.activeFromHour as number;
    if (hour < from || hour >= (p.activeToHour as number)) return nextLocal(now + 60_000, null, from * 60) + rng.int(300_000);
    if (this.usedMs >= (p.dailyMinutesCap as number) * MINUTE_MS) return nextLocal(now + HOUR_MS, null, from * 60) + rng.int(300_000);
    const pop = eng.pop;
    const cells = pop.cells;
    let w: Where = staticWhere(this.cell);
    if (p.moving) {
      const region = cells.region[this.cell] as number;
      w = staticWhere((cells.regionStart[region] as number) + (Math.floor(now / (2 * MINUTE_MS)) % (cells.regionCount[region] as number)));
    }
    const imei = this.modules[(this.k + day) % this.modules.length] as string;
    const extras = p.incomingPerDay as number;
    if (extras > 0 && rng.chance(extras / (extras + 60))) {
      this.humanise(eng, w, now, rng);
      return now + 60_000 + rng.int(600_000);
    }
    const h = hash2(this.line, rng.int(0x7fffffff));
    let b = -1;
    let e164: string;
    if (rng.chance(pop.clean.onNetShare * 0.5)) {
      b = rng.int(pop.homeLines);
      e164 = pop.msisdn(b);
    } else e164 = rng.chance(0.75) ? offnetMobile(h) : fixedNumber(h % REGIONS.length, h);
    const talk = Math.round(Math.min(30 * MINUTE_MS, Math.max(5000, rng.lognormal((p.callMedianSeconds as number) * 1000, 0.7))));
    const leg = eng.call(this.line, w, dialledForm(e164, false, rng.next()), e164, b, now, talk, rng, this.label, 0.6, true, imei);
    if (leg.answer !== null) this.usedMs += leg.release - leg.answer;
    const gapMin = (p.gapSecondsMin as number) * 1000;
    const gapMax = Math.max(gapMin, (p.gapSecondsMax as number) * 1000);
    return Math.max(leg.release, now + 1000) + Math.round(rng.range(gapMin, gapMax));
  }

  /** Evasion: a little incoming traffic, SMS and data so the SIM looks used by a person. */
  private humanise(eng: Engine, w: Where, now: number, rng: Rng): void {
    const x = rng.next();
    const other = offnetMobile(hash2(this.line, rng.int(50)));
    if (x < 0.4) eng.deliver(this.line, other, now, 30_000 + rng.int(120_000), { rng, counter: 0, original: null, redirecting: null, label: this.label, inTrunk: eng.trunkFor(other) });
    else if (x < 0.7) eng.sms(this.line, w, dialledForm(other, false, rng.next()), -1, now, rng, this.label);
    else eng.data(this.line, w, now, 60_000 + rng.int(600_000), 20_000 + rng.int(200_000), 200_000 + rng.int(5_000_000), this.label);
  }
}

export const simClone: ScenarioDef = {
  name: 'sim-clone',
  ref: 'docs/FRAUD.md',
  summary: 'SIM cloning: a second handset (other IMEI) with a customer\'s IMSI makes calls far away from the original — overlapping the original\'s calls (collision) or shortly after them (impossible travel, well above 1,000 km/h)',
  entityKind: 'imsi',
  params: [
    { name: 'victims', kind: 'int', default: 1, min: 1, max: 1000, help: 'cloned SIMs (one campaign each)', source: '[proposal]' },
    { name: 'callsPerDay', kind: 'number', default: 15, min: 0.1, help: 'calls by the clone per active day (08:00-23:00 local)', source: '[proposal]' },
    { name: 'collisionShare', kind: 'number', default: 0.5, min: 0, max: 1, help: 'clone calls placed while the original is in a call (0 = evasive velocity-only variant)', source: 'collision + velocity checks; evasive variant' },
    { name: 'distanceKmMin', kind: 'number', default: 300, min: 0, help: 'minimum distance between the clone and the original\'s home region, km', source: '1,000 km/h ceiling (go-cdr-fraud-detector)' },
    { name: 'location', kind: 'string', default: 'domestic', choices: ['domestic', 'abroad'], help: 'clone in another home region, or on a foreign network', source: 'London->Istanbul in 5 min' },
    startParam('the first 08:00 local 12 h after the window start'),
    { name: 'durationHours', kind: 'number', default: 48, min: 0.1, help: 'how long the clone is used', source: '[proposal]' },
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const durMs = (p.durationHours as number) * HOUR_MS;
    const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs + 12 * HOUR_MS, null, 8 * 60), nextLocal(ctx.startMs, null, 8 * 60)], Math.min(durMs, 6 * HOUR_MS));
    const end = Math.min(ctx.endMs, start + durMs);
    const victims = pickLines(ctx, p.victims as number, (i) => activeLine(pop, i) && pop.kind[i] === LineKind.MOBILE && !((pop.features[i] as number) & (F.TRAVELLER | F.DOMESTIC_TRAVELLER | F.FWD_INTL_CFU)) && (pop.voiceRate[i] as number) >= 2);
    const cells = pop.cells;
    const plans = victims.map((v, k) => {
      const home = REGIONS[pop.region[v] as number] as (typeof REGIONS)[number];
      let where: Where;
      let km: number;
      if (p.location === 'abroad') {
        const options = COUNTRIES.map((c, i) => ({ c, i })).filter((x) => x.c.networks.length > 0 && x.c.cities.length > 0);
        const { c, i } = ctx.rng.pick(options);
        const network = ctx.rng.int(c.networks.length);
        const cell = (cells.countryStart[i] as number) + network * 3 + ctx.rng.int(3);
        where = { state: State.ABROAD, cell, country: i, network, until: 0 };
        km = distanceKm(home.lat, home.lon, cells.lat[cell] as number, cells.lon[cell] as number);
      } else {
        const far = REGIONS.map((r, i) => ({ i, d: distanceKm(home.lat, home.lon, r.lat, r.lon) })).sort((a, b) => b.d - a.d);
        const options = far.filter((x) => x.d >= (p.distanceKmMin as number));
        const pick = options.length > 0 ? ctx.rng.pick(options) : (far[0] as { i: number; d: number });
        const cell = (cells.regionStart[pick.i] as number) + ctx.rng.int(cells.regionCount[pick.i] as number);
        where = staticWhere(cell);
        km = pick.d;
      }
      const imei = imeiOf((pop.tac[v] as number) + 3, hash2(pop.seed, 0xc10e + k));
      return { v, where, km, imei };
    });
    return (eng) => {
      plans.forEach(({ v, where, km, imei }, k) => {
        const label = eng.newLabel('sim-clone', `sim-clone-${k + 1}`, null, 'imsi', pop.imsi(v) as string, labelParams(p, { msisdn: pop.msisdn(v), cloneImei: imei, cloneCellId: pop.cells.cellId[where.cell] as number, distanceKm: Math.round(km) }));
        eng.addActor(new Clone(v, where, imei, end, p, label, hash2(pop.seed, 0xc1 + k)), start + ctx.rng.int(30 * MINUTE_MS));
      });
    };
  },
};

class Clone implements Actor {
  private tries = 0;
  private readonly rng: Rng;
  constructor(
    private readonly line: number,
    private readonly where: Where,
    private readonly imei: string,
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
    const hour = localHour(now, utcOffsetMinutes(HOME_ZONE, now));
    if (hour < 8 || hour >= 23) return nextLocal(now + 60_000, null, 8 * 60) + rng.int(1_800_000);
    // Collision: watch (every 15-45 s, up to ~8 h) for the original to be in a call, then call meanwhile.
    if (this.tries === 0 && !rng.chance(this.p.collisionShare as number)) this.tries = -1;
    if (this.tries >= 0 && !eng.isBusy(this.line, now + 5000) && this.tries < 960) {
      this.tries++;
      return now + 15_000 + rng.int(30_000);
    }
    this.tries = 0;
    const h = hash2(this.line, rng.int(0x7fffffff));
    const e164 = rng.chance(0.8) ? offnetMobile(h) : foreignNumber(rng.pick(COUNTRIES), true, h);
    const talk = Math.round(Math.min(HOUR_MS, Math.max(5000, rng.lognormal(120_000, 0.7))));
    // The clone's calls do not occupy the original handset: the original keeps calling, and may overlap.
    const leg = eng.call(this.line, this.where, dialledForm(e164, this.where.state === State.ABROAD, rng.next()), e164, -1, now, talk, rng, this.label, 0.7, false, this.imei);
    const gap = rng.exp((15 * HOUR_MS) / (this.p.callsPerDay as number));
    return Math.max(leg.release, now + 1000) + Math.round(Math.min(gap, DAY_MS));
  }
}
