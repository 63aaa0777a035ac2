/**
 * Decode and validate at the boundary (STYLE.md §7): raw Kafka records in, CDRs and dead letters out.
 * Nothing is dropped and nothing throws: every input record leaves as exactly one of the two, so
 * `cdrs.length + deadLetters.length === records.length` for every batch.
 * Later stages trust what leaves here and carry no defensive re-checks.
 * Two framings: bare Avro of one configured writer schema (createDecoder), and the Confluent wire format
 * with writer schemas from a schema registry (createConfluentDecoder); both read every writer schema as
 * the pipeline's CDR through a resolver compiled once (schemas/index.ts readerCodec).
 */
import { AVRO_MAX_LONG, AvroDecodeError, cdrReaderFor, DeadLetterCode, DEFAULT_AVRO_LIMITS, MAX_FAST_STRING, SchemaIncompatibleError, STRING_CLASS, type AvroCodec, type AvroDecodeFault, type AvroLimits, type BatchContext, type Cdr, type DeadLetter, type Log, type SourceCoordinates, type SourceRecord, type SourcedCdr } from '../schemas/index.js';
import { CONFLUENT_HEADER_BYTES, CONFLUENT_MAGIC_BYTE, type WriterSchemaSource } from '../schemas/registry.js';

export interface DecodeOptions {
  /** A seizure time further in the future than this (switch clock skew) is refused. */
  maxFutureSkewMs: number;
  /** Durations above this are absurd (the longest real calls are partial-recorded well below a day). */
  maxDurationMs: number;
  /** Avro datum longer than this (bytes, after any framing) is refused before it is read. Default 65536. */
  maxRecordBytes?: number;
  /** Array items plus map entries per record (the CDR's `extensions`). Default 10000. */
  maxItems?: number;
  /** Record nesting (only recursive writer schemas nest). Default 32. */
  maxDepth?: number;
  /** Times before this are implausible (a zeroed or unset switch clock). Default 2000-01-01T00:00:00Z. */
  minTimestampMs?: number;
  /**
   * How far durationMs may differ from releaseTime - seizureTime (and billableMs from releaseTime -
   * answerTime). Default 1000: switches that stamp times to the second (TS 32.298 TimeStamp has second
   * resolution) and measure durations in ms disagree by under a second.
   */
  durationToleranceMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

export interface DecodeResult {
  cdrs: SourcedCdr[];
  deadLetters: DeadLetter[];
}

// Party numbers (isPartyNumber): E.164 digits with an optional +, or national forms with 00/011 prefixes;
// TBCD filler digits (*, #, a-c) appear in TS 32.298 address strings. Normalisation to E.164 happens later
// (enrich/normalise). Identities (3GPP TS 23.003): an IMSI is at most 15 digits (§2.2: MCC 3 + MNC 2-3 +
// MSIN); an IMEI is 15 digits with its check digit, 14 without, an IMEISV 16 (§6.2); a PLMN id is MCC
// (3 digits) + MNC (2-3 digits) (§2.2).

/** 2000-01-01T00:00:00Z: the default earliest plausible CDR time. */
export const DEFAULT_MIN_TIMESTAMP_MS = 946_684_800_000;
export const DEFAULT_DURATION_TOLERANCE_MS = 1000;

/**
 * The domain of every numeric field: the narrower of what the standard allows and what its ClickHouse column
 * (schemas/ddl/0001_cdrs.sql) stores, so nothing is stored wrapped. Bounds inclusive.
 */
export const DOMAINS = {
  // ITU-T Q.763 §3.45: the ISUP redirection counter is a 3-bit field (1..5 used, Q.732.2); column UInt8.
  redirectionCounter: [0, 7],
  // UTC-12:00 (Etc/GMT+12) .. UTC+14:00 (Pacific/Kiritimati), the extremes of the IANA tz database; Int16.
  utcOffsetMinutes: [-720, 840],
  // TS 32.298 CauseForTerm is an open INTEGER (vendors add values): the column's UInt16.
  causeForTerm: [0, 65_535],
  // ITU-T Q.850 §2.2.5: the cause value is 7 bits, 1..127 assigned (absent = null); column Nullable(UInt16).
  q850Cause: [1, 127],
  // TS 23.003 §4.1: the LAC is 2 octets; column UInt32.
  lac: [0, 65_535],
  // TS 23.003 §19.4.2.3: a TAC is 16 bits (EPS) or 24 bits (5GS); column UInt32.
  tac: [0, 16_777_215],
  // TS 38.413 NR Cell Identity, 36 bits (E-UTRAN's is 28); column UInt64.
  cellId: [0, 2 ** 36 - 1],
  // TS 32.298 smsResult (Diagnostics: RP-cause, MAP error, ...): the column's UInt16.
  smsResult: [0, 65_535],
  // RFC 4006 §8.29 Rating-Group is Unsigned32; an Avro int reaches 2^31 - 1. Column UInt32.
  ratingGroup: [0, 2_147_483_647],
  // Counters (UInt64 columns); the Avro guard already bounds longs to ±(2^53 - 2).
  uplinkBytes: [0, AVRO_MAX_LONG],
  downlinkBytes: [0, AVRO_MAX_LONG],
  // TS 32.298 ChargingID ::= INTEGER (0..4294967295) (contract v2); column Nullable(UInt32).
  chargingId: [0, 4_294_967_295],
  // TS 29.274 §8.17 RAT Type is one octet (contract v2); column Nullable(UInt8).
  ratType: [0, 255],
  // TS 32.298 recordSequenceNumber: parts are numbered from 1 (contract v3; an Avro int); column UInt32, 0 = a complete record.
  recordSequenceNumber: [1, 2_147_483_647],
  // TS 32.298 LocalSequenceNumber ::= INTEGER (0..4294967295) (contract v3); column Nullable(UInt32).
  localRecordSequenceNumber: [0, 4_294_967_295],
  // TS 23.040 §9.2.3.24.1: a concatenated short message has at most 255 segments (contract v3); column UInt8.
  smsSegments: [1, 255],
} as const satisfies Record<string, readonly [number, number]>;

/** Longest free-text fields (ids, switch and trunk names): ClickHouse stores any String; this keeps rows sane. */
export const MAX_TEXT_CHARS = 256;
// TS 23.003 §9.1: an APN is at most 100 octets.
const MAX_APN_CHARS = 100;

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
  const check = checksOf(opts);
  return (coords, records) => {
    const out: DecodeResult = { cdrs: [], deadLetters: [] };
    check.limitFuture = now() + opts.maxFutureSkewMs;
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
    const slots = slotsOf(batchCodec);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.poison) dead(out, coords, r, r.poison.code, r.poison.message);
      else if (r.value === null || r.value.length === 0) dead(out, coords, r, DeadLetterCode.EMPTY_VALUE, 'record has no value (tombstone or empty)');
      else if (incompatible !== undefined) dead(out, coords, r, DeadLetterCode.SCHEMA_INCOMPATIBLE, incompatible);
      else decodeOne(out, coords, r, r.value, batchCodec, 0, check, slots);
    }
    return out;
  };
}

