import { describe, expect, it } from 'vitest';
import { AVRO_MAX_LONG, avroCodec, avroSchemaText, cdrCodec, cdrReaderFor, DeadLetterCode, type Cdr, type SourceRecord } from '../schemas/index.js';
import { createDecoder, DOMAINS } from '../enrich/decode.js';
import { varint, wideCdrCodec } from './avro-bytes.js';
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
    ['malformed connected number', (c) => ({ ...c, connectedNumber: '0800-CALL-ME' }), DeadLetterCode.MALFORMED_NUMBER],
    ['number longer than 32 digits', (c) => ({ ...c, redirectingNumber: '4'.repeat(33) }), DeadLetterCode.MALFORMED_NUMBER],
    ['IMSI of 16 digits', (c) => ({ ...c, servedImsi: '2341599999999999' }), DeadLetterCode.MALFORMED_NUMBER],
    ['IMEI with a letter', (c) => ({ ...c, servedImei: '35000000000000x' }), DeadLetterCode.MALFORMED_NUMBER],
    ['IMEI of 13 digits', (c) => ({ ...c, servedImei: '3500000000000' }), DeadLetterCode.MALFORMED_NUMBER],
    ['PLMN of 4 digits', (c) => ({ ...c, servingPlmn: '2341' }), DeadLetterCode.MALFORMED_NUMBER],
    ['seizure in 1970 (unset switch clock)', (c) => ({ ...c, seizureTime: 1000, answerTime: null, releaseTime: 1000, durationMs: 0, billableMs: 0 }), DeadLetterCode.PAST_TIMESTAMP],
    ['duration 1195 ms off the times', (c) => ({ ...c, durationMs: c.releaseTime - c.seizureTime - 1195, billableMs: 0, answerTime: null }), DeadLetterCode.INCONSISTENT_TIMES],
    ['billable time on an unanswered call', (c) => ({ ...c, answerTime: null, billableMs: 5000 }), DeadLetterCode.INCONSISTENT_TIMES],
    ['release in year 3000 with a plausible duration', (c) => ({ ...c, releaseTime: Date.UTC(3000, 0, 1) }), DeadLetterCode.INCONSISTENT_TIMES],
    ['release in year 3000 with the duration to match', (c) => ({ ...c, answerTime: null, releaseTime: Date.UTC(3000, 0, 1), durationMs: Date.UTC(3000, 0, 1) - c.seizureTime, billableMs: 0 }), DeadLetterCode.INVALID_DURATION],
    ['redirectionCounter 300 (stored as 44 in a UInt8)', (c) => ({ ...c, redirectionCounter: 300 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['utcOffsetMinutes 100000 (stored as -31072 in an Int16)', (c) => ({ ...c, utcOffsetMinutes: 100_000 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['q850Cause 2^31 - 1 (stored as 65535 in a UInt16)', (c) => ({ ...c, q850Cause: 2 ** 31 - 1 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['negative cellId', (c) => ({ ...c, cellId: -1 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['negative uplinkBytes', (c) => ({ ...c, uplinkBytes: -1 }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
    ['recordId of 257 characters', (c) => ({ ...c, recordId: 'r'.repeat(257) }), DeadLetterCode.VALUE_OUT_OF_DOMAIN],
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

  it('never puts a subscriber number or identity in a dead-letter message', () => {
    const good = sample(1)[0]!;
    const secrets = [good.servedMsisdn, good.servedImsi!, good.servedImei!, good.callingNumber ?? good.servedMsisdn, good.calledNumber ?? good.servedMsisdn];
    for (const [, mutate] of semantic) {
      const m = oneDead(codec.encode(mutate(good))).message;
      for (const s of secrets) expect(m).not.toContain(s);
    }
  });

  it('accepts every numeric field at both ends of its domain, and refuses one step beyond either end', () => {
    const good = sample(1)[0]!;
    const wide = wideCdrCodec();
    // Fields another field constrains (contract v3) take a record they fit: SMS segments an SMS, a part number
    // beyond 1 a data session (answered at its seizure, so any part may cover all of it).
    const more = sample(200);
    const baseFor = (field: string) => (field === 'smsSegments' ? more.find((c) => c.eventType === 'SMS_MO')! : field === 'recordSequenceNumber' ? more.find((c) => c.eventType === 'DATA')! : good);
    for (const [field, [lo, hi]] of Object.entries(DOMAINS)) {
      const at = (v: number) => decode(coords, [rec(wide.encode({ ...baseFor(field), [field]: v }), 0)]);
      for (const v of [lo, hi]) expect(at(v).deadLetters.map((d) => `${field}=${v}: ${d.message}`)).toEqual([]);
      // (Beyond ±(2^53 - 2) avsc cannot write a long; the guard tests below cover those.)
      for (const v of [lo - 1, hi + 1].filter((x) => Math.abs(x) <= AVRO_MAX_LONG)) {
        const r = at(v);
        expect(r.cdrs, `${field}=${v}`).toHaveLength(0);
        // Beyond 32 bits the Avro guard refuses an int before the domain check sees it.
        expect([DeadLetterCode.VALUE_OUT_OF_DOMAIN, DeadLetterCode.AVRO_INT_OUT_OF_RANGE]).toContain(r.deadLetters[0]!.code);
      }
    }
  });

  it('accepts durations within decode.durationToleranceMs of the times, and times from 2000 on', () => {
    const good = { ...sample(1)[0]!, answerTime: null, billableMs: 0 };
    const span = good.releaseTime - good.seizureTime;
    const y2k = Date.UTC(2000, 0, 1);
    const ok = [
      { ...good, durationMs: span + 1000 },
      { ...good, durationMs: Math.max(0, span - 1000) },
      { ...good, seizureTime: y2k, releaseTime: y2k, durationMs: 0 },
    ];
    const r = decode(coords, ok.map((c, i) => rec(codec.encode(c), i)));
    expect(r.deadLetters.map((d) => d.message)).toEqual([]);
    const strict = createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW, durationToleranceMs: 0, minTimestampMs: Date.UTC(2020, 0, 1) });
    const bad = strict(coords, ok.map((c, i) => rec(codec.encode(c), i)));
    expect(bad.deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.INCONSISTENT_TIMES, DeadLetterCode.INCONSISTENT_TIMES, DeadLetterCode.PAST_TIMESTAMP]);
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

describe('Avro guard (bytes avsc would loop on, allocate for, or misread)', () => {
  const good = { ...sample(1)[0]!, extensions: {} };
  const bytes = codec.encode(good);
  // With no extensions the map is one byte, its terminating block count 0; the contract v2 and v3 fields follow
  // it: chargingId, ratType, recordSequenceNumber, localRecordSequenceNumber (null: one byte each), smsSegments 1.
  const tail = bytes.subarray(bytes.length - 5);
  const withMapCount = (count: Buffer) => Buffer.concat([bytes.subarray(0, bytes.length - 6), count, tail]);
  const timed = (value: Buffer) => {
    const t = process.hrtime.bigint();
    const d = oneDead(value);
    return { code: d.code, message: d.message, ms: Number(process.hrtime.bigint() - t) / 1e6 };
  };

  it('refuses a map block count of 2^63 (ff ff ff ff ff ff ff ff ff 01) at once: avsc would loop ~2^63 times', () => {
    const r = timed(withMapCount(Buffer.from('ffffffffffffffffff01', 'hex')));
    expect(r.code).toBe(DeadLetterCode.AVRO_INT_OUT_OF_RANGE);
    expect(r.ms).toBeLessThan(50);
  });

  it('refuses counts and lengths that cannot fit in the bytes left', () => {
    expect(timed(withMapCount(varint(2 ** 40))).code).toBe(DeadLetterCode.AVRO_TRUNCATED);
    expect(timed(withMapCount(Buffer.concat([varint(-3), varint(2 ** 30)]))).code).toBe(DeadLetterCode.AVRO_TRUNCATED);
    // recordId's length is the first varint.
    expect(timed(Buffer.concat([varint(2 ** 50), bytes.subarray(1)])).code).toBe(DeadLetterCode.AVRO_TRUNCATED);
    expect(timed(Buffer.concat([varint(-5), bytes.subarray(1)])).code).toBe(DeadLetterCode.AVRO_DECODE_FAILED);
  });

  it('refuses a negative block whose byte size disagrees with its items, and reads one that agrees', () => {
    const entry = Buffer.concat([varint(1), Buffer.from('k'), varint(1), Buffer.from('v')]);
    const block = (size: number) => withMapCount(Buffer.concat([varint(-1), varint(size), entry, varint(0)]));
    expect(timed(block(1000)).code).toBe(DeadLetterCode.AVRO_TRUNCATED);
    expect(timed(block(entry.length + 1)).code).toBe(DeadLetterCode.AVRO_DECODE_FAILED);
    expect(timed(block(entry.length - 1)).code).toBe(DeadLetterCode.AVRO_DECODE_FAILED);
    const r = decode(coords, [rec(block(entry.length), 0)]);
    expect(r.deadLetters).toEqual([]);
    expect(r.cdrs[0]!.cdr.extensions).toEqual({ k: 'v' });
  });

  it('refuses ints beyond 32 bits, longs beyond 2^53 and varints beyond 64 bits, which avsc reads as wrong numbers', () => {
    const wide = wideCdrCodec();
    expect(timed(wide.encode({ ...good, redirectionCounter: 2 ** 31 })).code).toBe(DeadLetterCode.AVRO_INT_OUT_OF_RANGE);
    expect(timed(wide.encode({ ...good, q850Cause: -(2 ** 31) - 1 })).code).toBe(DeadLetterCode.AVRO_INT_OUT_OF_RANGE);
    expect(timed(withMapCount(Buffer.from('ffffffffffffffffffff01', 'hex'))).code).toBe(DeadLetterCode.AVRO_INT_OUT_OF_RANGE);
    expect(timed(withMapCount(varint(2n ** 53n - 1n))).code).toBe(DeadLetterCode.AVRO_INT_OUT_OF_RANGE);
    expect(timed(withMapCount(varint(-(2n ** 53n) + 1n))).code).toBe(DeadLetterCode.AVRO_INT_OUT_OF_RANGE);
    // In range they are read exactly.
    const r = decode(coords, [rec(wide.encode({ ...good, redirectionCounter: 5, q850Cause: 127 }), 0)]);
    expect(r.cdrs[0]!.cdr).toMatchObject({ redirectionCounter: 5, q850Cause: 127 });
  });

  it('refuses union and enum indices out of range', () => {
    // servedImsi's union index follows recordId, recordingEntity and eventType.
    const e = codec.encode({ ...good, recordId: 'x', recordingEntity: 'y' });
    expect(timed(Buffer.concat([e.subarray(0, 5), varint(2), e.subarray(6)])).code).toBe(DeadLetterCode.AVRO_DECODE_FAILED);
    expect(timed(Buffer.concat([e.subarray(0, 4), varint(6), e.subarray(5)])).code).toBe(DeadLetterCode.AVRO_DECODE_FAILED);
  });

  it('enforces decode.maxRecordBytes and decode.maxItems', () => {
    const small = createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW, maxRecordBytes: bytes.length, maxItems: 3 });
    const one = (c: Cdr) => small(coords, [rec(codec.encode(c), 0)]);
    expect(one(good).cdrs).toHaveLength(1);
    expect(one({ ...good, extensions: { a: '1', b: '2', c: '3' } }).deadLetters).toHaveLength(1); // longer than maxRecordBytes
    const roomy = createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW, maxItems: 3 });
    expect(roomy(coords, [rec(codec.encode({ ...good, extensions: { a: '1', b: '2', c: '3' } }), 0)]).cdrs).toHaveLength(1);
    const over = roomy(coords, [rec(codec.encode({ ...good, extensions: { a: '1', b: '2', c: '3', d: '4' } }), 0)]);
    expect(over.deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.AVRO_LIMIT_EXCEEDED]);
    expect(one({ ...good, extensions: { a: '1', b: '2', c: '3' } }).deadLetters[0]!.code).toBe(DeadLetterCode.AVRO_LIMIT_EXCEEDED);
  });

  it('guards resolved records with the writer schema (v2 read as v1)', () => {
    const v2 = avroCodec<Record<string, unknown>>('cdr.v2.avsc');
    const { lac, ...rest } = good;
    const v2bytes = v2.encode({ ...rest, locationAreaCode: lac, chargingId: null, ratType: 6 });
    const resolving = createDecoder(cdrReaderFor(avroSchemaText('cdr.v2.avsc')), { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW });
    expect(resolving(coords, [rec(v2bytes, 0)]).cdrs).toHaveLength(1);
    // v2 ends with extensions (empty: count 0), chargingId (null: 0), ratType (index 1, value 6): 00 00 02 0c.
    expect(v2bytes.subarray(-4)).toEqual(Buffer.from('0000020c', 'hex'));
    const hostile = Buffer.concat([v2bytes.subarray(0, v2bytes.length - 4), Buffer.from('ffffffffffffffffff01', 'hex'), v2bytes.subarray(-3)]);
    const t = process.hrtime.bigint();
    const r = resolving(coords, [rec(hostile, 0)]);
    expect(Number(process.hrtime.bigint() - t) / 1e6).toBeLessThan(50);
    expect(r.deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.AVRO_INT_OUT_OF_RANGE]);
    // ratType is an int of the writer only: the resolver skips it, the guard still range-checks it.
    const wideRat = Buffer.concat([v2bytes.subarray(0, v2bytes.length - 1), varint(2 ** 40)]);
    expect(resolving(coords, [rec(wideRat, 0)]).deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.AVRO_INT_OUT_OF_RANGE]);
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
