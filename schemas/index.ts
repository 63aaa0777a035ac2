/**
 * The contract every component meets through: the Avro CDR schema (source of truth, in avro/),
 * the TypeScript shape of a decoded CDR, the rows stored in ClickHouse and the dead-letter record.
 * avsc is imported here and nowhere else; decoders are compiled once per schema (avsc's own advice).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { DEFAULT_AVRO_LIMITS, guardFor, type AvroLimits, type GuardFault } from './avro-guard.js';
import { compileReader } from './avro-reader.js';

export { AVRO_MAX_LONG, DEFAULT_AVRO_LIMITS, guardFor, type AvroGuard, type AvroLimits, type GuardFault } from './avro-guard.js';
export { MAX_FAST_STRING, STRING_CLASS } from './avro-reader.js';

/** Root of the installed package, found from this file whether it runs from source or from dist/. */
export const packageRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      readFileSync(join(dir, 'package.json'));
      return dir;
    } catch {
      const up = dirname(dir);
      if (up === dir) throw new Error('cdr-pipeline: cannot locate package.json above ' + fileURLToPath(import.meta.url));
      dir = up;
    }
  }
})();

export function schemaPath(...parts: string[]): string {
  return join(packageRoot, 'schemas', ...parts);
}

// The CDR's TypeScript shape is generated from the reader schema, schemas/avro/cdr.v3.avsc (`cdr-pipeline schema-types`).
/**
 * The pipeline's CDR contract: the schema every record is read as (whatever schema wrote it) and that the
 * generator writes. Version 3 (partial records, SMS segments); v1 and v2 data read as a complete record of
 * one segment through the fields' defaults (test/evolution.test.ts shows every direction).
 */
export const CDR_SCHEMA_FILE = 'cdr.v3.avsc';
import type { Cdr } from './types.generated.js';
export type { AlertStatus, Cdr, DeadLetterRecord, Disposition, EntityKind, EventType, Evidence, FraudAlert, FraudEvent, FraudEventGroup, FraudEventKind, FraudType, RedirectionReason, Severity } from './types.generated.js';

/** A compiled Avro type with the operations the pipeline needs (avsc's Type, narrowed). */
export interface AvroCodec<T> {
  readonly schema: object;
  /** Encode one datum to Avro binary (no framing). */
  encode(value: T): Buffer;
  /**
   * Decode a whole buffer holding exactly one datum. The bytes are first walked with the writer schema
   * (schemas/avro-guard.ts) within `limits`, so no input can make the decode loop, allocate beyond its size or
   * return an out-of-range int; throws AvroDecodeError on any fault, truncation or trailing bytes.
   */
  decode(buf: Buffer, offset?: number, limits?: AvroLimits): T;
  /** True if the value conforms to the schema. */
  isValid(value: unknown): boolean;
  /**
   * Set when this codec decodes with the compiled reader (schemas/avro-reader.ts: writer = reader schema):
   * `bits[fieldIndex.get(name)]` holds the STRING_CLASS bits of that top-level string field in the datum decoded
   * last (until the next decode of any codec of the same type), so domain checks need not loop over it again.
   */
  readonly stringClasses?: { readonly bits: Uint8Array; readonly fieldIndex: ReadonlyMap<string, number> };
}

const compiled = new Map<string, avro.Type>();

function loadType(file: string): avro.Type {
  let type = compiled.get(file);
  if (!type) {
    const schema = JSON.parse(readFileSync(schemaPath('avro', file), 'utf8')) as avro.Schema;
    type = avro.Type.forSchema(schema);
    compiled.set(file, type);
  }
  return type;
}

/**
 * `writer` is the type the bytes were written with (the reader itself without a resolver): the guard walks
 * the bytes with it before avsc reads them (avsc's resolver also reads the writer's layout).
 */