// The hot path allocates nothing per record but the CDR and its envelope: no closures, no result tuples for
// good records (STYLE.md: pino's "the hot path is planned").
function dead(out: DecodeResult, coords: SourceCoordinates, r: SourceRecord, code: DeadLetterCode, message: string): void {
  out.deadLetters.push({ code, message, topic: coords.topic, partition: coords.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value });
}

/** The validation limits of a decoder, fixed at construction; limitFuture is set per batch. */
interface Checks {
  avro: AvroLimits;
  limitFuture: number;
  minTimestampMs: number;
  maxDurationMs: number;
  toleranceMs: number;
}

function checksOf(o: DecodeOptions): Checks {
  return {
    avro: {
      maxRecordBytes: o.maxRecordBytes ?? DEFAULT_AVRO_LIMITS.maxRecordBytes,
      maxItems: o.maxItems ?? DEFAULT_AVRO_LIMITS.maxItems,
      maxDepth: o.maxDepth ?? DEFAULT_AVRO_LIMITS.maxDepth,
    },
    limitFuture: 0,
    minTimestampMs: o.minTimestampMs ?? DEFAULT_MIN_TIMESTAMP_MS,
    maxDurationMs: o.maxDurationMs,
    toleranceMs: o.durationToleranceMs ?? DEFAULT_DURATION_TOLERANCE_MS,
  };
}

