/**
 * `cdr-pipeline eval fraud`: the generator's labelled scenarios through the real pipeline — Kafka broker,
 * decode, rating, fraud-events repartition topic, detector, alerts in ClickHouse — scored against the labels
 * (tools/eval/fraud-score.ts). Records are produced in release order, as switches write them (a CDR exists
 * when the call ends), so time to detect is honest traffic time.
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Log } from '../../schemas/index.js';
import { cdrCodec } from '../../schemas/index.js';
import { ensureTopic } from '../../ingest/kafka.js';
import { KafkaSink, type OutRecord } from '../../sinks/kafka.js';
import { startLocalBroker, type LocalBroker } from '../local/broker.js';
import type { Config } from '../../pipeline/config.js';
import { startPipeline } from '../../pipeline/app.js';
import { readAlerts } from '../../pipeline/fraud.js';
import { scoreFraud, type FraudScore } from './fraud-score.js';
import { microsOf } from '../../enrich/fraud/index.js';
import { EVAL_PARTIAL_INTERVAL_MS, releaseOrder } from './fraud-offline.js';

export interface FraudEvalOptions {
  seed: number;
  subscribers: number;
  startMs: number;
  days: number;
  scenarios: readonly string[] | 'all';
  params: Record<string, string>;
  dataDir: string;
  timeoutMs: number;
  /**
   * Partitions of the evaluation's CDR and fraud-events topics (default kafka.partitions). The traffic is
   * produced first and read as a backlog, so with several partitions the consumer reads each hours of
   * traffic apart; one partition delivers the records in release order, as a live pipeline sees them.
   */
  partitions?: number;
  /** Partial records (CDR contract v3) every this many ms of a long call or session; default EVAL_PARTIAL_INTERVAL_MS, 0 = off. */
  partialIntervalMs?: number;
  /** Home country of the generated operator (GB default, DE); DE is rated with its derived tariff book. */
  homeCountry?: string;
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
  // A configuration may lie in the future (held-out-a is March 2027): the decoder refuses records released more
  // than decode.maxFutureSkewMs ahead of the wall clock (FUTURE_TIMESTAMP), and the fraud service applies the same
  // limit to event times. The simulated traffic is the "present" of the evaluation, so the limit covers its window.
  const trafficEndMs = o.startMs + o.days * 86_400_000;
  const maxFutureSkewMs = Math.max(cfg.decode.maxFutureSkewMs, trafficEndMs - Date.now() + 86_400_000);
  const runCfg: Config = {
    ...cfg,
    decode: { ...cfg.decode, maxFutureSkewMs },
    kafka: { ...cfg.kafka, brokers, partitions: o.partitions ?? cfg.kafka.partitions, topic: `${cfg.kafka.topic}.eval-${runId}`, groupId: `${cfg.kafka.groupId}-eval-${runId}`, fromBeginning: true, deadLetterTopic: '' },
    clickhouse: { ...cfg.clickhouse, path: chPath },
    rating: { ...cfg.rating, referenceSource: 'files', referenceDir },
    fraud: { ...cfg.fraud, enabled: true, eventsTopic: `${cfg.fraud.eventsTopic}.eval-${runId}`, alertsTopic: cfg.fraud.alertsTopic === '' ? '' : `${cfg.fraud.alertsTopic}.eval-${runId}`, groupId: '' },
  };
  try {
    const { createTraffic, writeReference } = await import('../../simulators/traffic/index.js');
    const { writeHomeTariffs } = await import('../../simulators/traffic/tariffs.js');
    const endMs = o.startMs + o.days * 86_400_000;
    const traffic = createTraffic({ seed: o.seed, subscribers: o.subscribers, startMs: o.startMs, endMs, scenarios: o.scenarios, params: o.params, homeCountry: o.homeCountry ?? 'GB', partialIntervalMs: o.partialIntervalMs ?? EVAL_PARTIAL_INTERVAL_MS });
    writeReference(referenceDir, traffic.reference());
    // Another home country is rated with its own tariff book (national ranges, currency, time bands).
    const tariffFile = writeHomeTariffs(referenceDir, traffic.plan);
    if (tariffFile !== null) runCfg.rating = { ...runCfg.rating, tariffFile };
    await ensureTopic(brokers, runCfg.kafka.topic, runCfg.kafka.partitions, log);
    print(`Producing ${o.days} days of traffic of ${o.subscribers} subscribers with the scenarios ${o.scenarios === 'all' ? 'all' : o.scenarios.join(', ')} (seed ${o.seed}), in release order, to ${runCfg.kafka.partitions} partition(s)...`);
    const t0 = Date.now();
    const codec = cdrCodec();
    const sink = new KafkaSink({ brokers, clientId: 'cdr-pipeline-eval', log });
    await sink.connect();
    let produced = 0;
    try {
      let batch: OutRecord[] = [];
      let bytes = 0;
      for (const cdr of releaseOrder(traffic.records())) {
        const value = codec.encode(cdr);
        batch.push({ key: cdr.servedMsisdn, value });
        bytes += value.length + cdr.servedMsisdn.length;
        produced++;
        // Sent in slices of ~512 KiB so the whole week is never in memory (the sink keeps requests below the
        // broker's message.max.bytes itself).
        if (bytes >= 512 * 1024) {
          await sink.send(runCfg.kafka.topic, batch);
          batch = [];
          bytes = 0;
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
      const counter = async (m: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> }, pred: (l: Record<string, unknown>) => boolean = () => true) =>
        (await m.get()).values.filter((v) => pred(v.labels)).reduce((a, v) => a + v.value, 0);
      // Progress from the pipeline's own counters (rows ClickHouse acknowledged, events published and
      // detected), printed every 30 s so a long run shows where it is; ClickHouse is counted once at the end.
      let last = -1;
      let stableSince = Date.now();
      let lastReport = Date.now();
      for (;;) {
        const stored = await counter(p.metrics.sinkRows, (l) => l.table === 'cdrs');
        const published = await counter(p.metrics.fraudEventsPublished);
        const consumed = p.fraud?.stats.events ?? 0;
        if (Date.now() - lastReport >= 30_000) {
          lastReport = Date.now();
          print(`  ${((Date.now() - t1) / 1000).toFixed(0)} s: ${stored}/${produced} CDRs stored, ${consumed}/${published} fraud events through the detector`);
        }
        if (stored >= produced && consumed >= published) {
          if (consumed !== last) {
            last = consumed;
            stableSince = Date.now();
          } else if (Date.now() - stableSince > 3000) break;
        }
        if (Date.now() > deadline) throw new Error(`timed out after ${o.timeoutMs} ms: ${stored}/${produced} CDRs stored, ${consumed}/${published} fraud events processed`);
        await Promise.race([new Promise((r) => setTimeout(r, 500)), p.done]);
      }
      const [row] = await p.conn.query<{ n: string }>('SELECT count() AS n FROM cdrs FINAL');
      if (Number(row?.n ?? 0) !== produced) throw new Error(`ClickHouse holds ${row?.n ?? 0} CDRs, ${produced} were produced`);
      const seconds = (Date.now() - t1) / 1000;
      print(`  done in ${seconds.toFixed(1)} s`);
      const alerts = await readAlerts(p.conn);
      const ids = new Set(labels.flatMap((l) => l.recordIds));
      // Per call: the parts of a call (contract v3 partial records) share its record id; its cost is theirs summed.
      const rows = await p.conn.query<{ id: string; rel: string; cost: string }>("SELECT record_id AS id, toString(max(toUnixTimestamp64Milli(release_time))) AS rel, toString(sum(cost_total)) AS cost FROM cdrs FINAL WHERE rating_status = 'RATED' AND cost_total > 0 GROUP BY record_id");
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
  out.push(`Alerts: ${alerts} (${score.truePositives} on labelled entities, ${score.falseAlerts.length} false = ${score.falseAlertsPer10kPerDay.toFixed(2)} per 10,000 subscribers per day)`);
  const byRule: Record<string, number> = {};
  for (const a of score.falseAlerts) byRule[a.rule] = (byRule[a.rule] ?? 0) + 1;
  if (score.falseAlerts.length) out.push(`False alerts by rule: ${Object.entries(byRule).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  // Each false alert with its evidence, so a threshold change can be judged against what fired.
  for (const a of [...score.falseAlerts].sort((x, y) => x.firstSeen - y.firstSeen).slice(0, 20)) {
    const counts = Object.entries(a.evidence.counts).map(([k, v]) => `${k}=${v}`).join(' ');
    const facts = Object.entries(a.evidence.facts).map(([k, v]) => `${k}=${v}`).join(' ');
    out.push(`  false: ${a.rule} ${a.entityKind}:${a.entity} ${new Date(a.firstSeen).toISOString().slice(0, 16)}Z..${new Date(a.lastSeen).toISOString().slice(0, 16)}Z exposure ${a.exposure} | ${counts} | ${facts}`);
  }
  const missed = score.scenarios.flatMap((s) => s.missed.map((m) => `${s.scenario} ${m}`));
  if (missed.length) out.push(`Missed: ${missed.slice(0, 20).join('; ')}`);
  return out;
}
