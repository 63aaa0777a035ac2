/**
 * Decode and validate at the boundary (STYLE.md §7): raw Kafka records in, CDRs and dead letters out.
 * Nothing is dropped and nothing throws: every input record leaves as exactly one of the two, so
 * `cdrs.length + deadLetters.length === records.length` for every batch.
 * Later stages trust what leaves here and carry no defensive re-checks.
 * Two framings: bare Avro of one configured writer schema (createDecoder), and the Confluent wire format
 * with writer schemas from a schema registry (createConfluentDecoder); both read every writer schema as
 * the pipeline's CDR through a resolver compiled once (schemas/index.ts readerCodec).
 */
import { AvroDecodeError, cdrReaderFor, DeadLetterCode, SchemaIncompatibleError, type AvroCodec, type BatchContext, type Cdr, type DeadLetter, type Log, type SourceCoordinates, type SourceRecord, type SourcedCdr } from '../schemas/index.js';
import { CONFLUENT_HEADER_BYTES, CONFLUENT_MAGIC_BYTE, type WriterSchemaSource } from '../schemas/registry.js';

export interface DecodeOptions {
  /** A seizure time further in the future than this (switch clock skew) is refused. */
  maxFutureSkewMs: number;
  /** Durations above this are absurd (the longest real calls are partial-recorded well below a day). */
  maxDurationMs: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

export interface DecodeResult {
  cdrs: SourcedCdr[];
  deadLetters: DeadLetter[];
}

// E.164 digits with an optional +, or national forms with 00/011 prefixes; TBCD filler digits (*, #, a-c)
// appear in TS 32.298 address strings. Normalisation to E.164 happens later (enrich/normalise).
const NUMBER = /^\+?[0-9*#a-cA-C]{1,32}$/;

/**
 * A decoder takes one batch of one partition and returns every record as a CDR or a dead letter. Decoders
 * that need something asynchronous first (the Confluent decoder's writer schemas) have `prepare`, which the
 * runner awaits before the synchronous decode; it resolves false when the source stopped meanwhile (the
 * batch is abandoned uncommitted and read again).
 */
export interface Decoder {
  (coords: SourceCoordinates, records: SourceRecord[]): DecodeResult;
  prepare?: (records: SourceRecord[], ctx?: BatchContext) => Promise<boolean>;
}

/** Bare Avro: every value is one datum of the writer schema `codec` reads (cdrCodec(), or cdrReaderFor(writer)). */
export function createDecoder(codec: AvroCodec<Cdr>, opts: DecodeOptions): Decoder {
  const now = opts.now ?? Date.now;
  const maxDurationMs = opts.maxDurationMs;
  return (coords, records) => {
    const out: DecodeResult = { cdrs: [], deadLetters: [] };
    const limitFuture = now() + opts.maxFutureSkewMs;
    // Records that carry their writer schema (container files) are resolved to the reader once per schema.
    let batchCodec = codec;
    let incompatible: string | undefined;
    if (coords.writerSchema !== undefined) {
      try {
        batchCodec = cdrReaderFor(coords.writerSchema);
      } catch (err) {
        if (!(err instanceof SchemaIncompatibleError)) throw err;
        incompatible = `the records' writer schema cannot be read as the CDR schema: ${err.message}`;
      }
    }
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.poison) dead(out, coords, r, r.poison.code, r.poison.message);
      else if (r.value === null || r.value.length === 0) dead(out, coords, r, DeadLetterCode.EMPTY_VALUE, 'record has no value (tombstone or empty)');
      else if (incompatible !== undefined) dead(out, coords, r, DeadLetterCode.SCHEMA_INCOMPATIBLE, incompatible);
      else decodeOne(out, coords, r, r.value, batchCodec, 0, limitFuture, maxDurationMs);
    }
    return out;
  };
}

// The hot path allocates nothing per record but the CDR and its envelope: no closures, no result tuples for
// good records (STYLE.md: pino's "the hot path is planned").
function dead(out: DecodeResult, coords: SourceCoordinates, r: SourceRecord, code: DeadLetterCode, message: string): void {
  out.deadLetters.push({ code, message, topic: coords.topic, partition: coords.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value });
}

