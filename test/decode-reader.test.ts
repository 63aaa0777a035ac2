/**
 * The compiled Avro reader (schemas/avro-reader.ts, issue #15) against avsc, which it replaces on the
 * writer = reader path: every datum the guard accepts must come out exactly as avsc's `type.decode` returns
 * it (same record class, same values, same end), and the decoder's domain checks, which read the reader's
 * string classification instead of looping, must give exactly the outcome (CDR, or dead-letter code and
 * message) they give without it.
 */
import { readdirSync } from 'node:fs';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { createDecoder, type DecodeResult } from '../enrich/decode.js';
import { compileReader, MAX_FAST_STRING } from '../schemas/avro-reader.js';
import { avroCodecOf, avroSchemaText, CDR_SCHEMA_FILE, cdrCodec, schemaPath, DEFAULT_AVRO_LIMITS, DeadLetterCode, guardFor, type AvroCodec, type Cdr, type SourceRecord } from '../schemas/index.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { varint } from './avro-bytes.js';

const START = Date.UTC(2026, 9, 5);
const NOW = START + 2 * 86_400_000;
const LIMITS = { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW };

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cdrType = avro.Type.forSchema(JSON.parse(avroSchemaText(CDR_SCHEMA_FILE)) as avro.Schema);
const reader = compileReader(cdrType)!;
const guard = guardFor(cdrType);

/** The reader's result and end for bytes the guard accepts, next to avsc's; undefined if the guard refuses. */
function both(type: avro.Type, buf: Buffer): { ours: unknown; theirs: unknown; end: number; theirEnd: number } | undefined {
  const g = guardFor(type);
  if (g.walk(buf, 0, buf.length, DEFAULT_AVRO_LIMITS) !== buf.length) return undefined;
  const r = compileReader(type)!;
  const ours = r.read(buf, 0);
  const res = type.decode(buf, 0);
  return { ours, theirs: res.value, end: r.end, theirEnd: res.offset };
}

const cdrs = [...generateCdrs({ seed: 15, subscribers: 300, startMs: START, meanGapMs: 200, switches: 4 }, 3000)];

