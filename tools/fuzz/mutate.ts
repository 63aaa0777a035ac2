/**
 * Mutation fuzzing of Avro CDRs (issue #11, "What to build" 7): a raw, field-by-field Avro encoder of
 * the CDR schema (schemas/index.ts CDR_SCHEMA_FILE, contract v3) that can put any varint anywhere (values beyond 32 and 64 bits, lengths and
 * counts larger than the record), the mutators built on it, and a strict reference decoder used as the
 * oracle for what was stored. Everything is deterministic by seed. A developer tool: only
 * tools/fuzz/run.ts and the tests use it.
 *
 * The raw encoder is independent of avsc on purpose: avsc refuses to encode what we want to send
 * (an `int` of 2^40) and reads what we want to catch (it does not range-check `int`s).
 */
import { readFileSync } from 'node:fs';
import { CDR_SCHEMA_FILE, schemaPath, type Cdr } from '../../schemas/index.js';
import { prng } from '../../simulators/synthetic.js';

// ---------------------------------------------------------------------------------------------------------
// The CDR schema as a flat list of field types (the CDR schema has no nested records).

export type FieldType =
  | { kind: 'string' }
  | { kind: 'int' }
  | { kind: 'long' }
  | { kind: 'enum'; symbols: string[] }
  | { kind: 'map' }
  | { kind: 'nullable'; of: FieldType };

export interface Field {
  name: keyof Cdr & string;
  type: FieldType;
}

function fieldType(t: unknown): FieldType {
  if (t === 'string') return { kind: 'string' };
  if (t === 'int') return { kind: 'int' };
  if (t === 'long') return { kind: 'long' };
  if (Array.isArray(t)) {
    if (t.length !== 2 || t[0] !== 'null') throw new Error(`unsupported union ${JSON.stringify(t)}`);
    return { kind: 'nullable', of: fieldType(t[1]) };
  }
  const o = t as { type: string; symbols?: string[]; values?: string };
  if (o.type === 'enum') return { kind: 'enum', symbols: o.symbols! };
  if (o.type === 'map' && o.values === 'string') return { kind: 'map' };
  if (o.type === 'long' || o.type === 'int') return { kind: o.type };
  throw new Error(`unsupported type ${JSON.stringify(t)}`);
}

let fieldsCache: Field[] | undefined;
export function cdrFields(): Field[] {
  if (fieldsCache) return fieldsCache;
  const schema = JSON.parse(readFileSync(schemaPath('avro', CDR_SCHEMA_FILE), 'utf8')) as { fields: { name: string; type: unknown }[] };
  return (fieldsCache = schema.fields.map((f) => ({ name: f.name as Field['name'], type: fieldType(f.type) })));
}

// ---------------------------------------------------------------------------------------------------------
// Raw encoding (Avro spec 1.11, "Binary Encoding"): zig-zag varints of any size.

export function zigzag(v: bigint): bigint {
  return v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
}

/** Unsigned base-128 varint, little-endian groups (any size: 11 bytes encode more than 64 bits). */
export function uvarint(u: bigint): Buffer {
  const out: number[] = [];
  do {
    let b = Number(u & 0x7fn);
    u >>= 7n;
    if (u > 0n) b |= 0x80;
    out.push(b);
  } while (u > 0n);
  return Buffer.from(out);
}

export const varint = (v: bigint | number): Buffer => uvarint(zigzag(BigInt(v)));

/** The varint the issue found hanging the decoder: 2^63 as a block count / length (`ff` x9 `01`). */
export const HUGE_VARINT = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);

const str = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([varint(b.length), b]);
};

export function encodeValue(t: FieldType, v: unknown): Buffer {
  switch (t.kind) {
    case 'string':
      return str(v as string);
    case 'int':
    case 'long':
      return varint(v as number | bigint);
    case 'enum': {
      const i = t.symbols.indexOf(v as string);
      if (i < 0) throw new Error(`not a symbol: ${String(v)}`);
      return varint(i);
    }
    case 'nullable':
      return v === null || v === undefined ? varint(0) : Buffer.concat([varint(1), encodeValue(t.of, v)]);
    case 'map': {
      const entries = Object.entries(v as Record<string, string>);
      if (entries.length === 0) return varint(0);
      return Buffer.concat([varint(entries.length), ...entries.flatMap(([k, x]) => [str(k), str(x)]), varint(0)]);
    }
  }
}

