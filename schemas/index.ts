/**
 * The contract every component meets through: the Avro CDR schema (source of truth, in avro/),
 * the TypeScript shape of a decoded CDR, the rows stored in ClickHouse and the dead-letter record.
 * avsc is imported here and nowhere else; decoders are compiled once per schema (avsc's own advice).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';

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

export type EventType = 'VOICE_MO' | 'VOICE_MT' | 'VOICE_FWD' | 'SMS_MO' | 'SMS_MT' | 'DATA';
export type RedirectionReason = 'CFU' | 'CFB' | 'CFNRY' | 'CFNRC' | 'DEFLECTION' | 'OTHER';
export type Disposition = 'ANSWERED' | 'NO_ANSWER' | 'BUSY' | 'FAILED' | 'CONGESTION';

/** A decoded CDR, exactly as schemas/avro/cdr.v1.avsc describes it (avsc maps long to number). */
export interface Cdr {
  recordId: string;
  recordingEntity: string;
  eventType: EventType;
  servedImsi: string | null;
  servedImei: string | null;
  servedMsisdn: string;
  callingNumber: string | null;
  calledNumber: string | null;
  connectedNumber: string | null;
  translatedNumber: string | null;
  originalCalledNumber: string | null;
  redirectingNumber: string | null;
  redirectionReason: RedirectionReason | null;
  redirectionCounter: number;
  seizureTime: number;
  answerTime: number | null;
  releaseTime: number;
  utcOffsetMinutes: number;
  durationMs: number;
  billableMs: number;
  causeForTerm: number;
  q850Cause: number | null;
  disposition: Disposition;
  servingPlmn: string | null;
  homePlmn: string | null;
  lac: number | null;
  tac: number | null;
  cellId: number | null;
  inTrunkGroup: string | null;
  outTrunkGroup: string | null;
  smsCentre: string | null;
  smsResult: number | null;
  apn: string | null;
  ratingGroup: number | null;
  uplinkBytes: number;
  downlinkBytes: number;
  extensions: Record<string, string>;
}

/** A compiled Avro type with the operations the pipeline needs (avsc's Type, narrowed). */
export interface AvroCodec<T> {
  readonly schema: object;
  /** Encode one datum to Avro binary (no framing). */
  encode(value: T): Buffer;
  /** Decode a whole buffer holding exactly one datum; throws on truncation or trailing bytes. */
  decode(buf: Buffer, offset?: number): T;
  /** True if the value conforms to the schema. */
  isValid(value: unknown): boolean;
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

function codecOf<T>(type: avro.Type): AvroCodec<T> {
  return {
    schema: type.schema() as object,
    encode: (value) => type.toBuffer(value),
    decode: (buf, offset = 0) => {
      // decode() returns {value, offset}; offset < 0 means the buffer was too short (truncated record).
      const res = type.decode(buf, offset);
      if (res.offset < 0) throw new AvroDecodeError('TRUNCATED', `record truncated: needed more than ${buf.length - offset} bytes`);
      if (res.offset !== buf.length) {
        throw new AvroDecodeError('TRAILING_BYTES', `${buf.length - res.offset} bytes left after the record`);
      }
      return res.value as T;
    },
    isValid: (value) => type.isValid(value),
  };
}

export class AvroDecodeError extends Error {
  constructor(readonly kind: 'TRUNCATED' | 'TRAILING_BYTES', message: string) {
    super(message);
    this.name = 'AvroDecodeError';
  }
}

/** The current CDR writer/reader schema. */
export function cdrCodec(): AvroCodec<Cdr> {
  return codecOf<Cdr>(loadType('cdr.v1.avsc'));
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
}

/** Where a batch came from: a Kafka topic partition, or a file. */
export interface SourceCoordinates {
  /** Topic name, or `file:<path>` for file sources. */
  topic: string;
  /** Partition number, or the block number for files. */
  partition: number;
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
}

/** A decoded CDR together with its source coordinates (kept on every stored row for audits and replays). */
export interface SourcedCdr {
  cdr: Cdr;
  topic: string;
  partition: number;
  offset: string;
}