const AVRO_CODES: Record<AvroDecodeFault, DeadLetterCode> = {
  TRUNCATED: DeadLetterCode.AVRO_TRUNCATED,
  TRAILING_BYTES: DeadLetterCode.AVRO_TRAILING_BYTES,
  INVALID: DeadLetterCode.AVRO_DECODE_FAILED,
  INT_OUT_OF_RANGE: DeadLetterCode.AVRO_INT_OUT_OF_RANGE,
  LIMIT_EXCEEDED: DeadLetterCode.AVRO_LIMIT_EXCEEDED,
};

function decodeOne(out: DecodeResult, coords: SourceCoordinates, r: SourceRecord, value: Buffer, codec: AvroCodec<Cdr>, offset: number, check: Checks, slots: StringSlots): void {
  let cdr: Cdr;
  try {
    cdr = codec.decode(value, offset, check.avro);
  } catch (err) {
    if (err instanceof AvroDecodeError) dead(out, coords, r, AVRO_CODES[err.kind], err.message);
    else dead(out, coords, r, DeadLetterCode.AVRO_DECODE_FAILED, err instanceof Error ? err.message : String(err));
    return;
  }
  const problem = validate(cdr, check, slots);
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
  /** Where the codec's reader leaves its string classes (NO_SLOTS without one). */
  slots: StringSlots;
  code: DeadLetterCode;
  message: string;
  /** For unknown ids: when to ask the registry again. */
  expiresAt: number;
}

const READY = Promise.resolve(true);

/**
 * Confluent wire format: magic byte 0, the writer schema id as a big-endian
 * int32, then the Avro datum. `prepare` looks up every id of the batch not seen before (one registry request
 * per new id, waiting with heartbeats while the registry is down) and compiles one resolver per writer
 * schema; the decode itself stays synchronous and reuses the cached resolvers.
 */
