import { describe, expect, it } from 'vitest';
import { cdrCodec, DeadLetterCode, type Cdr, type SourceRecord } from '../schemas/index.js';
import { createDecoder } from '../enrich/decode.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { corruptRecord } from '../simulators/produce.js';

const NOW = Date.UTC(2026, 10, 1);
const codec = cdrCodec();
const decode = createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW });
const sample = (n: number) => [...generateCdrs({ seed: 7, subscribers: 50, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, n)];
const rec = (value: Buffer | null, offset: number): SourceRecord => ({ key: Buffer.from('k'), value, offset: String(offset), timestamp: NOW });
const coords = { topic: 't', partition: 3 };

function oneDead(value: Buffer | null) {
  const r = decode(coords, [rec(value, 42)]);
  expect(r.cdrs).toHaveLength(0);
  expect(r.deadLetters).toHaveLength(1);
  const d = r.deadLetters[0]!;
  // The dead letter keeps the original bytes and where they came from.
  expect(d.value).toBe(value);
  expect(d).toMatchObject({ topic: 't', partition: 3, offset: '42' });
  return d;
}

describe('decode', () => {
  it('decodes valid records with their coordinates, in order', () => {
    const cdrs = sample(100);
    const r = decode(coords, cdrs.map((c, i) => rec(codec.encode(c), i)));
    expect(r.deadLetters).toEqual([]);
    expect(r.cdrs.map((s) => s.cdr)).toEqual(cdrs);
    expect(r.cdrs.map((s) => s.offset)).toEqual(cdrs.map((_, i) => String(i)));
  });

  it('sends every kind of bad input to the dead-letter path with its code', () => {
    const good = sample(1)[0]!;
    const bytes = codec.encode(good);
    expect(oneDead(null).code).toBe(DeadLetterCode.EMPTY_VALUE);
    expect(oneDead(Buffer.alloc(0)).code).toBe(DeadLetterCode.EMPTY_VALUE);
    expect(oneDead(bytes.subarray(0, bytes.length - 3)).code).toBe(DeadLetterCode.AVRO_TRUNCATED);
    expect(oneDead(Buffer.concat([bytes, Buffer.from([1, 2])])).code).toBe(DeadLetterCode.AVRO_TRAILING_BYTES);
    // recordId 'x', recordingEntity 'y' (2 bytes each), then the eventType enum index: 0x7f is index -64.
    const e = codec.encode({ ...good, recordId: 'x', recordingEntity: 'y' });
    expect(oneDead(Buffer.concat([e.subarray(0, 4), Buffer.from([0x7f]), e.subarray(5)])).code).toBe(DeadLetterCode.AVRO_DECODE_FAILED);
    expect(oneDead(Buffer.from('definitely not avro')).code).toMatch(/^AVRO_/);
  });

  const semantic: [string, (c: Cdr) => Cdr, DeadLetterCode][] = [
    ['release before seizure', (c) => ({ ...c, releaseTime: c.seizureTime - 1 }), DeadLetterCode.RELEASE_BEFORE_SEIZURE],
    ['answer after release', (c) => ({ ...c, answerTime: c.releaseTime + 1 }), DeadLetterCode.RELEASE_BEFORE_SEIZURE],
    ['negative duration', (c) => ({ ...c, durationMs: -1 }), DeadLetterCode.INVALID_DURATION],
    ['absurd duration', (c) => ({ ...c, durationMs: 86_400_001 }), DeadLetterCode.INVALID_DURATION],
    ['billable longer than duration', (c) => ({ ...c, billableMs: c.durationMs + 1 }), DeadLetterCode.INVALID_DURATION],
    ['far-future timestamp', (c) => ({ ...c, seizureTime: NOW + 7_200_000, answerTime: null, releaseTime: NOW + 7_200_000, durationMs: 0, billableMs: 0 }), DeadLetterCode.FUTURE_TIMESTAMP],
    ['empty served MSISDN', (c) => ({ ...c, servedMsisdn: '' }), DeadLetterCode.MISSING_PARTY],
    ['malformed served MSISDN', (c) => ({ ...c, servedMsisdn: '44-79x' }), DeadLetterCode.MALFORMED_NUMBER],
    ['voice MO without called number', (c) => ({ ...c, eventType: 'VOICE_MO', calledNumber: null }), DeadLetterCode.MISSING_PARTY],
    ['malformed called number', (c) => ({ ...c, eventType: 'VOICE_MO', calledNumber: 'call me' }), DeadLetterCode.MALFORMED_NUMBER],
    ['SMS MT without calling number', (c) => ({ ...c, eventType: 'SMS_MT', callingNumber: null }), DeadLetterCode.MISSING_PARTY],
  ];
  it.each(semantic)('refuses a CDR with %s', (_name, mutate, code) => {
    const good = sample(1)[0]!;
    expect(oneDead(codec.encode(mutate(good))).code).toBe(code);
  });

  it('accepts the edges: zero duration, seizure exactly at the skew limit, data without parties', () => {
    const good = sample(1)[0]!;
    const zero = { ...good, answerTime: null, releaseTime: good.seizureTime, durationMs: 0, billableMs: 0 };
    const edge = { ...good, seizureTime: NOW + 3_600_000, answerTime: null, releaseTime: NOW + 3_600_000, durationMs: 0, billableMs: 0 };
    const data: Cdr = { ...good, eventType: 'DATA', callingNumber: null, calledNumber: null };
    const r = decode(coords, [zero, edge, data].map((c, i) => rec(codec.encode(c), i)));
    expect(r.deadLetters.map((d) => d.message)).toEqual([]);
    expect(r.cdrs).toHaveLength(3);
  });

  it('accounts for every record of a mixed batch exactly once', () => {
    const cdrs = sample(500);
    const records: SourceRecord[] = [];
    let bad = 0;
    cdrs.forEach((c, i) => {
      const bytes = codec.encode(c);
      records.push(rec(bytes, records.length));
      if (i % 25 === 0) records.push(rec(corruptRecord(bad++, bytes, c).value, records.length));
    });
    const r = decode(coords, records);
    expect(r.cdrs.length).toBe(500);
    expect(r.deadLetters.length).toBe(bad);
    const offsets = [...r.cdrs.map((c) => c.offset), ...r.deadLetters.map((d) => d.offset)].map(Number).sort((a, b) => a - b);
    expect(offsets).toEqual(records.map((_, i) => i));
  });
});

describe('generator', () => {
  it('is deterministic for a seed and different across seeds', () => {
    const o = { subscribers: 100, startMs: 0, meanGapMs: 100, switches: 3 };
    const a = [...generateCdrs({ ...o, seed: 1 }, 200)];
    expect([...generateCdrs({ ...o, seed: 1 }, 200)]).toEqual(a);
    expect([...generateCdrs({ ...o, seed: 2 }, 200)]).not.toEqual(a);
    expect(new Set(a.map((c) => `${c.recordingEntity}/${c.recordId}`)).size).toBe(200);
    for (const c of a) expect(codec.isValid(c)).toBe(true);
  });
});