function decodeOne(out: DecodeResult, coords: SourceCoordinates, r: SourceRecord, value: Buffer, codec: AvroCodec<Cdr>, offset: number, limitFuture: number, maxDurationMs: number): void {
  let cdr: Cdr;
  try {
    cdr = codec.decode(value, offset);
  } catch (err) {
    if (err instanceof AvroDecodeError) dead(out, coords, r, err.kind === 'TRUNCATED' ? DeadLetterCode.AVRO_TRUNCATED : DeadLetterCode.AVRO_TRAILING_BYTES, err.message);
    else dead(out, coords, r, DeadLetterCode.AVRO_DECODE_FAILED, err instanceof Error ? err.message : String(err));
    return;
  }
  const problem = validate(cdr, limitFuture, maxDurationMs);
  if (problem) dead(out, coords, r, problem[0], problem[1]);
  else out.cdrs.push({ cdr, topic: coords.topic, partition: coords.partition, offset: r.offset });
}

export interface ConfluentDecodeOptions extends DecodeOptions {
  /** Where writer schemas come from (schemas/registry.ts SchemaRegistryClient). */
  registry: WriterSchemaSource;
  /** Compiles the reader for a writer schema; throws SchemaIncompatibleError. Default: cdrReaderFor. */
  readerFor?: (writerSchema: string) => AvroCodec<Cdr>;
  /**
   * How long the registry's "no such id" is believed before it is asked again (a registry restored from a
   * backup may get the id back). Records meanwhile become UNKNOWN_SCHEMA_ID dead letters.
   */
  unknownIdRetryMs?: number;
  /** While prepare waits for the registry: how often it heartbeats and checks that the source still runs. */
  pollMs?: number;
  log?: Log;
}

interface WriterEntry {
  /** null: records with this id are dead letters (`code`). */
  codec: AvroCodec<Cdr> | null;
  code: DeadLetterCode;
  message: string;
  /** For unknown ids: when to ask the registry again. */
  expiresAt: number;
}

const READY = Promise.resolve(true);

/**
 * Confluent wire format (reference/ecosystem.md §2): magic byte 0, the writer schema id as a big-endian
 * int32, then the Avro datum. `prepare` looks up every id of the batch not seen before (one registry request
 * per new id, waiting with heartbeats while the registry is down) and compiles one resolver per writer
 * schema; the decode itself stays synchronous and reuses the cached resolvers (perf.md §3.2).
 */
export function createConfluentDecoder(o: ConfluentDecodeOptions): Decoder {
  const now = o.now ?? Date.now;
  const readerFor = o.readerFor ?? cdrReaderFor;
  const unknownIdRetryMs = o.unknownIdRetryMs ?? 60_000;
  const pollMs = o.pollMs ?? 500;
  const maxDurationMs = o.maxDurationMs;
  const writers = new Map<number, WriterEntry>();

  const resolveId = async (id: number, signal: AbortSignal): Promise<void> => {
    const found = await o.registry.schemaById(id, signal);
    let entry: WriterEntry;
    if (found === undefined) {
      entry = { codec: null, code: DeadLetterCode.UNKNOWN_SCHEMA_ID, message: `schema id ${id} is not in the schema registry`, expiresAt: Date.now() + unknownIdRetryMs };
    } else if (found.schemaType !== 'AVRO') {
      entry = { codec: null, code: DeadLetterCode.SCHEMA_INCOMPATIBLE, message: `schema id ${id} is a ${found.schemaType} schema, not Avro`, expiresAt: Infinity };
    } else {
      try {
        entry = { codec: readerFor(found.schema), code: DeadLetterCode.SCHEMA_INCOMPATIBLE, message: '', expiresAt: Infinity };
      } catch (err) {
        if (!(err instanceof SchemaIncompatibleError)) throw err;
        entry = { codec: null, code: DeadLetterCode.SCHEMA_INCOMPATIBLE, message: `schema id ${id}: ${err.message}`, expiresAt: Infinity };
      }
    }
    writers.set(id, entry);
    o.log?.info({ schemaId: id, outcome: entry.codec ? 'resolved' : entry.code }, 'writer schema looked up');
  };

  const decode: Decoder = (coords, records) => {
    const out: DecodeResult = { cdrs: [], deadLetters: [] };
    const limitFuture = now() + o.maxFutureSkewMs;
    let lastId = -1;
    let last: WriterEntry | undefined;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const v = r.value;
      if (r.poison) dead(out, coords, r, r.poison.code, r.poison.message);
      else if (v === null || v.length === 0) dead(out, coords, r, DeadLetterCode.EMPTY_VALUE, 'record has no value (tombstone or empty)');
      else if (v[0] !== CONFLUENT_MAGIC_BYTE) dead(out, coords, r, DeadLetterCode.BAD_MAGIC_BYTE, `first byte is 0x${v[0]!.toString(16).padStart(2, '0')}, not the Confluent magic byte 0x00 (bare Avro or another framing?)`);
      else if (v.length < CONFLUENT_HEADER_BYTES) dead(out, coords, r, DeadLetterCode.AVRO_TRUNCATED, `Confluent header truncated: ${v.length} of ${CONFLUENT_HEADER_BYTES} bytes`);
      else {
        const id = v.readInt32BE(1);
        if (id !== lastId || last === undefined) {
          last = writers.get(id);
          lastId = id;
          // A bug, not bad data: the runner awaits prepare() for every batch before decoding it.
          if (last === undefined) throw new Error(`schema id ${id} was never looked up: call prepare(records) before decoding the batch`);
        }
        if (last.codec === null) dead(out, coords, r, last.code, last.message);
        else decodeOne(out, coords, r, v, last.codec, CONFLUENT_HEADER_BYTES, limitFuture, maxDurationMs);
      }
    }
    return out;
  };

  decode.prepare = (records, ctx) => {
    const t = Date.now();
    let missing: Set<number> | undefined;
    let lastId = -1;
    for (let i = 0; i < records.length; i++) {
      const v = records[i]!.value;
      if (v === null || v.length < CONFLUENT_HEADER_BYTES || v[0] !== CONFLUENT_MAGIC_BYTE) continue;
      const id = v.readInt32BE(1);
      if (id === lastId) continue;
      lastId = id;
      const w = writers.get(id);
      if (w === undefined || (w.codec === null && w.expiresAt <= t)) (missing ??= new Set()).add(id);
    }
    if (!missing) return READY;
    const ids = [...missing];
    return (async () => {
      const ac = new AbortController();
      const tick = ctx
        ? setInterval(() => {
            if (!ctx.isRunning()) ac.abort(new Error('source stopped while waiting for the schema registry'));
            else void ctx.heartbeat().catch(() => undefined);
          }, pollMs)
        : undefined;
      try {
        await Promise.all(ids.map((id) => resolveId(id, ac.signal)));
        return true;
      } catch (err) {
        if (ac.signal.aborted) return false;
        ac.abort(err);
        throw err;
      } finally {
        clearInterval(tick);
      }
    })();
  };
  return decode;
}

