/**
 * Time for the traffic model: time zones with daylight saving, the public-holiday calendar, the daily and
 * weekly shape of demand per customer profile, and the intensity tables that turn a subscriber's
 * "activities per day" into timestamps (time rescaling of a non-homogeneous point process).
 */
import { hash2, Rng } from './random.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const MINUTE_MS = 60_000;

// ---------------------------------------------------------------------------------------------------------
// Time zones

/** Daylight-saving rule: EU (Directive 2000/84/EC), US (Energy Policy Act 2005), or none. */
export type DstRule = 'eu' | 'us' | 'none';

export interface Zone {
  /** IANA name, for documentation and reference data. */
  name: string;
  stdOffsetMinutes: number;
  dst: DstRule;
}

const dstCache = new Map<string, [number, number]>();

/** [start, end) of summer time in UTC epoch ms for a year. */
function dstWindow(rule: 'eu' | 'us', year: number, stdOffsetMinutes: number): [number, number] {
  const key = `${rule}:${year}:${stdOffsetMinutes}`;
  let w = dstCache.get(key);
  if (!w) {
    if (rule === 'eu') {
      // EU: from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October.
      w = [lastSunday(year, 2) + HOUR_MS, lastSunday(year, 9) + HOUR_MS];
    } else {
      // US: from 02:00 local standard time on the second Sunday of March to 02:00 local daylight time on
      // the first Sunday of November.
      const std = stdOffsetMinutes * MINUTE_MS;
      w = [nthSunday(year, 2, 2) + 2 * HOUR_MS - std, nthSunday(year, 10, 1) + 2 * HOUR_MS - (std + HOUR_MS)];
    }
    dstCache.set(key, w);
  }
  return w;
}

function lastSunday(year: number, month0: number): number {
  const last = Date.UTC(year, month0 + 1, 0);
  return last - new Date(last).getUTCDay() * DAY_MS;
}

function nthSunday(year: number, month0: number, n: number): number {
  const first = Date.UTC(year, month0, 1);
  const dow = new Date(first).getUTCDay();
  return first + (((7 - dow) % 7) + 7 * (n - 1)) * DAY_MS;
}

/** The summer-time window of the year last asked for, per zone object (the hot path asks about one year). */
const lastWindow = new WeakMap<Zone, { from: number; to: number; a: number; b: number }>();

/** UTC offset in minutes of a zone at an instant (what a switch writes as utcOffsetMinutes). */
export function utcOffsetMinutes(zone: Zone, utcMs: number): number {
  if (zone.dst === 'none') return zone.stdOffsetMinutes;
  let w = lastWindow.get(zone);
  if (!w || utcMs < w.from || utcMs >= w.to) {
    const year = new Date(utcMs).getUTCFullYear();
    const [a, b] = dstWindow(zone.dst, year, zone.stdOffsetMinutes);
    w = { from: Date.UTC(year, 0, 1), to: Date.UTC(year + 1, 0, 1), a, b };
    lastWindow.set(zone, w);
  }
  return utcMs >= w.a && utcMs < w.b ? zone.stdOffsetMinutes + 60 : zone.stdOffsetMinutes;
}

/** Days since 1970-01-01 of a local instant. */
export function localDay(utcMs: number, offsetMinutes: number): number {
  return Math.floor((utcMs + offsetMinutes * MINUTE_MS) / DAY_MS);
}

/** Local hour of day, 0..23 (fractional part dropped). */
export function localHour(utcMs: number, offsetMinutes: number): number {
  const local = utcMs + offsetMinutes * MINUTE_MS;
  return Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS);
}

/** Day of week of a day number: 0 = Sunday ... 6 = Saturday (1970-01-01 was a Thursday). */
export function dayOfWeek(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

export function isoDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function dayOfIso(date: string): number {
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`not a date (YYYY-MM-DD): ${date}`);
  return ms / DAY_MS;
}

/** The UTC instant of a local wall-clock time (day number, minutes after midnight) in a zone. */
export function localToUtc(zone: Zone, day: number, minuteOfDay: number): number {
  const guess = day * DAY_MS + minuteOfDay * MINUTE_MS - zone.stdOffsetMinutes * MINUTE_MS;
  return guess - (utcOffsetMinutes(zone, guess) - zone.stdOffsetMinutes) * MINUTE_MS;
}

// ---------------------------------------------------------------------------------------------------------
// Public holidays

import type { Holiday } from '../../schemas/holidays.js';
export { easterSunday, ukBankHolidays, type Holiday } from '../../schemas/holidays.js';

// ---------------------------------------------------------------------------------------------------------
// Daily and weekly shape

/**
 * Customer profiles with their own daily shape. Business variants differ by declared business hours
 * (accounts carry them in the reference data, and the traffic follows them).
 */
export const Profile = { PRIVATE: 0, BUSINESS_0800: 1, BUSINESS_0830: 2, BUSINESS_0900: 3, CALL_CENTRE: 4, BUSINESS_MOBILE: 5 } as const;
export type Profile = (typeof Profile)[keyof typeof Profile];
export const PROFILE_COUNT = 6;