function codecOf<T>(type: avro.Type, resolver?: avro.Resolver, writer: avro.Type = type, compiled = true): AvroCodec<T> {
  const guard = guardFor(writer);
  // The compiled reader returns what avsc (with the resolver, if any) would, faster; undefined for the schemas and
  // resolutions it leaves to avsc (schemas/avro-reader.ts).
  const reader = compiled ? compileReader(type, writer) : undefined;
  return {
    // exportAttrs keeps aliases, defaults and docs: a container header or registry entry needs the full schema.
    schema: type.schema({ exportAttrs: true }) as object,
    encode: (value) => type.toBuffer(value),
    decode: (buf, offset = 0, limits = DEFAULT_AVRO_LIMITS) => {
      const size = buf.length - offset;
      if (size > limits.maxRecordBytes) throw new AvroDecodeError('LIMIT_EXCEEDED', `record of ${size} bytes is longer than decode.maxRecordBytes (${limits.maxRecordBytes})`);
      const end = guard.walk(buf, offset, buf.length, limits);
      if (end < 0) throw new AvroDecodeError(guard.fault, guard.message);
      if (end !== buf.length) throw new AvroDecodeError('TRAILING_BYTES', `${buf.length - end} bytes left after the record`);
      if (reader) {
        // Guard first, always: the reader trusts the lengths, counts and indices the guard proved.
        const value = reader.read(buf, offset);
        if (reader.end !== buf.length) throw new AvroDecodeError('INVALID', `read ${reader.end - offset} of ${size} bytes`);
        return value as T;
      }
      // The guard proved the bytes hold exactly one datum within the limits: avsc's decode is now O(bytes).
      // With a resolver the bytes are read as the writer schema and returned in the reader's shape.
      const res = type.decode(buf, offset, resolver);
      if (res.offset !== buf.length) throw new AvroDecodeError('INVALID', `avsc read ${res.offset - offset} of ${size} bytes`);
      return res.value as T;
    },
    isValid: (value) => type.isValid(value),
    ...(reader && { stringClasses: { bits: reader.classes, fieldIndex: new Map((type as unknown as { fields: { name: string }[] }).fields.map((f, i) => [f.name, i])) } }),
  };
}

/** Why Avro bytes were refused: GuardFault (schemas/avro-guard.ts) or bytes left after the datum. */
export type AvroDecodeFault = GuardFault | 'TRAILING_BYTES';

export class AvroDecodeError extends Error {
  constructor(readonly kind: AvroDecodeFault, message: string) {
    super(message);
    this.name = 'AvroDecodeError';
  }
}

/** The current CDR writer/reader schema (CDR_SCHEMA_FILE). */
export function cdrCodec(): AvroCodec<Cdr> {
  return codecOf<Cdr>(loadType(CDR_SCHEMA_FILE));
}

/** Any bundled schema (schemas/avro/FILE), compiled once: for producers and tests that write other versions. */
export function avroCodec<T>(file: string): AvroCodec<T> {
  return codecOf<T>(loadType(file));
}

/**
 * A codec for a schema given as JSON (compiled on every call: for tools and tests that derive schemas, e.g.
 * a CDR schema with every `int` widened to `long` to write out-of-range values on purpose).
 */
export function avroCodecOf<T>(schema: object): AvroCodec<T> {
  return codecOf<T>(avro.Type.forSchema(schema as avro.Schema));
}

/** The text of a bundled schema file, as it is registered with a schema registry. */
export function avroSchemaText(file: string): string {
  return readFileSync(schemaPath('avro', file), 'utf8');
}

/** A writer schema that is not Avro, or that cannot be read as the reader schema (Avro schema resolution). */
export class SchemaIncompatibleError extends Error {
  override name = 'SchemaIncompatibleError';
}

const resolvedCodecs = new Map<string, AvroCodec<unknown>>();
const readerJson = new Map<string, unknown>();
let resolversCompiled = 0;

/** How many writer→reader resolvers this process has compiled (each distinct writer schema costs one). */
export function resolverCount(): number {
  return resolversCompiled;
}

