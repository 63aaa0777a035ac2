/**
 * What fraud scenarios share: their declaration (name, reference, parameters), start-time
 * resolution ("auto" picks the moment the literature says attacks happen), victim selection, a small
 * timed queue for campaign actors, and the numbers of parties we do not model (attackers, spoofed CLIs).
 */
import type { LabelEntityKind } from '../../../schemas/labels.js';
import { ParamError, type ParamDef, type ParamValues } from '../params.js';
import { Rng, hash2 } from '../random.js';
import { DAY_MS, MINUTE_MS, dayOfWeek, localDay, localToUtc, type Intensity } from '../calendar.js';
import { HOME_ZONE, LineStatus, Behaviour, type Population } from '../population.js';
import { RISK_RANGES, LISTED_RANGES, UNLISTED_RANGES, foreignNumber, offnetMobile, riskBlock, riskNumber, type RiskRange } from '../numbering.js';
import { COUNTRIES, type Country } from '../geography.js';
import { perHome } from '../home.js';
import type { Engine, LabelAcc, Where } from '../engine.js';
import { State } from '../engine.js';

export interface SetupContext {
  pop: Population;
  cal: Intensity;
  rng: Rng;
  startMs: number;
  endMs: number;
  /** Lines already used by another scenario (victims are not shared between scenarios). */
  used: Set<number>;
}

export interface ScenarioDef {
  name: string;
  /** Where the recipe is documented in the repository (docs/FRAUD.md). */
  ref: string;
  summary: string;
  entityKind: LabelEntityKind;
  params: readonly ParamDef[];
  /** Chooses victims and creates scenario lines (before the engine exists); returns the installer. */
  setup(ctx: SetupContext, p: ParamValues): (eng: Engine) => void;
}

/** The `start` parameter every scenario has. */
export function startParam(auto: string): ParamDef {
  return { name: 'start', kind: 'string', default: 'auto', help: `attack start: auto (${auto}), +HOURS after the window start (e.g. +36), or an ISO instant`, source: 'attack timing of published cases' };
}

/**
 * Resolves a start parameter. `auto` takes the first candidate (in order of preference) that leaves
 * `needMs` before the end of the window, else a quarter into the window.
 */
export function resolveStart(raw: string, ctx: SetupContext, candidates: readonly number[], needMs: number): number {
  let t: number;
  if (raw === 'auto') {
    const fits = candidates.find((c) => c >= ctx.startMs && c + needMs <= ctx.endMs);
    t = fits ?? ctx.startMs + (ctx.endMs - ctx.startMs) / 4;
  } else if (/^\+\d+(\.\d+)?$/.test(raw)) t = ctx.startMs + Number(raw.slice(1)) * 3_600_000;
  else {
    t = Date.parse(raw);
    if (!Number.isFinite(t) || !/(Z|[+-]\d\d:?\d\d)$/.test(raw)) throw new ParamError(`start must be auto, +HOURS or an ISO instant with a zone (e.g. 2026-10-09T18:00:00+01:00), got "${raw}"`);
  }
  return Math.round(Math.max(ctx.startMs, Math.min(t, ctx.endMs - 60_000)));
}

/** The first local wall-clock time (weekday set, minute of day) at or after `from`, or Infinity within 60 days. */
export function nextLocal(from: number, days: readonly number[] | null, minuteOfDay: number): number {
  const d0 = localDay(from, 0);
  for (let d = d0 - 1; d < d0 + 60; d++) {
    if (days && !days.includes(dayOfWeek(d))) continue;
    const t = localToUtc(HOME_ZONE, d, minuteOfDay);
    if (t >= from) return t;
  }
  return Infinity;
}

/** The first public holiday in the window at a local time, or Infinity. */
export function firstHoliday(ctx: SetupContext, minuteOfDay: number): number {
  for (let d = localDay(ctx.startMs, 0); d * DAY_MS < ctx.endMs; d++) if (ctx.cal.isHoliday(d)) return Math.max(ctx.startMs, localToUtc(HOME_ZONE, d, minuteOfDay));
  return Infinity;
}

/** Picks `n` distinct lines satisfying `ok`, deterministically, marking them used. Fewer when there are not enough. */
export function pickLines(ctx: SetupContext, n: number, ok: (i: number) => boolean): number[] {
  const pop = ctx.pop;
  const out: number[] = [];
  const limit = pop.homeLines;
  let tries = 0;
  while (out.length < n && tries < 20 * n + 2000) {
    tries++;
    const i = ctx.rng.int(limit);
    if (ctx.used.has(i) || !ok(i)) continue;
    ctx.used.add(i);
    out.push(i);
  }
  // Sparse predicates on small populations: scan once from a random point.
  if (out.length < n) {
    const s = ctx.rng.int(limit);
    for (let k = 0; k < limit && out.length < n; k++) {
      const i = (s + k) % limit;
      if (ctx.used.has(i) || !ok(i)) continue;
      ctx.used.add(i);
      out.push(i);
    }
  }
  return out;
}

/** An active line of ours with clean traffic. */
export function activeLine(pop: Population, i: number): boolean {
  return pop.status[i] === LineStatus.ACTIVE && pop.behaviour[i] !== Behaviour.SCENARIO;
}

