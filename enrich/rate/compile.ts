/**
 * Compiles a tariff book (schemas/tariff.ts, docs/TARIFFS.md) once at start-up into the flat structures the
 * per-record path reads (STYLE.md §6 "pay at start-up"): one digit trie of every destination prefix (plus
 * one of national short codes), rates as struct-of-arrays with each rate group's price per billing block
 * pre-reduced to an exact fraction of micro-units, tariff versions sorted by their effective instant, and per
 * version and service a destination -> price entry table. Every problem in the file is collected and
 * reported at once (TariffError), with where it is; nothing is re-checked per record (STYLE.md §7).
 */
import type { HolidayRecord } from '../../schemas/reference.js';
import {
  ROUNDING_METHODS,
  SERVICES,
  TARIFF_FORMAT,
  type BandRuleDef,
  type PriceDef,
  type Quantity,
  type RateDef,
  type RoundingDef,
  type Service,
  type TariffBookFile,
  type TariffVersionDef,
} from '../../schemas/tariff.js';
import { gcd, parseMicros, roundingCode, MAX_SAFE } from './money.js';
import { DAY_MS, DayPlans, checkZone, dayOfIsoDate, parseInstant, parseList, parseTimeOfDay, zoneOffsetMs, type BandRule, type Partition, type Schedule } from './time.js';
import { DigitTrie } from './trie.js';

/** The base unit of a service's usage: milliseconds (voice), messages (SMS), bytes (data). */
export const UNIT_MS = 0;
export const UNIT_MSG = 1;
export const UNIT_BYTE = 2;
export const UNIT_NAMES = ['ms', 'message', 'byte'] as const;

export const SERVICE_INDEX: Record<Service, number> = { voice: 0, 'voice-in': 1, sms: 2, 'sms-in': 3, data: 4 };

export function unitOfService(s: Service): number {
  return s === 'data' ? UNIT_BYTE : s === 'sms' || s === 'sms-in' ? UNIT_MSG : UNIT_MS;
}

export class TariffError extends Error {
  constructor(readonly problems: string[]) {
    super(`the tariff book has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`);
    this.name = 'TariffError';
  }
}

/** Rates as struct-of-arrays; groups of rate r are gFirst[r] .. gFirst[r] + gCount[r] - 1, by `from`. */
export interface RateTable {
  count: number;
  ids: string[];
  unit: Uint8Array;
  connect: Float64Array;
  /** -1 when unset. */
  minimum: Float64Array;
  maximum: Float64Array;
  /** Usage below this is free; 0 when unset. */
  freeBelow: Float64Array;
  /** 10^(6 - decimals): the rounding step in micro-units. */
  quantum: Float64Array;
  method: Uint8Array;
  roundingLabel: string[];
  gFirst: Int32Array;
  gCount: Int32Array;
  /** Group start (elapsed usage), billing block, and price per block as the reduced fraction gNum / gDen micro-units. */
  gFrom: Float64Array;
  gInc: Float64Array;
  gNum: Float64Array;
  gDen: Float64Array;
  /** The price as written (micro-units per gPer base units), for CGRateS compatibility arithmetic. */
  gPrice: Float64Array;
  gPer: Float64Array;
  cgrates: (RateDef['cgrates'] | undefined)[];
}

/** One priced destination of a version and service: band -> rate, viewed through a day-plan partition. */
export interface PriceEntry {
  /** Destination index, -1 for "*". */
  dest: number;
  destId: string;
  rateByBand: Int32Array;
  partition: Partition;
}

export interface CompiledVersion {
  tariff: number;
  tariffId: string;
  label: string;
  fromMs: number;
  schedule: Schedule;
  /** Per service (SERVICE_INDEX): destination index -> entry index, or null if the service has no prices. */
  entryOfDest: (Int32Array | null)[];
  /** Per service: the "*" entry, -1 if none. */
  anyEntry: Int32Array;
  entries: PriceEntry[];
  /** zone × 5 services -> surcharge rate index, -1 none; null when the version has no roaming section. */
  roaming: Int32Array | null;
}

export interface CompiledTariff {
  id: string;
  zone: string;
  versionFrom: Float64Array;
  versions: CompiledVersion[];
  /** Chain index: this tariff then its fallbacks. */
  chain: number;
}

