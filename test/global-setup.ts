/**
 * Starts one real Apache Kafka broker for the whole test run (pipeline/broker.ts), unless KAFKA_BROKERS
 * points at a running cluster. A broker that cannot start fails the run with the reason; no test is
 * skipped silently. Tests read the bootstrap address with inject('kafkaBrokers').
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalBroker, type LocalBroker } from '../pipeline/broker.js';
import { createLogger } from '../pipeline/telemetry.js';

let broker: LocalBroker | undefined;

export default async function setup(project: TestProject) {
  let brokers = process.env.KAFKA_BROKERS?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
  if (brokers.length === 0) {
    const dir = mkdtempSync(join(tmpdir(), 'cdr-test-kafka-'));
    const started = Date.now();
    broker = await startLocalBroker({ dir, log: createLogger('warn'), startTimeoutMs: 120_000 });
    brokers = broker.brokers;
    process.stdout.write(`[global-setup] Apache Kafka broker ready at ${brokers.join(',')} in ${Date.now() - started} ms (${dir})\n`);
  } else {
    process.stdout.write(`[global-setup] using KAFKA_BROKERS=${brokers.join(',')}\n`);
  }
  project.provide('kafkaBrokers', brokers);
  return async () => {
    await broker?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
  }
}
