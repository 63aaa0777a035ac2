/**
 * Usage notifications, the pure core (issue #16 item 5; enrich/notify/README.md): caps and thresholds per
 * measure, which thresholds a subscriber's period totals reached, the record that crossed each one, and the
 * notification id. No I/O and no clock: the service that hosts it (pipeline/notifications.ts) reads the
 * stored rated CDRs and writes the notifications; the same inputs always give the same notifications.
 *
 * Units are integers, so every comparison is exact: money in micro-units of the operator's currency (bigint,
 * schemas/reference.ts parseMoney), minutes in billed milliseconds. A threshold is reached when
 * value x 100 >= cap x pct (no rounding of cap x pct / 100).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseMoney } from '../../schemas/reference.js';
import { schemaPath } from '../../schemas/index.js';

export const MEASURES = ['data-roaming-spend', 'international-minutes', 'total-spend'] as const;
export type Measure = (typeof MEASURES)[number];

/** How a measure is counted: money (micro-units) or minutes (billed milliseconds). */
export const MEASURE_KIND: Record<Measure, 'money' | 'minutes'> = {
  'data-roaming-spend': 'money',
  'international-minutes': 'minutes',
  'total-spend': 'money',
};

/** The Avro enum symbol of a measure (schemas/avro/usage-notification.avsc). */
export const MEASURE_SYMBOL: Record<Measure, 'DATA_ROAMING_SPEND' | 'INTERNATIONAL_MINUTES' | 'TOTAL_SPEND'> = {
  'data-roaming-spend': 'DATA_ROAMING_SPEND',
  'international-minutes': 'INTERNATIONAL_MINUTES',
  'total-spend': 'TOTAL_SPEND',
};

const MICROS_PER_UNIT = 1_000_000n;
const MS_PER_MINUTE = 60_000n;

export interface MeasureCap {
  measure: Measure;
  /** Cap in internal units (micro-units or milliseconds). */
  cap: bigint;
  /** Percentages of the cap that notify, ascending, each 1..1000. */
  pcts: number[];
}

export interface Thresholds {
  caps: MeasureCap[];
  source: string;
}

export class ThresholdsError extends Error {
  override name = 'ThresholdsError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`usage notification thresholds ${source}:\n  - ${problems.join('\n  - ')}`);
  }
}

const MONEY = /^\d{1,12}(\.\d{1,6})?$/;
const MINUTES = /^\d{1,9}(\.\d{1,3})?$/;

/** Validates a thresholds document (schemas/notify/thresholds.json format); every problem at once. */
export function parseThresholds(doc: unknown, source: string): Thresholds {
  const problems: string[] = [];
  const caps: MeasureCap[] = [];
  const measures = (doc as { measures?: unknown } | null)?.measures;
  if (typeof measures !== 'object' || measures === null || Array.isArray(measures)) throw new ThresholdsError(source, ['measures: expected an object {measure: {cap, thresholdsPct}}']);
  for (const [name, v] of Object.entries(measures)) {
    if (!(MEASURES as readonly string[]).includes(name)) {
      problems.push(`measures.${name}: unknown measure (${MEASURES.join(', ')})`);
      continue;
    }
    const m = name as Measure;
    const o = v as { cap?: unknown; thresholdsPct?: unknown };
    let cap: bigint | undefined;
    if (MEASURE_KIND[m] === 'money') {
      if (typeof o?.cap !== 'string' || !MONEY.test(o.cap)) problems.push(`measures.${m}.cap: expected an amount as a string with at most 6 decimals ("50.00"), got ${JSON.stringify(o?.cap)}`);
      else cap = parseMoney(o.cap, 6);
    } else if (typeof o?.cap !== 'string' || !MINUTES.test(o.cap)) problems.push(`measures.${m}.cap: expected minutes as a string with at most 3 decimals ("300"), got ${JSON.stringify(o?.cap)}`);
    else cap = parseMoney(o.cap, 3) * (MS_PER_MINUTE / 1000n);
    if (cap !== undefined && cap <= 0n) problems.push(`measures.${m}.cap: must be above zero`);
    const pcts = o?.thresholdsPct;
    if (!Array.isArray(pcts) || pcts.length === 0 || !pcts.every((p) => Number.isInteger(p) && p >= 1 && p <= 1000)) problems.push(`measures.${m}.thresholdsPct: expected a list of whole percentages 1..1000 ([80, 100])`);
    else if (new Set(pcts).size !== pcts.length) problems.push(`measures.${m}.thresholdsPct: a percentage is listed twice`);
    else if (cap !== undefined && cap > 0n) caps.push({ measure: m, cap, pcts: [...(pcts as number[])].sort((a, b) => a - b) });
  }
  if (problems.length) throw new ThresholdsError(source, problems);
  return { caps, source };
}

export const DEFAULT_THRESHOLDS_FILE = (): string => schemaPath('notify', 'thresholds.json');

/** Reads a thresholds file (empty path: the bundled EU-style defaults, schemas/notify/thresholds.json). */
export function loadThresholds(path = ''): Thresholds {
  const file = path === '' ? DEFAULT_THRESHOLDS_FILE() : path;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ThresholdsError(file, [(err as Error).message]);
  }
  return parseThresholds(doc, file);
}

/** Per measure, the usage in internal units. */
export type Values = Record<Measure, bigint>;

export const zeroValues = (): Values => ({ 'data-roaming-spend': 0n, 'international-minutes': 0n, 'total-spend': 0n });

/** value >= cap x pct / 100, exactly. */
export const reaches = (value: bigint, cap: bigint, pct: number): boolean => value * 100n >= cap * BigInt(pct);