export interface Assignments {
  plans: Map<string, number>;
  accounts: Map<string, number>;
  /** Chain index or -1. */
  default: number;
  inboundRoamers: number;
  inboundRoamersByPlmn: Map<string, number>;
  contractRounding: RoundingDef;
  contractQuantum: number;
  contractMethod: number;
  contractRoundingLabel: string;
}

export interface CompiledTariffs {
  currency: string;
  timezone: string;
  destIds: string[];
  /** The tries' payload is the destination index (the matched prefix is the key's first `depth` digits). */
  trie: DigitTrie;
  shortTrie: DigitTrie;
  /** Serving networks (MCC-MNC prefixes) of destinations, for data. */
  networkTrie: DigitTrie;
  rates: RateTable;
  tariffs: CompiledTariff[];
  tariffIndex: Map<string, number>;
  /** Chains of tariff indices (a tariff, then its fallbacks). */
  chains: Int32Array[];
  assignments: Assignments;
  zoneNames: string[];
  /** ISO country -> zone index; `otherZone` for countries not listed (-1 if no "*"). */
  zoneOfCountry: Map<string, number>;
  otherZone: number;
  plans: DayPlans;
  warnings: string[];
}

export interface CompileOptions {
  /** holidays.csv rows: merged into the calendar named by their country (e.g. "GB"). */
  holidays?: Iterable<HolidayRecord>;
}

const DEFAULT_ROUNDING: RoundingDef = { method: 'half-up', decimals: 4 };

