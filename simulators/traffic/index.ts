/**
 * The traffic generator (issue #3): a realistic subscriber population and its clean traffic, with
 * switchable, parameterised and labelled fraud scenarios, deterministic for a seed. Records come out in
 * emission order (seizure time; NRTRDE delay for roamers when enabled) as a sync iterator, batches, or an
 * async stream; labels and the reference data the population implies are separate outputs.
 *
 *   const t = createTraffic({ seed: 42, subscribers: 10_000, startMs, endMs, scenarios: 'all' });
 *   for await (const batch of t.stream(5000)) sink(batch);
 *   t.labels();            // FraudLabel[] with the record ids of each campaign
 *   t.reference();         // customer inventory, numbering plan, cells, networks (schemas/reference.ts)
 *
 * Model and sources: simulators/traffic/README.md; reference data formats: docs/REFERENCE-DATA.md.
 */
import type { Cdr } from '../../schemas/index.js';
import type { FraudLabel } from '../../schemas/labels.js';
import { Rng, hash2, hashString } from './random.js';
import { DAY_MS, Intensity, dayOfIso, ukBankHolidays, type Holiday } from './calendar.js';
import { Population } from './population.js';
import { HOME_COUNTRIES, activateHome, homePlan, type HomePlan } from './home.js';
import { Engine } from './engine.js';
import { installCleanTraffic } from './clean.js';
import { SCENARIOS, EVASIVE, evasiveParams } from './scenarios/index.js';
import type { ScenarioDef } from './scenarios/common.js';
import { CLEAN_PARAMS, ParamError, cleanParams, defaults, paramHelp, parseParam, type ParamValues } from './params.js';
import { buildReference, type ReferenceTables } from './reference.js';

export { SCENARIOS, EVASIVE, evasiveParams, CLEAN_PARAMS, ParamError };
export type { ScenarioDef, ReferenceTables };
export { writeReference } from './reference.js';
export { toE164, HOME } from './numbering.js';
export { HOME_COUNTRIES, germanHolidays } from './home.js';

export interface TrafficOptions {
  seed: number;
  /** Home lines (mobile and PBX DDI lines); visitors come on top (clean.visitorShare). */
  subscribers: number;
  /** Window of seizure times, UTC epoch ms. */
  startMs: number;
  endMs: number;
  /** Scenario names, or 'all' / 'none'. */
  scenarios?: readonly string[] | 'all' | 'none';
  /** `scenario.param` (or `clean.param`) -> raw value, as given on the command line. */
  params?: Readonly<Record<string, string>>;
  /**
   * Home country of the operator (issue #13): GB (default; Albion Telecom, Ofcom numbering, Europe/London,
   * England and Wales bank holidays) or DE (Brocken Mobil, German numbering, Europe/Berlin, German public
   * holidays). Numbering plan, time zone, holidays, regions, short codes and reference data follow it.
   */
  homeCountry?: string;
  /**
   * 'uk' (England and Wales bank holidays), 'de' (German public holidays), 'none', and/or extra dates
   * `YYYY-MM-DD[=name]`. Default: the home country's (['uk'] for GB, ['de'] for DE).
   */
  holidays?: readonly string[];
  /** Prefix of record ids; default derived from the seed. */
  idPrefix?: string;
  /**
   * Write answered calls and data sessions longer than this as TS 32.298 partial records, one part per
   * interval from the seizure (CDR contract v3). Default 0: every record complete.
   */
  partialIntervalMs?: number;
}

export interface ResolvedParams {
  clean: ParamValues;
  scenarios: Map<string, ParamValues>;
}

