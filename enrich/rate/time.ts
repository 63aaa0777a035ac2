/**
 * Local time for rating: IANA time zones (via Intl.DateTimeFormat, at compile time and on first use of a
 * day only), band schedules, and the per-day plans the hot path reads.
 *
 * A band schedule is an ordered list of rules (weekday, time of day, months, month days, years, holiday
 * calendar); at any local instant the first rule that matches gives the band. For one priced destination
 * only the bands it has a rate for count (a band without a rate falls through to the next matching rule),
 * so a "day plan" is computed per (schedule, which bands price, which rate each band has) and per local
 * day: the UTC instants where the band changes, and which rate class holds between them. Plans are built
 * on first use and cached; a record then needs two array reads to find its band.
 *
 * Daylight saving: a boundary at local wall time T is the first instant at or after which the local clock
 * shows T. On the spring-forward day a boundary inside the skipped hour therefore falls on the transition;
 * on the fall-back day a boundary inside the repeated hour falls on its first occurrence. Local days are
 * 23 or 25 hours long on those days, and every band covers exactly the real time the clock shows it.
 */

export const DAY_MS = 86_400_000;

/**
 * The largest instant (ms from the epoch, either sign) an ECMAScript Date represents (ECMA-262 §21.4.1.1,
 * ±100,000,000 days). Rating refuses instants beyond it: the day walks below would never end at ±Infinity,
 * and past 2^53 ms a day step (day + 1) no longer changes the day.
 */
export const MAX_INSTANT_MS = 8.64e15;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws RangeError for a name the runtime's tz database does not know. */
export function checkZone(name: string): void {
  formatter(name);
}

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(zone, f);
  }
  return f;
}

/** UTC offset of a zone at an instant, ms (local = utc + offset). */
export function zoneOffsetMs(zone: string, utcMs: number): number {
  if (zone === 'UTC' || zone === 'Etc/UTC') return 0;
  const base = Math.floor(utcMs / 1000) * 1000;
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  let s = 0;
  for (const p of formatter(zone).formatToParts(base)) {
    switch (p.type) {
      case 'year':
        y = Number(p.value);
        break;
      case 'month':
        mo = Number(p.value);
        break;
      case 'day':
        d = Number(p.value);
        break;
      case 'hour':
        h = Number(p.value);
        break;
      case 'minute':
        mi = Number(p.value);
        break;
      case 'second':
        s = Number(p.value);
        break;
      default:
        break;
    }
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) - base;
}

/**
 * The first UTC instant at or after which the local clock of `zone` shows `wallMs` (a local wall time
 * written as if it were UTC: day * DAY_MS + milliseconds of the day).
 */
