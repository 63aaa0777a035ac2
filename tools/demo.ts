/**
 * `cdr-pipeline demo`: the main job end to end on embedded defaults. Starts a local Kafka broker unless
 * KAFKA_BROKERS is set, produces synthetic CDRs (plus a few corrupt records), runs the pipeline into embedded
 * ClickHouse until everything produced is stored, and prints what it stored.
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FraudAlert, Log } from '../schemas/index.js';
import { ensureTopic } from '../ingest/kafka.js';
import { startLocalBroker, type LocalBroker } from './local/broker.js';
import { kafkaConnection, kafkaSecurity, type Config } from '../pipeline/config.js';
import { startPipeline, type Pipeline } from '../pipeline/app.js';
import { readAlerts } from '../pipeline/fraud.js';
import { produceTraffic } from '../simulators/produce.js';

export interface DemoOptions {
  records: number;
  corrupt: number;
  seed: number;
  dataDir: string;
  timeoutMs: number;
}

/** A decimal string with at least two decimals (ClickHouse prints Decimal without trailing zeros). */
function cents(d: string): string {
  const [i, f = ''] = d.split('.');
  return `${i}.${f.padEnd(2, '0')}`;
}

/** Waits for the detector to catch up with the day, then prints its alerts per rule (docs/FRAUD.md). */
async function printFraud(p: Pipeline, deadline: number, print: (line: string) => void): Promise<void> {
  const fraud = p.fraud!;
  // Caught up twice in a row a second apart: the last batches' events are published just after their rows.
  for (let stable = 0; stable < 2; ) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the fraud detector to catch up');
    stable = (await fraud.caughtUp()) ? stable + 1 : 0;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const alerts = await readAlerts(p.conn);
  print('');
  print(`Fraud alerts raised in the stream (${alerts.length}; one per entity, rule and episode, in fraud_alerts and on the alerts topic):`);
  const byRule = new Map<string, FraudAlert[]>();
  for (const a of alerts) byRule.set(a.rule, [...(byRule.get(a.rule) ?? []), a]);
  for (const [rule, as] of [...byRule].sort(([a], [b]) => a.localeCompare(b))) {
    const micros = (a: FraudAlert) => BigInt(a.exposure.replace('.', ''));
    const top = as.reduce((m, a) => (micros(a) > micros(m) ? a : m));
    print(`  ${rule.padEnd(28)} ${String(as.length).padStart(3)}   e.g. ${top.entityKind} ${top.entity} ${top.severity}, exposure ${cents(top.exposure)} ${top.currency}, ${top.evidence.counts.events ?? 0} records`);
  }
}

