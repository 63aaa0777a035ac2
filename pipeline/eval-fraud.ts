/**
 * `cdr-pipeline eval fraud`: the generator's labelled scenarios through the real pipeline — Kafka broker,
 * decode, rating, fraud-events repartition topic, detector, alerts in ClickHouse — scored against the labels
 * (pipeline/fraud-score.ts). Records are produced in release order, as switches write them (a CDR exists
 * when the call ends), so time to detect is honest traffic time.
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Log } from '../schemas/index.js';
import { cdrCodec } from '../schemas/index.js';
import { ensureTopic } from '../ingest/kafka.js';
import { KafkaSink, type OutRecord } from '../sinks/kafka.js';
import { startLocalBroker, type LocalBroker } from './broker.js';
import type { Config } from './config.js';
import { startPipeline } from './app.js';
import { readAlerts } from './fraud.js';
import { scoreFraud, type FraudScore } from './fraud-score.js';
import { microsOf } from '../enrich/fraud/index.js';
import { releaseOrder } from './fraud-offline.js';

export interface FraudEvalOptions {
  seed: number;
  subscribers: number;
  startMs: number;
  days: number;
  scenarios: readonly string[] | 'all';
  params: Record<string, string>;
  dataDir: string;
  timeoutMs: number;
}

export interface FraudEvalResult {
  score: FraudScore;
  produced: number;
  alerts: number;
  seconds: number;
}

export async function runFraudEval(cfg: Config, o: FraudEvalOptions, log: Log, print: (line: string) => void): Promise<FraudEvalResult> {
  const dataDir = resolve(o.dataDir);
  let broker: LocalBroker | undefined;
  let brokers = cfg.kafka.brokers;
  if (brokers.length === 0) {
    print('Starting a local Apache Kafka broker (set KAFKA_BROKERS to use your own cluster)...');
    broker = await startLocalBroker({ dir: join(dataDir, 'kafka'), log });
    brokers = broker.brokers;
  }
  const runId = Date.now().toString(36);
  const chPath = cfg.clickhouse.mode === 'embedded' ? join(dataDir, 'clickhouse') : cfg.clickhouse.path;
  if (cfg.clickhouse.mode === 'embedded') rmSync(chPath, { recursive: true, force: true });
  const referenceDir = join(dataDir, 'reference');
  const runCfg: Config = {
    ...cfg,
    kafka: { ...cfg.kafka, brokers, topic: `${cfg.kafka.topic}.eval-${runId}`, groupId: `${cfg.kafka.groupId}-eval-${runId}`, fromBeginning: true, deadLetterTopic: '' },
    clickhouse: { ...cfg.clickhouse, path: chPath },
    rating: { ...cfg.rating, referenceSource: 'files', referenceDir },
    fraud: { ...cfg.fraud, enabled: true, eventsTopic: `${cfg.fraud.eventsTopic}.eval-${runId}`, alertsTopic: cfg.fraud.alertsTopic === '' ? '' : `${cfg.fraud.alertsTopic}.eval-${runId}`, groupId: '' },
  };
  try {
    const { createTraffic, writeReference } = await import('../ingest/traffic/index.js');
    const endMs = o.startMs + o.days * 86_400_000;
    const traffic = createTraffic({ seed: o.seed, subscribers: o.subscribers, startMs: o.startMs, endMs, scenarios: o.scenarios, params: o.params });
    writeReference(referenceDir, traffic.reference());
    await ensureTopic(brokers, runCfg.kafka.topic, cfg.kafka.partitions, log);
    print(`Producing ${o.days} days of traffic of ${o.subscribers} subscribers with the scenarios ${o.scenarios === 'all' ? 'all' : o.scenarios.join(', ')} (seed ${o.seed}), in release order...`);
    const t0 = Date.now();
    const codec = cdrCodec();
    const sink = new KafkaSink({ brokers, clientId: 'cdr-pipeline-eval', log });
    await sink.connect();
    let produced = 0;
    try {
      let batch: OutRecord[] = [];
      for (const cdr of releaseOrder(traffic.records())) {
        batch.push({ key: cdr.servedMsisdn, value: codec.encode(cdr) });
        produced++;
        if (batch.length >= 5000) {
          await sink.send(runCfg.kafka.topic, batch);
          batch = [];
        }
      }
      await sink.send(runCfg.kafka.topic, batch);
    } finally {
      await sink.disconnect();
    }
    const labels = traffic.labels();
    print(`  ${produced} CDRs in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${labels.length} labels`);
    print('Running the pipeline with fraud detection (Kafka -> decode -> rate -> ClickHouse; fraud events -> detector -> alerts)...');
    const t1 = Date.now();
    const p = await startPipeline(runCfg, log);
    try {
      const deadline = Date.now() + o.timeoutMs;
      let last = -1;
      let stableSince = Date.now();
      for (;;) {
        const [row] = await p.conn.query<{ n: string }>('SELECT count() AS n FROM cdrs FINAL');
        const stored = Number(row?.n ?? 0);
        const published = (await p.metrics.fraudEventsPublished.get()).values.reduce((a, v) => a + v.value, 0);
        const consumed = p.fraud?.stats.events ?? 0;
        if (stored >= produced && consumed >= published) {
          if (consumed !== last) {
            last = consumed;
            stableSince = Date.now();
          } else if (Date.now() - stableSince > 3000) break;
        }
        if (Date.now() > deadline) throw new Error(`timed out after ${o.timeoutMs} ms: ${stored}/${produced} CDRs stored, ${consumed}/${published} fraud events processed`);
        await Promise.race([new Promise((r) => setTimeout(r, 500)), p.done]);
      }
      const seconds = (Date.now() - t1) / 1000;
      print(`  done in ${seconds.toFixed(1)} s`);
      const alerts = await readAlerts(p.conn);
      const ids = new Set(labels.flatMap((l) => l.recordIds));
      const rows = await p.conn.query<{ id: string; rel: string; cost: string }>("SELECT record_id AS id, toString(toUnixTimestamp64Milli(release_time)) AS rel, toString(cost_total) AS cost FROM cdrs FINAL WHERE rating_status = 'RATED' AND cost_total > 0");
      const records = new Map<string, readonly [number, number]>();
      for (const r of rows) if (ids.has(r.id)) records.set(r.id, [Number(r.rel), microsOf(r.cost)]);
      const score = scoreFraud({ alerts, labels, lines: [...traffic.reference().lines()], records, subscribers: o.subscribers, days: o.days });
      for (const line of formatScore(score, alerts.length)) print(line);
      return { score, produced, alerts: alerts.length, seconds };
    } finally {
      await p.stop();
    }
  } finally {
    await broker?.stop();
  }
}

const money = (m: number) => (m / 1e6).toFixed(2);

export function formatScore(score: FraudScore, alerts: number): string[] {
  const out = [
    '',
    '| scenario | entities | detected | recall | alerts | false | precision | median time to detect | exposure before alert / total |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of score.scenarios) {
    out.push(`| ${s.scenario} | ${s.entities} | ${s.detected} | ${s.recall.toFixed(2)} | ${s.alerts} | ${s.falseAlerts} | ${s.precision.toFixed(2)} | ${s.medianTtdMinutes === null ? '-' : `${s.medianTtdMinutes.toFixed(1)} min`} | ${money(s.exposureBeforeMicros)} / ${money(s.exposureTotalMicros)} |`);
  }
  out.push('');
  out.push(`Alerts: ${alerts} (${score.truePositives} on labelled entities, ${score.falseAlerts.length} false = ${score.falseAlertRate.toFixed(3)} per 1,000 subscribers per day)`);
  const byRule: Record<string, number> = {};
  for (const a of score.falseAlerts) byRule[a.rule] = (byRule[a.rule] ?? 0) + 1;
  if (score.falseAlerts.length) out.push(`False alerts by rule: ${Object.entries(byRule).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const missed = score.scenarios.flatMap((s) => s.missed.map((m) => `${s.scenario} ${m}`));
  if (missed.length) out.push(`Missed: ${missed.slice(0, 20).join('; ')}`);
  return out;
}