export function parseQuantity(q: Quantity | undefined, unit: number, where: string): number {
  if (q === undefined) throw new RangeError(`${where}: missing`);
  let n: number;
  if (typeof q === 'number') {
    n = unit === UNIT_MS ? q * 1000 : q;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(q);
    if (!m) throw new RangeError(`${where}: not a quantity: ${JSON.stringify(q)}`);
    const v = Number(m[1]);
    const u = m[2]!;
    const f =
      unit === UNIT_MS
        ? ({ '': 1000, s: 1000, sec: 1000, ms: 1, m: 60_000, min: 60_000, h: 3_600_000 } as Record<string, number>)[u]
        : unit === UNIT_MSG
          ? ({ '': 1, msg: 1 } as Record<string, number>)[u]
          : ({ '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as Record<string, number>)[u];
    if (f === undefined) throw new RangeError(`${where}: unit ${JSON.stringify(u)} does not fit ${UNIT_NAMES[unit]} usage (${unit === UNIT_MS ? 's, m, h, ms' : unit === UNIT_MSG ? 'msg' : 'B, KB, MB, GB, KiB, MiB, GiB'})`);
    n = v * f;
  }
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${where}: ${JSON.stringify(q)} is not a whole number of ${UNIT_NAMES[unit] === 'ms' ? 'milliseconds' : UNIT_NAMES[unit] + 's'}`);
  return n;
}

function roundingOf(r: RoundingDef | undefined, dflt: RoundingDef, where: string, problems: string[]): { quantum: number; method: number; label: string } {
  const x = r ?? dflt;
  if (!ROUNDING_METHODS.includes(x.method)) problems.push(`${where}.rounding.method: ${JSON.stringify(x.method)} is not one of ${ROUNDING_METHODS.join(', ')}`);
  if (!Number.isInteger(x.decimals) || x.decimals < 0 || x.decimals > 6) problems.push(`${where}.rounding.decimals: ${JSON.stringify(x.decimals)} must be an integer 0-6`);
  const decimals = Math.min(6, Math.max(0, Math.trunc(x.decimals) || 0));
  return { quantum: 10 ** (6 - decimals), method: roundingCode(ROUNDING_METHODS.includes(x.method) ? x.method : 'half-up'), label: `${x.method}/${decimals}` };
}

export class RateBuilder {
  ids: string[] = [];
  unit: number[] = [];
  connect: number[] = [];
  minimum: number[] = [];
  maximum: number[] = [];
  freeBelow: number[] = [];
  quantum: number[] = [];
  method: number[] = [];
  label: string[] = [];
  gFirst: number[] = [];
  gCount: number[] = [];
  gFrom: number[] = [];
  gInc: number[] = [];
  gNum: number[] = [];
  gDen: number[] = [];
  gPrice: number[] = [];
  gPer: number[] = [];
  cgrates: (RateDef['cgrates'] | undefined)[] = [];
  private readonly index = new Map<string, number>();

  constructor(
    private readonly defs: Record<string, RateDef>,
    private readonly dflt: RoundingDef,
    private readonly problems: string[],
  ) {}

  /** The compiled rate for (id, unit), compiled on first use. -1 if the id is unknown or invalid. */
  get(id: string, unit: number, where: string): number {
    const key = `${unit}:${id}`;
    const hit = this.index.get(key);
    if (hit !== undefined) return hit;
    const def = Object.prototype.hasOwnProperty.call(this.defs, id) ? this.defs[id] : undefined;
    if (!def) {
      this.problems.push(`${where}: unknown rate ${JSON.stringify(id)}`);
      this.index.set(key, -1);
      return -1;
    }
    const at = `rates.${id}`;
    const before = this.problems.length;
    const p = this.problems;
    const groups: { from: number; price: number; per: number; inc: number }[] = [];
    try {
      if (def.groups !== undefined) {
        if (def.price !== undefined || def.increments !== undefined) p.push(`${at}: give either groups or price/per/increments, not both`);
        def.groups.forEach((g, i) => {
          const gw = `${at}.groups[${i}]`;
          try {
            groups.push({ from: parseQuantity(g.from ?? 0, unit, `${gw}.from`), price: parseMicros(g.price, `${gw}.price`), per: parseQuantity(g.per, unit, `${gw}.per`), inc: parseQuantity(g.increment, unit, `${gw}.increment`) });
          } catch (e) {
            p.push((e as Error).message);
          }
        });
      } else {
        const price = parseMicros(def.price, `${at}.price`);
        // Defaults: per minute for voice, per message for SMS; data must say per what (e.g. "1MB").
        const per = parseQuantity(def.per ?? (unit === UNIT_MS ? 60 : 1), unit, `${at}.per`);
        // Default billing block: a second for voice, the whole "per" otherwise.
        const incs = (def.increments ?? (unit === UNIT_MS ? '1' : String(def.per ?? 1))).split('/');
        if (incs.length > 2) p.push(`${at}.increments: expected "FIRST/NEXT" or "N", got ${JSON.stringify(def.increments)}`);
        const first = parseQuantity(incs[0]!.trim(), unit, `${at}.increments`);
        const next = incs.length === 2 ? parseQuantity(incs[1]!.trim(), unit, `${at}.increments`) : first;
        groups.push({ from: 0, price, per, inc: first });
        if (next !== first) groups.push({ from: first, price, per, inc: next });
      }
    } catch (e) {
      p.push((e as Error).message);
    }
    if (groups.length === 0 && p.length === before) p.push(`${at}: no rate groups`);
    groups.sort((a, b) => a.from - b.from);
    if (groups.length > 0 && groups[0]!.from !== 0) p.push(`${at}: the first rate group must start at 0`);
    for (let i = 1; i < groups.length; i++) if (groups[i]!.from === groups[i - 1]!.from) p.push(`${at}: two rate groups start at the same usage`);
    for (const g of groups) {
      if (g.per <= 0) p.push(`${at}: "per" must be positive`);
      if (g.inc <= 0) p.push(`${at}: increments must be positive`);
      if (g.price < 0) p.push(`${at}: prices must not be negative`);
    }
    const r = roundingOf(def.rounding, this.dflt, at, p);
    const money = (v: unknown, w: string) => {
      if (v === undefined) return -1;
      try {
        // More decimals than the rounding are fine: the event is rounded once, as a whole.
        const m = parseMicros(v, w);
        if (m < 0) p.push(`${w}: must not be negative`);
        return m;
      } catch (e) {
        p.push((e as Error).message);
        return -1;
      }
    };
    const connect = money(def.connectFee, `${at}.connectFee`);
    const minimum = money(def.minimumCharge, `${at}.minimumCharge`);
    const maximum = money(def.maximumCharge, `${at}.maximumCharge`);
    let freeBelow = 0;
    try {
      if (def.freeBelow !== undefined) freeBelow = parseQuantity(def.freeBelow, unit, `${at}.freeBelow`);
    } catch (e) {
      p.push((e as Error).message);
    }
    if (p.length > before) {
      this.index.set(key, -1);
      return -1;
    }
    const idx = this.ids.length;
    this.ids.push(id);
    this.unit.push(unit);
    this.connect.push(Math.max(0, connect));
    this.minimum.push(minimum);
    this.maximum.push(maximum);
    this.freeBelow.push(freeBelow);
    this.quantum.push(r.quantum);
    this.method.push(r.method);
    this.label.push(r.label);
    this.cgrates.push(def.cgrates);
    this.gFirst.push(this.gFrom.length);
    this.gCount.push(groups.length);
    for (const g of groups) {
      // Price of one block = price × inc / per micro-units, kept as a reduced fraction.
      let num = g.price * g.inc;
      let den = g.per;
      if (!Number.isSafeInteger(num)) p.push(`${at}: price × increment is too large for exact arithmetic`);
      const k = gcd(num, den) || 1;
      num /= k;
      den /= k;
      this.gFrom.push(g.from);
      this.gInc.push(g.inc);
      this.gNum.push(num);
      this.gDen.push(den);
      this.gPrice.push(g.price);
      this.gPer.push(g.per);
    }
    this.index.set(key, idx);
    return idx;
  }

  build(): RateTable {
    return {
      count: this.ids.length,
      ids: this.ids,
      unit: Uint8Array.from(this.unit),
      connect: Float64Array.from(this.connect),
      minimum: Float64Array.from(this.minimum),
      maximum: Float64Array.from(this.maximum),
      freeBelow: Float64Array.from(this.freeBelow),
      quantum: Float64Array.from(this.quantum),
      method: Uint8Array.from(this.method),
      roundingLabel: this.label,
      gFirst: Int32Array.from(this.gFirst),
      gCount: Int32Array.from(this.gCount),
      gFrom: Float64Array.from(this.gFrom),
      gInc: Float64Array.from(this.gInc),
      gNum: Float64Array.from(this.gNum),
      gDen: Float64Array.from(this.gDen),
      gPrice: Float64Array.from(this.gPrice),
      gPer: Float64Array.from(this.gPer),
      cgrates: this.cgrates,
    };
  }
}

function bit(list: number[] | null, offset: number): number {
  if (list === null) return -1;
  let m = 0;
  for (const v of list) m |= 1 << (v - offset);
  return m;
}

/** Compiles a tariff book; throws TariffError listing every problem. */
export function compileTariffs(book: TariffBookFile, opts: CompileOptions = {}): CompiledTariffs {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (book === null || typeof book !== 'object') throw new TariffError(['the tariff book is not a JSON object']);
  if (book.format !== TARIFF_FORMAT) problems.push(`format: expected ${JSON.stringify(TARIFF_FORMAT)}, got ${JSON.stringify(book.format)}`);
  if (typeof book.currency !== 'string' || !/^[A-Z]{3}$/.test(book.currency)) problems.push(`currency: expected an ISO 4217 code, got ${JSON.stringify(book.currency)}`);
  const zoneOk = (z: unknown, where: string): boolean => {
    try {
      if (typeof z !== 'string') throw new RangeError('');
      checkZone(z);
      return true;
    } catch {
      problems.push(`${where}: ${JSON.stringify(z)} is not an IANA time zone`);
      return false;
    }
  };
  const bookZone = zoneOk(book.timezone, 'timezone') ? book.timezone : 'UTC';
  const dfltRounding = book.rounding ?? DEFAULT_ROUNDING;
  roundingOf(dfltRounding, DEFAULT_ROUNDING, 'book', problems);

  // Calendars.
  const calendars = new Map<string, Set<number>>();
  for (const [name, dates] of Object.entries(book.calendars ?? {})) {
    const set = new Set<number>();
    if (!Array.isArray(dates)) problems.push(`calendars.${name}: expected a list of dates`);
    else
      for (const d of dates) {
        try {
          set.add(dayOfIsoDate(d, `calendars.${name}`));
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
    calendars.set(name, set);
  }
  for (const h of opts.holidays ?? []) {
    let set = calendars.get(h.country);
    if (!set) calendars.set(h.country, (set = new Set()));
    try {
      set.add(dayOfIsoDate(h.date, `holidays (${h.country})`));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }

  // Destinations and the tries.
  const destIds: string[] = [];
  const destIndex = new Map<string, number>();
  const trie = new DigitTrie(4096);
  const shortTrie = new DigitTrie(64);
  const networkTrie = new DigitTrie(64);
  const networkDests = new Set<string>();
  const termOwner = new Map<string, string>();
  for (const [id, def] of Object.entries(book.destinations ?? {})) {
    if (id === '*') {
      problems.push('destinations: "*" is reserved (every number); use it in prices, not as a destination id');
      continue;
    }
    const d = destIds.length;
    destIds.push(id);
    destIndex.set(id, d);
    const prefixes = Array.isArray(def) ? def : (def.prefixes ?? []);
    const shorts = Array.isArray(def) ? [] : (def.shortCodes ?? []);
    const networks = Array.isArray(def) ? [] : (def.networks ?? []);
    if (networks.length > 0) networkDests.add(id);
    if (prefixes.length === 0 && shorts.length === 0 && networks.length === 0) warnings.push(`destinations.${id}: no prefixes`);
    for (const [list, t, kind] of [
      [prefixes, trie, 'prefix'],
      [shorts, shortTrie, 'short code'],
      [networks, networkTrie, 'network'],
    ] as const) {
      for (const raw of list) {
        if (typeof raw !== 'string' || raw.length === 0 || !DigitTrie.accepts(raw)) {
          problems.push(`destinations.${id}: ${kind} ${JSON.stringify(raw)} must be digits (${kind === 'network' ? 'MCC-MNC' : 'E.164 without "+"'})`);
          continue;
        }
        const owner = termOwner.get(`${kind}:${raw}`);
        if (owner !== undefined) {
          if (owner !== id) problems.push(`destinations.${id}: ${kind} ${raw} is also in ${owner} (a prefix belongs to one destination)`);
          continue;
        }
        termOwner.set(`${kind}:${raw}`, id);
        t.set(raw, d);
      }
    }
  }
  trie.seal();
  shortTrie.seal();
  networkTrie.seal();

  // Roaming zones.
  const zoneNames: string[] = [];
  const zoneOfCountry = new Map<string, number>();
  let otherZone = -1;
  for (const [zone, countries] of Object.entries(book.roamingZones ?? {})) {
    const z = zoneNames.length;
    zoneNames.push(zone);
    for (const c of countries) {
      if (c === '*') {
        if (otherZone >= 0) problems.push(`roamingZones.${zone}: "*" is already in ${zoneNames[otherZone]}`);
        otherZone = z;
      } else if (zoneOfCountry.has(c)) problems.push(`roamingZones.${zone}: ${c} is already in ${zoneNames[zoneOfCountry.get(c)!]}`);
      else zoneOfCountry.set(c, z);
    }
  }

  const rates = new RateBuilder(book.rates ?? {}, dfltRounding, problems);
  const plans = new DayPlans();
  const schedules = new Map<string, Schedule>();
  let scheduleCount = 0;

  const compileRules = (rules: BandRuleDef[], zone: string, where: string): Schedule => {
    const key = `${zone}\u0000${JSON.stringify(rules)}`;
    const hit = schedules.get(key);
    if (hit) return hit;
    const bandNames: string[] = [];
    const compiled: BandRule[] = [];
    if (!Array.isArray(rules) || rules.length === 0) problems.push(`${where}: a band schedule needs at least one rule`);
    (Array.isArray(rules) ? rules : []).forEach((r, i) => {
      const w = `${where}[${i}]`;
      try {
        if (typeof r.band !== 'string' || r.band === '') throw new RangeError(`${w}.band: missing`);
        let band = bandNames.indexOf(r.band);
        if (band < 0) band = bandNames.push(r.band) - 1;
        const days = parseList(r.days, 1, 7, `${w}.days`);
        const fromSec = r.from === undefined ? 0 : parseTimeOfDay(r.from, `${w}.from`);
        const toSec = r.to === undefined ? 86_400 : parseTimeOfDay(r.to, `${w}.to`);
        if (!(fromSec < toSec)) throw new RangeError(`${w}: "from" must be before "to" (split a range that crosses midnight into two rules)`);
        let holidays: Set<number> | null = null;
        if (r.holidays !== undefined && r.holidays !== false) {
          const name = r.holidays === true ? 'default' : r.holidays;
          holidays = calendars.get(name) ?? null;
          if (!holidays) throw new RangeError(`${w}.holidays: unknown calendar ${JSON.stringify(name)}`);
        }
        const years = parseList(r.years, 1970, 2200, `${w}.years`);
        compiled.push({
          band,
          // ISO 1..7 (Mon..Sun) to JS 0..6 (Sun..Sat): 7 % 7 = 0.
          weekdays: days === null ? -1 : days.reduce((m, d) => m | (1 << d % 7), 0),
          months: bit(parseList(r.months, 1, 12, `${w}.months`), 1),
          monthDays: bit(parseList(r.monthDays, 1, 31, `${w}.monthDays`), 1),
          years: years === null ? null : new Set(years),
          holidays,
          fromSec,
          toSec,
        });
      } catch (e) {
        problems.push((e as Error).message);
      }
    });
    const s: Schedule = { id: scheduleCount++, zone, rules: compiled, bandNames, guessOffsetMs: zoneOffsetMs(zone, Date.UTC(2025, 0, 1)) };
    schedules.set(key, s);
    return s;
  };

  // basedOn: a version is a copy of another (this tariff's "LABEL" or another's "TARIFF@LABEL") with its own
  // entries on top; resolved recursively, cycles reported.
  const resolvedVersions = new Map<string, TariffVersionDef | null>();
  const resolveVersion = (tariffId: string, label: string, where: string): TariffVersionDef | undefined => {
    const key = `${tariffId}@${label}`;
    const hit = resolvedVersions.get(key);
    if (hit === null) {
      problems.push(`${where}.basedOn: ${key} is based on itself (a cycle)`);
      return undefined;
    }
    if (hit !== undefined) return hit;
    const def = book.tariffs?.[tariffId]?.versions?.find((x) => x.version === label);
    if (!def) return undefined;
    if (def.basedOn === undefined) {
      resolvedVersions.set(key, def);
      return def;
    }
    resolvedVersions.set(key, null);
    const at = def.basedOn.indexOf('@');
    const [bt, bl] = at >= 0 ? [def.basedOn.slice(0, at), def.basedOn.slice(at + 1)] : [tariffId, def.basedOn];
    const base = resolveVersion(bt, bl, where);
    if (base === undefined) problems.push(`${where}.basedOn: no version ${JSON.stringify(def.basedOn)}`);
    const merged = base === undefined ? def : mergeVersion(base, def);
    resolvedVersions.set(key, merged);
    return merged;
  };

  // Tariffs.
  const tariffIds = Object.keys(book.tariffs ?? {});
  const tariffIndex = new Map(tariffIds.map((id, i) => [id, i]));
  const tariffs: CompiledTariff[] = [];
  for (const id of tariffIds) {
    const def = book.tariffs[id]!;
    const at = `tariffs.${id}`;
    const zone = def.timezone === undefined ? bookZone : zoneOk(def.timezone, `${at}.timezone`) ? def.timezone : bookZone;
    const t = tariffs.length;
    const raw = Array.isArray(def.versions) ? def.versions : [];
    if (raw.length === 0) problems.push(`${at}: no versions`);
    const seen = new Set<string>();
    const resolved: { def: TariffVersionDef; fromMs: number }[] = [];
    raw.forEach((v, i) => {
      const vw = `${at}.versions[${i}]`;
      if (typeof v.version !== 'string' || v.version === '') problems.push(`${vw}.version: missing`);
      if (seen.has(v.version)) problems.push(`${vw}.version: ${JSON.stringify(v.version)} appears twice`);
      seen.add(v.version);
      const merged = resolveVersion(id, v.version, vw) ?? v;
      try {
        resolved.push({ def: merged, fromMs: parseInstant(String(v.effectiveFrom), zone, `${vw}.effectiveFrom`) });
      } catch (e) {
        problems.push((e as Error).message);
      }
    });
    resolved.sort((a, b) => a.fromMs - b.fromMs);
    for (let i = 1; i < resolved.length; i++) if (resolved[i]!.fromMs === resolved[i - 1]!.fromMs) problems.push(`${at}: versions ${resolved[i - 1]!.def.version} and ${resolved[i]!.def.version} take effect at the same instant`);
    const versions: CompiledVersion[] = [];
    for (const { def: v, fromMs } of resolved) {
      const vw = `${at}.versions(${v.version})`;
      let schedule: Schedule;
      if (v.bands === undefined) schedule = compileRules([{ band: 'ALL' }], zone, `${vw}.bands`);
      else if (typeof v.bands === 'string') {
        const rules = book.bandSchedules?.[v.bands];
        if (!rules) problems.push(`${vw}.bands: unknown band schedule ${JSON.stringify(v.bands)}`);
        schedule = compileRules(rules ?? [{ band: 'ALL' }], zone, `bandSchedules.${v.bands}`);
      } else schedule = compileRules(v.bands, zone, `${vw}.bands`);
      const entries: PriceEntry[] = [];
      const entryOfDest: (Int32Array | null)[] = [null, null, null, null, null];
      const anyEntry = new Int32Array(5).fill(-1);
      for (const [svc, list] of Object.entries(v.prices ?? {}) as [Service, PriceDef[]][]) {
        const si = SERVICE_INDEX[svc];
        if (si === undefined) {
          problems.push(`${vw}.prices: unknown service ${JSON.stringify(svc)} (${SERVICES.join(', ')})`);
          continue;
        }
        const unit = unitOfService(svc);
        const table = new Int32Array(destIds.length).fill(-1);
        for (const [j, pd] of (Array.isArray(list) ? list : []).entries()) {
          const pw = `${vw}.prices.${svc}[${j}]`;
          const dest = pd.destination === '*' ? -1 : (destIndex.get(pd.destination) ?? -2);
          if (dest === -2) {
            problems.push(`${pw}: unknown destination ${JSON.stringify(pd.destination)}`);
            continue;
          }
          if (si === SERVICE_INDEX.data && dest >= 0 && !networkDests.has(pd.destination)) warnings.push(`${pw}: ${pd.destination} has no "networks": data is priced by serving network, so it never matches`);
          if ((dest === -1 ? anyEntry[si]! : table[dest]!) >= 0) {
            problems.push(`${pw}: ${pd.destination} is priced twice for ${svc}`);
            continue;
          }
          const rateByBand = new Int32Array(schedule.bandNames.length).fill(-1);
          if (typeof pd.rate === 'string') rateByBand.fill(rates.get(pd.rate, unit, pw));
          else if (pd.rate && typeof pd.rate === 'object') {
            for (const [band, rateId] of Object.entries(pd.rate)) {
              const b = schedule.bandNames.indexOf(band);
              if (b < 0) problems.push(`${pw}: band ${JSON.stringify(band)} is not in the version's schedule (${schedule.bandNames.join(', ')})`);
              else rateByBand[b] = rates.get(rateId, unit, pw);
            }
            const missing = schedule.bandNames.filter((_, b) => rateByBand[b]! < 0);
            if (missing.length > 0) warnings.push(`${pw}: no rate for band${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (falls through to the next matching rule)`);
          } else problems.push(`${pw}.rate: expected a rate id or band -> rate id`);
          // Bands with the same rate form one class: a call moving between them is not split.
          const classOfBand = new Int32Array(rateByBand.length).fill(-1);
          const seen: number[] = [];
          rateByBand.forEach((r, b) => {
            if (r < 0) return;
            let c = seen.indexOf(r);
            if (c < 0) c = seen.push(r) - 1;
            classOfBand[b] = c;
          });
          const e = entries.length;
          entries.push({ dest, destId: pd.destination, rateByBand, partition: plans.partition(schedule, classOfBand) });
          if (dest === -1) anyEntry[si] = e;
          else table[dest] = e;
        }
        entryOfDest[si] = table;
      }
      let roaming: Int32Array | null = null;
      if (v.roaming !== undefined) {
        roaming = new Int32Array(zoneNames.length * 5).fill(-1);
        for (const [zone, svcs] of Object.entries(v.roaming)) {
          const z = zoneNames.indexOf(zone);
          if (z < 0) {
            problems.push(`${vw}.roaming: unknown roaming zone ${JSON.stringify(zone)}`);
            continue;
          }
          for (const [svc, rateId] of Object.entries(svcs ?? {}) as [Service, string][]) {
            const si = SERVICE_INDEX[svc];
            if (si === undefined) problems.push(`${vw}.roaming.${zone}: unknown service ${JSON.stringify(svc)}`);
            else roaming[z * 5 + si] = rates.get(rateId, unitOfService(svc), `${vw}.roaming.${zone}.${svc}`);
          }
        }
      }
      versions.push({ tariff: t, tariffId: id, label: v.version, fromMs, schedule, entryOfDest, anyEntry, entries, roaming });
    }
    tariffs.push({ id, zone, versionFrom: Float64Array.from(versions.map((v) => v.fromMs)), versions, chain: -1 });
  }

  // Chains: a tariff and its fallbacks (depth-first, each tariff once, at most 8 deep like CGRateS's 3).
  const chains: Int32Array[] = [];
  for (const t of tariffs) {
    const order: number[] = [];
    const visit = (id: string, depth: number, where: string) => {
      const i = tariffIndex.get(id);
      if (i === undefined) {
        problems.push(`${where}: unknown fallback tariff ${JSON.stringify(id)}`);
        return;
      }
      if (order.includes(i) || depth > 8) return;
      order.push(i);
      for (const f of book.tariffs[id]!.fallback ?? []) visit(f, depth + 1, `tariffs.${id}.fallback`);
    };
    visit(t.id, 0, `tariffs.${t.id}`);
    t.chain = chains.length;
    chains.push(Int32Array.from(order));
  }

  const a = book.assignments ?? {};
  const chainOf = (id: string | undefined, where: string): number => {
    if (id === undefined) return -1;
    const i = tariffIndex.get(id);
    if (i === undefined) {
      problems.push(`${where}: unknown tariff ${JSON.stringify(id)}`);
      return -1;
    }
    return tariffs[i]!.chain;
  };
  const cr = roundingOf(a.contractRounding, dfltRounding, 'assignments.contract', problems);
  const assignments: Assignments = {
    plans: new Map(Object.entries(a.plans ?? {}).map(([plan, id]) => [plan, chainOf(id, `assignments.plans.${plan}`)])),
    accounts: new Map(Object.entries(a.accounts ?? {}).map(([acc, id]) => [acc, chainOf(id, `assignments.accounts.${acc}`)])),
    default: chainOf(a.default, 'assignments.default'),
    inboundRoamers: chainOf(a.inboundRoamers, 'assignments.inboundRoamers'),
    inboundRoamersByPlmn: new Map(Object.entries(a.inboundRoamersByPlmn ?? {}).map(([plmn, id]) => [plmn, chainOf(id, `assignments.inboundRoamersByPlmn.${plmn}`)])),
    contractRounding: a.contractRounding ?? dfltRounding,
    contractQuantum: cr.quantum,
    contractMethod: cr.method,
    contractRoundingLabel: cr.label,
  };

  if (problems.length > 0) throw new TariffError(problems);
  const rt = rates.build();
  if (rt.gNum.some((n) => n > MAX_SAFE)) throw new TariffError(['a rate price × increment exceeds the exact range']);
  return {
    currency: book.currency,
    timezone: bookZone,
    destIds,
    trie,
    shortTrie,
    networkTrie,
    rates: rt,
    tariffs,
    tariffIndex,
    chains,
    assignments,
    zoneNames,
    zoneOfCountry,
    otherZone,
    plans,
    warnings,
  };
}

