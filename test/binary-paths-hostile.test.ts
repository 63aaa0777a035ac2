/**
 * Adversarial review of the two hand-written binary paths of issue #15 that every CDR crosses:
 * - schemas/avro-reader.ts (the compiled reader that replaces avsc's decode after the guard) against avsc itself,
 *   differentially: every bundled schema, random schemas, writer -> reader resolution, hostile bytes the guard
 *   still accepts, varints at the 2^53 / 2^63 edges, strings around the fast path's length limit, and the
 *   STRING_CLASS bits enrich/decode.ts trusts (exact, and never left over from another datum);
 * - sinks/clickhouse/rowbinary.ts against the JSON path and ClickHouse's own parse of it, in a real chDB: what both
 *   store for hostile but representable rows, and what RowBinary refuses (by column) instead of storing silently.
 */
import { readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import avro from 'avsc';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createDecoder, type DecodeResult } from '../enrich/decode.js';
import { compileReader, MAX_FAST_STRING, STRING_CLASS } from '../schemas/avro-reader.js';
import { AvroDecodeError, avroCodecOf, avroSchemaText, CDR_SCHEMA_FILE, cdrCodec, cdrReaderFor, DEFAULT_AVRO_LIMITS, guardFor, schemaPath, type AvroCodec, type Cdr, type SourceRecord, type SourcedCdr } from '../schemas/index.js';
import { formatMicros } from '../schemas/tariff.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, RATED_COLUMNS, cdrRowCompact } from '../sinks/clickhouse/rows.js';
import { CDR_ROWBINARY_HEADER, CdrRowBinaryEncoder, RowRefusedError, RowWriter } from '../sinks/clickhouse/rowbinary.js';
import { varint } from './avro-bytes.js';
import { chPath, uniqueName } from './helpers.js';

const START = Date.UTC(2026, 9, 5);
const NOW = START + 2 * 86_400_000;
const LIMITS = { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW };

/** avsc's decode next to the compiled reader's for bytes the guard accepts (undefined when it refuses). */
function both(type: avro.Type, buf: Buffer, writer: avro.Type = type, resolver?: avro.Resolver): { ours: unknown; theirs: unknown; end: number; theirEnd: number } | undefined {
  if (guardFor(writer).walk(buf, 0, buf.length, DEFAULT_AVRO_LIMITS) !== buf.length) return undefined;
  const r = compileReader(type, writer)!;
  const ours = r.read(buf, 0);
  const end = r.end;
  const res = resolver ? type.decode(buf, 0, resolver) : type.decode(buf, 0);
  return { ours, theirs: res.value, end, theirEnd: res.offset };
}