function validate(c: Cdr, limitFuture: number, maxDurationMs: number): [DeadLetterCode, string] | undefined {
  if (c.recordId.length === 0 || c.recordingEntity.length === 0) return [DeadLetterCode.MISSING_PARTY, 'recordId and recordingEntity are required'];
  if (c.servedMsisdn.length === 0) return [DeadLetterCode.MISSING_PARTY, 'servedMsisdn is empty'];
  if (!NUMBER.test(c.servedMsisdn)) return [DeadLetterCode.MALFORMED_NUMBER, 'servedMsisdn is malformed'];
  if (c.releaseTime < c.seizureTime) return [DeadLetterCode.RELEASE_BEFORE_SEIZURE, `releaseTime ${c.releaseTime} is before seizureTime ${c.seizureTime}`];
  if (c.answerTime !== null && (c.answerTime < c.seizureTime || c.answerTime > c.releaseTime)) {
    return [DeadLetterCode.RELEASE_BEFORE_SEIZURE, 'answerTime is outside seizure..release'];
  }
  if (c.seizureTime > limitFuture) return [DeadLetterCode.FUTURE_TIMESTAMP, `seizureTime ${new Date(c.seizureTime).toISOString()} is in the future`];
  if (c.durationMs < 0 || c.billableMs < 0 || c.durationMs > maxDurationMs || c.billableMs > c.durationMs) {
    return [DeadLetterCode.INVALID_DURATION, `durationMs ${c.durationMs} / billableMs ${c.billableMs} out of range`];
  }
  const voice = c.eventType === 'VOICE_MO' || c.eventType === 'VOICE_MT' || c.eventType === 'VOICE_FWD';
  if (voice || c.eventType === 'SMS_MO' || c.eventType === 'SMS_MT') {
    const other = c.eventType === 'VOICE_MT' || c.eventType === 'SMS_MT' ? c.callingNumber : c.calledNumber;
    const role = c.eventType.endsWith('MT') ? 'callingNumber' : 'calledNumber';
    if (other === null || other.length === 0) return [DeadLetterCode.MISSING_PARTY, `${c.eventType} without ${role}`];
    if (!NUMBER.test(other)) return [DeadLetterCode.MALFORMED_NUMBER, `${role} is malformed`];
  }
  return undefined;
}
