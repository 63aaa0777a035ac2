/**
 * Telemetry: pino logs, prom-client metrics and the /metrics, /healthz, /readyz endpoint.
 * pino and prom-client are imported here only. Metric names follow Prometheus conventions
 * (base units, `_total` counters, bounded labels; never a phone number or IMSI as a label).
 */
import { createServer, type Server } from 'node:http';
import { pino, type Logger, type LoggerOptions } from 'pino';
import client from 'prom-client';
import type { Log } from '../schemas/index.js';

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
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return (destination ? pino(options, destination) : pino(options)) as unknown as Logger & Log;
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
    sinkBufferedRows: new client.Gauge({ name: 'cdr_sink_buffered_rows', help: 'Rows waiting in sink buffers (not yet acknowledged).', registers: [registry] }),
    sinkBackpressure: new client.Gauge({ name: 'cdr_sink_backpressure', help: '1 while consumption waits for the sink to accept data.', registers: [registry] }),
    committedOffset: new client.Gauge({ name: 'cdr_source_committed_offset', help: 'Next offset committed to Kafka per partition (after the sink acknowledged).', labelNames: ['topic', 'partition'], registers: [registry] }),
    consumerLag: new client.Gauge({ name: 'cdr_source_lag_records', help: 'High watermark minus the last fetched offset, per partition.', labelNames: ['topic', 'partition'], registers: [registry] }),
    lastProcessed: new client.Gauge({ name: 'cdr_last_record_processed_timestamp_seconds', help: 'Broker timestamp of the newest record acknowledged by the sink.', registers: [registry] }),
    ready: new client.Gauge({ name: 'cdr_pipeline_ready', help: '1 when the pipeline has joined its group and its sink is reachable.', registers: [registry] }),
    aggregateRefreshes: new client.Counter({ name: 'cdr_aggregate_refreshes_total', help: 'Periodic refreshes of the pre-aggregates (stale days recomputed), by outcome (ok, error).', labelNames: ['outcome'], registers: [registry] }),
    aggregateRefreshDuration: new client.Histogram({ name: 'cdr_aggregate_refresh_duration_seconds', help: 'Duration of one periodic refresh of the pre-aggregates (finding and recomputing the stale days).', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600], registers: [registry] }),
    aggregateRefreshedDays: new client.Counter({ name: 'cdr_aggregate_refreshed_days_total', help: 'UTC days of the pre-aggregates recomputed by the periodic refresh.', registers: [registry] }),
    aggregateLastSuccess: new client.Gauge({ name: 'cdr_aggregate_last_success_timestamp_seconds', help: 'When the periodic refresh last left every day of the pre-aggregates fresh (Unix seconds).', registers: [registry] }),
    fraudEventsPublished: new client.Counter({ name: 'cdr_fraud_events_published_total', help: 'Fraud events published to the repartition topic, by group (entity kind).', labelNames: ['group'], registers: [registry] }),
    fraudEventsProcessed: new client.Counter({ name: 'cdr_fraud_events_processed_total', help: 'Fraud events processed by the detector, by outcome (ok, duplicate, late).', labelNames: ['outcome'], registers: [registry] }),
    fraudAlerts: new client.Counter({ name: 'cdr_fraud_alerts_total', help: 'Alert versions published, by rule, severity and status (OPEN = a new alert).', labelNames: ['rule', 'severity', 'status'], registers: [registry] }),
    fraudEntities: new client.Gauge({ name: 'cdr_fraud_state_entities', help: 'Entities with detector state (windows or open episodes).', registers: [registry] }),
    fraudStateEvents: new client.Gauge({ name: 'cdr_fraud_state_events', help: 'Events held in detector windows.', registers: [registry] }),
    fraudDetectDuration: new client.Histogram({ name: 'cdr_fraud_detect_duration_seconds', help: 'Detector time per fetched batch of fraud events.', buckets: SECONDS_BUCKETS, registers: [registry] }),
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

/** Serves /metrics, /healthz and /readyz. Port 0 picks a free port (tests). */
export async function serveTelemetry(metrics: Metrics, health: Health, host: string, port: number): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/metrics')) {
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
      return;
    }
    if (url.startsWith('/healthz')) {
      const ok = health.live();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not live\n');
      return;
    }
    if (url.startsWith('/readyz')) {
      const ok = health.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : 'not ready\n');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    server,
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