/** Byte-level mutations a corrupting producer or a bit flip makes: set, flip, insert, delete, duplicate a run. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), v: fc.constantFrom(0, 1, 2, 0x2b, 0x7f, 0x80, 0xc3, 0xed, 0xf0, 0xff).chain((v) => fc.oneof(fc.constant(v), fc.integer({ min: 0, max: 255 }))) }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), v: fc.integer({ min: 1, max: 4 }) }),
);
function mutate(src: Buffer, ms: { op: 'set' | 'flip' | 'insert' | 'delete'; at: number; v: number }[]): Buffer {
  let b = Buffer.from(src);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'set') b[at] = m.v;
    else if (m.op === 'flip') b[at]! ^= 1 << m.v;
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.v]), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.v)]);
  }
  return b;
}

describe('compiled Avro reader = avsc, on whatever the guard accepts', () => {
  it('every bundled schema: random datums and fast-check mutations of them read exactly as avsc reads them', () => {
    let compiled = 0;
    let accepted = 0;
    for (const file of readdirSync(schemaPath('avro'))) {
      const type = avro.Type.forSchema(JSON.parse(avroSchemaText(file)) as avro.Schema);
      if (!compileReader(type)) continue;
      compiled++;
      // avsc's own random datum generator is not seeded: fast-check's seed picks among a fixed pool of them.
      const pool = Array.from({ length: 64 }, () => type.toBuffer(type.random()));
      fc.assert(
        fc.property(fc.integer({ min: 0, max: pool.length - 1 }), fc.array(mutation, { maxLength: 3 }), (k, ms) => {
          const r = both(type, mutate(pool[k]!, ms));
          if (!r) return;
          accepted++;
          expect(isDeepStrictEqual(r.ours, r.theirs)).toBe(true);
          expect(r.end).toBe(r.theirEnd);
        }),
        { seed: 1515, numRuns: 1500 },
      );
    }
    expect(compiled).toBeGreaterThanOrEqual(6);
    expect(accepted).toBeGreaterThan(3000);
  });

  it('longs and ints as raw varints at ±2^27/2^31/2^53/2^63, overlong, in every position: the guard refuses what avsc would misread', () => {
    const schema = { type: 'record', name: 'L', fields: [{ name: 'l', type: 'long' }, { name: 'i', type: 'int' }, { name: 'u', type: ['null', 'long', 'string'] }] };
    const type = avro.Type.forSchema(schema as avro.Schema);
    const codec = avroCodecOf<Record<string, unknown>>(schema);
    const overlong = (v: bigint, pad: number): Buffer => {
      const b = [...varint(v)];
      if (pad === 0) return Buffer.from(b);
      b[b.length - 1]! |= 0x80;
      for (let i = 1; i < pad; i++) b.push(0x80);
      b.push(0);
      return Buffer.from(b);
    };
    let accepted = 0;
    let misreadByAvsc = 0;
    for (const base of [0n, 1n, 2n ** 27n, 2n ** 28n, 2n ** 31n, 2n ** 32n, 2n ** 48n, 2n ** 52n, 2n ** 53n, 2n ** 62n, 2n ** 63n])
      for (const d of [-3n, -2n, -1n, 0n, 1n, 2n])
        for (const v of [base + d, -(base + d)])
          for (const pad of [0, 1, 3]) {
            const vb = overlong(v, pad);
            if (vb.length > 10) continue;
            for (const bytes of [[vb, [0], [0]], [[0], vb, [0]], [[0], [0], [2], vb]]) {
              const buf = Buffer.concat(bytes.map((x) => Buffer.from(x)));
              let ours: Record<string, unknown> | undefined;
              try {
                ours = codec.decode(buf);
              } catch (err) {
                expect(err).toBeInstanceOf(AvroDecodeError);
                continue;
              }
              accepted++;
              // Accepted: a long within ±(2^53 - 2), an int within 32 bits, and read exactly as written.
              const field = bytes[0] === vb ? 'l' : bytes[1] === vb ? 'i' : 'u';
              expect(BigInt(ours[field] as number)).toBe(v);
              // The guard refuses the longs avsc misreads (negative ones below -2^52), so whatever is accepted
              // is read alike by the reader and by avsc (the v1 path still decodes with avsc).
              const theirs = type.decode(buf, 0).value as Record<string, unknown>;
              if (BigInt(theirs[field] as number) !== v) misreadByAvsc++;
              expect(isDeepStrictEqual({ ...ours }, { ...theirs })).toBe(true);
            }
          }
    expect(accepted).toBeGreaterThan(300);
    // The regression: avsc (and the reader, which copied its arithmetic) read -(2^52 + 1) as +2^52, so a negative
    // byte count became 4.5 PB and passed the decoder's domain checks. The guard now refuses such longs on every path.
    expect(misreadByAvsc).toBe(0);
    const flipped = Buffer.concat([varint(-(2n ** 52n + 1n)), Buffer.from([0, 0])]);
    expect(type.decode(flipped, 0).value.l).toBe(2 ** 52);
    expect(() => codec.decode(flipped)).toThrow(expect.objectContaining({ kind: 'INT_OUT_OF_RANGE' }));
    const lowest = Buffer.concat([varint(-(2n ** 52n)), Buffer.from([0, 0])]);
    expect(codec.decode(lowest).l).toBe(-(2 ** 52));
    // Why the guard's bound is 2^53 - 2 and not 2^53 - 1: avsc's float path reads -(2^53 - 1) as +(2^53 - 2).
    const misread = Buffer.concat([varint(-(2n ** 53n - 1n)), Buffer.from([0, 0])]);
    expect(type.decode(misread, 0).value.l).toBe(2 ** 53 - 2);
    expect(() => codec.decode(misread)).toThrow(expect.objectContaining({ kind: 'INT_OUT_OF_RANGE' }));
  });

  it('a CDR with a negative byte count below -2^52 is refused by the guard, not stored as 4.5 PB (writer = reader, v2 -> v3 and v1 through avsc)', () => {
    const valid = [...generateCdrs({ seed: 1523, subscribers: 20, startMs: START, meanGapMs: 500, switches: 1 }, 5)];
    for (const file of ['cdr.v1.avsc', 'cdr.v2.avsc', CDR_SCHEMA_FILE]) {
      const writer = avroCodecOf<Record<string, unknown>>(JSON.parse(avroSchemaText(file)) as object);
      const decode = createDecoder(file === CDR_SCHEMA_FILE ? cdrCodec() : cdrReaderFor(avroSchemaText(file)), LIMITS);
      for (const field of ['uplinkBytes', 'downlinkBytes']) {
        for (const v of [-(2n ** 52n + 1n), -(2n ** 52n + 2n), -(2n ** 53n - 3n), -(2n ** 53n - 2n)]) {
          // Where the field's varint is: the first byte that differs between 0 and 1 (avsc's own writer cannot be
          // used for the value: its float arithmetic mis-encodes these longs as well).
          const zero = writer.encode({ ...valid[0]!, [field]: 0 });
          const one = writer.encode({ ...valid[0]!, [field]: 1 });
          const at = zero.findIndex((x, i) => x !== one[i]);
          const value = Buffer.concat([zero.subarray(0, at), varint(v), zero.subarray(at + 1)]);
          const out = decode({ topic: 't', partition: 0 }, [{ key: null, value, offset: '0', timestamp: 0 }]);
          expect(out.cdrs.map((c) => c.cdr[field as 'uplinkBytes'])).toEqual([]);
          expect(out.deadLetters.map((d) => d.code)).toEqual(['AVRO_INT_OUT_OF_RANGE']);
        }
      }
    }
  });

  it('strings of 0-30 bytes around the fast-path limit: NUL, DEL, C0, invalid and overlong UTF-8, CESU surrogates, 4-byte, truncated; map keys __proto__ and constructor', () => {
    const schema = { type: 'record', name: 'S', fields: [{ name: 's', type: 'string' }, { name: 'n', type: ['null', 'string'] }, { name: 'm', type: { type: 'map', values: 'string' } }, { name: 'a', type: { type: 'array', items: 'string' } }] };
    const type = avro.Type.forSchema(schema as avro.Schema);
    const PIECES = [[0x41], [0x30], [0x2b], [0x00], [0x7f], [0x1f], [0x80], [0xff], [0xc3, 0xa9], [0xc3], [0xed, 0xa0, 0x80], [0xed, 0xb0, 0x80], [0xef, 0xbf, 0xbd], [0xf0, 0x9f, 0x98, 0x80], [0xf0, 0x9f], [0xe0, 0x80, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80]];
    // Up to 30 bytes, cut anywhere (mid-sequence too): every length around MAX_FAST_STRING (24).
    const bytes = fc.tuple(fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PIECES.slice(0, 3)) }, { weight: 1, arbitrary: fc.constantFrom(...PIECES) }), { maxLength: 30 }), fc.integer({ min: 0, max: 30 })).map(([ps, cut]) => Buffer.from(ps.flat().slice(0, cut)));
    const str = (b: Buffer) => Buffer.concat([varint(b.length), b]);
    const mapKey = fc.oneof(bytes, fc.constantFrom(...['__proto__', 'constructor', 'toString', 'hasOwnProperty', '__defineGetter__'].map((k) => Buffer.from(k))));
    fc.assert(
      fc.property(bytes, bytes, fc.array(fc.tuple(mapKey, bytes), { maxLength: 3 }), fc.array(bytes, { maxLength: 3 }), (s, n, m, a) => {
        const buf = Buffer.concat([str(s), varint(1), str(n), ...(m.length ? [varint(m.length), ...m.flatMap(([k, v]) => [str(k), str(v)])] : []), varint(0), ...(a.length ? [varint(a.length), ...a.map(str)] : []), varint(0)]);
        const r = both(type, buf)!;
        expect(r).toBeDefined();
        expect(isDeepStrictEqual(r.ours, r.theirs)).toBe(true);
        const o = r.ours as { m: object };
        // Same own keys in the same order, and the same prototype (a `__proto__` entry is dropped by both).
        expect(Object.keys(o.m)).toEqual(Object.keys((r.theirs as { m: object }).m));
        expect(Object.getPrototypeOf(o.m)).toBe(Object.prototype);
      }),
      { seed: 1516, numRuns: 4000 },
    );
  });

  it('random schemas (nested records, enums, maps, arrays, unions) and their resolutions (aliases, reader-only defaults, writer-only fields, another order) = avsc', () => {
    let names = 0;
    const prim = ['null', 'boolean', 'int', 'long', 'float', 'double', 'string'];
    const typeArb = (depth: number): fc.Arbitrary<unknown> =>
      depth > 2
        ? fc.constantFrom(...prim)
        : fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom(...prim) },
            { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).map((k) => ({ type: 'enum', name: `E${names++}`, symbols: ['A', 'B', 'C', 'D', 'E'].slice(0, k) })) },
            { weight: 1, arbitrary: fc.constant(null).chain(() => typeArb(depth + 1)).map((items) => ({ type: 'array', items })) },
            { weight: 1, arbitrary: fc.constant(null).chain(() => typeArb(depth + 1)).map((values) => ({ type: 'map', values })) },
            { weight: 1, arbitrary: fc.constantFrom(['null', 'string'], ['null', 'long', 'string'], ['string', 'null'], ['null', 'double', 'boolean']) },
            { weight: 1, arbitrary: fc.constant(null).chain(() => recordArb(depth + 1)) },
          );
    const recordArb = (depth: number): fc.Arbitrary<{ type: 'record'; name: string; fields: { name: string; type: unknown }[] }> =>
      fc.array(fc.constant(null).chain(() => typeArb(depth)), { maxLength: 5 }).map((ts) => ({ type: 'record', name: `R${names++}`, fields: ts.map((type, i) => ({ name: 'abcdefg'[i]!, type })) }));
    let resolved = 0;
    let reads = 0;
    fc.assert(
      fc.property(recordArb(0), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 5, maxLength: 5 }), fc.integer({ min: 0, max: 1000 }), (sch, rolls, seed) => {
        const type = avro.Type.forSchema(sch as avro.Schema);
        const reader = compileReader(type);
        if (!reader) return;
        const pool = Array.from({ length: 8 }, () => type.toBuffer(type.random()));
        for (const b of pool) {
          const r = both(type, b)!;
          reads++;
          expect(isDeepStrictEqual(r.ours, r.theirs)).toBe(true);
          expect(r.end).toBe(r.theirEnd);
        }
        // Resolution: each reader field dropped from the writer (the reader then needs a default), renamed (a reader
        // alias names the writer's field), or kept; a writer-only field; the writer's order shuffled by `seed`.
        const readerFields: object[] = [];
        const writerFields: { name: string; type: unknown }[] = [];
        sch.fields.forEach((f, i) => {
          const roll = rolls[i]!;
          const dflt = f.type === 'string' ? 'dflt' : f.type === 'long' ? -(2 ** 40) : Array.isArray(f.type) && f.type[0] === 'null' ? null : undefined;
          if (roll === 0 && dflt !== undefined) readerFields.push({ ...f, default: dflt });
          else if (roll === 1) {
            readerFields.push({ ...f, aliases: [`old_${f.name}`] });
            writerFields.push({ name: `old_${f.name}`, type: f.type });
          } else {
            readerFields.push(f);
            writerFields.push(f);
          }
        });
        writerFields.splice(seed % (writerFields.length + 1), 0, { name: 'writerOnly', type: { type: 'map', values: ['null', 'string', { type: 'array', items: 'long' }] } });
        for (let i = writerFields.length - 1; i > 0; i--) {
          const j = (seed * 7 + i) % (i + 1);
          [writerFields[i], writerFields[j]] = [writerFields[j]!, writerFields[i]!];
        }
        names += 100; // the writer's named types must not clash with the reader's
        const rT = avro.Type.forSchema(JSON.parse(JSON.stringify({ type: 'record', name: sch.name, fields: readerFields })) as avro.Schema);
        const wT = avro.Type.forSchema(JSON.parse(JSON.stringify({ type: 'record', name: sch.name, fields: writerFields })) as avro.Schema);
        const resolver = rT.createResolver(wT);
        const rr = compileReader(rT, wT);
        if (!rr) return;
        resolved++;
        for (let k = 0; k < 8; k++) {
          const b = wT.toBuffer(wT.random());
          for (const buf of [b, mutate(b, [{ op: 'set', at: seed + k, v: (seed * 31 + k) & 0xff }])]) {
            const r = both(rT, buf, wT, resolver);
            if (!r) continue;
            reads++;
            expect(isDeepStrictEqual(r.ours, r.theirs)).toBe(true);
            expect(r.end).toBe(r.theirEnd);
          }
        }
      }),
      { seed: 1517, numRuns: 400 },
    );
    expect(resolved).toBeGreaterThan(100);
    expect(reads).toBeGreaterThan(3000);
  });
});

describe('STRING_CLASS bits (what enrich/decode.ts trusts instead of re-reading the characters)', () => {
  /** The classification the bits promise, from its definition (schemas/avro-reader.ts STRING_CLASS). */
  function expected(v: unknown): number {
    if (typeof v !== 'string') return 0;
    const b = Buffer.from(v, 'utf8');
    if (b.length === 0 || b.length > MAX_FAST_STRING || b.some((x) => x >= 0x80)) return 0;
    let bits = STRING_CLASS.KNOWN;
    if (/^[0-9]+$/.test(v)) bits |= STRING_CLASS.DIGITS;
    if (/^\+?[0-9*#abcABC]*$/.test(v)) bits |= STRING_CLASS.PARTY;
    if (/^[\x20-\x7e]*$/.test(v)) bits |= STRING_CLASS.TEXT;
    return bits;
  }
  const ALPHABET = ['0', '1', '9', '+', '*', '#', 'a', 'c', 'A', 'C', 'd', 'D', ' ', '-', '\u0000', '\u001f', '\u007f', 'é', '\ufffd', '😀'];
  const text = fc.tuple(fc.constantFrom(0, 1, 2, 5, 15, 16, 23, 24, 25, 26, 32), fc.array(fc.integer({ min: 0, max: ALPHABET.length - 1 }), { minLength: 32, maxLength: 32 })).map(([n, ix]) => ix.slice(0, n).map((i) => ALPHABET[i]).join(''));

  it('equal the definition for every top-level string field after every decode, writer = reader and v2 -> v3; 0 for reader-only fields; decodes that fail in between leave nothing stale', () => {
    for (const file of ['cdr.v2.avsc', CDR_SCHEMA_FILE]) {
      const wText = avroSchemaText(file);
      const writer = avro.Type.forSchema(JSON.parse(wText) as avro.Schema) as avro.Type & { fields: { name: string; type: avro.Type & { typeName: string; types?: { typeName: string }[] } }[] };
      const codec = file === CDR_SCHEMA_FILE ? cdrCodec() : cdrReaderFor(wText);
      const { bits, fieldIndex } = codec.stringClasses!;
      const readerFields = (codec.schema as { fields: { name: string; aliases?: string[]; type: unknown }[] }).fields;
      const readerStrings = new Set(readerFields.filter((f) => f.type === 'string' || (Array.isArray(f.type) && f.type.includes('string'))).map((f) => f.name));
      // Fed by a writer field (by name or a reader alias); a reader-only field keeps its default and bits 0.
      const fed = new Set(readerFields.filter((f) => writer.fields.some((w) => w.name === f.name || (f.aliases ?? []).includes(w.name))).map((f) => f.name));
      expect(readerFields.length - fed.size).toBeGreaterThan(file === CDR_SCHEMA_FILE ? -1 : 0);
      const strFields = writer.fields.filter((f) => f.type.typeName === 'string' || f.type.types?.some((t) => t.typeName === 'string'));
      let decoded = 0;
      let failed = 0;
      fc.assert(
        fc.property(fc.array(text, { minLength: strFields.length, maxLength: strFields.length }), fc.array(fc.boolean(), { minLength: strFields.length, maxLength: strFields.length }), fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))), (vals, nulls, hit) => {
          const d = writer.random() as unknown as Record<string, unknown>;
          strFields.forEach((f, i) => (d[f.name] = nulls[i] && f.type.typeName !== 'string' ? null : vals[i]));
          const buf = Buffer.from(writer.toBuffer(d));
          if (hit) buf[hit[0] % buf.length] = hit[1];
          let c: Record<string, unknown>;
          try {
            c = codec.decode(buf) as unknown as Record<string, unknown>;
          } catch {
            failed++;
            return;
          }
          decoded++;
          for (const [name, i] of fieldIndex) {
            expect([name, bits[i]]).toEqual([name, readerStrings.has(name) && fed.has(name) ? expected(c[name]) : 0]);
          }
        }),
        { seed: 1518, numRuns: 3000 },
      );
      expect(decoded).toBeGreaterThan(1500);
      expect(failed).toBeGreaterThan(100);
    }
  });

  it('two decoders on two codecs of the same type, their batches interleaved record by record: the same outcomes as checks that loop over every string', () => {
    const a = cdrCodec();
    const b = cdrReaderFor(avroSchemaText(CDR_SCHEMA_FILE)); // writer = reader: the same compiled reader, the same bits
    expect(b.stringClasses!.bits).toBe(a.stringClasses!.bits);
    const { stringClasses: _dropped, ...plain } = a;
    const slow = createDecoder(plain as AvroCodec<Cdr>, LIMITS);
    const fastA = createDecoder(a, LIMITS);
    const fastB = createDecoder(b, LIMITS);
    const valid = [...generateCdrs({ seed: 1519, subscribers: 50, startMs: START, meanGapMs: 500, switches: 2 }, 200)];
    const EDGE = ['+', '+1', '1', '12d', '\u0000', 'é1', '1'.repeat(MAX_FAST_STRING), '1'.repeat(MAX_FAST_STRING + 1), '+' + '1'.repeat(MAX_FAST_STRING - 1), 'MSC 01', 'x\u007f'];
    const FIELDS = ['servedMsisdn', 'callingNumber', 'calledNumber', 'servedImsi', 'servedImei', 'servingPlmn', 'recordingEntity', 'inTrunkGroup', 'apn'] as const;
    const outcome = (r: DecodeResult) => [...r.cdrs.map((c) => `ok:${c.offset}`), ...r.deadLetters.map((d) => `${d.offset}:${d.code}:${d.message}`)].sort();
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.constantFrom(...FIELDS), fc.constantFrom(...EDGE), fc.option(fc.nat())), { minLength: 2, maxLength: 12 }), (picks) => {
        const recs: SourceRecord[] = picks.map(([k, f, v, cut], i) => {
          const buf = a.encode({ ...valid[k]!, [f]: v } as Cdr);
          // Some records cut short: the decode throws after the guard, between two good ones.
          return { key: null, value: cut === null ? buf : buf.subarray(0, cut % buf.length), offset: String(i), timestamp: 0 };
        });
        const coords = { topic: 't', partition: 0 };
        const interleaved: DecodeResult = { cdrs: [], deadLetters: [] };
        recs.forEach((r, i) => {
          const res = (i % 2 ? fastB : fastA)(coords, [r]);
          interleaved.cdrs.push(...res.cdrs);
          interleaved.deadLetters.push(...res.deadLetters);
        });
        expect(outcome(interleaved)).toEqual(outcome(slow(coords, recs)));
      }),
      { seed: 1520, numRuns: 300 },
    );
  });
});

