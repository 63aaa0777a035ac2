/**
 * The Kafka sink against the real broker: a send larger than the broker's message.max.bytes (1 MiB by
 * default) goes out in several requests, all acknowledged, in order — one request of it would be refused
 * (MESSAGE_TOO_LARGE) and retried for ever. Stored batches' fraud events and dead letters are such sends.
 */
import { Kafka, logLevel } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { expect, inject, it } from 'vitest';
import { ensureTopic, topicEndOffsets } from '../ingest/kafka.js';
import { KafkaSink } from '../sinks/kafka.js';
import { quietLog, uniqueName } from './helpers.js';

const brokers = inject('kafkaBrokers');

it('a 4 MB send to one partition is split below the broker limit and lands whole, in order', async () => {
  const topic = uniqueName('sink-large');
  await ensureTopic(brokers, topic, 1, quietLog);
  const records = Array.from({ length: 4000 }, (_, i) => ({ key: `k${i}`, value: Buffer.concat([Buffer.from(`${i}:`), randomBytes(1000)]) }));
  const sink = new KafkaSink({ brokers, clientId: 'test-sink', log: quietLog });
  await sink.connect();
  try {
    await sink.send(topic, records);
  } finally {
    await sink.disconnect();
  }
  expect([...(await topicEndOffsets(brokers, topic, quietLog)).values()]).toEqual([4000n]);

  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}-reader` });
  const keys: string[] = [];
  let same = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const i = keys.length;
        keys.push(message.key!.toString());
        if (message.value!.equals(records[i]!.value)) same++;
        if (keys.length === records.length) resolve();
      },
    });
  });
  await consumer.disconnect();
  expect(keys).toEqual(records.map((r) => r.key));
  expect(same).toBe(records.length);
}, 60_000);
