/**
 * Kafka sink: publishes keyed records to a topic (the generator's CDRs; later alerts and dead letters).
 * Idempotent producer (acks=all), so a retried send is not duplicated by the broker.
 */
import { Kafka, Partitioners, logLevel, type LogEntry, type Producer } from 'kafkajs';
import type { Log } from '../schemas/index.js';

export interface KafkaSinkOptions {
  brokers: string[];
  clientId: string;
  log: Log;
}

export interface OutRecord {
  key: Buffer | string | null;
  value: Buffer;
  timestamp?: number;
  headers?: Record<string, string>;
}

export class KafkaSink {
  private readonly producer: Producer;

  constructor(opts: KafkaSinkOptions) {
    const kafka = new Kafka({ clientId: opts.clientId, brokers: opts.brokers, logLevel: logLevel.WARN, logCreator: kafkaLogCreator(opts.log) });
    // The default partitioner (murmur2, as the Java client) so keys land where Java producers put them.
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  async send(topic: string, records: OutRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.producer.send({
      topic,
      acks: -1,
      messages: records.map((r) => ({ key: r.key, value: r.value, ...(r.timestamp !== undefined ? { timestamp: String(r.timestamp) } : {}), ...(r.headers ? { headers: r.headers } : {}) })),
    });
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

/** Routes kafkajs's logs into ours. (ingest/kafka.ts has its twin: components do not import each other.) */
function kafkaLogCreator(log: Log) {
  const l = log.child({ component: 'kafkajs-producer' });
  return () =>
    ({ level, log: { message, ...rest } }: LogEntry) =>
      level <= logLevel.ERROR && !String(message).startsWith('Response ') ? l.error(rest, message) : level <= logLevel.WARN ? l.warn(rest, message) : l.debug(rest, message);
}
