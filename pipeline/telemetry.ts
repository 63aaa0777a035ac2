/**
 * Telemetry: pino logs, prom-client metrics and the /metrics, /healthz, /readyz endpoint.
 * pino and prom-client are imported here only. Metric names follow Prometheus conventions
 * (base units, `_total` counters, bounded labels; never a phone number or IMSI as a label).
 */
import { Worker } from 'node:worker_threads';
import { pino, type Logger, type LoggerOptions } from 'pino';
import client from 'prom-client';
import type { Log } from '../schemas/index.js';
import { redactLogLine } from './redact.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, destination?: NodeJS.WritableStream): Logger & Log {
  const options: LoggerOptions = {
    level,
    base: { service: 'cdr-pipeline', ...bindings },
    // Subscriber identities never reach logs in clear at info level: any field with one of these names
    // is masked, wherever components put it. Debug logs go through the same redaction.
    redact: {
      paths: ['msisdn', 'imsi', 'imei', '*.msisdn', '*.imsi', '*.imei', 'servedMsisdn', 'servedImsi', '*.servedMsisdn', '*.servedImsi', 'callingNumber', 'calledNumber', '*.callingNumber', '*.calledNumber'],
      censor: '[redacted]',
    },
    // And by value: any MSISDN-, IMSI- or IMEI-shaped digit run anywhere in the serialised line (message,
    // nested objects, arrays, error stacks, kafkajs's fields) is masked too (pipeline/redact.ts).
    hooks: { streamWrite: redactLogLine },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // Logs go to stderr (fd 2) by default, so stdout carries only results (`report ... --format json` parses,
  // `| head` sees no log lines). Synchronous, like pino's default stdout destination, so nothing is lost when
  // the CLI exits right after its last line.
  return pino(options, destination ?? pino.destination({ dest: 2, sync: true })) as unknown as Logger & Log;
}