/** The thresholds (measure, pct) a subscriber's period totals reached. */
export function reached(totals: Values, t: Thresholds): { measure: Measure; pct: number }[] {
  const out: { measure: Measure; pct: number }[] = [];
  for (const c of t.caps) for (const pct of c.pcts) if (reaches(totals[c.measure], c.cap, pct)) out.push({ measure: c.measure, pct });
  return out;
}

/** The smallest value of each measure that reaches any threshold (for a pre-filter in SQL). */
export function lowestThresholds(t: Thresholds): Partial<Record<Measure, bigint>> {
  const out: Partial<Record<Measure, bigint>> = {};
  for (const c of t.caps) {
    const pct = BigInt(c.pcts[0]!);
    out[c.measure] = (c.cap * pct + 99n) / 100n; // ceil(cap x pct / 100): the first value that reaches it
  }
  return out;
}

/**
 * The notification id of a crossing: the same subscriber, period, measure and percentage always give the same
 * id (so a replay or a second detector finds the crossing already stored). Hex SHA-256 prefix (128 bits): the
 * id carries no subscriber number, so it may be logged.
 */
export function notificationId(msisdn: string, period: string, measure: Measure, pct: number): string {
  return createHash('sha256').update(`${msisdn}\u0000${period}\u0000${measure}\u0000${pct}`).digest('hex').slice(0, 32);
}

/** One rated CDR's contribution to each measure, in the order the period is summed. */
export interface Contribution {
  /** Seizure time, ms. */
  timeMs: number;
  recordId: string;
  values: Values;
}

export interface Crossing {
  measure: Measure;
  pct: number;
  /** The record whose addition reached the threshold, and the running total then. */
  timeMs: number;
  recordId: string;
  value: bigint;
}

/**
 * Where each wanted threshold was crossed: the running totals over the contributions (sorted by seizure time,
 * then record id, so the answer does not depend on arrival order) and the first record at which each reached.
 * Thresholds the contributions never reach are left out.
 */
export function crossings(contributions: readonly Contribution[], t: Thresholds, wanted: readonly { measure: Measure; pct: number }[]): Crossing[] {
  const sorted = [...contributions].sort((a, b) => a.timeMs - b.timeMs || (a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0));
  const capOf = new Map(t.caps.map((c) => [c.measure, c.cap]));
  const open = wanted.filter((w) => capOf.has(w.measure));
  const out: Crossing[] = [];
  const run = zeroValues();
  for (const c of sorted) {
    if (open.length === 0) break;
    for (const m of MEASURES) run[m] += c.values[m];
    for (let i = open.length - 1; i >= 0; i--) {
      const w = open[i]!;
      if (reaches(run[w.measure], capOf.get(w.measure)!, w.pct)) {
        out.push({ measure: w.measure, pct: w.pct, timeMs: c.timeMs, recordId: c.recordId, value: run[w.measure] });
        open.splice(i, 1);
      }
    }
  }
  return out.sort((a, b) => a.timeMs - b.timeMs || a.measure.localeCompare(b.measure) || a.pct - b.pct);
}

/** An internal value as an exact decimal string in the measure's unit (money: 6 decimals; minutes: 3, billed ms exact). */
export function formatValue(measure: Measure, v: bigint): string {
  const [per, decimals] = MEASURE_KIND[measure] === 'money' ? [MICROS_PER_UNIT, 6] : [MS_PER_MINUTE, 6];
  const neg = v < 0n;
  const a = neg ? -v : v;
  // Minutes: ms / 60000 to 6 decimals, truncated (a minute is 60000 ms; 1 ms = 0.0000166.. minute).
  const scaled = (a * 10n ** BigInt(decimals)) / per;
  const s = scaled.toString().padStart(decimals + 1, '0');
  return `${neg ? '-' : ''}${s.slice(0, -decimals)}.${s.slice(-decimals)}`;
}

/** The threshold of a cap and percentage in internal units, rounded up (the first value that reaches it). */
export const thresholdOf = (cap: bigint, pct: number): bigint => (cap * BigInt(pct) + 99n) / 100n;

/** A notification as published (schemas/avro/usage-notification.avsc) and stored (usage_notifications). */
export interface UsageNotification {
  notificationId: string;
  msisdn: string;
  accountId: string;
  period: string;
  measure: 'DATA_ROAMING_SPEND' | 'INTERNATIONAL_MINUTES' | 'TOTAL_SPEND';
  thresholdPct: number;
  cap: string;
  threshold: string;
  value: string;
  unit: string;
  crossedAt: number;
  recordId: string;
  detectedAt: number;
}

/** The notifications of a subscriber's period from its crossings. `currency`: the unit of the money measures. */
export function notificationsOf(msisdn: string, accountId: string, period: string, list: readonly Crossing[], t: Thresholds, currency: string, detectedAt: number): UsageNotification[] {
  const capOf = new Map(t.caps.map((c) => [c.measure, c.cap]));
  return list.map((x) => {
    const cap = capOf.get(x.measure)!;
    return {
      notificationId: notificationId(msisdn, period, x.measure, x.pct),
      msisdn,
      accountId,
      period,
      measure: MEASURE_SYMBOL[x.measure],
      thresholdPct: x.pct,
      cap: formatValue(x.measure, cap),
      threshold: formatValue(x.measure, thresholdOf(cap, x.pct)),
      value: formatValue(x.measure, x.value),
      unit: MEASURE_KIND[x.measure] === 'money' ? currency : 'minute',
      crossedAt: x.timeMs,
      recordId: x.recordId,
      detectedAt,
    };
  });
}