describe('RowBinary: values no column can hold are refused by column, exact ones stored', () => {
  const micros = (w: RowWriter) => w.take().readBigInt64LE(0);
  const dec = (v: string | number) => {
    const w = new RowWriter(16);
    w.dec18_6(v, 'cost_total');
    return micros(w);
  };

  it('Decimal(18, 6) from any exact decimal text: the Int64 of micro-units, whatever the sign, leading zeros or zeros past the 6th decimal', () => {
    const MAX = 999_999_999_999_999_999n;
    fc.assert(
      fc.property(fc.bigInt({ min: -MAX, max: MAX }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 }), fc.boolean(), (m, lead, trail, plus) => {
        const abs = m < 0n ? -m : m;
        const int = (abs / 1_000_000n).toString();
        const frac = (abs % 1_000_000n).toString().padStart(6, '0');
        const text = `${m < 0n ? '-' : plus ? '+' : ''}${'0'.repeat(lead)}${int}.${frac}${'0'.repeat(trail)}`;
        expect(dec(text)).toBe(m);
        if (abs < 2n ** 53n && abs % 1_000_000n === 0n) expect(dec(`${m < 0n ? '-' : ''}${int}.`)).toBe(m);
      }),
      { seed: 1521, numRuns: 5000 },
    );
    // The rating's own form, at every magnitude.
    for (const v of [0, 1, -1, 999_999, 1_000_000, 2 ** 53 - 1, -(2 ** 53 - 1)]) expect(dec(formatMicros(v))).toBe(BigInt(v));
    expect(dec('.5')).toBe(500_000n);
    expect(dec('-.000001')).toBe(-1n);
    expect(dec('1.5000000000')).toBe(1_500_000n);
    expect(dec('999999999999.9999990')).toBe(MAX);
    expect(dec(-0)).toBe(0n);
    expect(dec('-0.000000')).toBe(0n);
  });

  it('refuses, naming the column: a non-zero 7th decimal, exponents, spaces, signs alone, empty text, beyond 18 digits, NaN and Infinity', () => {
    for (const bad of ['1.0000001', '0.0000005', '999999999999.9999999', '1e3', '-1.5e2', ' 1', '1 ', '', '-', '+', '.', '+-1', '--1', '1..0', '0x10', '١', '1000000000000', '-1000000000000.000000', '999999999999999999', 'NaN', 'Infinity'])
      expect(() => dec(bad), bad).toThrow(/^column cost_total: .* is not a Decimal\(18, 6\)$/);
    for (const bad of [NaN, Infinity, -Infinity, 0.5, 1e12, 2 ** 53]) expect(() => dec(bad), String(bad)).toThrow(/^column cost_total: /);
  });

  it('a string with a lone UTF-16 surrogate is refused by column (it has no UTF-8 form), wherever it is; surrogate pairs and U+FFFF are stored', () => {
    const base = cdrRows()[0]!;
    const enc = new CdrRowBinaryEncoder();
    const row = (cdr: Partial<Cdr>, rated: Record<string, string | number | null> = {}, topic = base.topic) => () => enc.encode([{ ...base, topic, cdr: { ...base.cdr, ...cdr }, rated: { ...base.rated!, ...rated } }]);
    for (const lone of ['\ud800', 'a\udc00b', 'x'.repeat(127) + '\udbff', '\udfff\ud800', '😀'.slice(0, 1)]) {
      expect(row({ recordId: lone }), 'record_id').toThrow(new RowRefusedError('column record_id: a string with a lone UTF-16 surrogate is not UTF-8 text'));
      expect(row({ callingNumber: lone })).toThrow(/^column calling_number: /);
      expect(row({ extensions: { k: lone } })).toThrow(/^column extensions: /);
      expect(row({ extensions: { [lone]: 'v' } })).toThrow(/^column extensions: /);
      expect(row({}, { account_id: lone })).toThrow(/^column account_id: /);
      expect(row({}, { rating_note: lone })).toThrow(/^column rating_note: /);
      expect(row({}, {}, lone)).toThrow(/^column _topic: /);
    }
    for (const ok of ['😀', '\ud800\udc00', '\uffff', '\ufffd', 'x'.repeat(200), 'é'.repeat(200)]) expect(row({ recordId: ok, extensions: { [ok]: ok } })).not.toThrow();
    // And the encoder is clean after a refusal.
    expect(enc.encode([base])[0]).toEqual(new CdrRowBinaryEncoder().encode([base])[0]);
  });
});