describe('compiled reader = avsc', () => {
  it('compiles for the CDR schema and returns avsc\'s record class', () => {
    expect(reader).toBeDefined();
    const codec = cdrCodec();
    expect(codec.stringClasses).toBeDefined();
    const c = codec.decode(codec.encode(cdrs[0]!));
    expect(c.constructor.name).toBe('Cdr');
    expect(typeof (c as unknown as { toBuffer: unknown }).toBuffer).toBe('function');
  });

  it('generated CDRs: every field, the same record class, the same end', () => {
    for (const c of cdrs) {
      const buf = cdrType.toBuffer(c);
      const r = both(cdrType, buf)!;
      expect(r.ours).toStrictEqual(r.theirs);
      expect(r.end).toBe(r.theirEnd);
    }
  });

  it('every bundled schema the reader compiles (CDR v1-v3, fraud events and alerts, notifications): avsc\'s random values read back identically', () => {
    let compiled = 0;
    for (const file of readdirSync(schemaPath('avro'))) {
      const type = avro.Type.forSchema(JSON.parse(avroSchemaText(file)) as avro.Schema);
      if (!compileReader(type)) continue;
      compiled++;
      for (let i = 0; i < 500; i++) {
        const r = both(type, type.toBuffer(type.random()))!;
        expect(r.ours).toStrictEqual(r.theirs);
        expect(r.end).toBe(r.theirEnd);
      }
    }
    expect(compiled).toBeGreaterThanOrEqual(4);
  });

  it('strings at the fast/slow boundary, non-ASCII, invalid UTF-8, control characters, map keys like __proto__', () => {
    const values = ['', '+', 'a', 'x'.repeat(MAX_FAST_STRING - 1), 'x'.repeat(MAX_FAST_STRING), 'x'.repeat(MAX_FAST_STRING + 1), 'é', 'naïve-switch', '日本', '\u0000\u001f\u007f', '\ufffd', '😀'.repeat(7)];
    for (const v of values) {
      const c = { ...cdrs[1]!, recordingEntity: v, apn: v, extensions: { [v]: v, __proto__x: v } };
      const buf = cdrType.toBuffer(c);
      const r = both(cdrType, buf)!;
      expect(r.ours).toStrictEqual(r.theirs);
      expect((r.ours as Cdr).recordingEntity).toBe(v);
    }
    // Invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong '/') becomes U+FFFD as in avsc.
    const base = cdrType.toBuffer({ ...cdrs[1]!, recordingEntity: 'QQQQ' });
    const at = base.indexOf('QQQQ');
    for (const bad of [[0x80, 0x41, 0x42, 0x43], [0x41, 0xc3, 0x42, 0x43], [0xc0, 0xaf, 0x41, 0x42], [0xff, 0xfe, 0xfd, 0xfc]]) {
      const buf = Buffer.from(base);
      buf.set(bad, at);
      const r = both(cdrType, buf)!;
      expect(r.ours).toStrictEqual(r.theirs);
      expect((r.ours as Cdr).recordingEntity).toContain('\ufffd');
    }
    // A map key "__proto__": avsc assigns it (a string prototype is ignored, so no key); so must we.
    const proto = both(cdrType, cdrType.toBuffer({ ...cdrs[1]!, extensions: { ['__proto__']: 'x', k: 'v' } }))!;
    expect(proto.ours).toStrictEqual(proto.theirs);
    expect(Object.keys((proto.ours as Cdr).extensions)).toEqual(['k']);
  });

  it('mutated CDR bytes: whatever the guard accepts reads exactly as avsc reads it', () => {
    const rand = rng(1501);
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const buf = Buffer.from(cdrType.toBuffer(cdrs[i % cdrs.length]!));
      const flips = 1 + Math.floor(rand() * 3);
      for (let j = 0; j < flips; j++) buf[Math.floor(rand() * buf.length)] = rand() < 0.5 ? Math.floor(rand() * 256) : buf[Math.floor(rand() * buf.length)]! ^ (1 << Math.floor(rand() * 8));
      const r = both(cdrType, buf);
      if (!r) continue;
      accepted++;
      expect(r.ours).toStrictEqual(r.theirs);
      expect(r.end).toBe(r.theirEnd);
    }
    expect(accepted).toBeGreaterThan(5000); // most single-byte changes keep the structure: the comparison ran
  });

  it('other types: booleans, floats, doubles, arrays, nested records, 3-branch unions, enums, map blocks with byte sizes, overlong varints', () => {
    const schema = {
      type: 'record',
      name: 'Outer',
      fields: [
        { name: 'flag', type: 'boolean' },
        { name: 'f', type: 'float' },
        { name: 'd', type: 'double' },
        { name: 'list', type: { type: 'array', items: 'long' } },
        { name: 'inner', type: { type: 'record', name: 'Inner', fields: [{ name: 'x', type: 'int' }, { name: 's', type: ['null', 'string'] }] } },
        { name: 'u', type: ['null', 'long', 'string'] },
        { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A', 'B', 'C'] } },
        { name: 'm', type: { type: 'map', values: 'Inner' } },
        { name: 'big', type: 'long' },
      ],
    };
    const type = avro.Type.forSchema(schema as avro.Schema);
    expect(compileReader(type)).toBeDefined();
    const rand = rng(7);
    for (let i = 0; i < 2000; i++) {
      const v = {
        flag: rand() < 0.5,
        f: Math.fround(rand() * 1e6 - 5e5),
        d: rand() * 1e300 * (rand() < 0.5 ? -1 : 1),
        list: Array.from({ length: Math.floor(rand() * 5) }, () => Math.floor((rand() - 0.5) * 2 ** 53)),
        inner: { x: Math.floor((rand() - 0.5) * 2 ** 32), s: rand() < 0.3 ? null : 'é'.repeat(Math.floor(rand() * 30)) },
        u: [null, Math.floor(rand() * 1e12), 'x'][Math.floor(rand() * 3)],
        e: ['A', 'B', 'C'][Math.floor(rand() * 3)],
        m: rand() < 0.5 ? {} : { k: { x: 1, s: null }, ['k' + i]: { x: -i, s: 'v' } },
        big: -(2 ** 53) + 2 + Math.floor(rand() * 1000),
      };
      const r = both(type, type.toBuffer(v))!;
      expect(r.ours).toStrictEqual(r.theirs);
      expect(r.end).toBe(r.theirEnd);
    }
    // Hand-written bytes no avsc writer produces: a map block with a negative count and its byte size, an
    // array in two blocks, and varints with redundant continuation bytes (0 as 80 00, 1 as 82 80 00).
    const innerBytes = Buffer.concat([varint(5), varint(0)]); // x = 5, s = null
    const entry = Buffer.concat([varint(1), Buffer.from('k'), innerBytes]);
    const buf = Buffer.concat([
      Buffer.from([1]),
      Buffer.alloc(4),
      Buffer.alloc(8),
      varint(1), varint(7), varint(-2), varint(3), Buffer.from([0x80, 0x00]), varint(3), varint(0), // list: [7], then a block of 2 (3 bytes): [0, 3]
      Buffer.from([0x82, 0x80, 0x00]), varint(0), // inner: x = 1 (overlong), s = null
      Buffer.from([0x80, 0x80, 0x00]), // u: branch 0 (null), overlong
      varint(2), // e: C
      varint(-1), varint(entry.length), entry, varint(0), // m: one block of -1 entries with its size
      varint(123456789012), // big
    ]);
    const r = both(type, buf)!;
    expect(r).toBeDefined();
    expect(r.ours).toStrictEqual(r.theirs);
    expect(r.ours).toMatchObject({ list: [7, 0, 3], inner: { x: 1, s: null }, u: null, e: 'C', m: { k: { x: 5, s: null } }, big: 123456789012 });
    expect(r.end).toBe(buf.length);
  });

  it('resolution v2 -> v3 (renamed and added fields, every type identical) is compiled and reads as avsc\'s resolver', () => {
    const v2Type = avro.Type.forSchema(JSON.parse(avroSchemaText('cdr.v2.avsc')) as avro.Schema);
    const v2Reader = compileReader(cdrType, v2Type)!;
    expect(v2Reader).toBeDefined();
    const resolver = cdrType.createResolver(v2Type);
    for (const c of cdrs) {
      const { lac, ...rest } = c;
      const buf = v2Type.toBuffer({ ...rest, locationAreaCode: lac, chargingId: c.eventType === 'DATA' ? 7 : null, ratType: 6 });
      expect(guardFor(v2Type).walk(buf, 0, buf.length, DEFAULT_AVRO_LIMITS)).toBe(buf.length);
      const ours = v2Reader.read(buf, 0);
      const theirs = cdrType.decode(buf, 0, resolver);
      expect(ours).toStrictEqual(theirs.value);
      expect(v2Reader.end).toBe(theirs.offset);
      expect(ours).toMatchObject({ lac, recordSequenceNumber: null, smsSegments: 1, extensions: c.extensions });
    }
    // Mutated v2 bytes the guard accepts: still what avsc's resolver returns.
    const rand = rng(1504);
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const { lac, ...rest } = cdrs[i % cdrs.length]!;
      const buf = Buffer.from(v2Type.toBuffer({ ...rest, locationAreaCode: lac, chargingId: null, ratType: null }));
      buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
      if (guardFor(v2Type).walk(buf, 0, buf.length, DEFAULT_AVRO_LIMITS) !== buf.length) continue;
      accepted++;
      expect(v2Reader.read(buf, 0)).toStrictEqual(cdrType.decode(buf, 0, resolver).value);
    }
    expect(accepted).toBeGreaterThan(1000);
    // v1's Disposition lacks REJECTED: an enum avsc remaps, so avsc's resolver reads v1.
    expect(compileReader(cdrType, avro.Type.forSchema(JSON.parse(avroSchemaText('cdr.v1.avsc')) as avro.Schema))).toBeUndefined();
  });

  it('resolution: writer-only fields of every kind skipped, reader aliases, reader-only defaults, another field order', () => {
    const w = avro.Type.forSchema({
      type: 'record',
      name: 'R',
      fields: [
        { name: 'gone', type: { type: 'record', name: 'G', fields: [{ name: 's', type: 'string' }, { name: 'm', type: { type: 'map', values: 'long' } }] } },
        { name: 'b', type: ['null', 'string'] },
        { name: 'oldName', type: 'long' },
        { name: 'junk', type: { type: 'array', items: ['null', 'double', 'string'] } },
        { name: 'a', type: 'string' },
      ],
    } as avro.Schema);
    const r = avro.Type.forSchema({
      type: 'record',
      name: 'R',
      fields: [
        { name: 'a', type: 'string' },
        { name: 'newName', aliases: ['oldName'], type: 'long' },
        { name: 'added', type: { type: 'map', values: 'string' }, default: { k: 'v' } },
        { name: 'b', type: ['null', 'string'], default: null },
        { name: 'n', type: ['null', 'int'], default: null },
      ],
    } as avro.Schema);
    const compiledR = compileReader(r, w)!;
    expect(compiledR).toBeDefined();
    const resolver = r.createResolver(w);
    const rand = rng(11);
    for (let i = 0; i < 500; i++) {
      const buf = w.toBuffer({ gone: { s: 'x'.repeat(i % 40), m: { q: i } }, b: i % 3 ? 'bé'.repeat(i % 5) : null, oldName: i * 1e9, junk: [null, rand(), 'j'], a: String(i) });
      const theirs = r.decode(buf, 0, resolver);
      const ours = compiledR.read(buf, 0);
      expect(ours).toStrictEqual(theirs.value);
      expect(compiledR.end).toBe(buf.length);
      expect((ours as { added: object }).added).toEqual({ k: 'v' });
    }
    // What it leaves to avsc: a promotion (int written, long read), an enum with other symbols, nested records.
    const pair = (wt: unknown, rt: unknown) => compileReader(avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'x', type: rt }] } as avro.Schema), avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'x', type: wt }] } as avro.Schema));
    expect(pair('int', 'long')).toBeUndefined();
    expect(pair({ type: 'enum', name: 'E', symbols: ['A'] }, { type: 'enum', name: 'E', symbols: ['A', 'B'] })).toBeUndefined();
    expect(pair({ type: 'record', name: 'I', fields: [] }, { type: 'record', name: 'I', fields: [] })).toBeUndefined();
    expect(pair('string', 'string')).toBeDefined();
  });

  it('leaves to avsc what it does not reproduce: bytes, fixed, recursive records, non-record roots', () => {
    const rec = (t: unknown) => avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'x', type: t }] } as avro.Schema);
    expect(compileReader(rec('bytes'))).toBeUndefined();
    expect(compileReader(rec({ type: 'fixed', name: 'F', size: 4 }))).toBeUndefined();
    expect(compileReader(avro.Type.forSchema({ type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }] } as avro.Schema))).toBeUndefined();
    expect(compileReader(avro.Type.forSchema('string'))).toBeUndefined();
    // ... and such codecs still decode, through avsc.
    const codec = avroCodecOf<{ x: Buffer }>({ type: 'record', name: 'R', fields: [{ name: 'x', type: 'bytes' }] });
    expect(codec.stringClasses).toBeUndefined();
    expect(codec.decode(codec.encode({ x: Buffer.from([1, 2, 3]) })).x).toEqual(Buffer.from([1, 2, 3]));
  });

  it('a reader and its guard agree on where the datum ends (trailing bytes stay TRAILING_BYTES)', () => {
    const codec = cdrCodec();
    const buf = Buffer.concat([codec.encode(cdrs[2]!), Buffer.from([0])]);
    expect(() => codec.decode(buf)).toThrow(/bytes left after the record/);
    expect(guard.walk(buf, 0, buf.length, DEFAULT_AVRO_LIMITS)).toBe(buf.length - 1);
  });
});

