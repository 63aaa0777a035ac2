/**
 * Schema evolution v1 <-> v2 <-> v3 under Avro's resolution rules (Avro 1.11 specification, "Schema
 * Resolution"), against recorded bytes (test/fixtures/) as well as round trips, every reader against every
 * writer.
 *
 * cdr.v2.avsc = v1 + optional chargingId and ratType (default null), lac renamed locationAreaCode (aliases:
 * [lac]), and the Disposition symbol REJECTED (the enum default FAILED is what a v1 reader reads for it).
 * cdr.v3.avsc = v2 + recordSequenceNumber, localRecordSequenceNumber (TS 32.298 partial records; default
 * null = a complete record) and smsSegments (default 1), with the location area code named lac again and
 * aliased locationAreaCode. v3 is the pipeline's reader (cdrCodec, cdrReaderFor).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { avroCodec, avroSchemaText, CDR_SCHEMA_FILE, cdrCodec, cdrReaderFor, DeadLetterCode, readerCodec, resolverCount, SchemaIncompatibleError, type Cdr, type SourceRecord } from '../schemas/index.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { partsOf } from '../simulators/traffic/engine.js';
import { ConfigError, loadConfig } from '../pipeline/config.js';
import { buildDecoder } from '../pipeline/app.js';
import { quietLog } from './helpers.js';

const fixture = (name: string) => Buffer.from(readFileSync(join(import.meta.dirname, 'fixtures', `${name}.hex`), 'utf8').trim(), 'hex');
const v1Text = avroSchemaText('cdr.v1.avsc');
const v2Text = avroSchemaText('cdr.v2.avsc');
const v3Text = avroSchemaText('cdr.v3.avsc');
type Rec = Record<string, unknown>;
const v1 = avroCodec<Rec>('cdr.v1.avsc');
const v2 = avroCodec<Rec>('cdr.v2.avsc');
const v3 = cdrCodec();
const NOW = Date.UTC(2026, 10, 1);

/** What contract v3 adds; a record of an earlier contract reads these defaults: one complete record, 1 segment. */
const V3_DEFAULTS = { recordSequenceNumber: null, localRecordSequenceNumber: null, smsSegments: 1 };

/** A CDR as a v1 producer writes it: no v2/v3 fields, REJECTED unknown (a v1 switch writes FAILED). */
function toV1(c: Cdr): Rec {
  const { chargingId: _c, ratType: _r, recordSequenceNumber: _s, localRecordSequenceNumber: _l, smsSegments: _g, ...rest } = c;
  return { ...rest, disposition: c.disposition === 'REJECTED' ? 'FAILED' : c.disposition };
}

/** A CDR as a v2 producer writes it. */
function toV2(c: Cdr): Rec {
  const { lac, recordSequenceNumber: _s, localRecordSequenceNumber: _l, smsSegments: _g, ...rest } = c;
  return { ...rest, locationAreaCode: lac };
}

/** A variant of a schema (JSON text) with a field edited, removed or added. */
function variant(text: string, edit: (fields: { name: string; type: unknown; aliases?: string[]; default?: unknown }[]) => void): string {
  const s = JSON.parse(text) as { fields: { name: string; type: unknown }[] };
  edit(s.fields);
  return JSON.stringify(s);
}