/**
 * A codec that reads records written with `writerSchema` and returns them in the shape of the bundled reader
 * schema `readerFile` (Avro 1.11 specification, "Schema Resolution"): writer-only fields are skipped,
 * reader-only fields take their defaults, an enum symbol the reader does not know becomes the reader's enum
 * default. Compiled once per distinct writer schema and cached (a resolver rebuilt per message
 * is ~300× slower); a writer schema identical to the reader's (same Parsing Canonical Form) needs no resolver.
 *
 * Renames: the specification matches a renamed field through the READER's aliases only, so a v2 reader with
 * `locationAreaCode` aliased to `lac` reads v1 data, but a v1 reader knows nothing of the new name and would
 * silently read its default (null) for `lac`. Producers are upgraded before consumers here (FORWARD), so the
 * reader also borrows the writer's aliases: a reader field that matches no writer field by name or by its
 * own aliases reads the one writer field whose aliases name it. The writer's `aliases: ["lac"]` is that
 * writer saying "I used to be lac", which is exactly the fact the old reader lacks.
 *
 * Throws SchemaIncompatibleError when the writer schema is not valid Avro or cannot be resolved (a reader
 * field without default missing from the writer, an unknown enum symbol without a reader default, a type
 * that cannot be promoted).
 */
export function readerCodec<T>(readerFile: string, writerSchema: string | object): AvroCodec<T> {
  let parsed: unknown;
  try {
    parsed = typeof writerSchema === 'string' ? JSON.parse(writerSchema) : writerSchema;
  } catch (err) {
    throw new SchemaIncompatibleError(`writer schema is not JSON: ${(err as Error).message}`);
  }
  // Before anything recursive touches it (JSON.stringify, avsc, the guard's compiler): a schema nested
  // thousands of levels deep overflowed the stack and stopped the file source (a RangeError, not bad data).
  const deep = schemaTooDeep(parsed);
  if (deep) throw new SchemaIncompatibleError(deep);
  try {
    return compileReaderCodec<T>(readerFile, parsed);
  } catch (err) {
    // Whatever the writer schema makes avsc, the resolver or the guard compiler throw, it is the schema's fault:
    // its records become SCHEMA_INCOMPATIBLE dead letters instead of stopping the pipeline.
    if (err instanceof SchemaIncompatibleError) throw err;
    throw new SchemaIncompatibleError(`writer schema cannot be compiled: ${(err as Error).message ?? String(err)}`);
  }
}

/** JSON nesting (objects and arrays) a writer schema may have; the bundled CDR schema has 6. */
export const MAX_SCHEMA_NESTING = 100;

/**
 * Why a (parsed JSON) schema is too deep to compile, or undefined. Iterative, so it cannot overflow itself;
 * also bounds the number of JSON nodes (a schema is a few kB, not millions of nodes).
 */
export function schemaTooDeep(schema: unknown, maxNesting = MAX_SCHEMA_NESTING, maxNodes = 100_000): string | undefined {
  const stack: [unknown, number][] = [[schema, 1]];
  let nodes = 0;
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > maxNesting) return `schema nested more than ${maxNesting} levels deep`;
    if (++nodes > maxNodes) return `schema has more than ${maxNodes} objects and arrays`;
    for (const c of Array.isArray(v) ? v : Object.values(v)) if (typeof c === 'object' && c !== null) stack.push([c, d + 1]);
  }
  return undefined;
}

function compileReaderCodec<T>(readerFile: string, parsed: unknown): AvroCodec<T> {
  const key = `${readerFile}\u0000${JSON.stringify(parsed)}`;
  const hit = resolvedCodecs.get(key);
  if (hit) return hit as AvroCodec<T>;
  let writer: avro.Type;
  try {
    writer = avro.Type.forSchema(parsed as avro.Schema);
  } catch (err) {
    throw new SchemaIncompatibleError(`writer schema is not valid Avro: ${(err as Error).message}`);
  }
  const reader = loadType(readerFile);
  let codec: AvroCodec<T>;
  if (JSON.stringify(writer.schema()) === JSON.stringify(reader.schema())) {
    codec = codecOf<T>(reader);
  } else {
    let json = readerJson.get(readerFile);
    if (json === undefined) readerJson.set(readerFile, (json = JSON.parse(avroSchemaText(readerFile)) as unknown));
    const borrowed = structuredClone(json);
    const readerType = borrowWriterAliases(borrowed, undefined, namedRecords(writer)) ? avro.Type.forSchema(borrowed as avro.Schema) : reader;
    let resolver: avro.Resolver;
    try {
      resolver = readerType.createResolver(writer);
    } catch (err) {
      throw new SchemaIncompatibleError(`data written with this schema cannot be read as ${readerFile}: ${(err as Error).message}`);
    }
    resolversCompiled++;
    codec = codecOf<T>(readerType, resolver, writer);
  }
  resolvedCodecs.set(key, codec as AvroCodec<unknown>);
  return codec;
}

