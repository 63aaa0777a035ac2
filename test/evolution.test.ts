/**
 * Schema evolution v1 <-> v2 under Avro's resolution rules (Avro 1.11 specification, "Schema Resolution";
 * reference/perf.md §3.4), against recorded bytes (test/fixtures/) as well as round trips.
 *
 * cdr.v2.avsc = v1 + optional chargingId and ratType (default null), lac renamed locationAreaCode (aliases:
 * [lac]), and the Disposition symbol REJECTED (the enum default FAILED is what a v1 reader reads for it).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { avroCodec, avroSchemaText, cdrCodec, cdrReaderFor, DeadLetterCode, readerCodec, resolverCount, SchemaIncompatibleError, type Cdr, type SourceRecord } from '../schemas/index.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { ConfigError, loadConfig } from '../pipeline/config.js';
import { buildDecoder } from '../pipeline/app.js';
import { quietLog } from './helpers.js';

const fixture = (name: string) => Buffer.from(readFileSync(join(import.meta.dirname, 'fixtures', `${name}.hex`), 'utf8').trim(), 'hex');
const v1Text = avroSchemaText('cdr.v1.avsc');
const v2Text = avroSchemaText('cdr.v2.avsc');
const v1 = cdrCodec();
const v2 = avroCodec<Record<string, unknown>>('cdr.v2.avsc');
const NOW = Date.UTC(2026, 10, 1);

/** A v1 CDR as a v2 producer would write it. */
function toV2(c: Cdr): Record<string, unknown> {
  const { lac, ...rest } = c;
  return { ...rest, locationAreaCode: lac, chargingId: c.eventType === 'DATA' ? 42 : null, ratType: 6 };
}

/** A variant of a schema (JSON text) with a field edited, removed or added. */
function variant(text: string, edit: (fields: { name: string; type: unknown; aliases?: string[]; default?: unknown }[]) => void): string {
  const s = JSON.parse(text) as { fields: { name: string; type: unknown }[] };
  edit(s.fields);
  return JSON.stringify(s);
}

describe('recorded bytes', () => {
  it('v1 bytes decode as the v1 record they were written from', () => {
    const c = v1.decode(fixture('cdr.v1.voice'));
    expect(c).toMatchObject({ recordId: 'MSC1-1792065600000-1', eventType: 'VOICE_MO', servedMsisdn: '447910000042', calledNumber: '447700900123', seizureTime: 1792065600000, durationMs: 65000, billableMs: 60000, lac: 1234, cellId: 56789, disposition: 'ANSWERED', extensions: { vendor: 'acme' } });
  });

  it('v2 bytes are not v1 bytes: read without resolution they fail (this is why the writer schema id travels with each record)', () => {
    expect(() => v1.decode(fixture('cdr.v2.voice'))).toThrow();
  });
});

