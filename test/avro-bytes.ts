/**
 * Building Avro bytes that no well-behaved writer produces, for decoder tests: zigzag varints of any size
 * (Avro 1.11 spec, "Primitive Types Encoding"), and the CDR schema with every `int` widened to `long`, whose
 * encoding is byte-for-byte the CDR's for in-range values and carries out-of-range ints where a test wants them.
 */
import { avroCodecOf, avroSchemaText, CDR_SCHEMA_FILE, type AvroCodec } from '../schemas/index.js';

/** The zigzag varint of `n` (any size: values beyond 64 bits give the overlong varints a fuzzer wants). */
export function varint(n: bigint | number): Buffer {
  let u = typeof n === 'bigint' ? n : BigInt(n);
  u = u >= 0n ? u << 1n : (-u << 1n) - 1n;
  const out: number[] = [];
  do {
    const low = Number(u & 0x7fn);
    u >>= 7n;
    out.push(u > 0n ? low | 0x80 : low);
  } while (u > 0n);
  return Buffer.from(out);
}

function widen(schema: unknown): unknown {
  if (schema === 'int') return 'long';
  if (Array.isArray(schema)) return schema.map(widen);
  if (typeof schema === 'object' && schema !== null) {
    const o = { ...(schema as Record<string, unknown>) };
    if (o.type === 'int') o.type = 'long';
    else if (typeof o.type === 'object' || Array.isArray(o.type)) o.type = widen(o.type);
    if (Array.isArray(o.fields)) o.fields = (o.fields as unknown[]).map(widen);
    return o;
  }
  return schema;
}

/** The CDR schema (CDR_SCHEMA_FILE) with every int as long: writes ints up to ±(2^53 - 1) where the CDR has 32 bits. */
export function wideCdrCodec(): AvroCodec<Record<string, unknown>> {
  return avroCodecOf(widen(JSON.parse(avroSchemaText(CDR_SCHEMA_FILE))) as object);
}
