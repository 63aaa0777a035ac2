/**
 * The detector's compact state (enrich/fraud/detector.ts, Stored): what it keeps of an event is a packed copy —
 * per-call fields of its own, the rest shared with other events (subscriber, profile, cell) — and the rules
 * read it as a FraudEvent. Every field of the fraud-event schema must read back exactly what was processed,
 * whatever the values (nulls, times far apart or not integers, the range that is the key, a later part of a
 * call), or a rule would decide on something else than the event it was given.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FraudEvent } from '../schemas/index.js';
import { schemaPath } from '../schemas/index.js';
import { Detector, loadRuleBook } from '../enrich/fraud/index.js';

const FIELDS = (JSON.parse(readFileSync(schemaPath('avro', 'fraud-event.avsc'), 'utf8')) as { fields: { name: string }[] }).fields.map((f) => f.name);
const T0 = Date.UTC(2026, 9, 5, 9);
const MIN = 60_000;

const base: FraudEvent = {
  group: 'LINE',
  key: '447700900001',
  recordId: 'r-1',
  kind: 'MO',
  start: T0,
  end: T0 + 90_000,
  talkMs: 80_000,
  answered: true,
  msisdn: '447700900001',
  imsi: '234150000000001',
  imei: '356938035643809',
  other: '447700900999',
  otherCountry: 'GB',
  otherCategory: 'mobile',
  highRisk: false,
  international: false,
  range: null,
  costMicros: 120_000,
  currency: 'GBP',
  accountId: 'AC1',
  accountClass: 'private',
  band: 'day',
  businessHours: 0,
  lineAgeDays: 400,
  roaming: false,
  visitedPlmn: null,
  cellId: 1201,
  lat: 51.5,
  lon: -0.12,
  redirectionCounter: 0,
  cause: null,
  originalCalled: null,
  source: 0,
};

/** Every schema field of a stored event, read the way a rule reads it. */
const read = (e: FraudEvent) => Object.fromEntries(FIELDS.map((f) => [f, (e as unknown as Record<string, unknown>)[f]]));

describe('the detector keeps a compact copy of each event that reads back exactly', () => {
  it('covers every field of the fraud-event schema', () => {
    expect(FIELDS.length).toBeGreaterThanOrEqual(33);
    for (const f of FIELDS) expect(Object.keys(base), `test event lacks ${f}`).toContain(f);
  });

  it('every field, for events that share a line, a cell and a profile and for events that share nothing', () => {
    const det = new Detector(loadRuleBook(''));
    const evs: FraudEvent[] = [
      base,
      // Same line, cell and profile: shared objects inside, the same values outside.
      { ...base, recordId: 'r-2', start: T0 + 5 * MIN, end: T0 + 6 * MIN, other: '447700900998', costMicros: 3 },
      // Everything different: another IMEI, no cell, roaming, international with a range, a forwarded leg.
      { ...base, recordId: 'r-3', kind: 'FWD', start: T0 + 7 * MIN, end: T0 + 7 * MIN + 1, talkMs: 0, answered: false, imsi: null, imei: '490154203237518', other: '8821612345678', otherCountry: 'XX', otherCategory: 'satellite', highRisk: true, international: true, range: '882161234', currency: 'EUR', accountId: null, accountClass: 'pbx', band: 'night', businessHours: 2, lineAgeDays: -1, roaming: true, visitedPlmn: '20801', cellId: null, lat: null, lon: null, redirectionCounter: 3, cause: 25, originalCalled: '447700900555', source: 5 },
      // A cell whose position is not known, and one whose position changed.
      { ...base, recordId: 'r-4', start: T0 + 8 * MIN, end: T0 + 9 * MIN, cellId: 7, lat: null, lon: null },
      { ...base, recordId: 'r-5', start: T0 + 9 * MIN, end: T0 + 10 * MIN, cellId: 1201, lat: 51.6, lon: -0.13 },
      // A number called again: the same string value.
      { ...base, recordId: 'r-6', start: T0 + 11 * MIN, end: T0 + 12 * MIN, other: '447700900999' },
    ];
    evs.forEach((e, i) => det.process(0, i, e));
    const stored = det.eventsOf(0, 'LINE', base.key);
    expect(stored.map(read)).toEqual(evs.map(read));
    expect(stored.map((e) => e.offset)).toEqual([0, 1, 2, 3, 4, 5]);
    // The caller's objects are left as they were.
    expect(evs[0]).toEqual(base);
  });

  it('times that are not integers, far from the others, and a range that is the entity key', () => {
    const det = new Detector(loadRuleBook(''));
    const odd = { ...base, group: 'RANGE' as const, key: '8821612', range: '8821612', recordId: 'r-odd', start: 0.1, end: 0.30000000000000004, talkMs: 0.2 };
    det.process(1, 0, odd);
    expect(read(det.eventsOf(1, 'RANGE', '8821612')[0]!)).toEqual(read(odd));
    // 40 days after anything else (beyond a small integer's reach from the first stored start).
    const far = { ...base, recordId: 'r-far', start: T0 + 40 * 86_400_000 + 123, end: T0 + 40 * 86_400_000 + 60_456 };
    det.process(2, 0, far);
    expect(read(det.eventsOf(2, 'LINE', base.key)[0]!)).toEqual(read(far));
    const past = { ...base, recordId: 'r-past', start: 1, end: 2 ** 40 };
    det.process(3, 0, past);
    expect(read(det.eventsOf(3, 'LINE', base.key)[0]!)).toEqual(read(past));
  });

  it('a later part of a call adds its minutes, cost and end to the stored call, and the answer; a re-sent part changes nothing', () => {
    const det = new Detector(loadRuleBook(''));
    const first = { ...base, recordId: 'r-long', answered: false, talkMs: 0, costMicros: 0, end: T0 + 5 * MIN };
    det.process(4, 0, first);
    const part2 = { ...first, end: T0 + 10 * MIN, talkMs: 5 * MIN, costMicros: 700_000, answered: true };
    det.process(4, 1, part2);
    det.process(4, 2, { ...part2 }); // replayed
    const [call, ...rest] = det.eventsOf(4, 'LINE', base.key);
    expect(rest).toEqual([]);
    expect(read(call!)).toEqual(read({ ...first, end: T0 + 10 * MIN, talkMs: 5 * MIN, costMicros: 700_000, answered: true }));
    expect(det.stats().continued).toBe(1);
    expect(det.stats().duplicates).toBe(1);
    // Another call of the line with the first part's profile (unanswered) still reads unanswered.
    det.process(4, 3, { ...first, recordId: 'r-next', start: T0 + 11 * MIN, end: T0 + 12 * MIN });
    expect(det.eventsOf(4, 'LINE', base.key).map((e) => e.answered)).toEqual([true, false]);
  });
});