function mergeVersion(base: TariffVersionDef, over: TariffVersionDef): TariffVersionDef {
  const prices: Partial<Record<Service, PriceDef[]>> = {};
  for (const s of SERVICES) {
    const b = base.prices?.[s];
    const o = over.prices?.[s];
    if (!b && !o) continue;
    const byDest = new Map<string, PriceDef>();
    for (const p of b ?? []) byDest.set(p.destination, p);
    for (const p of o ?? []) byDest.set(p.destination, p);
    prices[s] = [...byDest.values()];
  }
  const roaming = base.roaming || over.roaming ? { ...base.roaming } : undefined;
  if (roaming) for (const [z, svcs] of Object.entries(over.roaming ?? {})) roaming[z] = { ...roaming[z], ...svcs };
  const merged: TariffVersionDef = { version: over.version, effectiveFrom: over.effectiveFrom, prices };
  const bands = over.bands ?? base.bands;
  if (bands !== undefined) merged.bands = bands;
  if (roaming) merged.roaming = roaming;
  return merged;
}

/** The version of a tariff in effect at t (latest effectiveFrom <= t), or undefined. */
export function versionAt(t: CompiledTariff, at: number): CompiledVersion | undefined {
  const from = t.versionFrom;
  let k = from.length - 1;
  while (k >= 0 && from[k]! > at) k--;
  return k >= 0 ? t.versions[k] : undefined;
}

export { DAY_MS };