/**
 * The anti-pattern, kept only as a benchmark baseline (tools/bench/microbench.ts): what
 * @kafkajs/confluent-schema-registry does per message when given a reader schema — compile the
 * reader and writer types and a resolver from scratch. Never call this per record in the pipeline.
 */
export function uncachedReaderCodec<T>(readerFile: string, writerSchema: string): AvroCodec<T> {
  let json = readerJson.get(readerFile);
  if (json === undefined) readerJson.set(readerFile, (json = JSON.parse(avroSchemaText(readerFile)) as unknown));
  const reader = avro.Type.forSchema(json as avro.Schema);
  const writer = avro.Type.forSchema(JSON.parse(writerSchema) as avro.Schema);
  // avsc's own resolver only (no compiled reader): this baseline measures what that library pattern costs.
  return codecOf<T>(reader, reader.createResolver(writer), writer, false);
}

/** Reads CDRs written with any compatible writer schema as the pipeline's CDR (CDR_SCHEMA_FILE). */
export function cdrReaderFor(writerSchema: string | object): AvroCodec<Cdr> {
  return readerCodec<Cdr>(CDR_SCHEMA_FILE, writerSchema);
}

type AvroRecordType = avro.Type & { fields: { name: string; aliases: string[]; type: avro.Type }[] };

/** Every record type reachable from `type`, by full name and by its aliases. */
function namedRecords(type: avro.Type, out = new Map<string, AvroRecordType>(), seen = new Set<avro.Type>()): Map<string, AvroRecordType> {
  if (seen.has(type)) return out;
  seen.add(type);
  const t = type as avro.Type & { fields?: AvroRecordType['fields']; types?: avro.Type[]; itemsType?: avro.Type; valuesType?: avro.Type; aliases?: string[] };
  if (t.fields) {
    if (t.name) out.set(t.name, t as AvroRecordType);
    for (const a of t.aliases ?? []) out.set(a, t as AvroRecordType);
    for (const f of t.fields) namedRecords(f.type, out, seen);
  }
  for (const u of t.types ?? []) namedRecords(u, out, seen);
  if (t.itemsType) namedRecords(t.itemsType, out, seen);
  if (t.valuesType) namedRecords(t.valuesType, out, seen);
  return out;
}

interface JsonField {
  name: string;
  aliases?: string[];
  type: unknown;
}

/** Adds writer-declared aliases to a reader schema (JSON, mutated); true if anything was added. */
function borrowWriterAliases(schema: unknown, namespace: string | undefined, writers: Map<string, AvroRecordType>): boolean {
  if (Array.isArray(schema)) return schema.map((s) => borrowWriterAliases(s, namespace, writers)).some(Boolean);
  if (typeof schema !== 'object' || schema === null) return false;
  const s = schema as { type?: unknown; name?: string; namespace?: string; fields?: JsonField[]; items?: unknown; values?: unknown };
  if ((s.type === 'record' || s.type === 'error') && s.name && s.fields) {
    const ns = s.name.includes('.') ? s.name.slice(0, s.name.lastIndexOf('.')) : (s.namespace ?? namespace);
    const full = s.name.includes('.') || !ns ? s.name : `${ns}.${s.name}`;
    const writer = writers.get(full);
    let changed = false;
    for (const f of s.fields) {
      if (writer) {
        const names = [f.name, ...(f.aliases ?? [])];
        if (!writer.fields.some((w) => names.includes(w.name))) {
          const renamed = writer.fields.filter((w) => w.aliases.includes(f.name));
          if (renamed.length > 1) throw new SchemaIncompatibleError(`ambiguous rename: writer fields ${renamed.map((w) => w.name).join(', ')} all claim to be ${full}.${f.name}`);
          if (renamed.length === 1) {
            f.aliases = [...(f.aliases ?? []), renamed[0]!.name];
            changed = true;
          }
        }
      }
      if (borrowWriterAliases(f.type, ns, writers)) changed = true;
    }
    return changed;
  }
  if (s.type === 'array') return borrowWriterAliases(s.items, namespace, writers);
  if (s.type === 'map') return borrowWriterAliases(s.values, namespace, writers);
  return typeof s.type === 'object' ? borrowWriterAliases(s.type, namespace, writers) : false;
}

