/**
 * Starts one real Apache Kafka broker for the whole test run (tools/local/broker.ts), unless KAFKA_BROKERS
 * points at a running cluster. A broker that cannot start fails the run with the reason; no test is
 * skipped silently. Tests read the bootstrap address with inject('kafkaBrokers').
 * Alongside it, one real schema registry (Apicurio Registry, tools/local/registry.ts) unless SCHEMA_REGISTRY_URL
 * points at one; tests read its Confluent-compatible base URL with inject('schemaRegistryUrl').
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalBroker, type LocalBroker } from '../tools/local/broker.js';
import { startLocalRegistry, type LocalRegistry } from '../tools/local/registry.js';
import { createLogger } from '../pipeline/telemetry.js';

let broker: LocalBroker | undefined;
let registry: LocalRegistry | undefined;

export default async function setup(project: TestProject) {
  // Started in parallel with the broker; awaited after it.
  const registryDir = process.env.SCHEMA_REGISTRY_URL ? undefined : mkdtempSync(join(tmpdir(), 'cdr-test-registry-'));
  const registryStarting = registryDir ? startLocalRegistry({ dir: registryDir, log: createLogger('warn'), startTimeoutMs: 120_000 }) : undefined;
  registryStarting?.catch(() => undefined);
  let brokers = process.env.KAFKA_BROKERS?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
  if (brokers.length === 0) {
    const dir = mkdtempSync(join(tmpdir(), 'cdr-test-kafka-'));
    const started = Date.now();
    broker = await startLocalBroker({ dir, log: createLogger('warn'), startTimeoutMs: 120_000 }).catch(async (err: unknown) => {
      await registryStarting?.then((r) => r.stop(), () => undefined);
      throw err;
    });
    brokers = broker.brokers;
    process.stdout.write(`[global-setup] Apache Kafka broker ready at ${brokers.join(',')} in ${Date.now() - started} ms (${dir})\n`);
  } else {
    process.stdout.write(`[global-setup] using KAFKA_BROKERS=${brokers.join(',')}\n`);
  }
  project.provide('kafkaBrokers', brokers);
  let schemaRegistryUrl = process.env.SCHEMA_REGISTRY_URL ?? '';
  if (registryStarting) {
    try {
      registry = await registryStarting;
    } catch (err) {
      await broker?.stop();
      throw err;
    }
    schemaRegistryUrl = registry.url;
    process.stdout.write(`[global-setup] Apicurio Registry ready at ${schemaRegistryUrl} in ${registry.startMs} ms (${registryDir})\n`);
  } else {
    process.stdout.write(`[global-setup] using SCHEMA_REGISTRY_URL=${schemaRegistryUrl}\n`);
  }
  project.provide('schemaRegistryUrl', schemaRegistryUrl);
  return async () => {
    await Promise.all([broker?.stop(), registry?.stop()]);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
    schemaRegistryUrl: string;
  }
}
