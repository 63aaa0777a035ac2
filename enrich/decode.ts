/**
 * Decode and validate at the boundary (STYLE.md §7): raw Kafka records in, CDRs and dead letters out.
 * Nothing is dropped and nothing throws: every input record leaves as exactly one of the two, so
 * `cdrs.length + deadLetters.length === records.length` for every batch.
 * Later stages trust what leaves here and carry no defensive re-checks.
 */
import { AvroDecodeError, DeadLetterCode, type AvroCodec, type Cdr, type DeadLetter, type SourceCoordinates, type SourceRecord, type SourcedCdr } from '../schemas/index.js';

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

export type Decoder = (coords: SourceCoordinates, records: SourceRecord[]) => DecodeResult;

export function createDecoder(codec: AvroCodec<Cdr>, opts: DecodeOptions): Decoder {
  const now = opts.now ?? Date.now;
  return (coords, records) => {
    const cdrs: SourcedCdr[] = [];
    const deadLetters: DeadLetter[] = [];
    const limitFuture = now() + opts.maxFutureSkewMs;
    for (const r of records) {
      const dead = (code: DeadLetterCode, message: string) =>
        deadLetters.push({ code, message, topic: coords.topic, partition: coords.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value });
      if (r.value === null || r.value.length === 0) {
        dead(DeadLetterCode.EMPTY_VALUE, 'record has no value (tombstone or empty)');
        continue;
      }
      let cdr: Cdr;
      try {
        cdr = codec.decode(r.value);
      } catch (err) {
        if (err instanceof AvroDecodeError) dead(err.kind === 'TRUNCATED' ? DeadLetterCode.AVRO_TRUNCATED : DeadLetterCode.AVRO_TRAILING_BYTES, err.message);
        else dead(DeadLetterCode.AVRO_DECODE_FAILED, err instanceof Error ? err.message : String(err));
        continue;
      }
      const problem = validate(cdr, limitFuture, opts.maxDurationMs);
      if (problem) {
        dead(problem[0], problem[1]);
        continue;
      }
      cdrs.push({ cdr, topic: coords.topic, partition: coords.partition, offset: r.offset });
    }
    return { cdrs, deadLetters };
  };
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