const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Every metric the pipeline exports; created once per process on its own registry. */
export function createMetrics(registry = new client.Registry()) {
  client.collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    sourceRecords: new client.Counter({ name: 'cdr_source_records_total', help: 'Records read from a source.', labelNames: ['topic'], registers: [registry] }),
    sourceBytes: new client.Counter({ name: 'cdr_source_bytes_total', help: 'Record value bytes read from a source.', labelNames: ['topic'], registers: [registry] }),
    stageRecords: new client.Counter({ name: 'cdr_stage_records_total', help: 'Records leaving a stage, by outcome.', labelNames: ['stage', 'outcome'], registers: [registry] }),
    stageDuration: new client.Histogram({ name: 'cdr_stage_batch_duration_seconds', help: 'Time a stage spent on one batch.', labelNames: ['stage'], buckets: SECONDS_BUCKETS, registers: [registry] }),
    deadLetters: new client.Counter({ name: 'cdr_dead_letters_total', help: 'Records sent to the dead-letter path, by error code.', labelNames: ['code'], registers: [registry] }),
    sinkRows: new client.Counter({ name: 'cdr_sink_rows_total', help: 'Rows acknowledged by ClickHouse.', labelNames: ['table'], registers: [registry] }),
    sinkInsertDuration: new client.Histogram({ name: 'cdr_sink_insert_duration_seconds', help: 'Duration of one acknowledged ClickHouse insert.', labelNames: ['table'], buckets: SECONDS_BUCKETS, registers: [registry] }),
    sinkErrors: new client.Counter({ name: 'cdr_sink_errors_total', help: 'Failed ClickHouse inserts, by error class (transient = retried).', labelNames: ['table', 'class'], registers: [registry] }),
    sinkBufferedRows: new client.Gauge({ name: 'cdr_sink_buffered_rows', help: 'Records consumed and not yet through their flush (buffered + in flight); bounded by sink.maxBufferedRows.', registers: [registry] }),
    sinkBufferedBytes: new client.Gauge({ name: 'cdr_sink_buffered_bytes', help: 'Source bytes of the records counted by cdr_sink_buffered_rows; bounded by sink.maxBufferedBytes.', registers: [registry] }),
    sinkBackpressure: new client.Gauge({ name: 'cdr_sink_backpressure', help: '1 while consumption is paused because the sink is behind (buffered + in-flight records over the budget).', registers: [registry] }),
    committedOffset: new client.Gauge({ name: 'cdr_source_committed_offset', help: 'Next offset committed to Kafka per partition (after the sink acknowledged).', labelNames: ['topic', 'partition'], registers: [registry] }),
    consumerLag: new client.Gauge({ name: 'cdr_source_lag_records', help: 'High watermark minus the committed offset, per partition (records not yet stored and committed).', labelNames: ['topic', 'partition'], registers: [registry] }),
    commitStalled: new client.Gauge({ name: 'cdr_source_commit_stalled_seconds', help: 'Seconds the committed offset of a partition has not moved while records wait on it (0 when nothing waits).', labelNames: ['topic', 'partition'], registers: [registry] }),
    lastProcessed: new client.Gauge({ name: 'cdr_last_record_processed_timestamp_seconds', help: 'Broker timestamp of the newest record acknowledged by the sink.', registers: [registry] }),
    ready: new client.Gauge({ name: 'cdr_pipeline_ready', help: '1 when the pipeline has joined its group and its sink is reachable.', registers: [registry] }),
    aggregateRefreshes: new client.Counter({ name: 'cdr_aggregate_refreshes_total', help: 'Periodic refreshes of the pre-aggregates (stale days recomputed), by outcome (ok, error).', labelNames: ['outcome'], registers: [registry] }),
    aggregateRefreshDuration: new client.Histogram({ name: 'cdr_aggregate_refresh_duration_seconds', help: 'Duration of one periodic refresh of the pre-aggregates (finding and recomputing the stale days).', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600], registers: [registry] }),
    aggregateRefreshedDays: new client.Counter({ name: 'cdr_aggregate_day_refreshes_total', help: 'UTC days of the pre-aggregates recomputed by the periodic refresh (one per day recomputed).', registers: [registry] }),
    aggregateLastSuccess: new client.Gauge({ name: 'cdr_aggregate_last_success_timestamp_seconds', help: 'When the periodic refresh last left every day of the pre-aggregates fresh (Unix seconds).', registers: [registry] }),
    fraudEventsPublished: new client.Counter({ name: 'cdr_fraud_events_published_total', help: 'Fraud events published to the repartition topic, by group (entity kind).', labelNames: ['group'], registers: [registry] }),
    fraudEventsProcessed: new client.Counter({ name: 'cdr_fraud_events_processed_total', help: 'Fraud events processed by the detector, by outcome (ok, duplicate, late).', labelNames: ['outcome'], registers: [registry] }),
    fraudAlerts: new client.Counter({ name: 'cdr_fraud_alerts_total', help: 'Alert versions published, by rule, severity and status (OPEN = a new alert).', labelNames: ['rule', 'severity', 'status'], registers: [registry] }),
    fraudEntities: new client.Gauge({ name: 'cdr_fraud_state_entities', help: 'Entities with detector state (windows or open episodes).', registers: [registry] }),
    fraudStateEvents: new client.Gauge({ name: 'cdr_fraud_state_events', help: 'Events held in detector windows.', registers: [registry] }),
    fraudDetectDuration: new client.Histogram({ name: 'cdr_fraud_detect_duration_seconds', help: 'Detector time per fetched batch of fraud events.', buckets: SECONDS_BUCKETS, registers: [registry] }),
    fraudRefused: new client.Counter({ name: 'cdr_fraud_refused_total', help: 'Fraud events and alert versions the detector refused as poison (never retried), by code (docs/ERRORS.md).', labelNames: ['code'], registers: [registry] }),
    fraudOutOfOrder: new client.Counter({ name: 'cdr_fraud_events_out_of_order_total', help: 'Fraud events the detector could not put in release order (a source lagging beyond the hold, or the held-events bound): results may then depend on arrival order.', registers: [registry] }),
    fraudHeldEvents: new client.Gauge({ name: 'cdr_fraud_held_events', help: 'Fraud events held by the detector until every source has gone past them (release order).', registers: [registry] }),
    // Usage notifications (pipeline/notifications.ts; `measure` is one of enrich/notify MEASURES).
    notifyCrossings: new client.Counter({ name: 'cdr_usage_notification_crossings_total', help: 'Threshold crossings a check found with no stored notification yet, by measure (a crossing another detector stores first is counted here but not as published).', labelNames: ['measure'], registers: [registry] }),
    notifyPublished: new client.Counter({ name: 'cdr_usage_notifications_published_total', help: 'Usage notifications this process published and marked published, by measure.', labelNames: ['measure'], registers: [registry] }),
    notifyRepublished: new client.Counter({ name: 'cdr_usage_notifications_republished_total', help: 'Outbox notifications a crash left unpublished that recovery published at start, because the topic lacked them.', registers: [registry] }),
    notifyRecovered: new client.Counter({ name: 'cdr_usage_notifications_recovered_total', help: 'Outbox notifications a crash left unpublished that recovery completed at start (republished or found on the topic), then marked published.', registers: [registry] }),
    notifyErrors: new client.Counter({ name: 'cdr_usage_notification_errors_total', help: 'Failed usage notification runs, by phase (recover, check); retried at the next interval.', labelNames: ['phase'], registers: [registry] }),
    notifyCheckDuration: new client.Histogram({ name: 'cdr_usage_notification_check_duration_seconds', help: 'Duration of one successful usage notification check (finding, storing and publishing the new crossings).', buckets: SECONDS_BUCKETS, registers: [registry] }),
  };
  return m;
}
export type Metrics = ReturnType<typeof createMetrics>;

export interface Health {
  /** Liveness: the process loop is running. */
  live(): boolean;
  /** Readiness: consuming and the sink is reachable. */
  ready(): boolean;
}