/** A destination range for a campaign by name: high-risk (listed), unlisted (evasive) or caribbean. */
export function pickRange(rng: Rng, set: string): RiskRange {
  const pool = set === 'unlisted' ? UNLISTED_RANGES : set === 'caribbean' ? RISK_RANGES.filter((r) => r.cc === '1') : LISTED_RANGES;
  return rng.pick(pool);
}

/** A campaign destination: a range, a 3-digit block in it, and numbers there. */
export class Destination {
  readonly block: number;
  constructor(
    readonly range: RiskRange | null,
    rng: Rng,
    private readonly seed: number,
  ) {
    this.block = rng.int(1000);
  }
  get prefix(): string {
    return this.range ? riskBlock(this.range, this.block) : '';
  }
  number(k: number): string {
    if (this.range) return riskNumber(this.range, this.block, hash2(this.seed, k));
    const intl = countriesForIntl();
    const c = intl[hash2(this.seed, 0xc0) % intl.length] as Country;
    return foreignNumber(c, true, hash2(this.seed, k));
  }
}

/** A spoofed or attacker-controlled calling number: a UK mobile or a foreign number. */
export function attackerNumber(seed: number, k: number, foreign: boolean): string {
  if (!foreign) return offnetMobile(hash2(seed, k));
  const intl = countriesForIntl();
  const c = intl[hash2(seed, k ^ 0x77) % intl.length] as Country;
  return foreignNumber(c, true, hash2(seed, k));
}

/** A static location (SIM boxes, fixed lines): the given cell, at home. */
export function staticWhere(cell: number): Where {
  return { state: State.HOME, cell, country: -1, network: 0, until: 0 };
}

/** Ordinary international destinations (for the non-high-risk variants). */
const countriesForIntl = perHome(() => COUNTRIES.filter((c) => c.callWeight > 0));

/** A min-queue of timed items (campaign actors' own agendas). */
export class TimedQueue<T> {
  private readonly t: number[] = [];
  private readonly v: T[] = [];
  private seq = 0;
  private readonly s: number[] = [];

  get size(): number {
    return this.t.length;
  }

  peekTime(): number {
    return this.t.length > 0 ? (this.t[0] as number) : Infinity;
  }

  push(time: number, item: T): void {
    const seq = this.seq++;
    let k = this.t.length;
    this.t.push(time);
    this.v.push(item);
    this.s.push(seq);
    while (k > 0) {
      const p = (k - 1) >> 1;
      if ((this.t[p] as number) < time || ((this.t[p] as number) === time && (this.s[p] as number) < seq)) break;
      this.t[k] = this.t[p] as number;
      this.v[k] = this.v[p] as T;
      this.s[k] = this.s[p] as number;
      k = p;
    }
    this.t[k] = time;
    this.v[k] = item;
    this.s[k] = seq;
  }

  pop(): T {
    const top = this.v[0] as T;
    const lt = this.t.pop() as number;
    const lv = this.v.pop() as T;
    const ls = this.s.pop() as number;
    const n = this.t.length;
    if (n > 0) {
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        if (r < n && ((this.t[r] as number) < (this.t[l] as number) || ((this.t[r] as number) === (this.t[l] as number) && (this.s[r] as number) < (this.s[l] as number)))) c = r;
        if (lt < (this.t[c] as number) || (lt === (this.t[c] as number) && ls < (this.s[c] as number))) break;
        this.t[k] = this.t[c] as number;
        this.v[k] = this.v[c] as T;
        this.s[k] = this.s[c] as number;
        k = c;
      }
      this.t[k] = lt;
      this.v[k] = lv;
      this.s[k] = ls;
    }
    return top;
  }
}

/** Minutes to ms, for parameter values. */
export function minutes(m: number): number {
  return Math.round(m * MINUTE_MS);
}

/** Label parameters: the scenario's own plus campaign facts. */
export function labelParams(p: ParamValues, facts: Record<string, string | number | boolean | string[]>): Record<string, string | number | boolean | string[]> {
  return { ...p, ...facts };
}

/**
 * A label accumulator that records into two labels (the sender's and the prefix's): the engine calls
 * `first/last` and pushes record ids through `label`, so the two are kept in step by a proxy object.
 */
export function mergeLabels(a: LabelAcc, b: LabelAcc): LabelAcc {
  const ids = new Proxy(a.label.recordIds, {
    get(target, prop, recv) {
      if (prop === 'push') return (...xs: string[]) => (b.label.recordIds.push(...xs), target.push(...xs));
      return Reflect.get(target, prop, recv);
    },
  });
  const label = { ...a.label, recordIds: ids };
  return {
    get label() {
      return label;
    },
    // The engine lowers `first` when a record starts before it: report the later of the two so both move.
    get first() {
      return Math.max(a.first, b.first);
    },
    set first(v: number) {
      a.first = Math.min(a.first, v);
      b.first = Math.min(b.first, v);
    },
    get last() {
      return Math.min(a.last, b.last);
    },
    set last(v: number) {
      a.last = Math.max(a.last, v);
      b.last = Math.max(b.last, v);
    },
  } as LabelAcc;
}