/** Generated CDRs with every v2 and v3 field in use: partial records, SMS segments, REJECTED, LACs, bearers. */
function sampleV3(): Cdr[] {
  const base = [...generateCdrs({ seed: 3, subscribers: 40, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, 200)];
  const out: Cdr[] = [];
  base.forEach((c, i) => {
    c.lac = i % 3 === 0 ? null : 1000 + i;
    c.ratType = i % 4 === 0 ? null : 6;
    c.chargingId = c.eventType === 'DATA' ? 40_000 + i : null;
    c.localRecordSequenceNumber = i % 5 === 0 ? null : 10 * i;
    if (c.eventType.startsWith('SMS')) c.smsSegments = 1 + (i % 3);
    if (c.disposition === 'FAILED' && i % 2 === 0) c.disposition = 'REJECTED';
    if (c.answerTime !== null && c.releaseTime - c.seizureTime > 60_000 && !c.eventType.startsWith('SMS')) out.push(...partsOf(c, 60_000));
    else out.push(c);
  });
  return out;
}

describe('recorded bytes', () => {
  it('v1, v2 and v3 bytes decode as the records they were written from, each with its own schema', () => {
    expect(v1.decode(fixture('cdr.v1.voice'))).toMatchObject({ recordId: 'MSC1-1792065600000-1', eventType: 'VOICE_MO', servedMsisdn: '447910000042', calledNumber: '447700900123', seizureTime: 1792065600000, durationMs: 65000, billableMs: 60000, lac: 1234, cellId: 56789, disposition: 'ANSWERED', extensions: { vendor: 'acme' } });
    expect(v2.decode(fixture('cdr.v2.voice'))).toMatchObject({ chargingId: 987654321, ratType: 6, locationAreaCode: 1234 });
    expect(v2.decode(fixture('cdr.v2.rejected'))).toMatchObject({ disposition: 'REJECTED', locationAreaCode: 1234, chargingId: null, ratType: 6 });
    expect(v3.decode(fixture('cdr.v3.partial'))).toMatchObject({ recordId: 'MSC1-1792065600000-3', recordSequenceNumber: 2, localRecordSequenceNumber: 4242, causeForTerm: 1, q850Cause: null, durationMs: 1_800_000, billableMs: 1_800_000, releaseTime: 1792065600000 + 3_600_000, lac: 1234, ratType: 6, smsSegments: 1 });
    expect(v3.decode(fixture('cdr.v3.sms3'))).toMatchObject({ eventType: 'SMS_MO', smsSegments: 3, recordSequenceNumber: null });
  });

  it('bytes of one version are not bytes of another: read without resolution they fail (why the writer schema travels with each record)', () => {
    expect(() => v3.decode(fixture('cdr.v1.voice'))).toThrow();
    expect(() => v3.decode(fixture('cdr.v2.voice'))).toThrow();
    expect(() => v1.decode(fixture('cdr.v3.partial'))).toThrow();
  });
});

describe('the v3 reader (the pipeline) reads v1- and v2-written records as complete records of one segment', () => {
  it('v1: every v2 and v3 field takes its default', () => {
    const c = cdrReaderFor(v1Text).decode(fixture('cdr.v1.voice'));
    expect(c).toEqual({ ...v1.decode(fixture('cdr.v1.voice')), chargingId: null, ratType: null, ...V3_DEFAULTS });
  });

  it('v2: the bearer fields and REJECTED are kept, locationAreaCode is read as lac through the v3 alias', () => {
    const reader = cdrReaderFor(v2Text);
    const voice = reader.decode(fixture('cdr.v2.voice'));
    expect(voice).toMatchObject({ lac: 1234, chargingId: 987654321, ratType: 6, ...V3_DEFAULTS });
    expect(voice).not.toHaveProperty('locationAreaCode');
    expect(reader.decode(fixture('cdr.v2.rejected'))).toMatchObject({ disposition: 'REJECTED', q850Cause: 21, answerTime: null, lac: 1234, ...V3_DEFAULTS });
  });

  it('round trips: generated CDRs written as v1 and as v2 read back as the same CDRs with the defaults', () => {
    const cdrs = sampleV3().filter((c) => c.recordSequenceNumber === null);
    const asV1 = cdrReaderFor(v1Text);
    const asV2 = cdrReaderFor(v2Text);
    expect(cdrs.map((c) => ({ ...asV1.decode(v1.encode(toV1(c))) }))).toEqual(cdrs.map((c) => ({ ...c, ...V3_DEFAULTS, chargingId: null, ratType: null, disposition: c.disposition === 'REJECTED' ? 'FAILED' : c.disposition })));
    expect(cdrs.map((c) => ({ ...asV2.decode(v2.encode(toV2(c))) }))).toEqual(cdrs.map((c) => ({ ...c, ...V3_DEFAULTS })));
  });

  it('without the alias a rename is silent data loss: the reader gets its default (why v2 and v3 declare aliases)', () => {
    const noAlias = variant(v2Text, (fields) => {
      const f = fields.find((x) => x.name === 'locationAreaCode')!;
      delete f.aliases;
    });
    const bytes = fixture('cdr.v2.voice');
    // The v3 reader knows v2's name through its own alias, whatever the writer says.
    expect(cdrReaderFor(noAlias).decode(bytes).lac).toBe(1234);
    // A v1 reader has no alias: it finds v2's field only through the writer's alias (borrowed, schemas/index.ts).
    expect(readerCodec<Rec>('cdr.v1.avsc', noAlias).decode(bytes).lac).toBeNull();
    expect(readerCodec<Rec>('cdr.v1.avsc', v2Text).decode(bytes).lac).toBe(1234);
  });

  it('decodes and validates bare v1 and v2 records in the decoder (decode.writerSchema=cdr.v1.avsc / cdr.v2.avsc)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'evo-'));
    const decoderFor = (file: string, text: string) => {
      const path = join(dir, file);
      writeFileSync(path, text);
      return buildDecoder(loadConfig({ env: { CDR_DECODE_WRITER_SCHEMA: path } }), quietLog);
    };
    const recs = (names: string[]): SourceRecord[] => names.map((f, i) => ({ key: null, value: fixture(f), offset: String(i), timestamp: NOW }));
    const r2 = decoderFor('cdr.v2.avsc', v2Text)({ topic: 't', partition: 0 }, [...recs(['cdr.v2.voice', 'cdr.v2.rejected']), { key: null, value: fixture('cdr.v2.voice').subarray(0, 50), offset: '2', timestamp: NOW }]);
    expect(r2.cdrs.map((c) => [c.cdr.recordId, c.cdr.disposition, c.cdr.lac, c.cdr.recordSequenceNumber, c.cdr.smsSegments])).toEqual([
      ['MSC1-1792065600000-1', 'ANSWERED', 1234, null, 1],
      ['MSC1-1792065600000-2', 'REJECTED', 1234, null, 1],
    ]);
    expect(r2.deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.AVRO_TRUNCATED]);
    const r1 = decoderFor('cdr.v1.avsc', v1Text)({ topic: 't', partition: 0 }, recs(['cdr.v1.voice']));
    expect(r1.cdrs.map((c) => c.cdr)).toEqual([cdrReaderFor(v1Text).decode(fixture('cdr.v1.voice'))]);
    // The default (no decode.writerSchema) is the current contract, v3.
    const r3 = buildDecoder(loadConfig({ env: {} }), quietLog)({ topic: 't', partition: 0 }, recs(['cdr.v3.partial', 'cdr.v3.sms3']));
    expect(r3.deadLetters).toEqual([]);
    expect(r3.cdrs.map((c) => [c.cdr.recordSequenceNumber, c.cdr.smsSegments])).toEqual([
      [2, 1],
      [null, 3],
    ]);
  });
});