export function createConfluentDecoder(o: ConfluentDecodeOptions): Decoder {
  const now = o.now ?? Date.now;
  const readerFor = o.readerFor ?? cdrReaderFor;
  const unknownIdRetryMs = o.unknownIdRetryMs ?? 60_000;
  const pollMs = o.pollMs ?? 500;
  const check = checksOf(o);
  const writers = new Map<number, WriterEntry>();

  const resolveId = async (id: number, signal: AbortSignal): Promise<void> => {
    const found = await o.registry.schemaById(id, signal);
    let entry: WriterEntry;
    if (found === undefined) {
      entry = { codec: null, slots: NO_SLOTS, code: DeadLetterCode.UNKNOWN_SCHEMA_ID, message: `schema id ${id} is not in the schema registry`, expiresAt: Date.now() + unknownIdRetryMs };
    } else if (found.schemaType !== 'AVRO') {
      entry = { codec: null, slots: NO_SLOTS, code: DeadLetterCode.SCHEMA_INCOMPATIBLE, message: `schema id ${id} is a ${found.schemaType} schema, not Avro`, expiresAt: Infinity };
    } else {
      try {
        const codec = readerFor(found.schema);
        entry = { codec, slots: slotsOf(codec), code: DeadLetterCode.SCHEMA_INCOMPATIBLE, message: '', expiresAt: Infinity };
      } catch (err) {
        if (!(err instanceof SchemaIncompatibleError)) throw err;
        entry = { codec: null, slots: NO_SLOTS, code: DeadLetterCode.SCHEMA_INCOMPATIBLE, message: `schema id ${id}: ${err.message}`, expiresAt: Infinity };
      }
    }
    writers.set(id, entry);
    o.log?.info({ schemaId: id, outcome: entry.codec ? 'resolved' : entry.code }, 'writer schema looked up');
  };

  const decode: Decoder = (coords, records) => {
    const out: DecodeResult = { cdrs: [], deadLetters: [] };
    check.limitFuture = now() + o.maxFutureSkewMs;
    let lastId = NaN;
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
        else decodeOne(out, coords, r, v, last.codec, CONFLUENT_HEADER_BYTES, check, last.slots);
      }
    }
    return out;
  };

  decode.prepare = (records, ctx) => {
    const t = Date.now();
    let missing: Set<number> | undefined;
    // NaN, not -1: the id is a signed int32, and 0xffffffff (-1) must be looked up like any other (the fuzz
    // test found a header 00 ff ff ff ff skipped here, which then made decode throw and stop the pipeline).
    let lastId = NaN;
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

/**
 * Every field against its domain (DOMAINS, the column types of schemas/ddl/0001_cdrs.sql, the standards
 * cited there). Messages name the field and, for numeric fields, the value; never a subscriber number or
 * identity (dead-letter messages reach logs).
 */
function validate(c: Cdr, k: Checks, sl: StringSlots): [DeadLetterCode, string] | undefined {
  const b = sl.bits;
  if (c.recordId.length === 0 || c.recordingEntity.length === 0) return [DeadLetterCode.MISSING_PARTY, 'recordId and recordingEntity are required'];
  if (c.servedMsisdn.length === 0) return [DeadLetterCode.MISSING_PARTY, 'servedMsisdn is empty'];
  if (!party(c.servedMsisdn, b[sl.servedMsisdn]!)) return [DeadLetterCode.MALFORMED_NUMBER, 'servedMsisdn is malformed'];
  if (c.releaseTime < c.seizureTime) return [DeadLetterCode.RELEASE_BEFORE_SEIZURE, `releaseTime ${c.releaseTime} is before seizureTime ${c.seizureTime}`];
  if (c.answerTime !== null && (c.answerTime < c.seizureTime || c.answerTime > c.releaseTime)) {
    return [DeadLetterCode.RELEASE_BEFORE_SEIZURE, 'answerTime is outside seizure..release'];
  }
  if (c.seizureTime > k.limitFuture) return [DeadLetterCode.FUTURE_TIMESTAMP, `seizureTime ${isoOf(c.seizureTime)} is in the future`];
  if (c.seizureTime < k.minTimestampMs) return [DeadLetterCode.PAST_TIMESTAMP, `seizureTime ${isoOf(c.seizureTime)} is before decode.minTimestampMs (${isoOf(k.minTimestampMs)})`];
  if (c.durationMs < 0 || c.billableMs < 0 || c.durationMs > k.maxDurationMs || c.billableMs > c.durationMs) {
    return [DeadLetterCode.INVALID_DURATION, `durationMs ${c.durationMs} / billableMs ${c.billableMs} out of range`];
  }
  // Times and durations must tell the same story (TS 32.298: duration = release - seizure, callDuration =
  // release - answer); with seizure <= answer <= release and durationMs <= maxDurationMs this also bounds
  // the release time (a year-3000 release with a plausible duration is refused here).
  const span = c.releaseTime - c.seizureTime;
  const talk = c.answerTime === null ? 0 : c.releaseTime - c.answerTime;
  const seq = c.recordSequenceNumber;
  const voice = c.eventType === 'VOICE_MO' || c.eventType === 'VOICE_MT' || c.eventType === 'VOICE_FWD';
  const sms = c.eventType === 'SMS_MO' || c.eventType === 'SMS_MT';
  if (seq !== null && (seq < D.recordSequenceNumber[0] || seq > D.recordSequenceNumber[1])) return outside('recordSequenceNumber', seq);
  if (seq === null || seq === 1) {
    // A complete record, or the first part of one (TS 32.298: it opens at the seizure).
    if (Math.abs(c.durationMs - span) > k.toleranceMs) return [DeadLetterCode.INCONSISTENT_TIMES, `durationMs ${c.durationMs} differs from releaseTime - seizureTime (${span}) by more than decode.durationToleranceMs (${k.toleranceMs})`];
    // Not answered: no billable time at all (TS 32.298 callDuration, Asterisk billsec); the tolerance is for
    // clocks stamped to the second, and an unanswered call has no answer stamp to round (the fuzz run stored
    // unanswered calls with 1-4 ms billable).
    if (c.answerTime === null ? c.billableMs !== 0 : Math.abs(c.billableMs - talk) > k.toleranceMs) return [DeadLetterCode.INCONSISTENT_TIMES, `billableMs ${c.billableMs} differs from ${c.answerTime === null ? '0 (not answered)' : `releaseTime - answerTime (${talk})`}${c.answerTime === null ? '' : ` by more than decode.durationToleranceMs (${k.toleranceMs})`}`];
  } else {
    // A later part (TS 32.298 partial record): it covers the durationMs before its releaseTime (the close),
    // inside the call; after the answer it is all conversation, so billableMs is that same span. The rater
    // prices it from its offset in the call, (releaseTime - answerTime) - billableMs.
    if (c.durationMs > span + k.toleranceMs) return [DeadLetterCode.INCONSISTENT_TIMES, `part ${seq}: durationMs ${c.durationMs} is longer than releaseTime - seizureTime (${span})`];
    if (c.answerTime === null ? c.billableMs !== 0 : Math.abs(c.billableMs - c.durationMs) > k.toleranceMs || c.billableMs > talk + k.toleranceMs) {
      return [DeadLetterCode.INCONSISTENT_TIMES, `part ${seq}: billableMs ${c.billableMs} is not the part's durationMs (${c.durationMs}) within releaseTime - answerTime (${c.answerTime === null ? 'not answered' : talk})`];
    }
  }
  // The release too: a call released hours from now (its seizure plausible, its durations consistent with its times) was
  // stored, then its fraud event, stamped with the release time, was refused by the broker (timestamp out of
  // range) and stopped the pipeline.
  if (c.releaseTime > k.limitFuture) return [DeadLetterCode.FUTURE_TIMESTAMP, `releaseTime ${isoOf(c.releaseTime)} is in the future`];
  if (seq !== null && sms) return [DeadLetterCode.VALUE_OUT_OF_DOMAIN, `recordSequenceNumber ${seq} on an ${c.eventType} record (only calls and data sessions have partial records)`];
  if (c.smsSegments !== 1 && !sms) return [DeadLetterCode.VALUE_OUT_OF_DOMAIN, `smsSegments ${c.smsSegments} on a ${c.eventType} record (1 unless the record is an SMS)`];
  if (voice || sms) {
    const other = c.eventType === 'VOICE_MT' || c.eventType === 'SMS_MT' ? c.callingNumber : c.calledNumber;
    const role = c.eventType.endsWith('MT') ? 'callingNumber' : 'calledNumber';
    if (other === null || other.length === 0) return [DeadLetterCode.MISSING_PARTY, `${c.eventType} without ${role}`];
  }
  if (c.callingNumber !== null && !party(c.callingNumber, b[sl.callingNumber]!)) return [DeadLetterCode.MALFORMED_NUMBER, 'callingNumber is malformed'];
  if (c.calledNumber !== null && !party(c.calledNumber, b[sl.calledNumber]!)) return [DeadLetterCode.MALFORMED_NUMBER, 'calledNumber is malformed'];
  if (c.connectedNumber !== null && !party(c.connectedNumber, b[sl.connectedNumber]!)) return [DeadLetterCode.MALFORMED_NUMBER, 'connectedNumber is malformed'];
  if (c.translatedNumber !== null && !party(c.translatedNumber, b[sl.translatedNumber]!)) return [DeadLetterCode.MALFORMED_NUMBER, 'translatedNumber is malformed'];
  if (c.originalCalledNumber !== null && !party(c.originalCalledNumber, b[sl.originalCalledNumber]!)) return [DeadLetterCode.MALFORMED_NUMBER, 'originalCalledNumber is malformed'];
  if (c.redirectingNumber !== null && !party(c.redirectingNumber, b[sl.redirectingNumber]!)) return [DeadLetterCode.MALFORMED_NUMBER, 'redirectingNumber is malformed'];
  if (c.smsCentre !== null && !party(c.smsCentre, b[sl.smsCentre]!)) return [DeadLetterCode.MALFORMED_NUMBER, 'smsCentre is malformed'];
  if (c.servedImsi !== null && !digits(c.servedImsi, b[sl.servedImsi]!, 6, 15)) return [DeadLetterCode.MALFORMED_NUMBER, 'servedImsi is not 6 to 15 digits'];
  if (c.servedImei !== null && !digits(c.servedImei, b[sl.servedImei]!, 14, 16)) return [DeadLetterCode.MALFORMED_NUMBER, 'servedImei is not 14 to 16 digits'];
  if (c.servingPlmn !== null && !digits(c.servingPlmn, b[sl.servingPlmn]!, 5, 6)) return [DeadLetterCode.MALFORMED_NUMBER, 'servingPlmn is not MCC+MNC (5 or 6 digits)'];
  if (c.homePlmn !== null && !digits(c.homePlmn, b[sl.homePlmn]!, 5, 6)) return [DeadLetterCode.MALFORMED_NUMBER, 'homePlmn is not MCC+MNC (5 or 6 digits)'];
  return outOfDomain(c, sl);
}

function isoOf(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function outside(field: keyof typeof DOMAINS, v: number): [DeadLetterCode, string] {
  const [lo, hi] = DOMAINS[field];
  return [DeadLetterCode.VALUE_OUT_OF_DOMAIN, `${field} ${v} is outside ${lo}..${hi}`];
}

function tooLong(field: string, v: string, max: number): [DeadLetterCode, string] {
  return [DeadLetterCode.VALUE_OUT_OF_DOMAIN, `${field} is ${v.length} characters, longer than ${max}`];
}

// Straight-line comparisons against constants: this runs for every record (STYLE.md: the hot path is planned).
const D = DOMAINS;
function outOfDomain(c: Cdr, sl: StringSlots): [DeadLetterCode, string] | undefined {
  if (c.redirectionCounter < D.redirectionCounter[0] || c.redirectionCounter > D.redirectionCounter[1]) return outside('redirectionCounter', c.redirectionCounter);
  if (c.utcOffsetMinutes < D.utcOffsetMinutes[0] || c.utcOffsetMinutes > D.utcOffsetMinutes[1]) return outside('utcOffsetMinutes', c.utcOffsetMinutes);
  if (c.causeForTerm < D.causeForTerm[0] || c.causeForTerm > D.causeForTerm[1]) return outside('causeForTerm', c.causeForTerm);
  if (c.q850Cause !== null && (c.q850Cause < D.q850Cause[0] || c.q850Cause > D.q850Cause[1])) return outside('q850Cause', c.q850Cause);
  if (c.lac !== null && (c.lac < D.lac[0] || c.lac > D.lac[1])) return outside('lac', c.lac);
  if (c.tac !== null && (c.tac < D.tac[0] || c.tac > D.tac[1])) return outside('tac', c.tac);
  if (c.cellId !== null && (c.cellId < D.cellId[0] || c.cellId > D.cellId[1])) return outside('cellId', c.cellId);
  if (c.smsResult !== null && (c.smsResult < D.smsResult[0] || c.smsResult > D.smsResult[1])) return outside('smsResult', c.smsResult);
  if (c.ratingGroup !== null && (c.ratingGroup < D.ratingGroup[0] || c.ratingGroup > D.ratingGroup[1])) return outside('ratingGroup', c.ratingGroup);
  if (c.uplinkBytes < D.uplinkBytes[0] || c.uplinkBytes > D.uplinkBytes[1]) return outside('uplinkBytes', c.uplinkBytes);
  if (c.downlinkBytes < D.downlinkBytes[0] || c.downlinkBytes > D.downlinkBytes[1]) return outside('downlinkBytes', c.downlinkBytes);
  if (c.chargingId !== null && (c.chargingId < D.chargingId[0] || c.chargingId > D.chargingId[1])) return outside('chargingId', c.chargingId);
  if (c.ratType !== null && (c.ratType < D.ratType[0] || c.ratType > D.ratType[1])) return outside('ratType', c.ratType);
  if (c.recordSequenceNumber !== null && (c.recordSequenceNumber < D.recordSequenceNumber[0] || c.recordSequenceNumber > D.recordSequenceNumber[1])) return outside('recordSequenceNumber', c.recordSequenceNumber);
  if (c.localRecordSequenceNumber !== null && (c.localRecordSequenceNumber < D.localRecordSequenceNumber[0] || c.localRecordSequenceNumber > D.localRecordSequenceNumber[1])) return outside('localRecordSequenceNumber', c.localRecordSequenceNumber);
  if (c.smsSegments < D.smsSegments[0] || c.smsSegments > D.smsSegments[1]) return outside('smsSegments', c.smsSegments);
  if (c.recordId.length > MAX_TEXT_CHARS) return tooLong('recordId', c.recordId, MAX_TEXT_CHARS);
  // Ids and names: no control characters (NUL included) and no U+FFFD, which is what invalid UTF-8 decodes
  // to: two different byte strings would otherwise become the same recordId and collapse in ClickHouse.
  const b = sl.bits;
  if (notPlain(c.recordId, b[sl.recordId]!)) return notText('recordId');
  if (notPlain(c.recordingEntity, b[sl.recordingEntity]!)) return notText('recordingEntity');
  if (c.inTrunkGroup !== null && notPlain(c.inTrunkGroup, b[sl.inTrunkGroup]!)) return notText('inTrunkGroup');
  if (c.outTrunkGroup !== null && notPlain(c.outTrunkGroup, b[sl.outTrunkGroup]!)) return notText('outTrunkGroup');
  if (c.apn !== null && notPlain(c.apn, b[sl.apn]!)) return notText('apn');
  // Extensions are free text (control characters allowed), but not invalid UTF-8.
  for (const k in c.extensions) if (k.indexOf('\ufffd') >= 0 || c.extensions[k]!.indexOf('\ufffd') >= 0) return [DeadLetterCode.VALUE_OUT_OF_DOMAIN, 'extensions hold invalid UTF-8 (U+FFFD)'];
  if (c.recordingEntity.length > MAX_TEXT_CHARS) return tooLong('recordingEntity', c.recordingEntity, MAX_TEXT_CHARS);
  if (c.inTrunkGroup !== null && c.inTrunkGroup.length > MAX_TEXT_CHARS) return tooLong('inTrunkGroup', c.inTrunkGroup, MAX_TEXT_CHARS);
  if (c.outTrunkGroup !== null && c.outTrunkGroup.length > MAX_TEXT_CHARS) return tooLong('outTrunkGroup', c.outTrunkGroup, MAX_TEXT_CHARS);
  if (c.apn !== null && c.apn.length > MAX_APN_CHARS) return tooLong('apn', c.apn, MAX_APN_CHARS);
  return undefined;
}

// Characters of a party number after the optional '+': digits and the TBCD fillers * # a-c A-C.
const PARTY_CHAR = new Uint8Array(128);
for (const ch of '0123456789*#abcABC') PARTY_CHAR[ch.charCodeAt(0)] = 1;

/** A party number: E.164 digits with an optional +, national prefixes, TBCD fillers * # a-c; 1..32 characters. */
export function isPartyNumber(s: string): boolean {
  const n = s.length;
  let i = n > 0 && s.charCodeAt(0) === 43 ? 1 : 0;
  if (n - i < 1 || n - i > 32) return false;
  for (; i < n; i++) {
    const ch = s.charCodeAt(i);
    if (ch > 127 || PARTY_CHAR[ch] === 0) return false;
  }
  return true;
}

/** A control character (C0, DEL) or U+FFFD (invalid UTF-8 decodes to it) anywhere in the string. */
function badText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 0x20 || ch === 0x7f || ch === 0xfffd) return true;
  }
  return false;
}

