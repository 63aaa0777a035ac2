/**
 * Reads the keys a topic received since a time, once (no consumer group offsets kept): the usage notifier
 * uses it after a crash to learn which notifications of its outbox reached the topic before the crash, so it
 * publishes only those that did not (pipeline/notifications.ts). kafkajs facts it relies on
 * (tulios/kafkajs docs/Admin.md, docs/Consuming.md): fetchTopicOffsetsByTimestamp gives, per partition, the
 * first offset whose timestamp is at or after the time (or the high watermark); seek() after run() moves the
 * fetch position of a partition.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { Log } from '../schemas/index.js';
import { asKafkaConnection, kafkaClientSecurity, type KafkaConnection } from '../schemas/security.js';
import { kafkaLogCreator } from './kafka.js';

export interface ScannedRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  timestamp: number;
}

/** Keys of the records of `topic` with a timestamp at or after `sinceMs` (up to the end as of the call). */
export async function topicKeysSince(to: string[] | KafkaConnection, topic: string, sinceMs: number, log: Log, timeoutMs = 60_000): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const r of await topicRecordsSince(to, topic, sinceMs, log, timeoutMs)) if (r.key !== null) keys.add(r.key);
  return keys;
}

/** The records of `topic` with a timestamp at or after `sinceMs` (up to the end as of the call), in partition and offset order. */
export async function topicRecordsSince(to: string[] | KafkaConnection, topic: string, sinceMs: number, log: Log, timeoutMs = 60_000): Promise<ScannedRecord[]> {
  const c = asKafkaConnection(to);
  const kafka = new Kafka({ clientId: 'cdr-pipeline-scan', brokers: c.brokers, ...kafkaClientSecurity(c.security), logLevel: logLevel.WARN, logCreator: kafkaLogCreator(log) });
  const admin = kafka.admin();
  await admin.connect();
  let starts: { partition: number; offset: string }[];
  let ends: { partition: number; high: string }[];
  try {
    starts = await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const records: ScannedRecord[] = [];
  // Partitions with something to read: start offset below the high watermark.
  const todo = new Map<number, { from: bigint; high: bigint }>();
  for (const e of ends) {
    const s = starts.find((x) => x.partition === e.partition);
    const from = BigInt(s && s.offset !== '-1' ? s.offset : e.high);
    if (from < BigInt(e.high)) todo.set(e.partition, { from, high: BigInt(e.high) });
  }
  if (todo.size === 0) return records;
  const consumer = kafka.consumer({ groupId: `cdr-pipeline-scan-${randomUUID()}`, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} since ${new Date(sinceMs).toISOString()} took longer than ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const t = todo.get(batch.partition);
            if (!t) return;
            for (const m of batch.messages) {
              const off = BigInt(m.offset);
              if (off >= t.from && off < t.high) records.push({ partition: batch.partition, offset: m.offset, key: m.key ? m.key.toString('utf8') : null, value: m.value, timestamp: Number(m.timestamp) });
              if (off >= t.high - 1n) todo.delete(batch.partition);
            }
            if (todo.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .then(() => {
          // The scan may already be complete (and the consumer disconnecting): seek() then throws, and a throw
          // here would be an unhandled rejection, not the scan's result.
          if (todo.size === 0) return;
          try {
            for (const [partition, t] of todo) consumer.seek({ topic, partition, offset: String(t.from) });
          } catch (err) {
            reject(err as Error);
          }
        }, reject);
    });
    await done;
  } finally {
    // Bounded: a scan that timed out must not hang its caller in disconnect.
    let t: NodeJS.Timeout | undefined;
    await Promise.race([consumer.disconnect().catch(() => undefined), new Promise<void>((r) => (t = setTimeout(r, 10_000)))]);
    clearTimeout(t);
  }
  return records.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
}
