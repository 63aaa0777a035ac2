/**
 * Builds the main job from a validated Config: ClickHouse connection (+ migrations), sink, Kafka source,
 * decoder, runner and the telemetry endpoint. `cdr-pipeline run`, the demo, the benchmark and the tests all
 * start the pipeline through here, so they run the same code.
 */
import { cdrCodec, schemaPath, type Log } from '../schemas/index.js';
import { KafkaSource } from '../ingest/kafka.js';
import { createDecoder } from '../enrich/decode.js';
import { openClickHouse, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import type { Config } from './config.js';
import { Runner } from './runner.js';
import { createMetrics, serveTelemetry, type Metrics } from './telemetry.js';

export interface Pipeline {
  runner: Runner;
  conn: ClickHouseConnection;
  metrics: Metrics;
  metricsPort: number | undefined;
  /** Settles when the runner stops: resolves after stop(), rejects on a fatal error. */
  done: Promise<void>;
  /** Graceful: flush, commit, leave the group, close ClickHouse and the telemetry endpoint. */
  stop(): Promise<void>;
}

export function connectClickHouse(cfg: Config): Promise<ClickHouseConnection> {
  const c = cfg.clickhouse;
  return c.mode === 'embedded'
    ? openClickHouse({ mode: 'embedded', path: c.path, database: c.database })
    : openClickHouse({ mode: 'server', url: c.url, username: c.username, password: c.password, database: c.database, requestTimeoutMs: c.requestTimeoutMs, createDatabase: true });
}

export async function applyMigrations(conn: ClickHouseConnection, log: Log) {
  const res = await migrate(conn, loadMigrations(schemaPath('ddl')));
  if (res.applied.length) log.info({ applied: res.applied }, 'migrations applied');
  return res;
}

export async function startPipeline(cfg: Config, log: Log, metrics: Metrics = createMetrics()): Promise<Pipeline> {
  if (cfg.kafka.brokers.length === 0) throw new Error('no Kafka brokers configured: set KAFKA_BROKERS (or kafka.brokers in the config file), or run `cdr-pipeline demo`, which starts a local broker');
  const conn = await connectClickHouse(cfg);
  if (cfg.clickhouse.migrateOnStart) await applyMigrations(conn, log);
  const sink = new ClickHouseSink(conn, {
    retryInitialMs: cfg.sink.retryInitialMs,
    retryMaxMs: cfg.sink.retryMaxMs,
    log: log.child({ component: 'clickhouse-sink' }),
    onInsert: (table, rows, seconds) => {
      metrics.sinkRows.inc({ table }, rows);
      metrics.sinkInsertDuration.observe({ table }, seconds);
    },
    onError: (table, err) => metrics.sinkErrors.inc({ table, class: err.errorClass }),
  });
  const source = new KafkaSource({
    brokers: cfg.kafka.brokers,
    clientId: cfg.kafka.clientId,
    groupId: cfg.kafka.groupId,
    topics: [cfg.kafka.topic],
    fromBeginning: cfg.kafka.fromBeginning,
    sessionTimeoutMs: cfg.kafka.sessionTimeoutMs,
    heartbeatIntervalMs: cfg.kafka.heartbeatIntervalMs,
    maxBytesPerPartition: cfg.kafka.maxBytesPerPartition,
    maxWaitTimeMs: cfg.kafka.maxWaitTimeMs,
    minBytes: cfg.kafka.minBytes,
    log: log.child({ component: 'kafka-source' }),
  });
  const decode = createDecoder(cdrCodec(), { maxFutureSkewMs: cfg.decode.maxFutureSkewMs, maxDurationMs: cfg.decode.maxDurationMs });
  const runner = new Runner(source, decode, sink, metrics, log.child({ component: 'runner' }), {
    maxBatchRows: cfg.sink.maxBatchRows,
    maxBatchBytes: cfg.sink.maxBatchBytes,
    flushIntervalMs: cfg.sink.flushIntervalMs,
    heartbeatIntervalMs: cfg.kafka.heartbeatIntervalMs,
  });
  const telemetry =
    cfg.telemetry.metricsPort >= 0
      ? await serveTelemetry(metrics, { live: () => true, ready: () => runner.ready }, cfg.telemetry.metricsHost, cfg.telemetry.metricsPort)
      : undefined;
  if (telemetry) log.info({ url: `http://${cfg.telemetry.metricsHost}:${telemetry.port}/metrics` }, 'telemetry endpoint listening');
  const done = runner.run();
  let stopping: Promise<void> | undefined;
  const closeAll = async () => {
    await telemetry?.close();
    await conn.close();
  };
  done.catch(() => void closeAll().catch(() => undefined));
  return {
    runner,
    conn,
    metrics,
    metricsPort: telemetry?.port,
    done,
    stop: () =>
      (stopping ??= (async () => {
        await runner.stop();
        await closeAll();
      })()),
  };
}