export async function runDemo(cfg: Config, o: DemoOptions, log: Log, print: (line: string) => void): Promise<{ stored: number; deadLetters: number; produced: number; corrupt: number }> {
  const dataDir = resolve(o.dataDir);
  let broker: LocalBroker | undefined;
  let brokers = cfg.kafka.brokers;
  if (brokers.length === 0) {
    print('Starting a local Apache Kafka broker (set KAFKA_BROKERS to use your own cluster)...');
    broker = await startLocalBroker({ dir: join(dataDir, 'kafka'), log });
    brokers = broker.brokers;
  }
  // A fresh topic, group and database per run, so the counts printed are this run's.
  const runId = Date.now().toString(36);
  const topic = `${cfg.kafka.topic}.demo-${runId}`;
  const chPath = cfg.clickhouse.mode === 'embedded' ? join(dataDir, 'clickhouse') : cfg.clickhouse.path;
  if (cfg.clickhouse.mode === 'embedded') rmSync(chPath, { recursive: true, force: true });
  const runCfg: Config = {
    ...cfg,
    kafka: { ...cfg.kafka, brokers, topic, groupId: `${cfg.kafka.groupId}-demo-${runId}`, fromBeginning: true },
    // The run's own fraud topics too: the broker's data directory outlives a run.
    fraud: { ...cfg.fraud, eventsTopic: `${cfg.fraud.eventsTopic}.demo-${runId}`, alertsTopic: cfg.fraud.alertsTopic && `${cfg.fraud.alertsTopic}.demo-${runId}` },
    clickhouse: { ...cfg.clickhouse, path: chPath },
  };
  try {
    await ensureTopic(kafkaConnection(runCfg), topic, cfg.kafka.partitions, log);
    // A realistic day (clean traffic plus every labelled fraud scenario) and the reference data it implies.
    const referenceDir = join(dataDir, 'reference');
    const subscribers = Math.max(500, Math.round(o.records / 11));
    const startMs = Date.UTC(2026, 9, 5, 23); // Tuesday 6 October 2026, 00:00 Europe/London
    print(`Producing up to ${o.records} CDRs of one day's traffic (${subscribers} subscribers, every fraud scenario; CDR contract v3, calls and data sessions longer than 15 min as partial records) + ${o.corrupt} corrupt records to ${topic} on ${brokers.join(',')}...`);
    const t0 = Date.now();
    const produced = await produceTraffic({ brokers, security: kafkaSecurity(runCfg), topic, records: o.records, corrupt: o.corrupt, seed: o.seed, subscribers, startMs, endMs: startMs + 86_400_000, scenarios: 'all', referenceDir, partialIntervalMs: 15 * 60_000, log });
    print(`  produced ${produced.produced} CDRs in ${((Date.now() - t0) / 1000).toFixed(1)} s; reference data in ${referenceDir}`);
    runCfg.rating = { ...cfg.rating, referenceDir };
    print(`Running the pipeline (Kafka -> decode -> ClickHouse ${cfg.clickhouse.mode})...`);
    const t1 = Date.now();
    const p = await startPipeline(runCfg, log);
    let stored = 0;
    let dead = 0;
    try {
      const deadline = Date.now() + o.timeoutMs;
      for (;;) {
        const [row] = await p.conn.query<{ cdrs: string; dead: string }>('SELECT (SELECT count() FROM cdrs FINAL) AS cdrs, (SELECT count() FROM dead_letters FINAL) AS dead');
        stored = Number(row?.cdrs ?? 0);
        dead = Number(row?.dead ?? 0);
        if (stored >= produced.produced && dead >= produced.corrupt) break;
        if (Date.now() > deadline) throw new Error(`timed out after ${o.timeoutMs} ms: ${stored}/${produced.produced} CDRs and ${dead}/${produced.corrupt} dead letters stored`);
        await Promise.race([new Promise((r) => setTimeout(r, 500)), p.done]);
      }
      const secs = (Date.now() - t1) / 1000;
      print(`  stored in ${secs.toFixed(1)} s (${Math.round(produced.produced / secs)} CDR/s end to end, including start-up)`);
      print('');
      print('What ClickHouse holds now:');
      const byType = await p.conn.query<{ event_type: string; records: string; minutes: string }>(
        'SELECT event_type, count() AS records, round(sum(billable_ms) / 60000, 1) AS minutes FROM cdrs FINAL GROUP BY event_type ORDER BY event_type',
      );
      for (const r of byType) print(`  ${r.event_type.padEnd(10)} ${String(r.records).padStart(9)} records ${String(r.minutes).padStart(12)} billable minutes`);
      const dl = await p.conn.query<{ code: string; n: string }>('SELECT code, count() AS n FROM dead_letters FINAL GROUP BY code ORDER BY code');
      for (const r of dl) print(`  dead letter ${r.code.padEnd(24)} ${r.n}`);
      print('');
      print('Rated with the bundled tariff book (exact decimals, GBP):');
      const rated = await p.conn.query<{ service: string; status: string; n: string; revenue: string }>(
        "SELECT rating_service AS service, toString(rating_status) AS status, count() AS n, toString(sum(cost_total)) AS revenue FROM cdrs FINAL GROUP BY service, status ORDER BY service, status",
      );
      for (const r of rated) print(`  ${r.service.padEnd(10)} ${r.status.padEnd(8)} ${String(r.n).padStart(9)} CDRs ${r.revenue.padStart(14)}`);
      const [unrated] = await p.conn.query<{ n: string }>("SELECT count() AS n FROM cdrs FINAL WHERE rating_status != 'RATED'");
      print(`  unrated CDRs: ${unrated?.n ?? '?'}`);
      if (p.fraud) await printFraud(p, deadline, print);
      print('');
      print(`CDRs produced: ${produced.produced}`);
      print(`CDRs stored in ClickHouse: ${stored}`);
      print(`Corrupt records produced: ${produced.corrupt}; dead letters stored: ${dead}`);
      print(stored === produced.produced && dead === produced.corrupt ? 'OK: every record is accounted for, none twice.' : 'MISMATCH: see the counts above.');
    } finally {
      await p.stop();
    }
    return { stored, deadLetters: dead, produced: produced.produced, corrupt: produced.corrupt };
  } finally {
    await broker?.stop();
  }
}
