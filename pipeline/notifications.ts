/**
 * Usage notifications beside the main job (issue #16 item 5; enrich/notify/README.md). The notifier reads what
 * the pipeline stored, never the batch path: every `notifications.intervalMs` it asks ClickHouse which
 * subscribers had rated CDRs stored since the last check, sums their billing period (cdrs FINAL: each CDR
 * once, whatever was replayed), and for every threshold reached that has no notification yet finds the record
 * that crossed it (enrich/notify, pure) and notifies:
 *
 *   1. outbox row in usage_notifications (state 1), deduplication token `notify:<id>:1`; read back: only the
 *      detector whose `owner` nonce was kept goes on (two detectors never both publish);
 *   2. publish to notifications.topic (Avro, key = notificationId, timestamp = detection time);
 *   3. row again with state 2 and published_at.
 *
 * Exactly once, across replays and restarts: the id is derived from subscriber, period, measure and
 * percentage, so a replayed CDR (collapsed by FINAL) or a re-run check finds the crossing already stored and
 * does nothing. A crash between 1 and 3 leaves state-1 rows: at start the notifier reads the topic's keys
 * since the oldest of them (ingest/kafka-scan.ts) and publishes only those the topic does not hold, then marks
 * them all published. State lives in ClickHouse alone; nothing is kept in memory across checks but the time
 * of the last one.
 */