/** Each field's bytes, in schema order; concatenated they are the Avro datum (equal to cdrCodec().encode). */
export function encodeFields(cdr: Cdr, overrides: Partial<Record<Field['name'], Buffer>> = {}): Buffer[] {
  return cdrFields().map((f) => overrides[f.name] ?? encodeValue(f.type, cdr[f.name]));
}

export function encodeRaw(cdr: Cdr, overrides: Partial<Record<Field['name'], Buffer>> = {}): Buffer {
  return Buffer.concat(encodeFields(cdr, overrides));
}

// ---------------------------------------------------------------------------------------------------------
// Strict reference decoder (the oracle): bigints, every length and count checked against what remains,
// `int` within 32 bits and `long` within 64, enum and union indexes in range, no trailing bytes.

export type StrictValue = string | bigint | null | Record<string, string>;
export type StrictRecord = Record<Field['name'], StrictValue>;
export type StrictResult = { ok: true; record: StrictRecord; invalidUtf8: string[] } | { ok: false; reason: string };

const INT_MIN = -(2n ** 31n);
const INT_MAX = 2n ** 31n - 1n;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;
const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(): bigint {
    let u = 0n;
    let shift = 0n;
    for (let i = 0; ; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      if (i >= 10) throw new Error('varint longer than 10 bytes');
      const b = this.buf[this.pos++]!;
      u |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) break;
    }
    return u & 1n ? -((u >> 1n) + 1n) : u >> 1n;
  }
  long(): bigint {
    const v = this.varint();
    if (v < LONG_MIN || v > LONG_MAX) throw new Error(`long ${v} beyond 64 bits`);
    return v;
  }
  int(): bigint {
    const v = this.varint();
    if (v < INT_MIN || v > INT_MAX) throw new Error(`int ${v} beyond 32 bits`);
    return v;
  }
  string(bad: string[], field: string): string {
    const n = this.long();
    if (n < 0n || n > BigInt(this.buf.length - this.pos)) throw new Error(`${field}: string length ${n} with ${this.buf.length - this.pos} bytes left`);
    const b = this.buf.subarray(this.pos, this.pos + Number(n));
    this.pos += Number(n);
    try {
      return utf8.decode(b);
    } catch {
      bad.push(field);
      return b.toString('utf8');
    }
  }
}

function readValue(r: Reader, t: FieldType, bad: string[], field: string): StrictValue {
  switch (t.kind) {
    case 'string':
      return r.string(bad, field);
    case 'int':
      return r.int();
    case 'long':
      return r.long();
    case 'enum': {
      const i = r.int();
      if (i < 0n || i >= BigInt(t.symbols.length)) throw new Error(`${field}: enum index ${i}`);
      return t.symbols[Number(i)]!;
    }
    case 'nullable': {
      const i = r.int();
      if (i === 0n) return null;
      if (i !== 1n) throw new Error(`${field}: union index ${i}`);
      return readValue(r, t.of, bad, field);
    }
    case 'map': {
      const m: Record<string, string> = {};
      for (;;) {
        let n = r.long();
        if (n === 0n) return m;
        if (n < 0n) {
          n = -n;
          const size = r.long();
          if (size < 0n || size > BigInt(r.buf.length - r.pos)) throw new Error(`${field}: map block size ${size}`);
        }
        // Each entry takes at least two bytes (two empty strings).
        if (n * 2n > BigInt(r.buf.length - r.pos)) throw new Error(`${field}: map block count ${n} with ${r.buf.length - r.pos} bytes left`);
        for (let i = 0n; i < n; i++) {
          const k = r.string(bad, field);
          m[k] = r.string(bad, field);
        }
      }
    }
  }
}

