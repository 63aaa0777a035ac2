/**
 * A compiled Avro reader for data written with the reader's own schema (no resolution), for bytes the
 * structural guard (schemas/avro-guard.ts) has already accepted: it returns exactly what avsc's
 * `type.decode` returns (records built by avsc's own record constructors, unwrapped unions, enum symbols,
 * maps as plain objects, longs as numbers), at less cost per record.
 *
 * Why not avsc's reader: avsc reads a `["null", X]` union through one shared, megamorphic
 * `this.types[index]._read(tap)` call, allocates a Tap and a result per datum, and turns every string into a
 * JS string through Buffer#utf8Slice, a call into C++ that costs ~40-70 ns even for a 5-byte string. Here the
 * whole record is one straight-line function per record type (avsc's own technique, and the guard's), union
 * branches are inlined, and short ASCII strings are built with `String.fromCharCode` of their bytes, one
 * call with a fixed number of arguments per length: 10 / 19 / 20 ns for 5 / 12 / 15 bytes against utf8Slice's
 * 50-70 / 51 / 44 ns (Node 20, this project's 2-core benchmark machine; at 36 bytes both cost ~42 ns, hence
 * MAX_FAST_STRING). Anything longer or not ASCII still goes through utf8Slice, so invalid UTF-8 becomes U+FFFD
 * exactly as in avsc. Net effect in `cdr-pipeline microbench`: docs/BENCHMARKS.md, "Decode microbenchmarks".
 *
 * While it builds a short string it also classifies its bytes (STRING_CLASS): the decoder's domain checks
 * (enrich/decode.ts) read that classification instead of looping over the characters again. `classes[i]` is
 * set for every string of top-level record field i (0 when absent or null).
 *
 * One deliberate difference: longs are read exactly where avsc's float arithmetic flips the sign of negative
 * longs below -2^52 (see VL below); everywhere else the result is avsc's.
 *
 * Trust: the reader does no bounds or range checks of its own. It is only ever called on a datum the guard
 * walked with the same (writer = reader) type, which proved every length, count, index and varint in range;
 * schemas/index.ts codecOf enforces that order. Types it does not handle (bytes, fixed, logical types, wrapped
 * unions, recursive records) make `compileReader` return undefined and avsc reads them.
 *
 * Like the guard, the generated source holds only numbers and fixed identifiers, never text from the schema.
 */
import type avro from 'avsc';

/**
 * Bits of a string's classification (all bits of a string are the AND over its bytes, after an optional
 * leading '+', which only the PARTY bit allows; see `classify` below). 0 for null or absent, and for a
 * string the reader did not classify (longer than MAX_FAST_STRING bytes or not ASCII).
 */
export const STRING_CLASS = {
  /** The reader classified the string (ASCII, at most MAX_FAST_STRING bytes, not empty). */
  KNOWN: 1,
  /** Only digits 0-9 (no '+'). */
  DIGITS: 2,
  /** An optional leading '+', then only digits and the TBCD fillers * # a-c A-C (enrich/decode.ts isPartyNumber). */
  PARTY: 4,
  /** No C0 control character and no DEL (ASCII: no U+FFFD either). */
  TEXT: 8,
} as const;

/** Strings up to this many bytes are built in JS (and classified); longer ones through utf8Slice. */
export const MAX_FAST_STRING = 24;

export interface AvroReader {
  /** Reads one datum at `pos` of bytes the guard accepted; `end` is then the position after it. */
  read(buf: Buffer, pos: number): unknown;
  readonly end: number;
  /** Per top-level record field, the STRING_CLASS bits of its string in the last datum read (0 if none). */
  readonly classes: Uint8Array;
}

type AnyType = avro.Type & {
  typeName: string;
  fields?: { name: string; aliases: string[]; type: AnyType }[];
  types?: AnyType[];
  symbols?: string[];
  itemsType?: AnyType;
  valuesType?: AnyType;
  underlyingType?: AnyType;
  recordConstructor?: new (...args: unknown[]) => unknown;
};

class Unsupported extends Error {}

const compiled = new WeakMap<object, AvroReader | null>();