import { randomUUID } from 'node:crypto';
import type { Log } from '../schemas/index.js';
import { avroCodec, type AvroCodec } from '../schemas/index.js';
import { ensureTopic } from '../ingest/kafka.js';
import { topicKeysSince } from '../ingest/kafka-scan.js';
import { KafkaSink } from '../sinks/kafka.js';
import { ClickHouseError, sqlString, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { epochMsToCh } from '../sinks/clickhouse/rows.js';
import {
  crossings,
  loadThresholds,
  lowestThresholds,
  MEASURES,
  notificationId,
  notificationsOf,
  reached,
  type Contribution,
  type Measure,
  type Thresholds,
  type UsageNotification,
  type Values,
} from '../enrich/notify/index.js';
import { parseMoney } from '../schemas/reference.js';
import { kafkaConnection, kafkaSecurity, type Config } from './config.js';
import type { Metrics } from './telemetry.js';

/**
 * How far before the last check's start the next one looks for stored rows: an insert's `_ingested_at` is
 * taken when it starts, so a slow insert can become visible after a check that began later. Checks are
 * idempotent, so the overlap costs only a little reading.
 */
export const OVERLAP_MS = 5 * 60_000;

/** The SQL of each measure, per CDR row of cdrs (our own lines only: visitors have no line_status). */
const MEASURE_SQL: Record<Measure, string> = {
  // Data used while roaming on another network (enrich/enrich.ts: roaming = serving PLMN is not home).
  'data-roaming-spend': `if(rating_service = 'data' AND roaming = 1, cost_total, toDecimal64(0, 6))`,
  // Billed milliseconds of outgoing calls to numbers of another country (enrich/normalise.ts categories).
  'international-minutes': `if(event_type IN ('VOICE_MO', 'VOICE_FWD') AND other_party_category = 'international', billed_usage, 0)`,
  'total-spend': `cost_total`,
};
const COLUMN: Record<Measure, string> = { 'data-roaming-spend': 'data_roaming_spend', 'international-minutes': 'international_ms', 'total-spend': 'total_spend' };

/** A measure's SQL value as internal units (micro-units or ms). */
function unitsOf(m: Measure, text: string | number): bigint {
  // Decimals and 64-bit integers arrive as JSON strings (connection.ts quotes them).
  return m === 'international-minutes' ? BigInt(text) : parseMoney(String(text), 6);
}

const RATED = `rating_status = 'RATED' AND line_status IS NOT NULL`;

export interface NotificationServiceOptions {
  cfg: Config;
  conn: ClickHouseConnection;
  log: Log;
  /** Called after each check (tests, metrics). */
  onCheck?: (r: { candidates: number; published: number; seconds: number }) => void;
  /** cdr_usage_notification* (pipeline/telemetry.ts); absent = no metrics. */
  metrics?: Pick<Metrics, 'notifyCrossings' | 'notifyPublished' | 'notifyRepublished' | 'notifyRecovered' | 'notifyErrors' | 'notifyCheckDuration'>;
}

/** The metric label of a notification's measure: the thresholds file's name of it (enrich/notify MEASURES). */
const measureLabel = (symbol: UsageNotification['measure']): Measure => symbol.toLowerCase().replaceAll('_', '-') as Measure;

export class NotificationService {
  private readonly thresholds: Thresholds;
  private readonly codec: AvroCodec<UsageNotification>;
  private readonly producer: KafkaSink | undefined;
  private readonly log: Log;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** ClickHouse time (ms) the last successful check started; undefined = check every stored period. */
  private since: number | undefined;
  private recovered = false;
  readonly stats = { checks: 0, published: 0, recovered: 0, republished: 0, errors: 0 };

  constructor(private readonly o: NotificationServiceOptions) {
    this.log = o.log.child({ component: 'notifications' });
    this.thresholds = loadThresholds(o.cfg.notifications.thresholdsFile);
    this.codec = avroCodec<UsageNotification>('usage-notification.avsc');
    const c = o.cfg;
    if (c.notifications.topic !== '' && c.kafka.brokers.length > 0) this.producer = new KafkaSink({ brokers: c.kafka.brokers, security: kafkaSecurity(c), clientId: `${c.kafka.clientId}-notifications`, log: this.log });
  }

  async start(): Promise<void> {
    const c = this.o.cfg;
    if (this.producer) {
      await ensureTopic(kafkaConnection(c), c.notifications.topic, c.kafka.partitions, this.log);
      await this.producer.connect();
    }
    this.log.info({ intervalMs: c.notifications.intervalMs, topic: c.notifications.topic, caps: this.thresholds.caps.map((x) => ({ measure: x.measure, pcts: x.pcts })) }, 'usage notifications on');
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      // The first run completes what a crash left in the outbox, then checks; until it succeeds, every run
      // starts with it (no check publishes before the outbox is clean). Never on the start-up path.
      let phase: 'recover' | 'check' = this.recovered ? 'check' : 'recover';
      const work = async () => {
        if (!this.recovered) {
          await this.recover();
          this.recovered = true;
        }
        phase = 'check';
        await this.check();
      };
      this.running = work()
        .catch((err: Error) => {
          this.stats.errors++;
          this.o.metrics?.notifyErrors.inc({ phase });
          this.log.error({ err: err.message, phase }, 'usage notification check failed; retried at the next interval');
        })
        .finally(() => {
          this.running = undefined;
          this.schedule(this.o.cfg.notifications.intervalMs);
        });
    }, ms);
    this.timer.unref?.();
  }

  /** One check: the subscribers with rated CDRs stored since the last, their new crossings, notified. */
  async check(): Promise<number> {
    const t0 = performance.now();
    const conn = this.o.conn;
    const [clock] = await conn.query<{ now: string }>(`SELECT toString(toUnixTimestamp64Milli(now64(3))) AS now`);
    const startedAt = Number(clock!.now);
    const low = lowestThresholds(this.thresholds);
    const having = MEASURES.filter((m) => low[m] !== undefined).map((m) => `${COLUMN[m]} >= ${m === 'international-minutes' ? String(low[m]) : `toDecimal128(${sqlString(formatMicros(low[m]!))}, 6)`}`);
    if (having.length === 0) return 0;
    const changed =
      this.since === undefined
        ? ''
        : `AND (served_msisdn, toStartOfMonth(seizure_time)) IN (SELECT DISTINCT served_msisdn, toStartOfMonth(seizure_time) FROM cdrs WHERE _ingested_at >= fromUnixTimestamp64Milli(${this.since - OVERLAP_MS}) AND ${RATED})`;
    const rows = await conn.query<{ msisdn: string; account_id: string; period: string; currency: string } & Record<string, string>>(
      `SELECT served_msisdn AS msisdn, any(ifNull(account_id, '')) AS account_id, formatDateTime(seizure_time, '%Y-%m', 'UTC') AS period, any(toString(currency)) AS currency,
              ${MEASURES.map((m) => `sum(${MEASURE_SQL[m]}) AS ${COLUMN[m]}`).join(', ')}
       FROM cdrs FINAL
       WHERE ${RATED} ${changed}
       GROUP BY msisdn, period
       HAVING ${having.join(' OR ')}`,
      { do_not_merge_across_partitions_select_final: 1 },
    );
    let published = 0;
    // The thresholds each candidate reached, less those already notified.
    const wanted = rows.map((r) => {
      const totals = Object.fromEntries(MEASURES.map((m) => [m, unitsOf(m, r[COLUMN[m]]!)])) as Values;
      return { r, reached: reached(totals, this.thresholds) };
    });
    const ids = wanted.flatMap((w) => w.reached.map((x) => notificationId(w.r.msisdn, w.r.period, x.measure, x.pct)));
    const known = await this.storedIds(ids);
    for (const w of wanted) {
      const fresh = w.reached.filter((x) => !known.has(notificationId(w.r.msisdn, w.r.period, x.measure, x.pct)));
      if (fresh.length === 0 || this.stopped) continue;
      const list = crossings(await this.contributions(w.r.msisdn, w.r.period), this.thresholds, fresh);
      for (const x of list) this.o.metrics?.notifyCrossings.inc({ measure: x.measure });
      const notes = notificationsOf(w.r.msisdn, w.r.account_id, w.r.period, list, this.thresholds, w.r.currency, startedAt);
      published += await this.notify(notes);
    }
    this.since = startedAt;
    this.stats.checks++;
    this.stats.published += published;
    const seconds = (performance.now() - t0) / 1000;
    this.o.metrics?.notifyCheckDuration.observe(seconds);
    this.o.onCheck?.({ candidates: rows.length, published, seconds });
    if (published > 0) this.log.info({ published, candidates: rows.length, seconds }, 'usage notifications published');
    return published;
  }

  private async storedIds(ids: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += 5000) {
      const chunk = ids.slice(i, i + 5000);
      for (const r of await this.o.conn.query<{ id: string }>(`SELECT notification_id AS id FROM usage_notifications WHERE notification_id IN (${chunk.map(sqlString).join(', ')})`)) out.add(r.id);
    }
    return out;
  }

  /** A subscriber's rated CDRs of a period, as contributions to each measure. */
  private async contributions(msisdn: string, period: string): Promise<Contribution[]> {
    const start = `toDateTime64(${sqlString(`${period}-01 00:00:00`)}, 3, 'UTC')`;
    const rows = await this.o.conn.query<{ t: string; record_id: string } & Record<string, string>>(
      `SELECT toString(toUnixTimestamp64Milli(seizure_time)) AS t, record_id, ${MEASURES.map((m) => `${MEASURE_SQL[m]} AS ${COLUMN[m]}`).join(', ')}
       FROM cdrs FINAL
       WHERE served_msisdn = ${sqlString(msisdn)} AND seizure_time >= ${start} AND seizure_time < addMonths(${start}, 1) AND ${RATED}`,
      { do_not_merge_across_partitions_select_final: 1 },
    );
    return rows.map((r) => ({ timeMs: Number(r.t), recordId: r.record_id, values: Object.fromEntries(MEASURES.map((m) => [m, unitsOf(m, r[COLUMN[m]]!)])) as Values }));
  }

  /** Outbox, publish, mark published: see the module comment. Returns how many this detector published. */
  private async notify(notes: readonly UsageNotification[]): Promise<number> {
    const mine: UsageNotification[] = [];
    for (const n of notes) {
      const owner = randomUUID();
      await this.retrying('storing a usage notification', () => this.o.conn.insert('usage_notifications', JSON.stringify(rowOf(n, 1, owner, null)) + '\n', { insert_deduplication_token: `notify:${n.notificationId}:1` }));
      const [stored] = await this.o.conn.query<{ owner: string; state: string }>(`SELECT owner, state FROM usage_notifications FINAL WHERE notification_id = ${sqlString(n.notificationId)}`);
      if (stored?.owner === owner && Number(stored.state) === 1) mine.push(n);
    }
    await this.publish(mine);
    return mine.length;
  }

  private async publish(notes: readonly UsageNotification[]): Promise<void> {
    if (notes.length === 0) return;
    const c = this.o.cfg;
    if (this.producer) {
      const records = notes.map((n) => ({ key: n.notificationId, value: this.codec.encode(n), timestamp: n.detectedAt }));
      await this.retrying('publishing usage notifications', () => this.producer!.send(c.notifications.topic, records));
    }
    const now = Date.now();
    await this.retrying('marking usage notifications published', () => this.o.conn.insert('usage_notifications', notes.map((n) => JSON.stringify(rowOf(n, 2, '', now))).join('\n') + '\n', { insert_deduplicate: 0 }));
    for (const n of notes) this.o.metrics?.notifyPublished.inc({ measure: measureLabel(n.measure) });
    // Ids, measures and percentages only: never the subscriber's number in a log.
    for (const n of notes) this.log.info({ notificationId: n.notificationId, measure: n.measure, thresholdPct: n.thresholdPct, period: n.period }, 'usage threshold crossed: notification published');
  }

  /** Outbox rows a crash left unpublished: publish those the topic lacks, then mark them all. */
  private async recover(): Promise<void> {
    const pending = await this.o.conn.query<Record<string, string>>(
      `SELECT notification_id, owner, msisdn, account_id, toString(period) AS period, toString(measure) AS measure, threshold_pct, cap, threshold, value, toString(unit) AS unit,
              toString(toUnixTimestamp64Milli(crossed_at)) AS crossed_at, record_id, toString(toUnixTimestamp64Milli(detected_at)) AS detected_at
       FROM usage_notifications FINAL WHERE state = 1 ORDER BY detected_at`,
      // Decimals as published: quoted, with their 6 decimals ("50.000000").
      { output_format_decimal_trailing_zeros: 1 },
    );
    if (pending.length === 0) return;
    const notes: UsageNotification[] = pending.map((r) => ({
      notificationId: r.notification_id!,
      msisdn: r.msisdn!,
      accountId: r.account_id!,
      period: r.period!,
      measure: r.measure as UsageNotification['measure'],
      thresholdPct: Number(r.threshold_pct),
      cap: r.cap!,
      threshold: r.threshold!,
      value: r.value!,
      unit: r.unit!,
      crossedAt: Number(r.crossed_at),
      recordId: r.record_id!,
      detectedAt: Number(r.detected_at),
    }));
    const c = this.o.cfg;
    const onTopic = this.producer ? await topicKeysSince(kafkaConnection(c), c.notifications.topic, Math.min(...notes.map((n) => n.detectedAt)) - 60_000, this.log) : new Set<string>();
    const missing = notes.filter((n) => !onTopic.has(n.notificationId));
    if (this.producer && missing.length > 0) await this.retrying('publishing usage notifications', () => this.producer!.send(c.notifications.topic, missing.map((n) => ({ key: n.notificationId, value: this.codec.encode(n), timestamp: n.detectedAt }))));
    const now = Date.now();
    await this.o.conn.insert('usage_notifications', notes.map((n) => JSON.stringify(rowOf(n, 2, '', now))).join('\n') + '\n', { insert_deduplicate: 0 });
    this.stats.recovered += notes.length;
    this.stats.republished += this.producer ? missing.length : 0;
    this.o.metrics?.notifyRecovered.inc(notes.length);
    if (this.producer) this.o.metrics?.notifyRepublished.inc(missing.length);
    this.log.warn({ pending: notes.length, alreadyOnTopic: notes.length - missing.length, published: missing.length }, 'usage notifications left unpublished by a crash: completed');
  }

  /** Transient failures are retried with backoff until they pass (or the service stops); the rest propagate. */
  private async retrying(what: string, f: () => Promise<void>): Promise<void> {
    const c = this.o.cfg;
    let delay = c.sink.retryInitialMs;
    for (;;) {
      try {
        await f();
        return;
      } catch (err) {
        if (this.stopped) throw err;
        if (err instanceof ClickHouseError && err.errorClass !== 'transient') throw err;
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, `${what} failed; retrying`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, c.sink.retryMaxMs);
      }
    }
  }

  /**
   * Stops checking; a check in flight gets up to sink.shutdownTimeoutMs to finish. One cut short is safe: what
   * it stored but did not publish is completed by the next start (the outbox), what it did not store is found again.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running?.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, this.o.cfg.sink.shutdownTimeoutMs)))]);
    clearTimeout(timer);
    await this.producer?.disconnect().catch(() => undefined);
  }
}

function formatMicros(v: bigint): string {
  const s = v.toString().padStart(7, '0');
  return `${s.slice(0, -6)}.${s.slice(-6)}`;
}

/** The usage_notifications row of a notification in a state (1 outbox, 2 published). */
function rowOf(n: UsageNotification, state: 1 | 2, owner: string, publishedMs: number | null): Record<string, unknown> {
  return {
    notification_id: n.notificationId,
    state,
    owner,
    msisdn: n.msisdn,
    account_id: n.accountId,
    period: n.period,
    measure: n.measure,
    threshold_pct: n.thresholdPct,
    cap: n.cap,
    threshold: n.threshold,
    value: n.value,
    unit: n.unit,
    crossed_at: epochMsToCh(n.crossedAt),
    record_id: n.recordId,
    detected_at: epochMsToCh(n.detectedAt),
    published_at: publishedMs === null ? null : epochMsToCh(publishedMs),
  };
}