describe('a v1 reader (the pipeline) reads v2-written records', () => {
  const reader = cdrReaderFor(v2Text);

  it('ignores the added fields and finds the renamed field through the alias', () => {
    const fromV2 = reader.decode(fixture('cdr.v2.voice'));
    const fromV1 = v1.decode(fixture('cdr.v1.voice'));
    // Same call, same v1 record: lac comes from v2's locationAreaCode; chargingId/ratType are skipped.
    expect({ ...fromV2 }).toEqual({ ...fromV1 });
    expect(fromV2.lac).toBe(1234);
    expect(fromV2).not.toHaveProperty('locationAreaCode');
    expect(fromV2).not.toHaveProperty('chargingId');
  });

  it('maps the v2-only enum symbol REJECTED to the v1 enum default FAILED', () => {
    const c = reader.decode(fixture('cdr.v2.rejected'));
    expect(c.disposition).toBe('FAILED');
    expect(c).toMatchObject({ recordId: 'MSC1-1792065600000-2', q850Cause: 21, answerTime: null, lac: 1234 });
  });

  it('round-trips generated CDRs written as v2 back to the same v1 CDRs', () => {
    const cdrs = [...generateCdrs({ seed: 3, subscribers: 40, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, 200)].map((c, i) => ({ ...c, lac: i % 3 === 0 ? null : 1000 + i }));
    expect(cdrs.map((c) => ({ ...reader.decode(v2.encode(toV2(c))) }))).toEqual(cdrs);
  });

  it('without the alias a rename is silent data loss: the old reader gets its default (why v2 declares aliases: [lac])', () => {
    const noAlias = variant(v2Text, (fields) => {
      const f = fields.find((x) => x.name === 'locationAreaCode')!;
      delete f.aliases;
    });
    const writer = avroCodec<Record<string, unknown>>('cdr.v2.avsc');
    const bytes = writer.encode(toV2({ ...v1.decode(fixture('cdr.v1.voice')) }));
    expect(cdrReaderFor(noAlias).decode(bytes).lac).toBeNull();
    expect(cdrReaderFor(v2Text).decode(bytes).lac).toBe(1234);
  });

  it('decodes and validates bare v2 records in the decoder (decode.format=avro, decode.writerSchema=cdr.v2.avsc)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'evo-'));
    const path = join(dir, 'cdr.v2.avsc');
    writeFileSync(path, v2Text);
    const cfg = loadConfig({ env: { CDR_DECODE_WRITER_SCHEMA: path } });
    const decode = buildDecoder(cfg, quietLog);
    const records: SourceRecord[] = ['cdr.v2.voice', 'cdr.v2.rejected'].map((f, i) => ({ key: null, value: fixture(f), offset: String(i), timestamp: NOW }));
    records.push({ key: null, value: fixture('cdr.v2.voice').subarray(0, 50), offset: '2', timestamp: NOW });
    const r = decode({ topic: 't', partition: 0 }, records);
    expect(r.cdrs.map((c) => [c.cdr.recordId, c.cdr.disposition, c.cdr.lac])).toEqual([
      ['MSC1-1792065600000-1', 'ANSWERED', 1234],
      ['MSC1-1792065600000-2', 'FAILED', 1234],
    ]);
    expect(r.deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.AVRO_TRUNCATED]);
  });
});

describe('a v2 reader reads v1-written records', () => {
  const reader = readerCodec<Record<string, unknown>>('cdr.v2.avsc', v1Text);

  it('fills the added fields with their defaults and reads lac as locationAreaCode (reader alias)', () => {
    const c = reader.decode(fixture('cdr.v1.voice'));
    expect(c).toMatchObject({ recordId: 'MSC1-1792065600000-1', locationAreaCode: 1234, chargingId: null, ratType: null, disposition: 'ANSWERED' });
    expect(c).not.toHaveProperty('lac');
  });

  it('reads v2 bytes directly, REJECTED included', () => {
    expect(v2.decode(fixture('cdr.v2.rejected'))).toMatchObject({ disposition: 'REJECTED', locationAreaCode: 1234, chargingId: null, ratType: 6 });
    expect(v2.decode(fixture('cdr.v2.voice'))).toMatchObject({ chargingId: 987654321, ratType: 6 });
  });
});

describe('writer schemas that cannot be resolved', () => {
  const cases: [string, string][] = [
    ['a required reader field (durationMs, no default) missing from the writer', variant(v1Text, (f) => void f.splice(f.findIndex((x) => x.name === 'durationMs'), 1))],
    ['a new EventType symbol (v1 EventType has no default)', variant(v1Text, (f) => void ((f.find((x) => x.name === 'eventType')!.type as { symbols: string[] }).symbols.push('MMS_MO')))],
    ['a type change that is not a promotion (recordId string -> int)', variant(v1Text, (f) => void (f.find((x) => x.name === 'recordId')!.type = 'int'))],
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
    const twice = variant(v2Text, (f) => void f.push({ name: 'lacCopy', type: ['null', 'int'], default: null, aliases: ['lac'] }));
    expect(() => cdrReaderFor(twice)).toThrow(/ambiguous rename/);
  });
});

describe('resolver compilation', () => {
  it('compiles one resolver per distinct writer schema, and none for the reader schema itself', () => {
    const before = resolverCount();
    const text = variant(v2Text, (f) => void f.push({ name: 'compiledOnce', type: 'int', default: 0 }));
    const a = cdrReaderFor(text);
    // Same schema, other formatting: the same compiled resolver.
    expect(cdrReaderFor(JSON.stringify(JSON.parse(text), null, 2))).toBe(a);
    expect(resolverCount()).toBe(before + 1);
    // Identical to the reader (same canonical form, other whitespace): plain decoding, no resolver.
    const same = cdrReaderFor(JSON.stringify(JSON.parse(v1Text)));
    expect(resolverCount()).toBe(before + 1);
    expect(same.decode(fixture('cdr.v1.voice'))).toEqual(v1.decode(fixture('cdr.v1.voice')));
  });
});
