/**
 * A structural guard for Avro binary: walks the WRITER schema over the bytes in O(bytes) before avsc decodes
 * them, and refuses what would make avsc loop, allocate or lie. avsc trusts its input for speed (its Tap
 * "fails silently" and leaves the checks to the caller, lib/utils.js): a map or array block count is looped
 * over without comparing it with the bytes left (a 10-byte varint count of 2^63 loops ~2^63 times), a
 * negative block byte size moves a skip backwards, `int`s are not range-checked (a 10-byte varint decodes
 * to 9.2e18), and a union or enum index out of range is only noticed when read, not when skipped.
 *
 * What the guard refuses (each a GuardFault):
 * - TRUNCATED: a varint, string, bytes or fixed running past the end; a block count whose items cannot fit
 *   in the bytes left (every item of a type whose smallest encoding is k > 0 bytes needs k bytes);
 * - INT_OUT_OF_RANGE: a varint longer than 10 bytes or beyond 64 bits, an `int` outside 32-bit two's
 *   complement, a `long` outside −2^52 .. 2^53 − 2 (avsc reads longs as JS numbers: it refuses beyond 2^53 − 2 and can flip the sign below −2^52);
 * - INVALID: a negative string/bytes length or block byte size, a block byte size that disagrees with the
 *   items it holds, a union or enum index out of range, a boolean byte other than 0 or 1;
 * - LIMIT_EXCEEDED: more array items plus map entries per datum than `maxItems` (the only bound for items
 *   of a zero-size type such as null), nesting of (recursive) records deeper than `maxDepth`, a datum longer
 *   than `maxRecordBytes` (checked by the caller, schemas/index.ts).
 * Once the guard accepted a datum, avsc's decode of it is O(bytes) and allocates O(bytes).
 *
 * Compiled once per writer type (avsc's own technique, STYLE.md "pay at start-up"): the schema becomes the
 * source of one straight-line function per record type, built with `new Function`. The generated source
 * contains only numbers (enum sizes, union branch counts, fixed sizes) and fixed identifiers, never a name
 * or any other text from the schema, so a hostile writer schema from a registry cannot inject code.
 * The hot path allocates nothing: varints are read by two shared helpers into a closure variable.
 */
import type avro from 'avsc';

export interface AvroLimits {
  /** A datum longer than this is refused before any byte is read. */
  maxRecordBytes: number;
  /** Array items plus map entries per datum, all blocks and nesting levels together. */
  maxItems: number;
  /** Nesting of record types (only reachable with recursive schemas). */
  maxDepth: number;
}

// Not frozen: a frozen object has another hidden class than the limits decoders build, and the guard reads
// these on every record (one shape keeps that access monomorphic).
export const DEFAULT_AVRO_LIMITS: Readonly<AvroLimits> = { maxRecordBytes: 65_536, maxItems: 10_000, maxDepth: 32 };

/** The largest long magnitude avsc reads without throwing "potential precision loss": 2^53 - 2. */
export const AVRO_MAX_LONG = 9_007_199_254_740_990;

export type GuardFault = 'TRUNCATED' | 'INT_OUT_OF_RANGE' | 'INVALID' | 'LIMIT_EXCEEDED';

/** A compiled walker for one writer type. */
export interface AvroGuard {
  /**
   * Walks one datum starting at `start`, reading no byte at or after `end`. Returns the datum's end, or -1
   * with `fault` and `message` describing the first problem (and `faultAt` its byte position).
   */
  walk(buf: Uint8Array, start: number, end: number, limits: AvroLimits): number;
  readonly fault: GuardFault;
  readonly message: string;
  readonly faultAt: number;
}

const FAULTS: GuardFault[] = ['TRUNCATED', 'INT_OUT_OF_RANGE', 'INVALID', 'LIMIT_EXCEEDED'];
// Fault numbers used in the generated code (index into FAULTS).
const TRUNC = 0;
const RANGE = 1;
const INVALID = 2;
const LIMIT = 3;