function notText(field: string): [DeadLetterCode, string] {
  return [DeadLetterCode.VALUE_OUT_OF_DOMAIN, `${field} holds a control character or invalid UTF-8`];
}

/** Only the digits 0-9, between min and max of them. */
function isDigits(s: string, min: number, max: number): boolean {
  const n = s.length;
  if (n < min || n > max) return false;
  for (let i = 0; i < n; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 48 || ch > 57) return false;
  }
  return true;
}

/**
 * Where the compiled reader (schemas/avro-reader.ts) left the STRING_CLASS bits of each checked string field:
 * indices into `bits`, which it overwrites per record. A codec without the reader (a resolved writer schema)
 * gets NO_SLOTS, all bits 0, and every check loops over the string as before.
 */
interface StringSlots {
  bits: Uint8Array;
  recordId: number;
  recordingEntity: number;
  servedMsisdn: number;
  callingNumber: number;
  calledNumber: number;
  connectedNumber: number;
  translatedNumber: number;
  originalCalledNumber: number;
  redirectingNumber: number;
  smsCentre: number;
  servedImsi: number;
  servedImei: number;
  servingPlmn: number;
  homePlmn: number;
  inTrunkGroup: number;
  outTrunkGroup: number;
  apn: number;
}

const SLOT_FIELDS = ['recordId', 'recordingEntity', 'servedMsisdn', 'callingNumber', 'calledNumber', 'connectedNumber', 'translatedNumber', 'originalCalledNumber', 'redirectingNumber', 'smsCentre', 'servedImsi', 'servedImei', 'servingPlmn', 'homePlmn', 'inTrunkGroup', 'outTrunkGroup', 'apn'] as const satisfies readonly (keyof StringSlots & keyof Cdr)[];