describe('v1 and v2 readers read v3-written records', () => {
  const cdrs = sampleV3();

  it('a v1 reader skips the v2 and v3 fields and reads REJECTED as its enum default FAILED', () => {
    const reader = readerCodec<Rec>('cdr.v1.avsc', v3Text);
    const part = reader.decode(fixture('cdr.v3.partial'));
    expect(part).toMatchObject({ recordId: 'MSC1-1792065600000-3', lac: 1234, causeForTerm: 1, billableMs: 1_800_000 });
    expect(part).not.toHaveProperty('recordSequenceNumber');
    expect(cdrs.map((c) => ({ ...reader.decode(v3.encode(c)) }))).toEqual(cdrs.map((c) => toV1(c)));
  });

  it('a v2 reader keeps the bearer fields and REJECTED and reads lac as locationAreaCode (its own alias)', () => {
    const reader = readerCodec<Rec>('cdr.v2.avsc', v3Text);
    expect(reader.decode(fixture('cdr.v3.partial'))).toMatchObject({ locationAreaCode: 1234, ratType: 6, chargingId: null });
    expect(cdrs.map((c) => ({ ...reader.decode(v3.encode(c)) }))).toEqual(cdrs.map((c) => toV2(c)));
  });

  it('v3 round-trips itself: parts, segments and sequence numbers', () => {
    expect(cdrs.some((c) => (c.recordSequenceNumber ?? 0) > 1)).toBe(true);
    expect(cdrs.some((c) => c.smsSegments === 3)).toBe(true);
    expect(cdrs.map((c) => ({ ...v3.decode(v3.encode(c)) }))).toEqual(cdrs);
    expect(CDR_SCHEMA_FILE).toBe('cdr.v3.avsc');
  });
});