/** Declared business hours of the business profiles, minutes after local midnight. */
export const BUSINESS_HOURS: Record<number, { open: number; close: number; days: string }> = {
  [Profile.BUSINESS_0800]: { open: 8 * 60, close: 17 * 60, days: '1-5' },
  [Profile.BUSINESS_0830]: { open: 8 * 60 + 30, close: 17 * 60 + 30, days: '1-5' },
  [Profile.BUSINESS_0900]: { open: 9 * 60, close: 18 * 60, days: '1-5' },
  [Profile.CALL_CENTRE]: { open: 8 * 60, close: 20 * 60, days: '1-6' },
};

/**
 * Residential calling by hour of day, weekday and weekend: the hourly means of the 5-minute probability
 * table of `mayconbordin/cdr-gen` src/main/resources/time_dist.csv (weekday evening peak 18:00-22:00,
 * minimum 03:00-06:00; weekend peak near 17:00), as published. Units are arbitrary;
 * each curve is normalised below.
 */
const RESIDENTIAL_WEEKDAY = [
  1.043, 0.827, 0.654, 0.517, 0.408, 0.368, 0.408, 0.599, 0.757, 0.956, 1.205, 1.514, 1.898, 2.244, 2.505, 2.794, 3.112, 4.41, 11.98, 13.78, 14.1, 12.68, 3.687, 1.01,
];
const RESIDENTIAL_WEEKEND = [
  1.007, 0.636, 0.457, 0.37, 0.414, 0.291, 0.277, 0.406, 0.513, 0.801, 1.263, 1.964, 2.99, 4.418, 6.273, 8.474, 10.82, 11.8, 9.646, 7.34, 5.294, 3.65, 2.431, 1.578,
];

/**
 * Day-of-week volume factors for private customers, Sunday first. cdr-gen weights weekend days twice
 * (a fixed-line residential profile from 2014); mobile traffic dips at weekends instead, so these are a
 * [proposal], as is the gentle Friday rise.
 */
const PRIVATE_DOW = [0.75, 1.0, 0.99, 1.0, 1.02, 1.08, 0.85];

/** Business hours shape [proposal]: ramp before opening, lunch dip, tail after closing, near zero at night. */
function businessCurve(open: number, close: number): number[] {
  const half = new Array<number>(48).fill(0.01);
  for (let k = 0; k < 48; k++) {
    const m = k * 30 + 15;
    if (m >= open && m < close) half[k] = m >= 12 * 60 && m < 13 * 60 ? 0.75 : 1;
    else if (m >= open - 60 && m < open) half[k] = 0.3;
    else if (m >= close && m < close + 60) half[k] = 0.25;
    else if (m >= close + 60 && m < close + 180) half[k] = 0.08;
    else if (m >= 7 * 60 && m < open - 60) half[k] = 0.06;
  }
  const hourly: number[] = [];
  for (let h = 0; h < 24; h++) hourly.push((half[2 * h] as number) + (half[2 * h + 1] as number));
  return hourly;
}

function normalise(curve: readonly number[], total: number): Float64Array {
  const s = curve.reduce((a, b) => a + b, 0);
  return Float64Array.from(curve, (v) => (v / s) * total);
}

/** Day types of the shape table. */
const WEEKDAY = 0;
const SATURDAY = 1;
const SUNDAY = 2;
const HOLIDAY = 3;

/** shape[profile][dayType] = 24 hourly weights; a normal weekday of every profile sums to 1. */
function buildShapes(): Float64Array[][] {
  const shapes: Float64Array[][] = [];
  for (let p = 0; p < PROFILE_COUNT; p++) {
    if (p === Profile.PRIVATE) {
      // Bank holidays look like Sundays for private customers [proposal].
      shapes.push([normalise(RESIDENTIAL_WEEKDAY, 1), normalise(RESIDENTIAL_WEEKEND, 1), normalise(RESIDENTIAL_WEEKEND, 1), normalise(RESIDENTIAL_WEEKEND, 0.9)]);
      continue;
    }
    if (p === Profile.BUSINESS_MOBILE) {
      // A business mobile is carried by a person: office hours on weekdays plus private evenings, and
      // private use at weekends at half the private volume [proposal].
      const office = normalise(businessCurve(8 * 60 + 30, 17 * 60 + 30), 0.65);
      const evening = normalise(RESIDENTIAL_WEEKDAY, 0.35);
      const weekday = Float64Array.from(office, (v, h) => v + (evening[h] as number));
      shapes.push([weekday, normalise(RESIDENTIAL_WEEKEND, 0.45), normalise(RESIDENTIAL_WEEKEND, 0.35), normalise(RESIDENTIAL_WEEKEND, 0.35)]);
      continue;
    }
    const bh = BUSINESS_HOURS[p] as { open: number; close: number };
    const weekday = businessCurve(bh.open, bh.close);
    if (p === Profile.CALL_CENTRE) {
      // Call centres: weekdays as declared, Saturday 09:00-17:00 at half volume, Sunday and holidays closed
      // but for a trickle [proposal].
      shapes.push([normalise(weekday, 1), normalise(businessCurve(9 * 60, 17 * 60), 0.5), normalise(weekday, 0.03), normalise(weekday, 0.03)]);
    } else {
      // Offices: Saturday 12% and Sunday/holiday 6% of a weekday, spread over the day [proposal].
      const flat = Array.from({ length: 24 }, (_, h) => (h >= 9 && h < 18 ? 1 : h >= 7 && h < 21 ? 0.2 : 0.02));
      shapes.push([normalise(weekday, 1), normalise(flat, 0.12), normalise(flat, 0.06), normalise(flat, 0.06)]);
    }
  }
  return shapes;
}

