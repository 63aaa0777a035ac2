/**
 * Publishes generated CDRs to Kafka as Avro, keyed by served subscriber (so one subscriber's records stay in
 * order on one partition). Optionally mixes in corrupt records of several kinds, for demos and tests of the
 * dead-letter path. Used by `cdr-pipeline generate`, the demo, the benchmark and the tests.
 */
import { avroSchemaText, CDR_SCHEMA_FILE, cdrCodec, type Cdr, type Log } from '../schemas/index.js';
import { confluentFrame, SchemaRegistryClient } from '../schemas/registry.js';
import { generateCdrs, prng, type GeneratorOptions } from './synthetic.js';
import { KafkaSink, type OutRecord } from '../sinks/kafka.js';
import type { KafkaSecurity } from '../schemas/security.js';

export interface ProduceOptions {
  brokers: string[];
  /** TLS and SASL of the cluster (kafka.ssl*, kafka.sasl*); absent = plaintext. */
  security?: KafkaSecurity | undefined;
  topic: string;
  records: number;
  /** Corrupt records added on top of `records` (not counted in it). */
  corrupt: number;
  generator: GeneratorOptions;
  chunk?: number;
  log: Log;
  /**
   * Publish in the Confluent wire format instead of bare Avro: the CDR schema (CDR_SCHEMA_FILE) is registered under `subject`
   * (default `<topic>-value`, Confluent's TopicNameStrategy) first and every value carries its id.
   */
  confluent?: { registryUrl: string; username?: string; password?: string; subject?: string };
}

export interface ProduceResult {
  produced: number;
  corrupt: number;
  recordIds: string[];
  /** The registered schema id, when publishing in the Confluent wire format. */
  schemaId?: number;
}

/** The corruptions a switch or a network actually produces: truncation, garbage, empty, semantic nonsense. */
export function corruptRecord(i: number, good: Buffer, cdr: Cdr, frame: (datum: Buffer) => Buffer = (d) => d): { value: Buffer; kind: string } {
  const codec = cdrCodec();
  switch (i % 9) {
    case 5:
      return { value: frame(codec.encode({ ...cdr, seizureTime: Date.now() + 86_400_000, answerTime: null, releaseTime: Date.now() + 86_400_000, durationMs: 0, billableMs: 0 })), kind: 'future-timestamp' };
    case 6:
      return { value: frame(codec.encode({ ...cdr, servedMsisdn: '44 79x-00' })), kind: 'malformed-number' };
    case 7:
      return { value: frame(codec.encode({ ...cdr, recordId: '' })), kind: 'missing-record-id' };
    case 8:
      return { value: Buffer.concat([good, Buffer.from([0x02, 0x04])]), kind: 'trailing-bytes' };
    case 0:
      return { value: good.subarray(0, Math.max(1, good.length >> 1)), kind: 'truncated' };
    case 1:
      return { value: Buffer.from('this is not avro \u0000\u00ff garbage'), kind: 'garbage' };
    case 2:
      return { value: Buffer.alloc(0), kind: 'empty' };
    case 3:
      return { value: frame(codec.encode({ ...cdr, releaseTime: cdr.seizureTime - 1000 })), kind: 'release-before-seizure' };
    case 4:
    default:
      return { value: frame(codec.encode({ ...cdr, durationMs: -5 })), kind: 'negative-duration' };
  }
}