function slotsWith(bits: Uint8Array, index: (f: (typeof SLOT_FIELDS)[number]) => number): StringSlots {
  const sl = { bits } as StringSlots;
  for (const f of SLOT_FIELDS) sl[f] = index(f);
  return sl;
}

const NO_SLOTS: StringSlots = slotsWith(new Uint8Array(1), () => 0);
const slotCache = new WeakMap<AvroCodec<Cdr>, StringSlots>();

function slotsOf(codec: AvroCodec<Cdr>): StringSlots {
  let sl = slotCache.get(codec);
  if (sl === undefined) {
    const sc = codec.stringClasses;
    sl = sc && SLOT_FIELDS.every((f) => sc.fieldIndex.has(f)) ? slotsWith(sc.bits, (f) => sc.fieldIndex.get(f)!) : NO_SLOTS;
    slotCache.set(codec, sl);
  }
  return sl;
}

const { KNOWN, DIGITS, PARTY, TEXT } = STRING_CLASS;
// party() relies on it: a classified string is never longer than isPartyNumber's 32 characters.
if (MAX_FAST_STRING > 32) throw new Error('MAX_FAST_STRING must stay at most 32 (isPartyNumber length bound)');

// The checks below take the reader's bits first: KNOWN means the reader saw every byte (ASCII, short) and the
// other bits are the answer; without KNOWN (a long or non-ASCII string, or no reader) the string is looped over.

/** isPartyNumber: the reader's PARTY bit allows one leading '+', which must not be the whole number. */
function party(s: string, bits: number): boolean {
  if ((bits & PARTY) !== 0) return s.length > 1 || s.charCodeAt(0) !== 43;
  return (bits & KNOWN) === 0 && isPartyNumber(s);
}

function digits(s: string, bits: number, min: number, max: number): boolean {
  if ((bits & DIGITS) !== 0) return s.length >= min && s.length <= max;
  return (bits & KNOWN) === 0 && isDigits(s, min, max);
}

/** badText: ASCII has no U+FFFD, so the TEXT bit settles it. */
function notPlain(s: string, bits: number): boolean {
  if ((bits & TEXT) !== 0) return false;
  return (bits & KNOWN) !== 0 || badText(s);
}