const SHAPES = buildShapes();

export interface CalendarOptions {
  seed: number;
  startMs: number;
  endMs: number;
  zone: Zone;
  /** Extra holidays (day numbers) on top of or instead of the built-in calendar. */
  holidays: Holiday[];
  /** Multiplicative growth of demand per week (0.01 = +1 % a week). */
  trendPerWeek: number;
  /** Log-space sigma of a per-day random volume factor (weather, events). */
  dailyNoise: number;
  /** Extra volume on Christmas Day for private customers (1.25 = +25 %). */
  christmasFactor: number;
}

/**
 * Cumulative expected activity per profile, hour by hour over the run (plus a day of margin on both sides),
 * in units of "one normal weekday". A subscriber whose activity gaps are drawn in these units (mean 1/rate)
 * produces rate activities on a normal weekday, shaped by hour, day of week, holidays, trend and noise.
 */
export class Intensity {
  readonly originMs: number;
  readonly hours: number;
  /** cum[p][h] = expected activity from origin to the start of hour h, for profile p. */
  private readonly cum: Float64Array[];
  private readonly holidaySet: Map<number, string>;

  constructor(readonly o: CalendarOptions) {
    this.originMs = Math.floor(o.startMs / HOUR_MS) * HOUR_MS - DAY_MS;
    this.hours = Math.ceil((o.endMs + 2 * DAY_MS - this.originMs) / HOUR_MS);
    this.holidaySet = new Map(o.holidays.map((h) => [h.day, h.name]));
    this.cum = [];
    const noise = new Map<number, number>();
    const noiseOf = (day: number) => {
      let v = noise.get(day);
      if (v === undefined) {
        const r = new Rng(hash2(o.seed ^ 0x6e015e, day));
        v = Math.exp(o.dailyNoise * r.normal());
        noise.set(day, v);
      }
      return v;
    };
    for (let p = 0; p < PROFILE_COUNT; p++) {
      const cum = new Float64Array(this.hours + 1);
      const shape = SHAPES[p] as Float64Array[];
      for (let h = 0; h < this.hours; h++) {
        const t = this.originMs + h * HOUR_MS;
        const off = utcOffsetMinutes(o.zone, t);
        const day = localDay(t, off);
        const dow = dayOfWeek(day);
        const holiday = this.holidaySet.has(day);
        const type = holiday ? HOLIDAY : dow === 6 ? SATURDAY : dow === 0 ? SUNDAY : WEEKDAY;
        let w = (shape[type] as Float64Array)[localHour(t, off)] as number;
        if (p === Profile.PRIVATE) {
          w *= holiday ? 1 : (PRIVATE_DOW[dow] as number);
          const date = new Date(day * DAY_MS);
          if (holiday && date.getUTCMonth() === 11 && date.getUTCDate() === 25) w *= o.christmasFactor;
        }
        w *= Math.pow(1 + o.trendPerWeek, (t - o.startMs) / (7 * DAY_MS)) * noiseOf(day);
        cum[h + 1] = (cum[h] as number) + w;
      }
      this.cum.push(cum);
    }
  }

  isHoliday(day: number): boolean {
    return this.holidaySet.has(day);
  }

  /** Expected activity from the origin to t (units: normal weekdays). */
  at(p: number, t: number): number {
    const cum = this.cum[p] as Float64Array;
    const x = (t - this.originMs) / HOUR_MS;
    if (x <= 0) return 0;
    if (x >= this.hours) return cum[this.hours] as number;
    const h = Math.floor(x);
    const a = cum[h] as number;
    return a + ((cum[h + 1] as number) - a) * (x - h);
  }

  /** The instant at which the cumulative activity reaches L (Infinity past the table). */
  inverse(p: number, L: number): number {
    const cum = this.cum[p] as Float64Array;
    if (L >= (cum[this.hours] as number)) return Infinity;
    let lo = 0;
    let hi = this.hours;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if ((cum[mid] as number) <= L) lo = mid;
      else hi = mid;
    }
    const a = cum[lo] as number;
    const b = cum[lo + 1] as number;
    return this.originMs + (lo + (b > a ? (L - a) / (b - a) : 0)) * HOUR_MS;
  }
}