/**
 * The compiled reader of data written with `writer` read as `type` (the same type by default), or undefined
 * when avsc must read it. Cached per writer = reader type. A different writer is compiled (not cached here:
 * its codec is, schemas/index.ts) only for the one kind of Avro schema resolution the pipeline meets on every
 * record of an older producer: top-level record fields matched by name or by the reader's aliases, each of a
 * type identical to the reader's (same canonical schema, no records inside), writer-only fields skipped and
 * reader-only fields left to the reader constructor's defaults — exactly what avsc's resolver does then
 * (lib/types.js RecordType#_update). Anything else (promotions, enum or union remapping, nested records) is
 * left to avsc's resolver. The caller must have created avsc's resolver first: it refuses incompatible schemas.
 */
export function compileReader(type: avro.Type, writer: avro.Type = type): AvroReader | undefined {
  const same = writer === type;
  let r = same ? compiled.get(type) : undefined;
  if (r === undefined) {
    try {
      r = compile(type as AnyType, writer as AnyType);
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err;
      r = null;
    }
    if (same) compiled.set(type, r);
  }
  return r ?? undefined;
}

/** Whether a (resolved) field type holds a record anywhere: the reader's record classes would differ from the writer's. */
function holdsRecord(t: AnyType): boolean {
  const k = t.typeName;
  if (k === 'record' || k === 'error') return true;
  if (t.types) return t.types.some(holdsRecord);
  if (t.itemsType) return holdsRecord(t.itemsType);
  if (t.valuesType) return holdsRecord(t.valuesType);
  return false;
}

// One byte's classification bits (KNOWN is kept by every ASCII byte, so a non-ASCII byte clears it).
const BYTE_CLASS = new Uint8Array(256);
for (let c = 0; c < 128; c++) {
  let bits = STRING_CLASS.KNOWN;
  if (c >= 0x30 && c <= 0x39) bits |= STRING_CLASS.DIGITS | STRING_CLASS.PARTY;
  if ('*#abcABC'.includes(String.fromCharCode(c))) bits |= STRING_CLASS.PARTY;
  if (c >= 0x20 && c !== 0x7f) bits |= STRING_CLASS.TEXT;
  BYTE_CLASS[c] = bits;
}
// The first byte: a '+' keeps only PARTY (and KNOWN, TEXT): "+123" is a party number, not digits.
const FIRST_CLASS = BYTE_CLASS.slice();
FIRST_CLASS[0x2b] = STRING_CLASS.KNOWN | STRING_CLASS.PARTY | STRING_CLASS.TEXT;