export function decodeStrict(buf: Buffer): StrictResult {
  const r = new Reader(buf);
  const bad: string[] = [];
  const rec = {} as StrictRecord;
  try {
    for (const f of cdrFields()) rec[f.name] = readValue(r, f.type, bad, f.name);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  if (r.pos !== buf.length) return { ok: false, reason: `${buf.length - r.pos} trailing bytes` };
  return { ok: true, record: rec, invalidUtf8: bad };
}

// ---------------------------------------------------------------------------------------------------------
// The domain of a stored CDR. Column ranges from schemas/ddl/0001_cdrs.sql, narrowed where a standard
// narrows them: UTC offsets span -12:00..+14:00 (IANA tz database), Q.850 cause values are 1..127
// (ITU-T Q.850 §2.2.5), LAC is 16 bits (3GPP TS 24.008 §10.5.1.3), TAC 16 or 24 bits (TS 24.301).

export interface DomainOptions {
  /** Earliest plausible seizure time (epoch ms). */
  minTimeMs: number;
  /** Latest plausible seizure time (epoch ms): the run's clock plus the decoder's future skew. */
  maxTimeMs: number;
  maxDurationMs: number;
  /** |durationMs - (release - seizure)| and |billableMs - (release - answer)| allowed (switches round). */
  durationToleranceMs: number;
}

export const INT_DOMAIN: Partial<Record<Field['name'], [bigint, bigint]>> = {
  redirectionCounter: [0n, 255n],
  utcOffsetMinutes: [-720n, 840n],
  causeForTerm: [0n, 65_535n],
  q850Cause: [0n, 127n],
  lac: [0n, 65_535n],
  tac: [0n, 16_777_215n],
  cellId: [0n, 2n ** 36n - 1n],
  smsResult: [0n, 65_535n],
  ratingGroup: [0n, 4_294_967_295n],
  uplinkBytes: [0n, 2n ** 53n - 1n],
  downlinkBytes: [0n, 2n ** 53n - 1n],
  // Contract v2 and v3 (enrich/decode.ts DOMAINS): TS 32.298 ChargingID and LocalSequenceNumber are 32-bit
  // unsigned, RAT Type one octet, parts are numbered from 1, a concatenated SMS has 1..255 segments.
  chargingId: [0n, 4_294_967_295n],
  ratType: [0n, 255n],
  recordSequenceNumber: [1n, 2_147_483_647n],
  localRecordSequenceNumber: [0n, 4_294_967_295n],
  smsSegments: [1n, 255n],
};

/** Why a decoded record is out of its domain (empty: within it). */
export function domainViolations(c: StrictRecord, o: DomainOptions): string[] {
  const v: string[] = [];
  for (const [name, [lo, hi]] of Object.entries(INT_DOMAIN) as [Field['name'], [bigint, bigint]][]) {
    const x = c[name];
    if (typeof x === 'bigint' && (x < lo || x > hi)) v.push(`${name} ${x} outside ${lo}..${hi}`);
  }
  const s = c.seizureTime as bigint;
  const rel = c.releaseTime as bigint;
  const ans = c.answerTime as bigint | null;
  const dur = c.durationMs as bigint;
  const bill = c.billableMs as bigint;
  const tol = BigInt(o.durationToleranceMs);
  const abs = (x: bigint) => (x < 0n ? -x : x);
  if (s < BigInt(o.minTimeMs) || s > BigInt(o.maxTimeMs)) v.push(`seizureTime ${s} outside ${new Date(o.minTimeMs).toISOString()}..${new Date(o.maxTimeMs).toISOString()}`);
  if (rel < s) v.push('releaseTime before seizureTime');
  if (ans !== null && (ans < s || ans > rel)) v.push('answerTime outside seizure..release');
  if (dur < 0n || dur > BigInt(o.maxDurationMs)) v.push(`durationMs ${dur} outside 0..${o.maxDurationMs}`);
  if (bill < 0n || bill > dur) v.push(`billableMs ${bill} outside 0..durationMs`);
  // A later part of a call (contract v3, TS 32.298 partial record) covers the durationMs before its close, all
  // of it conversation once answered; a complete record or a first part spans seizure (answer) to release.
  const seq = c.recordSequenceNumber as bigint | null;
  if (seq === null || seq === 1n) {
    if (abs(dur - (rel - s)) > tol) v.push(`durationMs ${dur} != release - seizure ${rel - s}`);
    if (ans !== null && abs(bill - (rel - ans)) > tol) v.push(`billableMs ${bill} != release - answer ${rel - ans}`);
  } else {
    if (dur > rel - s + tol) v.push(`part ${seq}: durationMs ${dur} > release - seizure ${rel - s}`);
    if (ans === null ? bill !== 0n : abs(bill - dur) > tol || bill > rel - ans + tol) v.push(`part ${seq}: billableMs ${bill} is not its durationMs ${dur}`);
  }
  const sms = c.eventType === 'SMS_MO' || c.eventType === 'SMS_MT';
  if (seq !== null && sms) v.push('recordSequenceNumber on an SMS');
  if (!sms && c.smsSegments !== 1n) v.push(`smsSegments ${String(c.smsSegments)} on a ${String(c.eventType)} record`);
  // The decoder's documented rule (docs/ERRORS.md INCONSISTENT_TIMES): an unanswered record may carry up to the
  // tolerance of billable time (switch rounding); rating prices it 0 (UNANSWERED_BILLABLE, docs/TARIFFS.md).
  if (ans === null && bill > tol) v.push(`billableMs ${bill} on an unanswered record`);
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// Mutators. Each takes the valid CDR and its bytes and returns new bytes with a kind and a detail.

export interface Mutation {
  value: Buffer;
  kind: string;
  detail: string;
}

type Rnd = () => number;
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const int = (rnd: Rnd, n: number) => Math.floor(rnd() * n);

const INT_FIELDS = cdrFields().filter((f) => f.type.kind === 'int' || (f.type.kind === 'nullable' && f.type.of.kind === 'int'));
const LONG_FIELDS = cdrFields().filter((f) => f.type.kind === 'long' || (f.type.kind === 'nullable' && f.type.of.kind === 'long'));
const STRING_FIELDS = cdrFields().filter((f) => f.type.kind === 'string' || (f.type.kind === 'nullable' && f.type.of.kind === 'string'));
const NUMBER_FIELDS: Field['name'][] = ['servedMsisdn', 'callingNumber', 'calledNumber', 'connectedNumber', 'redirectingNumber', 'servedImsi', 'servedImei'];

/** A number field's raw bytes (adds the union branch for nullable fields). */
function rawNumber(f: Field, v: bigint): Buffer {
  return f.type.kind === 'nullable' ? Buffer.concat([varint(1), varint(v)]) : varint(v);
}
function rawString(f: Field, lenVarint: Buffer, body: Buffer): Buffer {
  return f.type.kind === 'nullable' ? Buffer.concat([varint(1), lenVarint, body]) : Buffer.concat([lenVarint, body]);
}
const boundaries = (parts: Buffer[]): number[] => {
  const out = [0];
  for (const p of parts) out.push(out[out.length - 1]! + p.length);
  return out;
};

const BEYOND_32 = [2n ** 31n, -(2n ** 31n) - 1n, 2n ** 32n + 7n, 2n ** 40n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)];
const BEYOND_64 = [2n ** 63n, -(2n ** 63n) - 1n, 2n ** 70n];
/** In 32 bits but beyond the column type or the field's domain (issue #11 §3). */
const COLUMN_EXTREMES: Partial<Record<Field['name'], bigint[]>> = {
  redirectionCounter: [256n, 300n, -1n, 2n ** 31n - 1n],
  utcOffsetMinutes: [100_000n, -40_000n, 32_768n, 1000n, -1000n],
  causeForTerm: [65_536n, 70_000n, -1n],
  q850Cause: [65_536n, 2n ** 31n - 1n, -1n, 128n],
  lac: [-1n, 70_000n],
  tac: [-1n, 2n ** 31n - 1n],
  smsResult: [-1n, 65_536n],
  ratingGroup: [-1n, -(2n ** 31n)],
  cellId: [-1n, 2n ** 62n, 2n ** 63n - 1n],
  uplinkBytes: [-1n, 2n ** 53n + 1n, 2n ** 63n - 1n],
  downlinkBytes: [-1n, 2n ** 60n],
  durationMs: [2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)],
  billableMs: [-1n, 2n ** 63n - 1n],
};