export function wallToUtc(zone: string, wallMs: number): number {
  if (zone === 'UTC' || zone === 'Etc/UTC') return wallMs;
  const before = zoneOffsetMs(zone, wallMs - DAY_MS);
  const after = zoneOffsetMs(zone, wallMs + DAY_MS);
  let best = Infinity;
  for (const o of before === after ? [before] : [before, after]) {
    const u = wallMs - o;
    if (zoneOffsetMs(zone, u) === o && u < best) best = u;
  }
  if (best !== Infinity) return best;
  // In a gap (spring forward): the answer is the transition, the first instant with the later offset.
  let lo = wallMs - Math.max(before, after);
  let hi = wallMs - Math.min(before, after);
  const target = zoneOffsetMs(zone, hi);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (zoneOffsetMs(zone, mid) === target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Days since 1970-01-01 of a YYYY-MM-DD date. */
export function dayOfIsoDate(date: string, where: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || !Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== date) throw new RangeError(`${where}: not a date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  return ms / DAY_MS;
}

/**
 * An instant from "YYYY-MM-DD" (local midnight), "YYYY-MM-DDTHH:MM[:SS]" (local) or an ISO instant with
 * "Z" or an offset.
 */
export function parseInstant(value: string, zone: string, where: string): number {
  if (/(Z|[+-]\d{2}:?\d{2})$/.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isFinite(ms)) throw new RangeError(`${where}: not an ISO instant: ${JSON.stringify(value)}`);
    return ms;
  }
  const m = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(value);
  if (!m) throw new RangeError(`${where}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (local) or an ISO instant, got ${JSON.stringify(value)}`);
  const day = dayOfIsoDate(m[1]!, where);
  const secs = Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  if (secs >= 86_400) throw new RangeError(`${where}: time of day out of range in ${JSON.stringify(value)}`);
  return wallToUtc(zone, day * DAY_MS + secs * 1000);
}

/** "HH:MM" / "HH:MM:SS" (24:00 allowed as an end) to seconds of the day. */
export function parseTimeOfDay(value: string, where: string): number {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  const s = m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0) : NaN;
  if (!m || Number(m[2]) > 59 || Number(m[3] ?? 0) > 59 || !(s <= 86_400)) throw new RangeError(`${where}: not a time of day (HH:MM): ${JSON.stringify(value)}`);
  return s;
}

/** "1-5", "6,7", "1,3-4", "*" (or absent) to a bit set of the allowed values (null = any). */
export function parseList(value: string | undefined, min: number, max: number, where: string): number[] | null {
  if (value === undefined || value.trim() === '*' || value.trim() === '') return null;
  const out = new Set<number>();
  for (const part of value.split(/[,;]/)) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!m) throw new RangeError(`${where}: bad list item ${JSON.stringify(part)} (expected numbers and ranges like "1-5,7")`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < min || b > max || a > b) throw new RangeError(`${where}: ${part.trim()} is outside ${min}-${max}`);
    for (let v = a; v <= b; v++) out.add(v);
  }
  return [...out].sort((x, y) => x - y);
}

/** A compiled band rule. Sets are bit masks; -1 = any. */
export interface BandRule {
  band: number;
  /** Bit (0 = Sunday ... 6 = Saturday, JS getUTCDay order). */
  weekdays: number;
  /** Bit (month - 1). */
  months: number;
  /** Bit (day - 1). */
  monthDays: number;
  years: Set<number> | null;
  /** Holiday calendar this rule is restricted to, or null. */
  holidays: Set<number> | null;
  fromSec: number;
  toSec: number;
}

/** A band schedule in one time zone. */
export interface Schedule {
  id: number;
  zone: string;
  rules: BandRule[];
  bandNames: string[];
  /** Offset at compile time: a first guess of the local day of an instant. */
  guessOffsetMs: number;
}

/** Band changes over one local day, for one partition of the bands into rate classes. */
export interface DayPlan {
  key: number;
  day: number;
  /** UTC instants of local midnight of this day and the next. */
  start: number;
  end: number;
  /** Start instant of each segment (times[0] = start); segments are band-precise. */
  times: Float64Array;
  /** Band of each segment, -1 where no rule with a priced band matches. */
  bands: Int32Array;
  /** Rate class of each segment (bands with the same rate share a class), -1 where unpriced. */
  classes: Int32Array;
}

/** A schedule viewed through one destination's prices: band -> class (-1 = no rate for the band). */
export interface Partition {
  id: number;
  schedule: Schedule;
  classOfBand: Int32Array;
}

function dayMatches(rule: BandRule, day: number): boolean {
  const date = new Date(day * DAY_MS);
  if (rule.weekdays !== -1 && !(rule.weekdays & (1 << date.getUTCDay()))) return false;
  if (rule.months !== -1 && !(rule.months & (1 << date.getUTCMonth()))) return false;
  if (rule.monthDays !== -1 && !(rule.monthDays & (1 << (date.getUTCDate() - 1)))) return false;
  if (rule.years !== null && !rule.years.has(date.getUTCFullYear())) return false;
  if (rule.holidays !== null && !rule.holidays.has(day)) return false;
  return true;
}

/** The band-precise segments of a local day for a partition (computed once per day and partition). */
export function buildDayPlan(p: Partition, day: number, key: number): DayPlan {
  const s = p.schedule;
  const rules = s.rules.filter((r) => dayMatches(r, day));
  const cuts = new Set<number>([0, 86_400]);
  for (const r of rules) {
    cuts.add(r.fromSec);
    cuts.add(r.toSec);
  }
  const points = [...cuts].filter((x) => x >= 0 && x <= 86_400).sort((a, b) => a - b);
  const segStart: number[] = [];
  const segBand: number[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i]!;
    let band = -1;
    for (const r of rules) {
      if (r.fromSec <= a && r.toSec > a && (p.classOfBand[r.band] ?? -1) >= 0) {
        band = r.band;
        break;
      }
    }
    if (segBand.length > 0 && segBand[segBand.length - 1] === band) continue;
    segStart.push(a);
    segBand.push(band);
  }
  const start = wallToUtc(s.zone, day * DAY_MS);
  const end = wallToUtc(s.zone, (day + 1) * DAY_MS);
  const times: number[] = [];
  const bands: number[] = [];
  for (let i = 0; i < segStart.length; i++) {
    const t = i === 0 ? start : wallToUtc(s.zone, day * DAY_MS + segStart[i]! * 1000);
    // A boundary inside a skipped hour can coincide with the next: the later band wins.
    if (times.length > 0 && t <= times[times.length - 1]!) {
      bands[bands.length - 1] = segBand[i]!;
      continue;
    }
    if (t >= end) break;
    times.push(t);
    bands.push(segBand[i]!);
  }
  const classes = bands.map((b) => (b < 0 ? -1 : p.classOfBand[b]!));
  return { key, day, start, end, times: Float64Array.from(times), bands: Int32Array.from(bands), classes: Int32Array.from(classes) };
}

const CACHE_SIZE = 8192;

/**
 * Day plans by (partition, local day), built on first use. A direct-mapped cache of the last plan per slot
 * sits in front of the map so the hot path does one multiply, one mask and one compare.
 */
export class DayPlans {
  private readonly slotKey = new Float64Array(CACHE_SIZE).fill(-1);
  private readonly slotPlan: (DayPlan | undefined)[] = new Array<DayPlan | undefined>(CACHE_SIZE);
  private readonly all = new Map<number, DayPlan>();
  readonly partitions: Partition[] = [];
  private readonly byKey = new Map<string, Partition>();

  /** The partition of a schedule for one destination's band -> class map (interned). */
  partition(schedule: Schedule, classOfBand: Int32Array): Partition {
    const k = `${schedule.id}:${classOfBand.join(',')}`;
    let p = this.byKey.get(k);
    if (!p) {
      p = { id: this.partitions.length, schedule, classOfBand };
      this.partitions.push(p);
      this.byKey.set(k, p);
    }
    return p;
  }

  /** The plan of a local day. */
  plan(p: Partition, day: number): DayPlan {
    const key = p.id * 1_000_000 + day;
    const slot = (day * 7 + p.id * 131) & (CACHE_SIZE - 1);
    if (this.slotKey[slot] === key) return this.slotPlan[slot]!;
    let plan = this.all.get(key);
    if (!plan) {
      plan = buildDayPlan(p, day, key);
      this.all.set(key, plan);
    }
    this.slotKey[slot] = key;
    this.slotPlan[slot] = plan;
    return plan;
  }

  /** The plan of the local day containing instant t. */
  planAt(p: Partition, t: number): DayPlan {
    // Bounds the day walks below: NaN, ±Infinity or an instant past the Date range would loop for ever.
    if (!(t >= -MAX_INSTANT_MS && t <= MAX_INSTANT_MS)) outsideDates(t);
    let day = Math.floor((t + p.schedule.guessOffsetMs) / DAY_MS);
    let plan = this.plan(p, day);
    while (t < plan.start) plan = this.plan(p, --day);
    while (t >= plan.end) plan = this.plan(p, ++day);
    return plan;
  }

  /** Number of day plans built so far (for tests and memory reports). */
  get size(): number {
    return this.all.size;
  }
}

function outsideDates(t: number): never {
  throw new RangeError(`rating instant ${t} is outside the date range (±${MAX_INSTANT_MS} ms)`);
}

/** Index of the segment of `plan` containing t (plan.start <= t < plan.end). */
export function segmentAt(plan: DayPlan, t: number): number {
  const times = plan.times;
  let k = times.length - 1;
  while (k > 0 && times[k]! > t) k--;
  return k;
}