type AnyType = avro.Type & {
  typeName: string;
  fields?: { name: string; type: AnyType }[];
  types?: AnyType[];
  symbols?: string[];
  size?: number;
  itemsType?: AnyType;
  valuesType?: AnyType;
  underlyingType?: AnyType;
};

const compiled = new WeakMap<object, AvroGuard>();

/** The guard of a writer type, compiled on first use and cached for the type's lifetime. */
export function guardFor(type: avro.Type): AvroGuard {
  let g = compiled.get(type);
  if (!g) {
    g = compile(type as AnyType);
    compiled.set(type, g);
  }
  return g;
}

/** Smallest number of bytes any value of `t` encodes to (used to bound block counts by the bytes left). */
function minBytes(t: AnyType, seen = new Set<AnyType>()): number {
  switch (kindOf(t)) {
    case 'null':
      return 0;
    case 'float':
      return 4;
    case 'double':
      return 8;
    case 'fixed':
      return t.size!;
    case 'record': {
      if (seen.has(t)) return 0; // recursion: the depth limit bounds it
      seen.add(t);
      let n = 0;
      for (const f of t.fields!) n += minBytes(f.type, seen);
      seen.delete(t);
      return n;
    }
    default:
      // boolean, int, long, string, bytes, enum, union (index), array, map (terminating count): one byte at least
      return 1;
  }
}

function kindOf(t: AnyType): string {
  if (t.underlyingType) return kindOf(t.underlyingType); // logical types encode as their underlying type
  const n = t.typeName;
  if (n === 'error') return 'record';
  if (n.startsWith('union')) return 'union';
  return n;
}