describe('domain checks with the reader\'s string classes = without them', () => {
  const withClasses = cdrCodec();
  // The same codec without the classification: every check loops over the string, as for a resolved writer.
  const { stringClasses: _dropped, ...plain } = withClasses;
  const withoutClasses: AvroCodec<Cdr> = plain;
  const fast = createDecoder(withClasses, LIMITS);
  const slow = createDecoder(withoutClasses, LIMITS);
  const coords = { topic: 't', partition: 0 };
  const outcome = (r: DecodeResult) => [...r.cdrs.map((c) => ({ ok: c.offset, cdr: { ...c.cdr } })), ...r.deadLetters.map((d) => ({ dead: d.offset, code: d.code, message: d.message }))].sort((a, b) => Number('ok' in a ? a.ok : a.dead) - Number('ok' in b ? b.ok : b.dead));
  const records = (values: Buffer[]): SourceRecord[] => values.map((value, i) => ({ key: null, value, offset: String(i), timestamp: 0 }));

  const EDGE = ['', '+', '++1', '+1', '1', '+a', '#', '*#abcABC09', '12d', '12 3', '1 ', '\u0000', '12\u007f', '\t', 'é12', '\ufffd', '12345', '123456', '1234567', '1'.repeat(14), '1'.repeat(15), '1'.repeat(16), '1'.repeat(17), '1'.repeat(MAX_FAST_STRING), '+' + '1'.repeat(MAX_FAST_STRING - 1), '1'.repeat(MAX_FAST_STRING + 1), '+' + '1'.repeat(32), '1'.repeat(32), '1'.repeat(33), 'MSC-01', 'internet.apn', 'x'.repeat(101), 'x'.repeat(257)];
  const FIELDS = ['recordId', 'recordingEntity', 'servedMsisdn', 'callingNumber', 'calledNumber', 'connectedNumber', 'translatedNumber', 'originalCalledNumber', 'redirectingNumber', 'smsCentre', 'servedImsi', 'servedImei', 'servingPlmn', 'homePlmn', 'inTrunkGroup', 'outTrunkGroup', 'apn'] as const;
  const valid = [...generateCdrs({ seed: 1502, subscribers: 100, startMs: START, meanGapMs: 500, switches: 2 }, 400)];

  it('every checked string field set to every edge value: the same CDR or the same dead letter', () => {
    const values: Buffer[] = [];
    FIELDS.forEach((f, i) => EDGE.forEach((v, j) => values.push(withClasses.encode({ ...valid[(i * EDGE.length + j) % valid.length]!, [f]: v } as Cdr))));
    const a = outcome(fast(coords, records(values)));
    expect(a).toEqual(outcome(slow(coords, records(values))));
    // The checks did refuse: a '+' alone, a '+' in an IMSI, a control character in a switch name.
    const codeOf = (f: string, v: string) => a[FIELDS.indexOf(f as (typeof FIELDS)[number]) * EDGE.length + EDGE.indexOf(v)] as { code?: string };
    expect(codeOf('servedMsisdn', '+').code).toBe(DeadLetterCode.MALFORMED_NUMBER);
    expect(codeOf('servedImsi', '+1').code).toBe(DeadLetterCode.MALFORMED_NUMBER);
    expect(codeOf('recordingEntity', '\t').code).toBe(DeadLetterCode.VALUE_OUT_OF_DOMAIN);
    expect(codeOf('callingNumber', '*#abcABC09').code).toBeUndefined();
    expect(codeOf('servedImei', '1'.repeat(15)).code).toBeUndefined();
  });

  it('invalid UTF-8 and mutated bytes: the same outcome record by record', () => {
    const rand = rng(1503);
    const values: Buffer[] = [];
    for (let i = 0; i < 6000; i++) {
      const buf = Buffer.from(withClasses.encode(valid[i % valid.length]!));
      const n = 1 + Math.floor(rand() * 2);
      for (let j = 0; j < n; j++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
      values.push(buf);
    }
    const a = outcome(fast(coords, records(values)));
    expect(a).toEqual(outcome(slow(coords, records(values))));
    expect(a.filter((x) => 'ok' in x).length).toBeGreaterThan(100);
    expect(a.filter((x) => 'code' in x && x.code === DeadLetterCode.MALFORMED_NUMBER).length).toBeGreaterThan(10);
  });
});
