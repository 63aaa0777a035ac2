/**
 * No input makes rating hang. The decoder validates records before rating, but a stage must never stall a
 * partition: the runner dead-letters a record whose rating throws (RATING_FAILED), a hang it cannot see.
 * Hand-built CDR-shaped objects (fields missing, null, NaN, ±Infinity, fractional, huge, negative, of the
 * wrong type) go through the rating stage's rateBatch: each finishes within a time bound and either is
 * priced (exact, safe-integer money) or throws an Error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cdr, SourcedCdr } from '../schemas/index.js';
import { MAX_CALL_MS } from '../enrich/rate/engine.js';
import { createRatingStage, type RatingBatchStage } from '../enrich/rate/stage.js';
import { DayPlans, MAX_INSTANT_MS, type Schedule } from '../enrich/rate/time.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';

/** Per record: generous for two shared cores, far below any loop that walks days or increments unbounded. */
const PER_RECORD_MS = 500;

const dir = mkdtempSync(join(tmpdir(), 'rating-robust-'));
const start = Date.UTC(2026, 2, 28); // across the UK spring-forward (29 March 2026)
let stage: RatingBatchStage;
let templates: Cdr[] = [];

beforeAll(() => {
  const traffic = createTraffic({ seed: 7, subscribers: 60, startMs: start, endMs: start + 2 * 86_400_000, scenarios: 'none' });
  writeReference(dir, traffic.reference());
  stage = createRatingStage(dir, '');
  const all = [...traffic.records()];
  // One priced record of each kind: the fields that reach the band walk are the ones to break.
  const kinds = new Map<string, Cdr>();
  for (const c of all) {
    const k = `${c.eventType}:${c.answerTime !== null}`;
    if (!kinds.has(k) && stage.rating.rate(c).status === 'RATED') kinds.set(k, c);
  }
  templates = [...kinds.values()];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = ['seizureTime', 'answerTime', 'releaseTime', 'durationMs', 'billableMs', 'servedMsisdn', 'callingNumber', 'calledNumber', 'eventType', 'servingPlmn', 'recordingEntity', 'uplinkBytes', 'downlinkBytes', 'smsSegments', 'recordSequenceNumber'] as const;

const anyValue = fc.oneof(
  fc.constantFrom<unknown>(undefined, null, NaN, Infinity, -Infinity, 0, -0, -1, 0.5, 1e300, -1e300, Number.MAX_VALUE, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, MAX_INSTANT_MS, -MAX_INSTANT_MS, MAX_INSTANT_MS + 1, MAX_CALL_MS, MAX_CALL_MS + 1, '', 'x', 'VOICE_MO', 'DATA', 'SMS_MT', 'BOGUS', '447700900123', '+', {}, []),
  fc.integer(),
  fc.double(),
  fc.maxSafeInteger(),
  // Realistic instants and durations: long calls across many band changes and the DST switch.
  fc.integer({ min: start - 400 * 86_400_000, max: start + 400 * 86_400_000 }),
  fc.integer({ min: 0, max: MAX_CALL_MS }),
  fc.string({ maxLength: 20 }),
);

const mutation = fc.record({
  template: fc.nat(),
  set: fc.dictionary(fc.constantFrom(...FIELDS), anyValue, { maxKeys: 6 }),
  drop: fc.subarray([...FIELDS], { maxLength: 4 }),
});

/** Rates one CDR-shaped object through rateBatch; returns the elapsed ms and whether it threw. */
function rateOne(cdr: unknown): { ms: number; threw: unknown } {
  const sc: SourcedCdr = { cdr: cdr as Cdr, topic: 'cdr.raw', partition: 0, offset: '0' };
  const t0 = performance.now();
  let threw: unknown = null;
  try {
    stage.rateBatch([sc]);
  } catch (err) {
    threw = err;
  }
  const ms = performance.now() - t0;
  if (threw === null) {
    // Not thrown: the record is priced or UNRATED with a reason, with exact money.
    expect(sc.rated).toBeDefined();
    const r = stage.rating.rate(cdr as Cdr);
    expect(['RATED', 'UNRATED']).toContain(r.status);
    for (const m of [r.totalMicros, r.connectFeeMicros, r.usageMicros, r.adjustmentMicros, r.surchargeMicros]) expect(Number.isSafeInteger(m)).toBe(true);
  }
  return { ms, threw };
}

describe('rating stage on arbitrary CDR-shaped input', () => {
  it('the templates are priced (the property starts from real records of every kind)', () => {
    expect(templates.length).toBeGreaterThanOrEqual(4);
    for (const c of templates) expect(rateOne({ ...c }).threw).toBeNull();
  });

  it('each record finishes within the time bound, and is rated or throws an Error', () => {
    fc.assert(
      fc.property(mutation, ({ template, set, drop }) => {
        const cdr: Record<string, unknown> = { ...templates[template % templates.length]! };
        for (const [k, v] of Object.entries(set)) cdr[k] = v;
        for (const k of drop) delete cdr[k];
        const { ms, threw } = rateOne(cdr);
        expect(ms).toBeLessThan(PER_RECORD_MS);
        if (threw !== null) expect(threw).toBeInstanceOf(Error);
      }),
      { numRuns: 1500, seed: 20261205 },
    );
  });

  it('the inputs that used to hang now throw a clear error at once', () => {
    const call = templates.find((c) => c.eventType === 'VOICE_MO' && c.answerTime !== null)!;
    expect(call).toBeDefined();
    for (const billableMs of [NaN, undefined, Infinity, 1e15, MAX_CALL_MS + 1]) {
      const { ms, threw } = rateOne({ ...call, billableMs });
      expect(threw).toBeInstanceOf(RangeError);
      expect((threw as Error).message).toMatch(/usage .* is not a whole number/);
      expect(ms).toBeLessThan(PER_RECORD_MS);
    }
    for (const answerTime of [NaN, Infinity, -Infinity, 0.5, MAX_INSTANT_MS + 1]) {
      const { threw } = rateOne({ ...call, answerTime });
      expect((threw as Error).message).toMatch(/instant .* is not a whole ms/);
    }
    // The longest call rated is still priced, within the bound (a day plan per local day it spans).
    const longest = rateOne({ ...call, billableMs: MAX_CALL_MS, durationMs: MAX_CALL_MS, releaseTime: call.answerTime! + MAX_CALL_MS });
    expect(longest.threw).toBeNull();
    expect(longest.ms).toBeLessThan(PER_RECORD_MS);
    // A later part whose offsets are not numbers would otherwise be priced as the whole call.
    expect(rateOne({ ...call, recordSequenceNumber: 2, releaseTime: NaN }).threw).toBeInstanceOf(RangeError);
  });

  it('the day walk of a UTC schedule refuses instants it could never reach', () => {
    // In UTC no Intl call throws on its own: at ±Infinity (or past 2^53 ms) the walk would step for ever.
    const plans = new DayPlans();
    const schedule: Schedule = { id: 0, zone: 'UTC', rules: [{ band: 0, weekdays: -1, months: -1, monthDays: -1, years: null, holidays: null, fromSec: 0, toSec: 86_400 }], bandNames: ['ALL'], guessOffsetMs: 0 };
    const p = plans.partition(schedule, Int32Array.of(0));
    expect(plans.planAt(p, start).start).toBe(start);
    for (const t of [NaN, Infinity, -Infinity, 1e20, -1e20, MAX_INSTANT_MS + 1]) expect(() => plans.planAt(p, t)).toThrow(/outside the date range/);
  });
});