let rows: SourcedCdr[] = [];
/** Decoded, rated-looking CDRs (the rating's column set and value forms, formatMicros for money). */
function cdrRows(): SourcedCdr[] {
  if (rows.length) return rows;
  const cdrs = [...generateCdrs({ seed: 1522, subscribers: 100, startMs: START, meanGapMs: 500, switches: 3 }, 40)];
  rows = cdrs.map((cdr, i) => ({
    cdr,
    topic: 't',
    partition: 1,
    offset: String(i),
    rated: Object.fromEntries(
      RATED_COLUMNS.map((c) => [
        c,
        c === 'rating_status' ? 'RATED' : c.startsWith('cost_') ? formatMicros(i * 1_234_567 - 9_000_000) : c === 'usage_amount' || c === 'billed_usage' ? i * 1000 : c === 'rated_at' ? NOW + i : c === 'roaming' || c === 'other_party_high_risk' ? i % 2 : c === 'rating_segments' || c === 'rating_note' ? null : `${c}-${i}`,
      ]),
    ),
  }));
  return rows;
}

describe('RowBinary vs the JSON path in chDB', () => {
  let conn: ClickHouseConnection | undefined;
  afterAll(async () => conn?.close());

  it('hostile but representable rows: RowBinary stores exactly what JSONCompactEachRow stores, byte for byte', async () => {
    conn = await openEmbedded({ path: chPath(), database: uniqueName('binhostile') });
    await migrate(conn, loadMigrations(schemaPath('ddl')));
    await conn.command('CREATE TABLE cdrs_json AS cdrs');
    const base = cdrRows();
    const STRINGS = ['', '\u0000', 'a\u0000b', '\u0001\u001f\u007f', '\u0080', 'é', '😀', '\ud800\udc00', '\uffff', '\ufffe', '\ufffd', '\u2028\u2029', '"\\/\n\t\'', 'x'.repeat(127), 'x'.repeat(127) + 'é', 'x'.repeat(128), 'é'.repeat(64), '日本'.repeat(100)];
    const MONEY = ['0.000000', '-0.000000', '0.000001', '-0.000001', '999999999999.999999', '-999999999999.999999', '+1.500000', '0001.500000', '1.5000000', '5.', '.5', '-.5', '123456789012.345678', formatMicros(2 ** 53 - 1), formatMicros(-(2 ** 53 - 1))];
    // Times the JSON path can write (its `seconds.millis` text needs 0 <= seconds < 10^10): the 2106 boundary of a
    // UInt32 DateTime, fractional ms (floored by both), the epoch itself.
    const TIMES = [0, 0.999, 1.5, 4_294_967_295_999, 4_294_967_296_000, 9_999_999_999_999, START + 0.25];
    const all: SourcedCdr[] = [];
    STRINGS.forEach((s, i) => {
      const b = base[i % base.length]!;
      all.push({ ...b, offset: String(100 + i), cdr: { ...b.cdr, recordId: `s${i}${s}`, recordingEntity: s, callingNumber: s, apn: s, extensions: { [s]: s, k: s } }, rated: { ...b.rated!, account_id: s, currency: s, rating_note: s, tariff_id: s } });
    });
    MONEY.forEach((m, i) => {
      const b = base[i % base.length]!;
      all.push({ ...b, offset: String(200 + i), cdr: { ...b.cdr, recordId: `m${i}` }, rated: { ...b.rated!, cost_total: m, cost_usage: m, cost_surcharge: i % 2 ? i * 1000 : -i } });
    });
    TIMES.forEach((t, i) => {
      const b = base[i % base.length]!;
      all.push({ ...b, offset: String(300 + i), cdr: { ...b.cdr, recordId: `t${i}`, seizureTime: t, answerTime: i % 2 ? null : t, releaseTime: t }, rated: { ...b.rated!, rated_at: t } });
    });
    // Nulls and absences: every Nullable null, rated columns null, missing, or no rating at all; 64-bit offsets.
    const b0 = base[0]!;
    all.push({ ...b0, offset: '9007199254740993', cdr: { ...b0.cdr, recordId: 'nulls', servedImsi: null, callingNumber: null, redirectionReason: null, answerTime: null, q850Cause: null, cellId: null, ratType: null, recordSequenceNumber: null, extensions: {} }, rated: Object.fromEntries(RATED_COLUMNS.map((c) => [c, null])) });
    all.push({ ...b0, offset: '18446744073709551615', partition: 4_294_967_295, cdr: { ...b0.cdr, recordId: 'missing' }, rated: {} });
    all.push({ ...b0, offset: '00000000000000000042', cdr: { ...b0.cdr, recordId: 'unrated' }, rated: undefined });
    all.push({ ...b0, offset: '400', cdr: { ...b0.cdr, recordId: 'bounds', durationMs: 2 ** 53 - 1, billableMs: 0, uplinkBytes: 2 ** 53 - 2, cellId: 2 ** 36 - 1, utcOffsetMinutes: -720, causeForTerm: 65_535, smsSegments: 255, localRecordSequenceNumber: 4_294_967_295, chargingId: 0 } });
    all.push(...base);

    const json = all.map(cdrRowCompact).join('');
    await conn.insert('cdrs_json', json, {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
    const bin = new CdrRowBinaryEncoder().encode(all);
    await conn.insert('cdrs', Buffer.concat([CDR_ROWBINARY_HEADER, ...bin]), {}, { format: 'RowBinaryWithNamesAndTypes', columns: CDR_INSERT_COLUMNS });
    // hex() of every String-like column: a JSON dump of invalid or unusual UTF-8 could hide a byte difference.
    const dump = async (t: string) =>
      (await conn!.query<Record<string, unknown>>(`SELECT * EXCEPT _ingested_at, hex(record_id) AS h1, hex(recording_entity) AS h2, hex(calling_number) AS h3, hex(apn) AS h4, hex(account_id) AS h5, hex(rating_note) AS h6, hex(toString(extensions)) AS h7, toUnixTimestamp64Milli(seizure_time) AS ms, toUnixTimestamp64Milli(rated_at) AS rms FROM ${t} ORDER BY _partition, _offset, record_id`)).map((r) => JSON.stringify(r));
    const got = await dump('cdrs');
    expect(got.length).toBeGreaterThan(all.length - 5);
    expect(got).toEqual(await dump('cdrs_json'));
    const [row] = await conn.query<Record<string, unknown>>("SELECT cost_total, cost_usage, _offset, _partition FROM cdrs WHERE record_id = 'm6'");
    expect(row).toEqual({ cost_total: '1.5', cost_usage: '1.5', _offset: '206', _partition: 1 });
    const [m] = await conn.query<{ n: string }>("SELECT toString(count()) AS n FROM cdrs WHERE record_id = 'missing' AND _offset = '18446744073709551615' AND rating_status = 'NOT_RATED' AND cost_total = 0 AND rated_at IS NULL");
    expect(m!.n).toBe('1');
  });

  it('what RowBinary refuses instead of storing silently: ClickHouse\'s JSON parse would refuse it too, round it, or store something else', async () => {
    conn ??= await openEmbedded({ path: chPath(), database: uniqueName('binhostile') });
    const b = cdrRows()[3]!;
    const enc = new CdrRowBinaryEncoder();
    const cases: [string, SourcedCdr, RegExp][] = [
      ['lone high surrogate', { ...b, rated: { ...b.rated!, account_id: 'a\ud800' } }, /column account_id: /],
      ['lone low surrogate', { ...b, cdr: { ...b.cdr, extensions: { k: 'a\udc00b' } } }, /column extensions: /],
      ['a 7th decimal', { ...b, rated: { ...b.rated!, cost_total: '1.1234567' } }, /column cost_total: a decimal with more than 6 decimals/],
      ['NaN money', { ...b, rated: { ...b.rated!, cost_usage: NaN } }, /column cost_usage: NaN/],
      ['empty money', { ...b, rated: { ...b.rated!, cost_total: '' } }, /column cost_total: /],
      ['UInt8 overflow', { ...b, rated: { ...b.rated!, roaming: 256 } }, /column roaming: 256 is not a UInt8/],
      ['UInt16 overflow', { ...b, cdr: { ...b.cdr, causeForTerm: 65_536 } }, /column cause_for_term: /],
      ['offset beyond 2^64', { ...b, offset: '18446744073709551616' }, /column _offset: /],
      ['unsafe integer', { ...b, cdr: { ...b.cdr, uplinkBytes: 2 ** 53 } }, /column uplink_bytes: /],
    ];
    await conn.command('CREATE TABLE IF NOT EXISTS cdrs_refused AS cdrs');
    const jsonStored: Record<string, unknown> = {};
    for (const [name, sc, why] of cases) {
      expect(() => enc.encode([sc]), name).toThrow(why);
      // The same row through the JSON path: refused, or stored as something other than what was sent.
      const tagged = { ...sc, cdr: { ...sc.cdr, recordId: name } };
      try {
        await conn.insert('cdrs_refused', cdrRowCompact(tagged), {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
        const [r] = await conn.query<Record<string, unknown>>(`SELECT hex(account_id) AS acc, hex(toString(extensions)) AS ext, cost_total, cost_usage, roaming, cause_for_term, _offset, uplink_bytes FROM cdrs_refused WHERE record_id = '${name}'`);
        jsonStored[name] = r;
      } catch {
        jsonStored[name] = 'refused';
      }
    }
    expect(jsonStored['lone high surrogate']).toBe('refused');
    expect(jsonStored['lone low surrogate']).toMatchObject({ ext: expect.stringContaining('61EDB08062') }); // CESU bytes, not UTF-8
    expect(jsonStored['a 7th decimal']).toMatchObject({ cost_total: expect.stringMatching(/^1\.12345[67]$/) }); // the 7th decimal dropped
    expect(jsonStored['NaN money']).toMatchObject({ cost_usage: '0' }); // JSON.stringify(NaN) is null: the default
    expect(jsonStored['UInt8 overflow']).toMatchObject({ roaming: 0 }); // wrapped
    expect(jsonStored['UInt16 overflow']).toMatchObject({ cause_for_term: 0 }); // wrapped
  });

  it('times the JSON path cannot write (before 1970, from 2286) are stored exactly, and refused outside DateTime64(3)', async () => {
    conn ??= await openEmbedded({ path: chPath(), database: uniqueName('binhostile') });
    const b = cdrRows()[5]!;
    const times = [-1, -1500, -0.5, -2_208_988_800_000, 10_000_000_000_000, 10_413_791_999_999];
    const all = times.map((t, i) => ({ ...b, offset: String(500 + i), cdr: { ...b.cdr, recordId: `old${i}`, seizureTime: t, answerTime: null, releaseTime: t }, rated: { ...b.rated!, rated_at: t } }));
    await conn.command('CREATE TABLE IF NOT EXISTS cdrs_times AS cdrs');
    await conn.insert('cdrs_times', Buffer.concat([CDR_ROWBINARY_HEADER, ...new CdrRowBinaryEncoder().encode(all)]), {}, { format: 'RowBinaryWithNamesAndTypes', columns: CDR_INSERT_COLUMNS });
    const got = await conn.query<{ s: string; r: string }>('SELECT toString(toUnixTimestamp64Milli(seizure_time)) AS s, toString(toUnixTimestamp64Milli(rated_at)) AS r FROM cdrs_times ORDER BY _offset');
    expect(got).toEqual(times.map((t) => ({ s: String(Math.floor(t)), r: String(Math.floor(t)) })));
    for (const t of [-2_208_988_800_001, 10_413_792_000_000, NaN, Infinity]) expect(() => new CdrRowBinaryEncoder().encode([{ ...b, cdr: { ...b.cdr, seizureTime: t } }])).toThrow(/^column seizure_time: /);
  });
});