/**
 * The logging contract components receive (pino's Logger satisfies it). Components never import pino:
 * the runner hands them a child logger, so swapping the logging library touches pipeline/ only.
 */
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Log;
}

/** A record as it left a source: original bytes and where they came from. */
export interface SourceRecord {
  key: Buffer | null;
  value: Buffer | null;
  /** Kafka offset as a decimal string (64-bit), or the record index within a file block. */
  offset: string;
  /** Broker or file timestamp, epoch ms. */
  timestamp: number;
  /**
   * Set by a source that already knows the bytes are poison (a corrupt container block): the decoder turns
   * the record into a dead letter with this code instead of decoding it.
   */
  poison?: { code: DeadLetterCode; message: string };
}

/** Where a batch came from: a Kafka topic partition, or a file. */
export interface SourceCoordinates {
  /** Topic name, or `file:<path>` for file sources. */
  topic: string;
  /** Partition number, or the block number for files. */
  partition: number;
  /**
   * The writer schema (JSON text) of bare Avro records that carry their own, as container files do in their
   * header; absent for Kafka, where the configured schema or the registry id tells.
   */
  writerSchema?: string;
}

/**
 * Dead-letter reason codes: a small, documented catalogue (docs/ERRORS.md). Each is a metric label and the
 * `code` column of the dead_letters table.
 */
export const DeadLetterCode = {
  EMPTY_VALUE: 'EMPTY_VALUE',
  AVRO_DECODE_FAILED: 'AVRO_DECODE_FAILED',
  AVRO_TRUNCATED: 'AVRO_TRUNCATED',
  AVRO_TRAILING_BYTES: 'AVRO_TRAILING_BYTES',
  RELEASE_BEFORE_SEIZURE: 'RELEASE_BEFORE_SEIZURE',
  INVALID_DURATION: 'INVALID_DURATION',
  FUTURE_TIMESTAMP: 'FUTURE_TIMESTAMP',
  MISSING_PARTY: 'MISSING_PARTY',
  MALFORMED_NUMBER: 'MALFORMED_NUMBER',
  SINK_REJECTED: 'SINK_REJECTED',
  BAD_MAGIC_BYTE: 'BAD_MAGIC_BYTE',
  UNKNOWN_SCHEMA_ID: 'UNKNOWN_SCHEMA_ID',
  SCHEMA_INCOMPATIBLE: 'SCHEMA_INCOMPATIBLE',
  CONTAINER_CORRUPT: 'CONTAINER_CORRUPT',
  /** The rating stage threw on this record (a bug or reference data it cannot handle); not stored. */
  RATING_FAILED: 'RATING_FAILED',
  /** The fraud keyer threw on this record; not stored, so the detector never misses a stored CDR. */
  FRAUD_KEYING_FAILED: 'FRAUD_KEYING_FAILED',
  /** A fraud event of this record cannot be encoded (a value outside the event schema, e.g. `invalid "int"`). */
  FRAUD_EVENT_INVALID: 'FRAUD_EVENT_INVALID',
  /** An Avro int outside 32 bits, a long outside ±(2^53 - 2), or a varint longer than 64 bits (schemas/avro-guard.ts). */
  AVRO_INT_OUT_OF_RANGE: 'AVRO_INT_OUT_OF_RANGE',
  /** The record exceeds decode.maxRecordBytes, decode.maxItems or decode.maxDepth. */
  AVRO_LIMIT_EXCEEDED: 'AVRO_LIMIT_EXCEEDED',
  /** A field outside its domain (enrich/decode.ts DOMAINS: the standard's range within its ClickHouse column). */
  VALUE_OUT_OF_DOMAIN: 'VALUE_OUT_OF_DOMAIN',
  /** durationMs or billableMs disagree with the seizure/answer/release times beyond decode.durationToleranceMs. */
  INCONSISTENT_TIMES: 'INCONSISTENT_TIMES',
  /** A time before decode.minTimestampMs (an unset or zeroed switch clock). */
  PAST_TIMESTAMP: 'PAST_TIMESTAMP',
  /** A record on the fraud-events topic that is neither a fraud event nor a progress marker (pipeline/fraud.ts). */
  FRAUD_EVENT_UNREADABLE: 'FRAUD_EVENT_UNREADABLE',
  /** A fraud event whose times no alert could store (outside DateTime64(3): 1900-2299); skipped by the detector. */
  FRAUD_EVENT_OUT_OF_RANGE: 'FRAUD_EVENT_OUT_OF_RANGE',
  /** An alert version that cannot be encoded (alert schema) or stored (refused by fraud_alerts); skipped, counted. */
  FRAUD_ALERT_UNSTORABLE: 'FRAUD_ALERT_UNSTORABLE',
} as const;
export type DeadLetterCode = (typeof DeadLetterCode)[keyof typeof DeadLetterCode];

