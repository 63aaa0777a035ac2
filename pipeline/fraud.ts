/**
 * The fraud detector as a streaming service (issue #6), wired from existing components:
 *
 *   runner (after ClickHouse acknowledged a batch, before committing its offsets)
 *     -> keyer: rated CDR -> fraud events keyed by entity -> fraud-events topic (repartition)
 *   KafkaSource(fraud-events, group <group>-fraud) -> Detector -> alert versions
 *     -> alerts topic (Avro, key alertId) and ClickHouse fraud_alerts (ReplacingMergeTree on version)
 *     -> commit the partition's LOW WATERMARK: the oldest event any live window still needs.
 *
 * State survives restarts and reassignment without a checkpoint: whoever owns a fraud-events partition
 * reads it from its committed low watermark, so the windows are rebuilt from Kafka; open alerts are
 * restored from ClickHouse so an episode continues under the same alertId and versions already stored
 * are not published again. Everything is deterministic per entity (windows use record times), so a replay
 * produces the same alert ids and versions.
 */
import avro from 'avsc';
import { readFileSync } from 'node:fs';
import type { FetchedBatch, FraudAlert, FraudEvent, Log, SourcedCdr } from '../schemas/index.js';
import { schemaPath } from '../schemas/index.js';
import { Detector, loadRuleBook, type FraudKeyer } from '../enrich/fraud/index.js';
import { KafkaSource, ensureTopic, topicEndOffsets } from '../ingest/kafka.js';
import { KafkaSink } from '../sinks/kafka.js';
import type { ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { epochMsToCh } from '../sinks/clickhouse/rows.js';
import type { Config } from './config.js';
import type { Metrics } from './telemetry.js';

let eventType: avro.Type | undefined;
let alertType: avro.Type | undefined;
const types = () => {
  eventType ??= avro.Type.forSchema(JSON.parse(readFileSync(schemaPath('avro', 'fraud-event.avsc'), 'utf8')) as avro.Schema);
  alertType ??= avro.Type.forSchema(JSON.parse(readFileSync(schemaPath('avro', 'fraud-alert.avsc'), 'utf8')) as avro.Schema);
  return { eventType, alertType };
};

export function encodeFraudEvent(e: FraudEvent): Buffer {
  return types().eventType.toBuffer(e);
}
export function decodeFraudEvent(b: Buffer): FraudEvent {
  return types().eventType.fromBuffer(b) as FraudEvent;
}
export function encodeFraudAlert(a: FraudAlert): Buffer {
  return types().alertType.toBuffer(a);
}
export function decodeFraudAlert(b: Buffer): FraudAlert {
  return types().alertType.fromBuffer(b) as FraudAlert;
}

/** The fraud_alerts row of an alert version. */
export function alertRow(a: FraudAlert): Record<string, unknown> {
  return {
    alert_id: a.alertId,
    version: a.version,
    rule: a.rule,
    fraud_type: a.fraudType,
    entity_kind: a.entityKind,
    entity: a.entity,
    severity: a.severity,
    score: a.score,
    status: a.status,
    first_seen: epochMsToCh(a.firstSeen),
    last_seen: epochMsToCh(a.lastSeen),
    detected_at: epochMsToCh(a.detectedAt),
    window_start: epochMsToCh(a.windowStart),
    window_end: epochMsToCh(a.windowEnd),
    exposure: a.exposure,
    currency: a.currency,
    record_ids: a.evidence.recordIds,
    counts: a.evidence.counts,
    facts: a.evidence.facts,
    events_partition: a.eventsPartition,
    events_offset: a.eventsOffset,
  };
}

const ms = (s: string) => Date.parse(s.includes('T') ? `${s}Z` : `${s.replace(' ', 'T')}Z`);

/** Alerts as stored (latest version of each). */
export async function readAlerts(conn: ClickHouseConnection, where = '1'): Promise<FraudAlert[]> {
  const rows = await conn.query<Record<string, unknown>>(
    `SELECT alert_id, version, rule, fraud_type, entity_kind, entity, severity, score, status, toString(first_seen) AS first_seen, toString(last_seen) AS last_seen, toString(detected_at) AS detected_at, toString(window_start) AS window_start, toString(window_end) AS window_end, toString(exposure) AS exposure, currency, record_ids, counts, facts, events_partition, toString(events_offset) AS events_offset FROM fraud_alerts FINAL WHERE ${where} ORDER BY detected_at, alert_id`,
  );
  return rows.map((r) => ({
    alertId: String(r.alert_id),
    version: Number(r.version),
    rule: String(r.rule),
    fraudType: r.fraud_type as FraudAlert['fraudType'],
    entityKind: r.entity_kind as FraudAlert['entityKind'],
    entity: String(r.entity),
    severity: r.severity as FraudAlert['severity'],
    score: Number(r.score),
    status: r.status as FraudAlert['status'],
    firstSeen: ms(String(r.first_seen)),
    lastSeen: ms(String(r.last_seen)),
    detectedAt: ms(String(r.detected_at)),
    windowStart: ms(String(r.window_start)),
    windowEnd: ms(String(r.window_end)),
    exposure: String(r.exposure),
    currency: String(r.currency),
    evidence: { recordIds: r.record_ids as string[], counts: Object.fromEntries(Object.entries(r.counts as Record<string, unknown>).map(([k, v]) => [k, Number(v)])), facts: r.facts as Record<string, string> },
    eventsPartition: Number(r.events_partition),
    eventsOffset: Number(r.events_offset),
  }));
}

/** Publishes the fraud events of a stored batch (the runner calls it before committing the batch). */
export class FraudEventPublisher {
  private readonly producer: KafkaSink;
  constructor(
    private readonly topic: string,
    brokers: string[],
    clientId: string,
    private readonly keyer: () => FraudKeyer,
    private readonly metrics: Metrics,
    log: Log,
  ) {
    this.producer = new KafkaSink({ brokers, clientId: `${clientId}-fraud-events`, log: log.child({ component: 'fraud-events' }) });
  }
  connect(): Promise<void> {
    return this.producer.connect();
  }
  async publish(cdrs: SourcedCdr[]): Promise<void> {
    const key = this.keyer();
    const out: { key: string; value: Buffer }[] = [];
    const byGroup: Record<string, number> = {};
    for (const sc of cdrs) {
      for (const e of key(sc)) {
        out.push({ key: `${e.group}:${e.key}`, value: encodeFraudEvent(e) });
        byGroup[e.group] = (byGroup[e.group] ?? 0) + 1;
      }
    }
    // A stored batch of 50,000 CDRs yields megabytes of events: the sink sends them in requests below the
    // broker's message.max.bytes.
    await this.producer.send(this.topic, out);
    for (const [g, n] of Object.entries(byGroup)) this.metrics.fraudEventsPublished.inc({ group: g }, n);
  }
  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

export interface FraudServiceOptions {
  cfg: Config;
  conn: ClickHouseConnection;
  metrics: Metrics;
  log: Log;
}

/** Consumes the fraud-events topic, detects, publishes and stores alerts, commits low watermarks. */
export class FraudService {
  private readonly source: KafkaSource;
  private readonly alerts: KafkaSink | undefined;
  private readonly detector: Detector;
  private readonly owned = new Set<number>();
  /** Highest version of each alert already stored: a replay does not publish it again. */
  private readonly published = new Map<string, number>();
  private restoring: Promise<void> | undefined;
  private readonly log: Log;
  readonly stats = { events: 0, alertVersions: 0, commits: 0 };
  /** Per fraud-events partition: the next offset after the last batch processed (how far detection got). */
  readonly positions = new Map<number, bigint>();
  private stopped = false;

  constructor(private readonly o: FraudServiceOptions) {
    const { cfg } = o;
    this.log = o.log.child({ component: 'fraud' });
    this.detector = new Detector(loadRuleBook(cfg.fraud.rulesFile), { maxLatenessMs: cfg.fraud.maxLatenessMinutes * 60_000 });
    this.source = new KafkaSource({
      brokers: cfg.kafka.brokers,
      clientId: `${cfg.kafka.clientId}-fraud`,
      groupId: cfg.fraud.groupId || `${cfg.kafka.groupId}-fraud`,
      topics: [cfg.fraud.eventsTopic],
      fromBeginning: true,
      sessionTimeoutMs: cfg.kafka.sessionTimeoutMs,
      heartbeatIntervalMs: cfg.kafka.heartbeatIntervalMs,
      maxBytesPerPartition: cfg.kafka.maxBytesPerPartition,
      maxWaitTimeMs: cfg.kafka.maxWaitTimeMs,
      minBytes: cfg.kafka.minBytes,
      log: this.log,
    });
    if (cfg.fraud.alertsTopic !== '') this.alerts = new KafkaSink({ brokers: cfg.kafka.brokers, clientId: `${cfg.kafka.clientId}-fraud-alerts`, log: this.log });
  }

  async start(onFatal: (err: Error) => void): Promise<void> {
    const { cfg } = this.o;
    await ensureTopic(cfg.kafka.brokers, cfg.fraud.eventsTopic, cfg.kafka.partitions, this.log);
    // Every partition of the CDR topic feeds every fraud-events partition: the watermark waits for all of them.
    this.detector.setSources((await topicEndOffsets(cfg.kafka.brokers, cfg.kafka.topic, this.log)).size);
    if (this.alerts) {
      await ensureTopic(cfg.kafka.brokers, cfg.fraud.alertsTopic, 1, this.log);
      await this.alerts.connect();
    }
    await this.source.start((b) => this.onBatch(b), {
      onRebalance: () => {
        // Windows are rebuilt by the partitions' next owners from the committed low watermarks.
        this.detector.dropPartitions(() => false);
        this.owned.clear();
      },
      onAssigned: (a) => {
        // After every join kafkajs resumes each assigned partition from its committed offset (our low
        // watermark), also for partitions this member kept: so all in-memory state goes, and the replay
        // rebuilds it. Keeping it would be wrong when another member owned a partition in between (its
        // episodes moved on without us) — kafkajs does not announce every rejoin with REBALANCING.
        this.detector.dropPartitions(() => false);
        this.owned.clear();
        for (const p of a[cfg.fraud.eventsTopic] ?? []) this.owned.add(p);
        this.restoring = this.restore();
        this.restoring.catch(() => undefined); // onBatch awaits it and fails the batch; never an unhandled rejection
      },
      onCrash: onFatal,
    });
  }

  /** Open alerts from ClickHouse: episodes continue under their ids; stored versions are not re-sent. */
  private async restore(): Promise<void> {
    // Alerts whose episodes may still matter: open ones, and closed ones recent enough that their events
    // could be in a replayed window (so they neither reopen nor get published again).
    // Qualified: readAlerts selects toString(last_seen) AS last_seen, and the alias would shadow the column here.
    const stored = await readAlerts(this.o.conn, `fraud_alerts.last_seen > (SELECT max(last_seen) FROM fraud_alerts) - INTERVAL 30 DAY`);
    for (const a of stored) if ((this.published.get(a.alertId) ?? 0) < a.version) this.published.set(a.alertId, a.version);
    this.detector.restore(stored);
    this.log.info({ storedAlerts: stored.length, open: stored.filter((a) => a.status !== 'CLOSED').length, partitions: [...this.owned] }, 'fraud detector assigned; alerts restored');
  }

  private async onBatch(b: FetchedBatch): Promise<void> {
    if (this.stopped) return;
    if (this.restoring) await this.restoring;
    const t0 = performance.now();
    const out = new Map<string, FraudAlert>();
    let dup = this.detector.stats().duplicates;
    let late = this.detector.stats().late;
    for (const r of b.records) {
      if (!r.value) continue;
      let ev: FraudEvent;
      try {
        ev = decodeFraudEvent(r.value);
      } catch (err) {
        // Our own topic: a record we cannot read is a bug or a foreign producer; skip it loudly.
        this.log.error({ partition: b.partition, offset: r.offset, err: (err as Error).message }, 'unreadable fraud event skipped');
        continue;
      }
      for (const a of this.detector.process(b.partition, Number(r.offset), ev)) out.set(`${a.alertId}/${a.version}`, a);
    }
    for (const a of this.detector.sweep(b.partition)) out.set(`${a.alertId}/${a.version}`, a);
    const st = this.detector.stats();
    const m = this.o.metrics;
    m.fraudEventsProcessed.inc({ outcome: 'duplicate' }, st.duplicates - dup);
    m.fraudEventsProcessed.inc({ outcome: 'late' }, st.late - late);
    m.fraudEventsProcessed.inc({ outcome: 'ok' }, b.records.length - (st.duplicates - dup) - (st.late - late));
    dup = st.duplicates;
    late = st.late;
    m.fraudEntities.set(st.entities);
    m.fraudStateEvents.set(st.events);
    this.stats.events += b.records.length;
    if (out.size > 0) await this.publish([...out.values()]);
    m.fraudDetectDuration.observe((performance.now() - t0) / 1000);
    const next = BigInt(b.lastOffset) + 1n;
    if (next > (this.positions.get(b.partition) ?? 0n)) this.positions.set(b.partition, next);
    const low = this.detector.lowWatermark(b.partition, Number(next));
    await this.source.commit(b.topic, b.partition, String(low)).then(
      () => void this.stats.commits++,
      (err: Error) => this.log.warn({ partition: b.partition, err: err.message }, 'fraud-events commit failed; the next batch commits past it'),
    );
  }

  /** Topic first, then ClickHouse: a crash in between re-sends the same (alertId, version), never a new alert. */
  private async publish(all: FraudAlert[]): Promise<void> {
    const { cfg } = this.o;
    const alerts = all.filter((a) => a.version > (this.published.get(a.alertId) ?? 0));
    if (alerts.length === 0) return;
    let delay = cfg.sink.retryInitialMs;
    for (;;) {
      try {
        if (this.alerts) await this.alerts.send(cfg.fraud.alertsTopic, alerts.map((a) => ({ key: a.alertId, value: encodeFraudAlert(a), headers: { version: String(a.version) } })));
        await this.o.conn.insert('fraud_alerts', alerts.map((a) => JSON.stringify(alertRow(a))).join('\n'), { insert_deduplicate: 0 });
        break;
      } catch (err) {
        if (this.stopped) throw err;
        this.log.warn({ err: (err as Error).message, retryInMs: delay, alerts: alerts.length }, 'publishing fraud alerts failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, cfg.sink.retryMaxMs);
      }
    }
    for (const a of alerts) this.published.set(a.alertId, a.version);
    this.stats.alertVersions += alerts.length;
    for (const a of alerts) this.o.metrics.fraudAlerts.inc({ rule: a.rule, severity: a.severity, status: a.status });
    const opened = alerts.filter((a) => a.version === 1);
    if (opened.length) this.log.warn({ alerts: opened.map((a) => ({ rule: a.rule, entity: a.entity, severity: a.severity, exposure: a.exposure })) }, 'fraud alerts raised');
  }

  /** True once every fraud event published so far has been through the detector (for demos and evaluations). */
  async caughtUp(): Promise<boolean> {
    const end = await topicEndOffsets(this.o.cfg.kafka.brokers, this.o.cfg.fraud.eventsTopic, this.log);
    for (const [p, high] of end) if ((this.positions.get(p) ?? 0n) < high) return false;
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.source.stop();
    await this.alerts?.disconnect().catch(() => undefined);
  }
}
