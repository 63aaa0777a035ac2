/** The dead-letter wire contract (schemas/avro/dead-letter.avsc): what the dead-letter topic carries. */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { schemaPath, type DeadLetter } from './index.js';

let type: avro.Type | undefined;
const deadLetterType = () => (type ??= avro.Type.forSchema(JSON.parse(readFileSync(schemaPath('avro', 'dead-letter.avsc'), 'utf8')) as avro.Schema));

interface Wire {
  code: string;
  message: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  recordTimestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  deadAt: number;
}

export function encodeDeadLetter(d: DeadLetter, deadAt: number): Buffer {
  const wire: Wire = { code: d.code, message: d.message, sourceTopic: d.topic, sourcePartition: d.partition, sourceOffset: Number(d.offset), recordTimestamp: Math.floor(d.timestamp), key: d.key, value: d.value, deadAt };
  return deadLetterType().toBuffer(wire);
}

export function decodeDeadLetter(buf: Buffer): DeadLetter & { deadAt: number } {
  const w = deadLetterType().fromBuffer(buf) as Wire;
  return { code: w.code as DeadLetter['code'], message: w.message, topic: w.sourceTopic, partition: w.sourcePartition, offset: String(w.sourceOffset), timestamp: w.recordTimestamp, key: w.key, value: w.value, deadAt: w.deadAt };
}
