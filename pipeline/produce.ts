/**
 * Publishes generated CDRs to Kafka as Avro, keyed by served subscriber (so one subscriber's records stay in
 * order on one partition). Optionally mixes in corrupt records of several kinds, for demos and tests of the
 * dead-letter path. Used by `cdr-pipeline generate`, the demo, the benchmark and the tests.
 */
import { cdrCodec, type Cdr, type Log } from '../schemas/index.js';
import { generateCdrs, prng, type GeneratorOptions } from '../ingest/generator.js';
import { KafkaSink, type OutRecord } from '../sinks/kafka.js';

export interface ProduceOptions {
  brokers: string[];
  topic: string;
  records: number;
  /** Corrupt records added on top of `records` (not counted in it). */
  corrupt: number;
  generator: GeneratorOptions;
  chunk?: number;
  log: Log;
}

export interface ProduceResult {
  produced: number;
  corrupt: number;
  recordIds: string[];
}

/** The corruptions a switch or a network actually produces: truncation, garbage, empty, semantic nonsense. */
export function corruptRecord(i: number, good: Buffer, cdr: Cdr): { value: Buffer; kind: string } {
  const codec = cdrCodec();
  switch (i % 5) {
    case 0:
      return { value: good.subarray(0, Math.max(1, good.length >> 1)), kind: 'truncated' };
    case 1:
      return { value: Buffer.from('this is not avro \u0000\u00ff garbage'), kind: 'garbage' };
    case 2:
      return { value: Buffer.alloc(0), kind: 'empty' };
    case 3:
      return { value: codec.encode({ ...cdr, releaseTime: cdr.seizureTime - 1000 }), kind: 'release-before-seizure' };
    default:
      return { value: codec.encode({ ...cdr, durationMs: -5 }), kind: 'negative-duration' };
  }
}

export async function produceCdrs(o: ProduceOptions): Promise<ProduceResult> {
  const codec = cdrCodec();
  const sink = new KafkaSink({ brokers: o.brokers, clientId: 'cdr-pipeline-generator', log: o.log });
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
      const value = codec.encode(cdr);
      batch.push({ key: cdr.servedMsisdn, value });
      recordIds.push(cdr.recordId);
      if (corruptAt.has(n)) batch.push({ key: cdr.servedMsisdn, value: corruptRecord(bad++, value, cdr).value });
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
  return { produced: n, corrupt: bad, recordIds };
}