function compile(root: AnyType): AvroGuard {
  const fns: string[] = [];
  const recordFn = new Map<AnyType, string>();
  let vars = 0;

  const fail = (code: number, detail: number) => `return F(${code}, p, ${detail});`;
  // Reads a zigzag varint into the local v.
  const READ = (ind: string) => `${ind}v = b[p];\n${ind}if (v < 0x80) { p++; v = (v >>> 1) ^ -(v & 1); }\n${ind}else { if ((p = VL(b, p, e)) < 0) return -1; v = V; }\n`;

  // Statements that advance `p` over one value of `t`, in a function with locals b, p, e, d, v. Every varint
  // first tries the one-byte form inline (b[p] past the end is undefined, which fails `< 0x80` and falls
  // through to the helper, which reports the truncation).
  const emit = (t: AnyType, ind: string): string => {
    const k = kindOf(t);
    switch (k) {
      case 'null':
        return '';
      case 'boolean':
        return `${ind}if (p >= e) ${fail(TRUNC, 0)}\n${ind}if (b[p] > 1) ${fail(INVALID, 1)}\n${ind}p++;\n`;
      case 'int':
      case 'long':
        // A one-byte varint is always in range; up to 4 bytes (an int) or 7 bytes (a long) too; the rest are
        // decoded and range-checked by the helper.
        return `${ind}if (b[p] < 0x80) p++;\n${ind}else if ((p = ${k === 'int' ? 'SI' : 'SL'}(b, p, e)) < 0) return -1;\n`;
      case 'float':
      case 'double':
        return `${ind}if ((p += ${k === 'float' ? 4 : 8}) > e) ${fail(TRUNC, 2)}\n`;
      case 'string':
      case 'bytes':
        return (
          `${ind}v = b[p];\n` +
          `${ind}if (v < 0x80) { if (v & 1) ${fail(INVALID, 3)} v >>>= 1; p++; }\n` +
          `${ind}else { if ((p = VL(b, p, e)) < 0) return -1; v = V; if (v < 0) ${fail(INVALID, 3)} }\n` +
          `${ind}if (v > e - p) ${fail(TRUNC, 4)}\n${ind}p += v;\n`
        );
      case 'fixed':
        return `${ind}if ((p += ${t.size! | 0}) > e) ${fail(TRUNC, 2)}\n`;
      case 'enum':
        return `${READ(ind)}${ind}if (v < 0 || v >= ${t.symbols!.length | 0}) ${fail(INVALID, 5)}\n`;
      case 'union': {
        let s = `${READ(ind)}${ind}switch (v) {\n`;
        t.types!.forEach((u, i) => {
          s += `${ind}  case ${i}:\n${emit(u, ind + '    ')}${ind}    break;\n`;
        });
        return s + `${ind}  default: ${fail(INVALID, 6)}\n${ind}}\n`;
      }
      case 'record':
        return `${ind}if ((p = ${recordName(t)}(b, p, e, d + 1)) < 0) return -1;\n`;
      case 'array':
      case 'map': {
        const item = k === 'array' ? t.itemsType! : t.valuesType!;
        const min = k === 'array' ? minBytes(item) : 1 + minBytes(item);
        const n = `n${vars++}`;
        const i = `i${vars++}`;
        const stop = `s${vars++}`;
        let body = k === 'map' ? emit({ typeName: 'string' } as AnyType, ind + '    ') : '';
        body += emit(item, ind + '    ');
        return (
          `${ind}for (;;) {\n` +
          READ(ind + '  ') +
          `${ind}  let ${n} = v;\n` +
          `${ind}  if (${n} === 0) break;\n` +
          `${ind}  let ${stop} = -1;\n` +
          // A negative count is followed by the block's size in bytes (Avro 1.11 spec, "Complex Types: Arrays").
          `${ind}  if (${n} < 0) {\n` +
          `${ind}    ${n} = -${n};\n` +
          READ(ind + '    ') +
          `${ind}    if (v < 0) ${fail(INVALID, 7)}\n` +
          `${ind}    if (v > e - p) ${fail(TRUNC, 8)}\n` +
          `${ind}    ${stop} = p + v;\n` +
          `${ind}  }\n` +
          (min > 0 ? `${ind}  if (${n} > (e - p) / ${min}) ${fail(TRUNC, 9)}\n` : '') +
          `${ind}  if ((I += ${n}) > L.maxItems) ${fail(LIMIT, 10)}\n` +
          `${ind}  for (let ${i} = 0; ${i} < ${n}; ${i}++) {\n${body}${ind}  }\n` +
          `${ind}  if (${stop} >= 0 && p !== ${stop}) ${fail(INVALID, 11)}\n` +
          `${ind}}\n`
        );
      }
      default:
        throw new Error(`avro guard: unsupported type ${t.typeName}`);
    }
  };

  const recordName = (t: AnyType): string => {
    let name = recordFn.get(t);
    if (name) return name;
    name = `R${recordFn.size}`;
    recordFn.set(t, name);
    let body = `function ${name}(b, p, e, d) {\n  var v = 0;\n  if (d > L.maxDepth) ${fail(LIMIT, 12)}\n`;
    for (const f of t.fields!) body += emit(f.type, '  ');
    fns.push(body + '  return p;\n}\n');
    return name;
  };

  // The root may be any type, not only a record: wrap it in a function of its own.
  fns.push(`function ROOT(b, p, e, d) {\n  var v = 0;\n${emit(root, '  ')}  return p;\n}\n`);

  const src = `
'use strict';
var V = 0, I = 0, L = null;
var g = { fault: 0, at: 0, detail: 0 };
function F(code, at, detail) { g.fault = code; g.at = at; g.detail = detail; return -1; }
// Zigzag varint as a long (Avro 1.11 spec, "Primitive Types Encoding"): V gets the value, returns the new
// position or -1. One-byte values (most lengths, indices and small ints) take the first branch.
function VL(b, p, e) {
  if (p >= e) return F(${TRUNC}, p, 13);
  const x = b[p];
  if (x < 0x80) { V = (x >>> 1) ^ -(x & 1); return p + 1; }
  return VS(b, p + 1, e, x & 0x7f);
}
function VS(b, p, e, lo) {
  let x = 0;
  for (let s = 7; s < 28; s += 7) {
    if (p >= e) return F(${TRUNC}, p, 13);
    x = b[p++];
    lo |= (x & 0x7f) << s;
    if (x < 0x80) { V = (lo >>> 1) ^ -(lo & 1); return p; }
  }
  // Bytes 5..10 carry bits 28..63: kept exact as a float (below 2^36).
  let hi = 0, m = 1;
  for (let n = 5; ; n++) {
    if (n > 10) return F(${RANGE}, p, 14);
    if (p >= e) return F(${TRUNC}, p, 13);
    x = b[p++];
    if (n === 10 && x > 1) return F(${RANGE}, p - 1, 14);
    hi += (x & 0x7f) * m;
    m *= 128;
    if (x < 0x80) break;
  }
  // |value| = floor(u / 2) (+1 when negative), u = lo + hi * 2^28: below 2^53 exactly when hi < 2^26.
  if (hi >= 67108864) return F(${RANGE}, p, 15);
  // avsc's LongType reads only ±(2^53 - 2) (its isSafeLong): refuse beyond, so avsc never throws.
  const half = (lo >>> 1) + hi * 134217728;
  if (lo & 1) {
    // avsc sums a negative long's zigzag value as a float: an odd one above 2^53 rounds, so -(2^52 + 1) ..
    // -(2^53 - 2) would come out with the wrong sign (found by the differential review). Refuse below -2^52.
    if (half >= 4503599627370496) return F(${RANGE}, p, 15);
    V = -half - 1;
  } else {
    if (half > ${AVRO_MAX_LONG}) return F(${RANGE}, p, 15);
    V = half;
  }
  return p;
}
// Skips an int or long whose varint ends within 4 (int: below 2^27 in magnitude) or 7 bytes (long: below
// 2^48), which need no range check; anything longer goes through VI or VL.
function SI(b, p, e) {
  const lim = p + 4 < e ? p + 4 : e;
  for (let q = p + 1; q < lim; q++) if (b[q] < 0x80) return q + 1;
  return VI(b, p, e);
}
function SL(b, p, e) {
  const lim = p + 7 < e ? p + 7 : e;
  for (let q = p + 1; q < lim; q++) if (b[q] < 0x80) return q + 1;
  return VL(b, p, e);
}
function VI(b, p, e) {
  if ((p = VL(b, p, e)) < 0) return -1;
  if (V > 2147483647 || V < -2147483648) return F(${RANGE}, p, 16);
  return p;
}
${fns.join('')}
return {
  walk(b, p, e, limits) { I = 0; L = limits; g.fault = -1; return ROOT(b, p, e, 0); },
  state: g,
};
`;
  const made = new Function(src)() as { walk: AvroGuard['walk']; state: { fault: number; at: number; detail: number } };
  return {
    walk: made.walk,
    get fault() {
      return FAULTS[made.state.fault] ?? 'INVALID';
    },
    get message() {
      return `${DETAILS[made.state.detail] ?? 'invalid Avro'} at byte ${made.state.at}`;
    },
    get faultAt() {
      return made.state.at;
    },
  };
}

// Messages for the detail numbers of the generated code: fixed text, never a byte of the record.
const DETAILS = [
  'boolean truncated',
  'boolean byte is neither 0 nor 1',
  'fixed-size value runs past the end',
  'negative string or bytes length',
  'string or bytes length runs past the end',
  'enum index out of range',
  'union index out of range',
  'negative array or map block size',
  'array or map block size runs past the end',
  'array or map block count cannot fit in the bytes left',
  'too many array items or map entries (decode.maxItems)',
  'array or map block size disagrees with its items',
  'records nested too deep (decode.maxDepth)',
  'varint runs past the end',
  'varint longer than 64 bits',
  'long outside -2^52 .. 2^53 - 2, beyond what avsc reads exactly',
  'int outside 32 bits',
];