/** Validates scenario names and `name.param=value` overrides against the declarations. */
export function resolveParams(scenarios: readonly string[] | 'all' | 'none' | undefined, raw: Readonly<Record<string, string>> = {}): ResolvedParams {
  const names = scenarios === 'all' ? SCENARIOS.map((s) => s.name) : scenarios === 'none' || scenarios === undefined ? [] : [...scenarios];
  for (const n of names) if (!SCENARIOS.some((s) => s.name === n)) throw new ParamError(`unknown scenario "${n}" (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  const clean = defaults(CLEAN_PARAMS);
  const chosen = new Map<string, ParamValues>();
  for (const s of SCENARIOS) if (names.includes(s.name)) chosen.set(s.name, defaults(s.params));
  for (const [key, value] of Object.entries(raw)) {
    const dot = key.indexOf('.');
    const scope = dot > 0 ? key.slice(0, dot) : '';
    const name = key.slice(dot + 1);
    const defs = scope === 'clean' ? CLEAN_PARAMS : SCENARIOS.find((s) => s.name === scope)?.params;
    if (!defs) throw new ParamError(`--param ${key}: unknown scope "${scope}" (clean or a scenario name)`);
    const def = defs.find((d) => d.name === name);
    if (!def) throw new ParamError(`--param ${key}: unknown parameter (${scope} has ${defs.map((d) => d.name).join(', ')})`);
    const v = parseParam(def, value, `--param ${key}`);
    if (scope === 'clean') clean[name] = v;
    else {
      const target = chosen.get(scope);
      if (!target) throw new ParamError(`--param ${key}: scenario ${scope} is not enabled (add it to --scenarios)`);
      target[name] = v;
    }
  }
  return { clean, scenarios: chosen };
}

export function holidaysFor(spec: readonly string[], startMs: number, endMs: number): Holiday[] {
  const out: Holiday[] = [];
  const y0 = new Date(startMs).getUTCFullYear();
  const y1 = new Date(endMs).getUTCFullYear();
  for (const item of spec) {
    if (item === 'none') continue;
    if (item === 'uk') {
      for (let y = y0; y <= y1; y++) out.push(...ukBankHolidays(y));
      continue;
    }
    if (item === 'de') {
      for (let y = y0; y <= y1; y++) out.push(...homePlan('DE').holidays(y));
      continue;
    }
    const [date = '', name] = item.split('=');
    out.push({ day: dayOfIso(date), name: name ?? 'Holiday' });
  }
  const first = Math.floor(startMs / DAY_MS) - 1;
  const last = Math.ceil(endMs / DAY_MS) + 1;
  return out.filter((h) => h.day >= first && h.day <= last).sort((a, b) => a.day - b.day);
}

export class Traffic {
  readonly population: Population;
  readonly intensity: Intensity;
  readonly engine: Engine;
  readonly params: ResolvedParams;
  readonly holidays: Holiday[];
  /** The home country's numbering, time zone and regions (activated whenever this traffic runs). */
  readonly plan: HomePlan;
  private started = false;

  constructor(readonly o: TrafficOptions) {
    if (!(o.endMs > o.startMs)) throw new ParamError('the window must end after it starts');
    if (!Number.isInteger(o.subscribers) || o.subscribers < 10) throw new ParamError('at least 10 subscribers');
    const country = (o.homeCountry ?? 'GB').toUpperCase();
    if (!HOME_COUNTRIES.includes(country)) throw new ParamError(`unknown home country "${o.homeCountry ?? ''}" (known: ${HOME_COUNTRIES.join(', ')})`);
    this.plan = homePlan(country);
    activateHome(this.plan);
    this.params = resolveParams(o.scenarios, o.params);
    const clean = cleanParams(this.params.clean);
    this.holidays = holidaysFor(o.holidays ?? [this.plan.holidaySpec], o.startMs, o.endMs);
    this.intensity = new Intensity({ seed: o.seed, startMs: o.startMs, endMs: o.endMs, zone: this.plan.zone, holidays: this.holidays, trendPerWeek: clean.trendPerWeek, dailyNoise: clean.dailyNoise, christmasFactor: clean.christmasFactor });
    this.population = new Population({ seed: o.seed, subscribers: o.subscribers, startMs: o.startMs, endMs: o.endMs, clean });
    // Scenarios choose victims and add their own lines before the engine sizes its per-line state.
    const used = new Set<number>();
    const installers: ((eng: Engine) => void)[] = [];
    for (const s of SCENARIOS) {
      const p = this.params.scenarios.get(s.name);
      if (!p) continue;
      const rng = new Rng(hash2(o.seed, hashString(s.name)));
      installers.push(s.setup({ pop: this.population, cal: this.intensity, rng, startMs: o.startMs, endMs: o.endMs, used }, p));
    }
    this.engine = new Engine(this.population, this.intensity, { seed: o.seed, startMs: o.startMs, endMs: o.endMs, idPrefix: o.idPrefix ?? `g${(o.seed >>> 0).toString(36)}-`, nrtrdeDelayMaxMinutes: clean.nrtrdeDelayMaxMinutes, partialIntervalMs: o.partialIntervalMs ?? 0 });
    installCleanTraffic(this.engine);
    for (const install of installers) install(this.engine);
  }

  /** Every record, in emission order. A Traffic can be iterated once. */
  *records(): Generator<Cdr> {
    if (this.started) throw new Error('traffic already consumed: create a new Traffic to replay it (same options, same records)');
    this.started = true;
    // Re-activated before every step, so traffics of different home countries can be interleaved.
    const it = this.engine.run();
    for (;;) {
      activateHome(this.plan);
      const n = it.next();
      if (n.done === true) return;
      yield n.value;
    }
  }

  /** Records in arrays of up to `size`. */
  *batches(size: number): Generator<Cdr[]> {
    let batch: Cdr[] = [];
    for (const r of this.records()) {
      batch.push(r);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  /** Batches as an async stream that yields to the event loop between batches (for sinks and file writers). */
  async *stream(size = 5000): AsyncGenerator<Cdr[]> {
    for (const b of this.batches(size)) {
      yield b;
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Labels of the campaigns, with the record ids emitted so far (complete once the records are). */
  labels(): FraudLabel[] {
    return this.engine.finalLabels();
  }

  /** The reference data the population implies (customer inventory, numbering plan, cells, networks ...). */
  reference(): ReferenceTables {
    activateHome(this.plan);
    const t = buildReference(this.population, this.holidays, this.o.startMs, this.o.endMs);
    // The large tables are read lazily: each activates this traffic's country while it is read.
    const plan = this.plan;
    const bound = <T>(rows: () => Iterable<T>) =>
      function* (): Generator<T> {
        activateHome(plan);
        for (const r of rows()) {
          yield r;
          activateHome(plan);
        }
      };
    return { ...t, accounts: bound(t.accounts), lines: bound(t.lines), features: bound(t.features), contractedRates: bound(t.contractedRates), directoryListings: bound(t.directoryListings) };
  }
}

export function createTraffic(o: TrafficOptions): Traffic {
  return new Traffic(o);
}

/** `generate --help` text for scenarios and parameters, printed from the declarations. */
export function scenarioHelp(): string {
  const lines: string[] = ['Scenarios (--scenarios NAME,... | all | none; parameters --param NAME.PARAM=VALUE):', ''];
  for (const s of SCENARIOS) {
    lines.push(`  ${s.name}  [${s.ref}; label entity: ${s.entityKind}]`);
    lines.push(...wrap(s.summary, 96, '      '));
    lines.push(...paramHelp(s.name, s.params, '      '));
    lines.push('');
  }
  lines.push('Clean population and traffic (--param clean.PARAM=VALUE):');
  lines.push(...paramHelp('clean', CLEAN_PARAMS, '      '));
  return lines.join('\n');
}

function wrap(text: string, width: number, indent: string): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line.length + word.length + 1 > width && line.length > 0) {
      out.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(indent + line);
  return out;
}