type Mutator = (rnd: Rnd, cdr: Cdr, good: Buffer) => Mutation;

const MUTATORS: Record<string, Mutator> = {
  'bit-flip': (rnd, _c, good) => {
    const b = Buffer.from(good);
    const n = 1 + int(rnd, 8);
    for (let i = 0; i < n; i++) {
      const p = int(rnd, b.length);
      b[p]! ^= 1 << int(rnd, 8);
    }
    return { value: b, kind: 'bit-flip', detail: `${n} bits` };
  },
  'byte-subst': (rnd, _c, good) => {
    const b = Buffer.from(good);
    const n = 1 + int(rnd, 4);
    for (let i = 0; i < n; i++) b[int(rnd, b.length)] = pick(rnd, [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, int(rnd, 256)]);
    return { value: b, kind: 'byte-subst', detail: `${n} bytes` };
  },
  truncate: (rnd, _c, good) => {
    const n = int(rnd, good.length);
    return { value: Buffer.from(good.subarray(0, n)), kind: 'truncate', detail: `${n} of ${good.length} bytes` };
  },
  'huge-varint-boundary': (rnd, cdr) => {
    const parts = encodeFields(cdr);
    const bs = boundaries(parts);
    const i = int(rnd, parts.length);
    const at = bs[i]!;
    const all = Buffer.concat(parts);
    const overwrite = rnd() < 0.5;
    const value = overwrite
      ? Buffer.concat([all.subarray(0, at), HUGE_VARINT, all.subarray(Math.min(all.length, at + HUGE_VARINT.length))])
      : Buffer.concat([all.subarray(0, at), HUGE_VARINT, all.subarray(at)]);
    return { value, kind: 'huge-varint-boundary', detail: `${overwrite ? 'overwrite' : 'insert'} before ${cdrFields()[i]!.name}` };
  },
  'huge-varint-random': (rnd, _c, good) => {
    const at = int(rnd, good.length + 1);
    const v = pick(rnd, [HUGE_VARINT, uvarint(2n ** 62n), uvarint(2n ** 32n), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]);
    const overwrite = rnd() < 0.5;
    const value = overwrite ? Buffer.concat([good.subarray(0, at), v, good.subarray(Math.min(good.length, at + v.length))]) : Buffer.concat([good.subarray(0, at), v, good.subarray(at)]);
    return { value, kind: 'huge-varint-random', detail: `${overwrite ? 'overwrite' : 'insert'} ${v.toString('hex')} at ${at}` };
  },
  'huge-string-length': (rnd, cdr) => {
    const present = STRING_FIELDS.filter((f) => cdr[f.name] !== null);
    const f = pick(rnd, present);
    const len = pick(rnd, [2n ** 31n - 1n, 2n ** 62n, 2n ** 63n - 1n, -1n, -(2n ** 62n), 1000n, 65_536n]);
    const body = Buffer.from(String(cdr[f.name]), 'utf8');
    const raw = rawString(f, len === 2n ** 63n - 1n ? HUGE_VARINT : varint(len), body);
    return { value: encodeRaw(cdr, { [f.name]: raw }), kind: 'huge-string-length', detail: `${f.name} length ${len}` };
  },
  'huge-map-count': (rnd, cdr) => {
    const variant = int(rnd, 5);
    const entry = Buffer.concat([str('k'), str('v')]);
    const raw = [
      Buffer.concat([HUGE_VARINT, entry, varint(0)]),
      Buffer.concat([varint(2n ** 31n - 1n), entry, varint(0)]),
      Buffer.concat([varint(2n ** 62n), entry, varint(0)]),
      // Negative count: the block's byte size follows (Avro spec), here a huge one.
      Buffer.concat([varint(-(2n ** 62n)), varint(2n ** 62n), entry, varint(0)]),
      Buffer.concat([varint(-1), HUGE_VARINT, entry, varint(0)]),
    ][variant]!;
    return { value: encodeRaw(cdr, { extensions: raw }), kind: 'huge-map-count', detail: `extensions variant ${variant}` };
  },
  'int-beyond-32-bits': (rnd, cdr) => {
    const f = pick(rnd, [...INT_FIELDS, ...LONG_FIELDS]);
    const v = f.type.kind === 'long' || (f.type.kind === 'nullable' && f.type.of.kind === 'long') ? pick(rnd, BEYOND_64) : pick(rnd, BEYOND_32);
    return { value: encodeRaw(cdr, { [f.name]: rawNumber(f, v) }), kind: 'int-beyond-32-bits', detail: `${f.name} = ${v}` };
  },
  'column-out-of-range': (rnd, cdr) => {
    const name = pick(rnd, Object.keys(COLUMN_EXTREMES) as Field['name'][]);
    const f = cdrFields().find((x) => x.name === name)!;
    const v = pick(rnd, COLUMN_EXTREMES[name]!);
    return { value: encodeRaw(cdr, { [name]: rawNumber(f, v) }), kind: 'column-out-of-range', detail: `${name} = ${v}` };
  },
  'absurd-time': (rnd, cdr) => {
    const variant = int(rnd, 9);
    const s = cdr.seizureTime;
    const shift = (to: number) => {
      const d = to - s;
      return { ...cdr, seizureTime: s + d, answerTime: cdr.answerTime === null ? null : cdr.answerTime + d, releaseTime: cdr.releaseTime + d };
    };
    const c: Cdr = [
      () => shift(Date.UTC(3000, 0, 1)),
      () => shift(Date.UTC(1900, 0, 1)),
      () => shift(0),
      () => ({ ...cdr, releaseTime: s - 60_000 }),
      () => ({ ...cdr, answerTime: s - 1000 }),
      () => ({ ...cdr, durationMs: cdr.durationMs + 3_600_000 }),
      () => ({ ...cdr, billableMs: cdr.durationMs + 1000 }),
      () => shift(Date.UTC(2300, 0, 1)),
      () => ({ ...cdr, answerTime: cdr.releaseTime + 5000, billableMs: 0 }),
    ][variant]!();
    const names = ['year 3000', 'year 1900', 'epoch 0', 'release before seizure', 'answer before seizure', 'duration != release - seizure', 'billable > duration', 'year 2300 (beyond DateTime64)', 'answer after release'];
    return { value: encodeRaw(c), kind: 'absurd-time', detail: names[variant]! };
  },
  'bad-enum-or-union': (rnd, cdr) => {
    const parts = encodeFields(cdr);
    const fields = cdrFields();
    const enums = fields.map((f, i) => [f, i] as const).filter(([f]) => f.type.kind === 'enum' || f.type.kind === 'nullable');
    const [f, i] = pick(rnd, enums);
    const v = pick(rnd, [6n, 100n, -1n, 2n, 2n ** 31n - 1n]);
    // Replace the leading index varint of the field (enum index or union branch).
    const old = parts[i]!;
    let n = 0;
    while (n < old.length && (old[n]! & 0x80) !== 0) n++;
    parts[i] = Buffer.concat([varint(v), old.subarray(n + 1)]);
    return { value: Buffer.concat(parts), kind: 'bad-enum-or-union', detail: `${f.name} index ${v}` };
  },
  'empty-values': (rnd, cdr) => {
    const variant = int(rnd, 6);
    const c: Cdr = [
      { ...cdr, recordId: '' },
      { ...cdr, recordingEntity: '' },
      { ...cdr, servedMsisdn: '' },
      { ...cdr, calledNumber: '', callingNumber: '' },
      { ...cdr, calledNumber: null, callingNumber: null },
      { ...cdr, servedImsi: '', servedImei: '', servingPlmn: '', homePlmn: '' },
    ][variant]!;
    return { value: encodeRaw(c), kind: 'empty-values', detail: ['recordId', 'recordingEntity', 'servedMsisdn', 'parties empty', 'parties null', 'identities empty'][variant]! };
  },
  'bad-strings': (rnd, cdr) => {
    const variant = int(rnd, 6);
    const name = pick(rnd, NUMBER_FIELDS);
    const f = cdrFields().find((x) => x.name === name)!;
    switch (variant) {
      case 0: {
        const body = Buffer.from([0x34, 0x34, 0xc3, 0x28, 0xff, 0xfe]); // invalid UTF-8
        return { value: encodeRaw(cdr, { [f.name]: rawString(f, varint(body.length), body) }), kind: 'bad-strings', detail: `${f.name} invalid UTF-8` };
      }
      case 1:
        return { value: encodeRaw({ ...cdr, [f.name]: '4'.repeat(40) } as Cdr), kind: 'bad-strings', detail: `${f.name} 40 digits` };
      case 2:
        return { value: encodeRaw({ ...cdr, [f.name]: '44\u0000790\n0' } as Cdr), kind: 'bad-strings', detail: `${f.name} control characters` };
      case 3:
        return { value: encodeRaw({ ...cdr, recordId: 'r'.repeat(20_000) }), kind: 'bad-strings', detail: 'recordId of 20 kB' };
      case 4:
        return { value: encodeRaw({ ...cdr, extensions: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v'])) }), kind: 'bad-strings', detail: 'extensions with 1000 entries' };
      default:
        return { value: encodeRaw({ ...cdr, recordingEntity: 'MSC\u202e\ud83d\ude00'.repeat(50) }), kind: 'bad-strings', detail: 'recordingEntity odd unicode' };
    }
  },
  garbage: (rnd, _c, good) => {
    const variant = int(rnd, 4);
    if (variant === 0) return { value: Buffer.alloc(0), kind: 'garbage', detail: 'empty value' };
    if (variant === 1) return { value: Buffer.from(Array.from({ length: 1 + int(rnd, 400) }, () => int(rnd, 256))), kind: 'garbage', detail: 'random bytes' };
    if (variant === 2) return { value: Buffer.concat([good.subarray(0, int(rnd, good.length)), Buffer.from(Array.from({ length: 1 + int(rnd, 64) }, () => int(rnd, 256)))]), kind: 'garbage', detail: 'valid prefix + random bytes' };
    return { value: Buffer.concat([good, Buffer.from([0x02, 0x04])]), kind: 'garbage', detail: 'trailing bytes' };
  },
};

export const MUTATOR_KINDS = Object.keys(MUTATORS);

/** One mutation of `cdr` (whose valid encoding is `good`), chosen by `rnd`. */
export function mutate(rnd: Rnd, cdr: Cdr, good: Buffer, kind = pick(rnd, MUTATOR_KINDS)): Mutation {
  return MUTATORS[kind]!(rnd, cdr, good);
}

// ---------------------------------------------------------------------------------------------------------
// The corpus: valid CDRs of the traffic generator (every fraud scenario) with mutated copies mixed in.

export interface FuzzMessage {
  key: string;
  value: Buffer;
  /** `valid`, or the mutator's kind. */
  kind: string;
  detail: string;
}

/**
 * `valid` CDRs in the order given, each followed by mutated copies of itself so that `mutated` of the
 * `valid + mutated` messages are mutated. A copy gets its own recordId first (`<id>~m<n>`), so that a
 * mutation that still decodes is a CDR of its own, never a duplicate that ReplacingMergeTree would collapse
 * into the original (which would make accounting by offset impossible).
 */
export function* fuzzMessages(valid: Iterable<Cdr>, validCount: number, mutatedCount: number, seed: number, encode: (c: Cdr) => Buffer): Generator<FuzzMessage> {
  const rnd = prng(seed ^ 0xf022);
  let emittedMutated = 0;
  let i = 0;
  for (const cdr of valid) {
    if (i >= validCount) break;
    yield { key: cdr.servedMsisdn, value: encode(cdr), kind: 'valid', detail: '' };
    i++;
    // Spread the mutated copies evenly: after the i-th valid record, as many as bring the total to i/V of M.
    const due = Math.round((i / validCount) * mutatedCount);
    while (emittedMutated < due) {
      const copy = { ...cdr, recordId: `${cdr.recordId}~m${emittedMutated}` };
      const m = mutate(rnd, copy, encode(copy));
      yield { key: cdr.servedMsisdn, value: m.value, kind: m.kind, detail: m.detail };
      emittedMutated++;
    }
  }
}
