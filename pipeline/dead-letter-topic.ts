/**
 * Dead letters on the dead-letter topic (kafka.deadLetterTopic), bounded so that no record can stop the
 * pipeline there. The dead_letters table keeps every byte; the topic is a notification stream, and a broker
 * refuses a message above its message.max.bytes (1 MiB by default, less on some topics). A record of the
 * largest size the source topic accepts, wrapped with its key and coordinates, did not fit: the publish failed
 * permanently and stopped the pipeline on every restart.
 *
 * - A dead letter whose encoded message would exceed DEAD_LETTER_MAX_MESSAGE_BYTES is published in a bounded
 *   form: key and value replaced by null, and headers `cdr-dl-truncated: true`, `cdr-dl-value-bytes`,
 *   `cdr-dl-value-sha256` (and the same for the key) to find and verify the full bytes in `dead_letters`.
 * - A message the broker still refuses for itself (a smaller max.message.bytes, a timestamp rule) is isolated
 *   (sinks/kafka.ts sendIsolating), sent once more in the bounded form, and if refused even so, logged as an
 *   error with its coordinates: it is stored in the table either way, never fatal.
 */
import { createHash } from 'node:crypto';
import { encodeDeadLetter } from '../schemas/dead-letter.js';
import type { DeadLetter, Log } from '../schemas/index.js';
import type { KafkaSink, OutRecord } from '../sinks/kafka.js';

/** Largest dead-letter message published whole (encoded Avro plus key); half the broker's 1 MiB default. */
export const DEAD_LETTER_MAX_MESSAGE_BYTES = 512 * 1024;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The dead letter as a topic message: whole when it fits in maxBytes, else the bounded form. */
export function deadLetterMessage(d: DeadLetter, now: number, maxBytes = DEAD_LETTER_MAX_MESSAGE_BYTES): OutRecord {
  const key = `${d.topic}/${d.partition}/${d.offset}`;
  const size = (d.key?.length ?? 0) + (d.value?.length ?? 0) + d.message.length * 3 + d.topic.length * 3 + 64;
  if (size <= maxBytes) return { key, value: encodeDeadLetter(d, now), timestamp: now };
  return boundedDeadLetterMessage(d, now);
}

/** Key and value replaced by their length and SHA-256 (headers); the message cut to 1000 characters. */
export function boundedDeadLetterMessage(d: DeadLetter, now: number): OutRecord {
  const headers: Record<string, string> = { 'cdr-dl-truncated': 'true' };
  if (d.value !== null) {
    headers['cdr-dl-value-bytes'] = String(d.value.length);
    headers['cdr-dl-value-sha256'] = sha256(d.value);
  }
  if (d.key !== null) {
    headers['cdr-dl-key-bytes'] = String(d.key.length);
    headers['cdr-dl-key-sha256'] = sha256(d.key);
  }
  const bounded: DeadLetter = { ...d, key: null, value: null, message: d.message.slice(0, 1000), topic: d.topic.slice(0, 255) };
  return { key: `${bounded.topic}/${d.partition}/${d.offset}`, value: encodeDeadLetter(bounded, now), timestamp: now, headers };
}

/** Publishes dead letters (bounded where needed); per-record refusals never fail the batch. */
export async function publishDeadLetters(sink: Pick<KafkaSink, 'sendIsolating'>, topic: string, dls: DeadLetter[], log: Log, maxBytes = DEAD_LETTER_MAX_MESSAGE_BYTES): Promise<void> {
  const now = Date.now();
  const records = dls.map((d) => deadLetterMessage(d, now, maxBytes));
  const origin = new Map<OutRecord, DeadLetter>(records.map((r, i) => [r, dls[i]!]));
  const retry: OutRecord[] = [];
  const retried = new Map<OutRecord, DeadLetter>();
  await sink.sendIsolating(topic, records, (r, err) => {
    const d = origin.get(r)!;
    if (r.headers?.['cdr-dl-truncated'] === 'true') return logRefused(log, d, err);
    const b = boundedDeadLetterMessage(d, now);
    retried.set(b, d);
    retry.push(b);
  });
  if (retry.length > 0) await sink.sendIsolating(topic, retry, (r, err) => logRefused(log, retried.get(r)!, err));
}

function logRefused(log: Log, d: DeadLetter, err: Error): void {
  log.error({ topic: d.topic, partition: d.partition, offset: d.offset, code: d.code, err: err.message }, 'the dead-letter topic refused a dead letter even in its bounded form; it is stored in dead_letters only');
}
