/**
 * Kafka sink: publishes keyed records to a topic (the generator's CDRs; later alerts and dead letters).
 * Idempotent producer (acks=all), so a retried send is not duplicated by the broker.
 */
import { Kafka, Partitioners, logLevel, type LogEntry, type Producer } from 'kafkajs';
import type { Log } from '../schemas/index.js';
import { kafkaClientSecurity, type KafkaSecurity } from '../schemas/security.js';

export interface KafkaSinkOptions {
  brokers: string[];
  /** TLS and SASL (kafka.ssl*, kafka.sasl*); absent = plaintext. */
  security?: KafkaSecurity | undefined;
  clientId: string;
  log: Log;
  /**
   * Bytes of keys, values and headers per produce request (default 512 KiB). The broker refuses a record
   * batch above its message.max.bytes (1 MiB by default), and kafkajs would retry that request for ever;
   * a large send (a stored batch's fraud events or dead letters) goes out in several requests instead.
   */
  maxRequestBytes?: number;
}

export interface OutRecord {
  key: Buffer | string | null;
  value: Buffer;
  timestamp?: number;
  headers?: Record<string, string>;
  /** An explicit partition (progress markers go to every partition); absent = by key. */
  partition?: number;
}

export class KafkaSink {
  private readonly producer: Producer;
  private readonly maxRequestBytes: number;

  constructor(opts: KafkaSinkOptions) {
    this.maxRequestBytes = opts.maxRequestBytes ?? 512 * 1024;
    const kafka = new Kafka({ clientId: opts.clientId, brokers: opts.brokers, ...kafkaClientSecurity(opts.security), logLevel: logLevel.WARN, logCreator: kafkaLogCreator(opts.log) });
    // The default partitioner (murmur2, as the Java client) so keys land where Java producers put them.
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  /** Resolves when every record is acknowledged by all in-sync replicas; sent in order, in requests of bounded size. */
  async send(topic: string, records: OutRecord[]): Promise<void> {
    let from = 0;
    let bytes = 0;
    for (let i = 0; i <= records.length; i++) {
      const size = i < records.length ? sizeOf(records[i]!) : 0;
      if (i === records.length || (i > from && bytes + size > this.maxRequestBytes)) {
        if (i > from) await this.sendRequest(topic, records.slice(from, i));
        from = i;
        bytes = 0;
      }
      bytes += size;
    }
  }

  /**
   * Like send, but a record the broker refuses for itself (PER_RECORD_REFUSALS: too large, a timestamp out of
   * the topic's range, failed broker validation) does not fail the rest: a refused request is split in halves
   * until the refused records are alone (O(refused × log n) requests), each is handed to `onRefused`, and the
   * others are sent. Order is kept among the records sent. Any other error is thrown as send() throws it.
   */
  async sendIsolating(topic: string, records: OutRecord[], onRefused: (record: OutRecord, err: Error) => void): Promise<void> {
    try {
      await this.send(topic, records);
    } catch (err) {
      if (!isPerRecordRefusal(err)) throw err;
      if (records.length === 1) return onRefused(records[0]!, err as Error);
      const mid = records.length >>> 1;
      await this.sendIsolating(topic, records.slice(0, mid), onRefused);
      await this.sendIsolating(topic, records.slice(mid), onRefused);
    }
  }

  private async sendRequest(topic: string, records: OutRecord[]): Promise<void> {
    await this.producer.send({
      topic,
      acks: -1,
      messages: records.map((r) => ({ key: r.key, value: r.value, ...(r.partition !== undefined ? { partition: r.partition } : {}), ...(r.timestamp !== undefined ? { timestamp: String(r.timestamp) } : {}), ...(r.headers ? { headers: r.headers } : {}) })),
    });
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

/**
 * Kafka errors that refuse a record for what it is, not for the state of the cluster: retrying never helps,
 * and one such record must not stop the others (kafkajs error types, protocol/error.js).
 */
export const PER_RECORD_REFUSALS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_TIMESTAMP', 'INVALID_RECORD']);

/** True when `err` (or a cause kafkajs wrapped it in) is one of PER_RECORD_REFUSALS. */
export function isPerRecordRefusal(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined; e && typeof e === 'object' && !seen.has(e); e = (e.cause ?? e.originalError) as typeof e) {
    seen.add(e);
    if (typeof e.type === 'string' && PER_RECORD_REFUSALS.has(e.type)) return true;
  }
  return false;
}

/** Approximate bytes a record adds to a request (key, value, headers, and ~70 bytes of framing). */
function sizeOf(r: OutRecord): number {
  let n = 70 + r.value.length + (r.key === null ? 0 : typeof r.key === 'string' ? Buffer.byteLength(r.key) : r.key.length);
  if (r.headers) for (const [k, v] of Object.entries(r.headers)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** Routes kafkajs's logs into ours. (ingest/kafka.ts has its twin: components do not import each other.) */
function kafkaLogCreator(log: Log) {
  const l = log.child({ component: 'kafkajs-producer' });
  return () =>
    ({ level, log: { message, ...rest } }: LogEntry) =>
      level <= logLevel.ERROR && !String(message).startsWith('Response ') ? l.error(rest, message) : level <= logLevel.WARN ? l.warn(rest, message) : l.debug(rest, message);
}