function compile(root: AnyType, writerRoot: AnyType): AvroReader {
  if (root.typeName !== 'record' || writerRoot.typeName !== 'record') throw new Unsupported();
  const fns: string[] = [];
  const consts: unknown[] = [];
  const constNames: string[] = [];
  const recordFn = new Map<AnyType, string>();
  const inProgress = new Set<AnyType>();
  let vars = 0;

  const constant = (v: unknown): string => {
    let i = consts.indexOf(v);
    if (i < 0) {
      i = consts.length;
      consts.push(v);
      constNames.push(`K${i}`);
    }
    return `K${i}`;
  };

  // Reads a zigzag varint into `into` (avsc's Tap#readLong, utils.js: one byte inline, the rest in VL).
  const varint = (into: string, ind: string): string => `${ind}${into} = b[p];\n${ind}if (${into} < 0x80) { p++; ${into} = (${into} >> 1) ^ -(${into} & 1); } else { ${into} = VL(b, p); p = P; }\n`;

  // Statements that read one value of `t` into `into` (a local), advancing p. `cls`: where the STRING_CLASS
  // bits of a string go (a top-level field's slot), or undefined.
  const emit = (t: AnyType, into: string, ind: string, cls: string | undefined): string => {
    if (t.underlyingType) throw new Unsupported(); // logical types: avsc converts them
    const k = t.typeName;
    switch (k) {
      case 'null':
        return `${ind}${into} = null;\n`;
      case 'boolean':
        return `${ind}${into} = !!b[p++];\n`;
      case 'int':
      case 'long':
        // The guard refused ints outside 32 bits and longs outside ±(2^53 - 2), which avsc's LongType would throw on.
        return varint(into, ind);
      case 'float':
        return `${ind}${into} = b.readFloatLE(p); p += 4;\n`;
      case 'double':
        return `${ind}${into} = b.readDoubleLE(p); p += 8;\n`;
      case 'string': {
        const n = `n${vars++}`;
        return `${ind}let ${n};\n${varint(n, ind)}${ind}${into} = S(b, p, ${n});\n${ind}p += ${n};\n` + (cls ? `${ind}${cls} = C;\n` : '');
      }
      case 'enum':
        return `${varint(into, ind)}${ind}${into} = ${constant(t.symbols)}[${into}];\n`;
      case 'union:unwrapped': {
        const types = t.types!;
        let s = varint(into, ind);
        if (cls) s += `${ind}${cls} = 0;\n`;
        s += `${ind}switch (${into}) {\n`;
        types.forEach((u, i) => {
          s += `${ind}  case ${i}:\n${emit(u, into, ind + '    ', cls)}${ind}    break;\n`;
        });
        return s + `${ind}}\n`;
      }
      case 'record':
        return `${ind}${into} = ${recordName(t)}(b, p);\n${ind}p = P;\n`;
      case 'map': {
        const n = `n${vars++}`;
        const key = `k${vars++}`;
        const val = `w${vars++}`;
        return (
          `${ind}${into} = {};\n` +
          `${ind}for (;;) {\n` +
          `${ind}  let ${n};\n${varint(n, ind + '  ')}` +
          `${ind}  if (${n} === 0) break;\n` +
          // A negative count is followed by the block's size in bytes (Avro 1.11, "Complex Types": avsc skips it).
          `${ind}  if (${n} < 0) { ${n} = -${n}; VL(b, p); p = P; }\n` +
          `${ind}  for (; ${n} > 0; ${n}--) {\n` +
          `${ind}    let ${key}, ${val};\n` +
          emit({ typeName: 'string' } as AnyType, key, ind + '    ', undefined) +
          emit(t.valuesType!, val, ind + '    ', undefined) +
          `${ind}    ${into}[${key}] = ${val};\n` +
          `${ind}  }\n` +
          `${ind}}\n`
        );
      }
      case 'array': {
        const n = `n${vars++}`;
        const item = `w${vars++}`;
        return (
          `${ind}${into} = [];\n` +
          `${ind}for (;;) {\n` +
          `${ind}  let ${n};\n${varint(n, ind + '  ')}` +
          `${ind}  if (${n} === 0) break;\n` +
          `${ind}  if (${n} < 0) { ${n} = -${n}; VL(b, p); p = P; }\n` +
          `${ind}  for (; ${n} > 0; ${n}--) {\n` +
          `${ind}    let ${item};\n` +
          emit(t.itemsType!, item, ind + '    ', undefined) +
          `${ind}    ${into}.push(${item});\n` +
          `${ind}  }\n` +
          `${ind}}\n`
        );
      }
      default:
        // bytes, fixed (avsc copies them into its buffer pool), wrapped unions, errors: left to avsc.
        throw new Unsupported();
    }
  };

  const recordName = (t: AnyType): string => {
    if (inProgress.has(t)) throw new Unsupported(); // recursive: avsc reads it
    let name = recordFn.get(t);
    if (name) return name;
    if (typeof t.recordConstructor !== 'function') throw new Unsupported();
    inProgress.add(t);
    name = `R${recordFn.size}`;
    recordFn.set(t, name);
    const top = t === root;
    const fields = t.fields!;
    let body = `function ${name}(b, p) {\n`;
    fields.forEach((f, i) => {
      body += `  let f${i};\n` + emit(f.type, `f${i}`, '  ', top ? `CL[${i}]` : undefined);
    });
    body += `  P = p;\n  return new ${constant(t.recordConstructor)}(${fields.map((_, i) => `f${i}`).join(', ')});\n}\n`;
    fns.push(body);
    inProgress.delete(t);
    return name;
  };

  // Resolution (writer != reader): the writer's fields in the writer's order, each into the local of the reader
  // field it feeds (or a throwaway local), then the reader's constructor with undefined for reader-only fields.
  const resolvedRoot = (): string => {
    const rFields = root.fields!;
    const wFields = writerRoot.fields!;
    const target = new Map<string, number>(); // writer field name -> reader field index
    rFields.forEach((rf, i) => {
      const names = [rf.name, ...rf.aliases];
      const matches = wFields.filter((wf) => names.includes(wf.name));
      if (matches.length > 1) throw new Unsupported(); // avsc refuses ambiguous aliasing
      const wf = matches[0];
      if (!wf) return;
      if (target.has(wf.name)) throw new Unsupported(); // one writer field feeding two reader fields (avsc peeks)
      if (holdsRecord(rf.type) || holdsRecord(wf.type) || JSON.stringify(rf.type.schema()) !== JSON.stringify(wf.type.schema())) throw new Unsupported();
      target.set(wf.name, i);
    });
    if (typeof root.recordConstructor !== 'function') throw new Unsupported();
    let body = `function RR(b, p) {\n`;
    rFields.forEach((_, i) => {
      body += `  let f${i};\n`;
    });
    wFields.forEach((wf, j) => {
      const i = target.get(wf.name);
      body += i === undefined ? `  let x${j};\n` + emit(wf.type, `x${j}`, '  ', undefined) : emit(wf.type, `f${i}`, '  ', `CL[${i}]`);
    });
    body += `  P = p;\n  return new ${constant(root.recordConstructor)}(${rFields.map((_, i) => `f${i}`).join(', ')});\n}\n`;
    fns.push(body);
    return 'RR';
  };

  const rootName = writerRoot === root ? recordName(root) : resolvedRoot();
  const src = `
'use strict';
var P = 0, C = 0;
var CL = new Uint8Array(${root.fields!.length | 0});
var F = String.fromCharCode;
// avsc's Tap#readLong (lib/utils.js) for varints of two bytes or more: P gets the position after it. Beyond 28
// bits, not avsc's float arithmetic: it sums the whole zigzag value u as a double, which rounds an odd u above
// 2^53 to even, so every negative long in -(2^53 - 2)..-(2^52 + 1) (the guard's range) came out with the wrong
// sign, e.g. -(2^52 + 1) as +2^52. Here the magnitude floor(u / 2) = (low 28 bits >>> 1) + high * 2^27 is exact
// (below 2^53: the guard bounds high below 2^26), and equals avsc's result wherever avsc's is exact.
function VL(b, p) {
  var n = 0, k = 0, x, h, f, fk;
  do { x = b[p++]; h = x & 0x80; n |= (x & 0x7f) << k; k += 7; } while (h && k < 28);
  if (h) {
    f = 0; fk = 1;
    do { x = b[p++]; f += (x & 0x7f) * fk; fk *= 128; } while (x & 0x80);
    P = p;
    f = (n >>> 1) + f * 134217728;
    return n & 1 ? -f - 1 : f;
  }
  P = p;
  return (n >> 1) ^ -(n & 1);
}
// A string of n bytes at p; C gets its STRING_CLASS bits (0 when not classified).
function S(b, p, n) {
  if (n === 0) { C = 0; return ''; }
  if (n > ${MAX_FAST_STRING}) { C = 0; return b.utf8Slice(p, p + n); }
  var c = FC[b[p]];
  for (var q = p + 1, e = p + n; q < e; q++) c &= BC[b[q]];
  if ((c & 1) === 0) { C = 0; return b.utf8Slice(p, p + n); }
  C = c;
  switch (n) {
${Array.from({ length: MAX_FAST_STRING }, (_, i) => `    case ${i + 1}: return F(${Array.from({ length: i + 1 }, (_, j) => `b[p + ${j}]`).join(', ')});`).join('\n')}
  }
}
${fns.join('')}
return {
  read(b, p) { return ${rootName}(b, p); },
  get end() { return P; },
  classes: CL,
};
`;
  return new Function('FC', 'BC', ...constNames, src)(FIRST_CLASS, BYTE_CLASS, ...consts) as AvroReader;
}