/** A record that left the stream with a reason instead of reaching the CDR table. */
export interface DeadLetter {
  code: DeadLetterCode;
  message: string;
  topic: string;
  partition: number;
  offset: string;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
}

/** One batch from a source: records of one contiguous offset range of one partition (or file). */
export interface FetchedBatch {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  /** Kafka high watermark; for files, the file's record count. */
  highWatermark: string;
  records: SourceRecord[];
  /** See SourceCoordinates.writerSchema. */
  writerSchema?: string;
}

export interface BatchContext {
  /** Keep the source's session (Kafka group membership) alive while a long step is awaited. */
  heartbeat(): Promise<void>;
  isRunning(): boolean;
}

export type BatchHandler = (batch: FetchedBatch, ctx: BatchContext) => Promise<void>;

export interface SourceEvents {
  /** Ownership of partitions is changing: unflushed work must be dropped (it will be read again). */
  onRebalance?: () => void;
  /** The source is consuming (Kafka: partitions assigned after a join). */
  onAssigned?: (assignment: Record<string, number[]>) => void;
  /** The source failed beyond its own retries. */
  onCrash?: (err: Error) => void;
}

/**
 * What the runner needs of a source (Kafka topic, folder of container files): batches in offset order per
 * partition, and a commit the runner calls once the sink acknowledged everything below `nextOffset`.
 */
export interface Source {
  start(handler: BatchHandler, events: SourceEvents): Promise<void>;
  commit(topic: string, partition: number, nextOffset: string): Promise<void>;
  stop(): Promise<void>;
  /**
   * Stop / restart fetching one partition (Kafka: consumer.pause/resume; the group session stays alive).
   * A source without them is paused by its handler not returning (a file source awaits it).
   */
  pause?(topic: string, partition: number): void;
  resume?(topic: string, partition: number): void;
  /** The end of each partition (Kafka high watermarks), for lag against committed offsets while paused. */
  endOffsets?(topic: string): Promise<Map<number, string>>;
}

/**
 * Thrown by a per-record stage (rating, fraud keying, event encoding) for a record it cannot process: the
 * runner dead-letters the record with this code. Any other error thrown by such a stage is dead-lettered with
 * the stage's default code.
 */
export class RecordStageError extends Error {
  override name = 'RecordStageError';
  constructor(
    readonly code: DeadLetterCode,
    message: string,
  ) {
    super(message);
  }
}

/** A decoded CDR together with its source coordinates (kept on every stored row for audits and replays). */
export interface SourcedCdr {
  cdr: Cdr;
  /** Rating and enrichment columns (schemas/tariff.ts ratingColumns), set by the rating stage. */
  rated?: Record<string, string | number | null>;
  topic: string;
  partition: number;
  offset: string;
  /**
   * The source record this CDR was decoded from (a reference, not a copy): a later stage that cannot process
   * the CDR dead-letters it with these original bytes. Set by the runner after decoding.
   */
  source?: SourceRecord;
}
