/**
 * The traffic the fraud-event block tests publish (test/fraud-event-blocks.test.ts, test/fraud-blocks-hostile.test.ts):
 * 26 hours of 300 subscribers with five fraud scenarios, rated and keyed once, spread over `sources` CDR
 * partitions and cut into stored batches as the runner publishes them; plus an embedded ClickHouse with the
 * migrations, the CDR topic and a pipeline configuration for the fraud service.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schemaPath, type FraudEvent, type SourcedCdr } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { createFraudKeyer } from '../enrich/fraud/index.js';
import { partitionOf, releaseOrder } from '../tools/eval/fraud-offline.js';
import { ensureTopic } from '../ingest/kafka.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { chPath, quietLog } from './helpers.js';

const HOUR = 3_600_000;

export interface BlocksFixture {
  conn: ClickHouseConnection;
  base: Config;
  /** Stored batches as the runner publishes them: one source's consecutive CDRs each, sources interleaved. */
  batches: SourcedCdr[][];
  /** Each CDR's events, keyed once (the keyer keeps per-line sightings: keying twice would differ). */
  eventsOf: Map<SourcedCdr, FraudEvent[]>;
}

export async function openBlocksFixture(brokers: string[], name: string, sources: number, parts: number): Promise<BlocksFixture> {
  const batches: SourcedCdr[][] = [];
  const eventsOf = new Map<SourcedCdr, FraudEvent[]>();
  const dir = mkdtempSync(join(tmpdir(), 'fraud-blocks-'));
  try {
    const start = Date.UTC(2026, 9, 5);
    const traffic = createTraffic({ seed: 29, subscribers: 300, startMs: start, endMs: start + 26 * HOUR, scenarios: ['wangiri', 'pbx-hack', 'cf-hijack', 'a-calls-a', 'irsf'] });
    writeReference(dir, traffic.reference());
    const stage = createRatingStage(dir, '');
    const keyer = createFraudKeyer(stage.reference, stage.rating.normaliser);
    const next = new Array<number>(sources).fill(0);
    const scs: SourcedCdr[] = [...releaseOrder(traffic.records())].map((cdr) => {
      const p = partitionOf(cdr.servedMsisdn, sources);
      return { cdr, topic: name, partition: p, offset: String(next[p]!++) };
    });
    stage.rateBatch(scs);
    for (const sc of scs) eventsOf.set(sc, keyer(sc));
    // Batches of varying size (some large enough that a partition's events span several blocks), sources
    // taken in turn, so each fraud-events partition interleaves them.
    const bySource = Array.from({ length: sources }, (_, s) => scs.filter((sc) => sc.partition === s));
    const sizes = [400, 7000, 1200, 90];
    for (let round = 0, left = true; left; round++) {
      left = false;
      for (let s = 0; s < sources; s++) {
        const b = bySource[s]!.splice(0, sizes[(round + s) % sizes.length]!);
        if (b.length > 0) batches.push(b);
        if (bySource[s]!.length > 0) left = true;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const conn = await openEmbedded({ path: chPath(), database: name });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  await ensureTopic(brokers, name, sources, quietLog); // the CDR topic: the detector's sources
  const b = loadConfig({ env: {} });
  const base: Config = {
    ...b,
    kafka: { ...b.kafka, brokers, topic: name, groupId: name, partitions: parts, deadLetterTopic: '', sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
    fraud: { ...b.fraud, enabled: true, alertsTopic: '', groupId: '' },
    sink: { ...b.sink, retryInitialMs: 50, retryMaxMs: 200 },
  };
  return { conn, base, batches, eventsOf };
}