describe('writer schemas that cannot be resolved', () => {
  const cases: [string, string][] = [
    ['a required reader field (durationMs, no default) missing from the writer', variant(v1Text, (f) => void f.splice(f.findIndex((x) => x.name === 'durationMs'), 1))],
    ['a new EventType symbol (EventType has no default)', variant(v1Text, (f) => void ((f.find((x) => x.name === 'eventType')!.type as { symbols: string[] }).symbols.push('MMS_MO')))],
    ['a type change that is not a promotion (recordId string -> int)', variant(v1Text, (f) => void (f.find((x) => x.name === 'recordId')!.type = 'int'))],
    ['a type change of a v3 field (smsSegments int -> string)', variant(v3Text, (f) => void (f.find((x) => x.name === 'smsSegments')!.type = 'string'))],
    ['another record name', variant(v1Text, () => undefined).replace('"name":"Cdr"', '"name":"Invoice"')],
    ['not Avro', '{"type": "recrod"}'],
    ['not JSON', 'syntax = "proto3";'],
  ];
  it.each(cases)('%s is SchemaIncompatibleError, not a crash', (_name, writer) => {
    expect(() => cdrReaderFor(writer)).toThrow(SchemaIncompatibleError);
  });

  it('refuses an incompatible decode.writerSchema at start-up, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'evo-'));
    const path = join(dir, 'bad.avsc');
    writeFileSync(path, cases[0]![1]);
    expect(() => buildDecoder(loadConfig({ env: { CDR_DECODE_WRITER_SCHEMA: path } }), quietLog)).toThrow(/bad\.avsc.*durationMs/s);
    expect(() => loadConfig({ env: { CDR_DECODE_WRITER_SCHEMA: join(dir, 'missing.avsc') } })).toThrow(ConfigError);
  });

  it('writer-declared renames must be unambiguous', () => {
    // Neither lac nor locationAreaCode: two writer fields claim to have been lac.
    const twice = variant(v2Text, (f) => {
      f.find((x) => x.name === 'locationAreaCode')!.name = 'lacA';
      f.push({ name: 'lacB', type: ['null', 'int'], default: null, aliases: ['lac'] });
    });
    expect(() => cdrReaderFor(twice)).toThrow(/ambiguous rename/);
  });
});

describe('resolver compilation', () => {
  it('compiles one resolver per distinct writer schema, and none for the reader schema itself', () => {
    const before = resolverCount();
    const text = variant(v3Text, (f) => void f.push({ name: 'compiledOnce', type: 'int', default: 0 }));
    const a = cdrReaderFor(text);
    // Same schema, other formatting: the same compiled resolver.
    expect(cdrReaderFor(JSON.stringify(JSON.parse(text), null, 2))).toBe(a);
    expect(resolverCount()).toBe(before + 1);
    // Identical to the reader (same canonical form, other whitespace): plain decoding, no resolver.
    const same = cdrReaderFor(JSON.stringify(JSON.parse(v3Text)));
    expect(resolverCount()).toBe(before + 1);
    expect(same.decode(fixture('cdr.v3.partial'))).toEqual(v3.decode(fixture('cdr.v3.partial')));
  });
});