export interface TelemetryServer {
  port: number;
  close(): Promise<void>;
}

export interface TelemetryOptions {
  /** /healthz fails once the main event loop has not ticked for this long (default 30 s). */
  livenessTimeoutMs?: number;
  /** How long /metrics and /readyz wait for the main thread before answering 503 (default 5 s). */
  mainTimeoutMs?: number;
}

/**
 * The HTTP server runs in a worker thread, so /healthz answers even when the main thread is blocked (a
 * decoder in a long synchronous loop): the main thread writes a heartbeat into shared memory every 250 ms and
 * the worker fails /healthz once it is older than livenessTimeoutMs. /metrics and /readyz are asked of the main
 * thread (the registry and the runner live there) and answer 503 when it does not reply in time.
 * The worker is plain JavaScript evaluated from a string: it runs the same from source (tests) and dist/.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const beat = new BigInt64Array(workerData.sab);
const waiting = new Map();
let seq = 0;
const server = http.createServer((req, res) => {
  const url = req.url || '/';
  if (url.startsWith('/healthz')) {
    const age = Date.now() - Number(Atomics.load(beat, 0));
    const live = Atomics.load(beat, 1) === 1n;
    const ok = live && age <= workerData.livenessTimeoutMs;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ok ? 'ok\\n' : !live ? 'not live\\n' : 'main event loop blocked for ' + age + ' ms\\n');
    return;
  }
  const id = ++seq;
  const timer = setTimeout(() => {
    waiting.delete(id);
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('main thread not answering\\n');
  }, workerData.mainTimeoutMs);
  waiting.set(id, { res, timer });
  parentPort.postMessage({ type: 'request', id, url });
});
parentPort.on('message', (m) => {
  if (m.type === 'reply') {
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    clearTimeout(w.timer);
    w.res.writeHead(m.status, m.headers);
    w.res.end(m.body);
  } else if (m.type === 'close') {
    for (const w of waiting.values()) { clearTimeout(w.timer); w.res.destroy(); }
    waiting.clear();
    server.close(() => parentPort.postMessage({ type: 'closed' }));
    server.closeAllConnections();
  }
});
server.once('error', (err) => parentPort.postMessage({ type: 'error', message: String(err && err.message || err) }));
server.listen(workerData.port, workerData.host, () => parentPort.postMessage({ type: 'listening', port: server.address().port }));
`;

/** Serves /metrics, /healthz and /readyz from a worker thread (see WORKER_SOURCE). Port 0 picks a free port (tests). */
export async function serveTelemetry(metrics: Metrics, health: Health, host: string, port: number, opts: TelemetryOptions = {}): Promise<TelemetryServer> {
  const sab = new SharedArrayBuffer(16);
  const beat = new BigInt64Array(sab);
  const tick = () => {
    Atomics.store(beat, 0, BigInt(Date.now()));
    Atomics.store(beat, 1, health.live() ? 1n : 0n);
  };
  tick();
  const ticker = setInterval(tick, 250);
  ticker.unref();
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sab, host, port, livenessTimeoutMs: opts.livenessTimeoutMs ?? 30_000, mainTimeoutMs: opts.mainTimeoutMs ?? 5_000 } });
  const reply = (id: number, status: number, headers: Record<string, string>, body: string) => worker.postMessage({ type: 'reply', id, status, headers, body });
  worker.on('message', (m: { type: string; id: number; url: string }) => {
    if (m.type !== 'request') return;
    if (m.url.startsWith('/metrics')) {
      metrics.registry.metrics().then(
        (body) => reply(m.id, 200, { 'content-type': metrics.registry.contentType }, body),
        (err: unknown) => reply(m.id, 500, { 'content-type': 'text/plain' }, String(err)),
      );
    } else if (m.url.startsWith('/readyz')) {
      const ok = health.ready();
      reply(m.id, ok ? 200 : 503, { 'content-type': 'text/plain' }, ok ? 'ready\n' : 'not ready\n');
    } else {
      reply(m.id, 404, {}, '');
    }
  });
  const bound = await new Promise<number>((resolve, reject) => {
    const onMessage = (m: { type: string; port?: number; message?: string }) => {
      if (m.type === 'listening') resolve(m.port!);
      else if (m.type === 'error') reject(new Error(`telemetry endpoint ${host}:${port}: ${m.message}`));
      else return;
      worker.off('message', onMessage);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
  }).catch(async (err: Error) => {
    clearInterval(ticker);
    await worker.terminate();
    throw err;
  });
  let closing: Promise<void> | undefined;
  return {
    port: bound,
    close: () =>
      (closing ??= (async () => {
        clearInterval(ticker);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2000);
          worker.on('message', (m: { type: string }) => {
            if (m.type === 'closed') {
              clearTimeout(t);
              resolve();
            }
          });
          worker.postMessage({ type: 'close' });
        });
        await worker.terminate();
      })()),
  };
}