export async function produceCdrs(o: ProduceOptions): Promise<ProduceResult> {
  const codec = cdrCodec();
  const sink = new KafkaSink({ brokers: o.brokers, security: o.security, clientId: 'cdr-pipeline-generator', log: o.log });
  let schemaId: number | undefined;
  let frame = (datum: Buffer) => datum;
  if (o.confluent) {
    const registry = new SchemaRegistryClient({ url: o.confluent.registryUrl, username: o.confluent.username, password: o.confluent.password, retryMaxMs: 2000, log: o.log });
    const id = (schemaId = await registry.register(o.confluent.subject ?? `${o.topic}-value`, avroSchemaText(CDR_SCHEMA_FILE), AbortSignal.timeout(60_000)));
    frame = (datum) => confluentFrame(id, datum);
  }
  await sink.connect();
  const chunk = o.chunk ?? 2000;
  const recordIds: string[] = [];
  // Corrupt records are spread through the stream at deterministic positions.
  const rnd = prng(o.generator.seed ^ 0x5eed);
  const corruptAt = new Set<number>();
  while (corruptAt.size < Math.min(o.corrupt, o.records)) corruptAt.add(Math.floor(rnd() * o.records));
  let batch: OutRecord[] = [];
  let n = 0;
  let bad = 0;
  try {
    for (const cdr of generateCdrs(o.generator, o.records)) {
      const value = frame(codec.encode(cdr));
      batch.push({ key: cdr.servedMsisdn, value });
      recordIds.push(cdr.recordId);
      if (corruptAt.has(n)) batch.push({ key: cdr.servedMsisdn, value: corruptRecord(bad++, value, cdr, frame).value });
      n++;
      if (batch.length >= chunk) {
        await sink.send(o.topic, batch);
        batch = [];
      }
    }
    await sink.send(o.topic, batch);
  } finally {
    await sink.disconnect();
  }
  return { produced: n, corrupt: bad, recordIds, ...(schemaId !== undefined ? { schemaId } : {}) };
}

export interface TrafficProduceOptions {
  brokers: string[];
  security?: KafkaSecurity | undefined;
  topic: string;
  /** At most this many CDRs (the traffic window may hold fewer). */
  records: number;
  corrupt: number;
  seed: number;
  subscribers: number;
  startMs: number;
  endMs: number;
  scenarios: 'all' | 'none' | string[];
  /** Writes the reference data the population implies here (docs/REFERENCE-DATA.md). */
  referenceDir: string;
  /** Long calls and data sessions as partial records every this many ms (CDR contract v3); 0 or absent: off. */
  partialIntervalMs?: number;
  log: Log;
}

/**
 * The realistic generator (simulators/traffic) published to Kafka: a population with clean traffic and labelled
 * fraud, its reference data written for rating, corrupt records mixed in at deterministic positions.
 */
export async function produceTraffic(o: TrafficProduceOptions): Promise<ProduceResult & { labels: number }> {
  const { createTraffic, writeReference } = await import('./traffic/index.js');
  const traffic = createTraffic({ seed: o.seed, subscribers: o.subscribers, startMs: o.startMs, endMs: o.endMs, scenarios: o.scenarios, partialIntervalMs: o.partialIntervalMs ?? 0 });
  writeReference(o.referenceDir, traffic.reference());
  const codec = cdrCodec();
  const sink = new KafkaSink({ brokers: o.brokers, security: o.security, clientId: 'cdr-pipeline-generator', log: o.log });
  await sink.connect();
  const rnd = prng(o.seed ^ 0x5eed);
  const corruptAt = new Set<number>();
  while (corruptAt.size < Math.min(o.corrupt, o.records)) corruptAt.add(Math.floor(rnd() * o.records));
  const recordIds: string[] = [];
  let batch: OutRecord[] = [];
  let n = 0;
  let bad = 0;
  try {
    for (const cdr of traffic.records()) {
      if (n >= o.records) break;
      const value = codec.encode(cdr);
      batch.push({ key: cdr.servedMsisdn, value });
      recordIds.push(cdr.recordId);
      if (corruptAt.has(n)) batch.push({ key: cdr.servedMsisdn, value: corruptRecord(bad++, value, cdr).value });
      n++;
      if (batch.length >= 2000) {
        await sink.send(o.topic, batch);
        batch = [];
      }
    }
    await sink.send(o.topic, batch);
  } finally {
    await sink.disconnect();
  }
  return { produced: n, corrupt: bad, recordIds, labels: traffic.labels().length };
}
