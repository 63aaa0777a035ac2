/**
 * Builds the main job from a validated Config: ClickHouse connection (+ migrations), sink, Kafka source,
 * decoder, runner and the telemetry endpoint. `cdr-pipeline run`, the demo, the benchmark and the tests all
 * start the pipeline through here, so they run the same code.
 */
import { cdrCodec, cdrReaderFor, schemaPath, SchemaIncompatibleError, type DeadLetter, type Log, type Source, type SourcedCdr } from '../schemas/index.js';
import { publishDeadLetters } from './dead-letter-topic.js';
import { watchRatingStage, type RatingBatchStage, type WatchedRatingStage } from '../enrich/rate/stage.js';
import { watchClickHouseRatingStage } from './reference-store.js';
import { KafkaSink } from '../sinks/kafka.js';
import { KafkaSource, ensureTopic, requireTopics } from '../ingest/kafka.js';
import { createFraudKeyer, type FraudKeyer } from '../enrich/fraud/index.js';
import { BLOCK_MAX_BYTES, FraudEventPublisher, FraudService, type PreparedFraudEvents } from './fraud.js';
import { readFileSync } from 'node:fs';
import { createConfluentDecoder, createDecoder, type Decoder } from '../enrich/decode.js';
import { SchemaRegistryClient } from '../schemas/registry.js';
import { openClickHouse, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { applyRetention, loadMigrations, migrate, type Retention } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import { AggregateRefresher } from '../reports/aggregates/aggregates.js';
import { ConfigError, kafkaConnection, kafkaSecurity, type Config } from './config.js';
import { redactUrl } from '../schemas/security.js';
import { Runner } from './runner.js';
import { NotificationService } from './notifications.js';
import { createMetrics, serveTelemetry, type Metrics } from './telemetry.js';

export interface Pipeline {
  runner: Runner;
  /** The fraud detector, when enabled (needs rating and Kafka). */
  fraud: FraudService | undefined;
  /** The periodic refresh of the pre-aggregates (aggregates.refreshIntervalMs > 0). */
  aggregates: AggregateRefresher | undefined;
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
    : openClickHouse({ mode: 'server', url: c.url, username: c.username, password: c.password, database: c.database, requestTimeoutMs: c.requestTimeoutMs, createDatabase: true, caFile: c.caFile, certFile: c.certFile, keyFile: c.keyFile });
}

/**
 * The decoder for `decode.format`: bare Avro of `decode.writerSchema` (read as the pipeline's CDR; resolved
 * once here, at start-up), or the Confluent wire format with writer schemas from the registry.
 */
export function buildDecoder(cfg: Config, log: Log): Decoder {
  const d = cfg.decode;
  const limits = { maxFutureSkewMs: d.maxFutureSkewMs, maxDurationMs: d.maxDurationMs, maxRecordBytes: d.maxRecordBytes, maxItems: d.maxItems, maxDepth: d.maxDepth, minTimestampMs: d.minTimestampMs, durationToleranceMs: d.durationToleranceMs };
  if (d.format === 'confluent') {
    const registry = new SchemaRegistryClient({ url: d.registryUrl, username: d.registryUsername, password: d.registryPassword, requestTimeoutMs: d.registryRequestTimeoutMs, log: log.child({ component: 'schema-registry' }) });
    return createConfluentDecoder({ ...limits, registry, log: log.child({ component: 'decode' }) });
  }
  if (d.writerSchema === '') return createDecoder(cdrCodec(), limits);
  try {
    return createDecoder(cdrReaderFor(readFileSync(d.writerSchema, 'utf8')), limits);
  } catch (err) {
    if (err instanceof SchemaIncompatibleError) throw new Error(`decode.writerSchema ${d.writerSchema}: ${err.message}`);
    throw err;
  }
}

/** Fails start-up on a registry configuration error (wrong URL or base path, credentials); a registry that is down only warns. */
async function probeRegistry(cfg: Config, log: Log): Promise<void> {
  const d = cfg.decode;
  const down = await new SchemaRegistryClient({ url: d.registryUrl, username: d.registryUsername, password: d.registryPassword, requestTimeoutMs: d.registryRequestTimeoutMs }).probe();
  if (down) log.warn({ registry: redactUrl(d.registryUrl), err: down.message }, 'schema registry not reachable at start-up; batches with new schema ids wait for it');
}

/** Migrations, then (when given: `migrate` and `run`) the retention TTLs of the configuration (retention.*). */
export async function applyMigrations(conn: ClickHouseConnection, log: Log, retention?: Retention) {
  const res = await migrate(conn, loadMigrations(schemaPath('ddl')));
  if (res.applied.length) log.info({ applied: res.applied }, 'migrations applied');
  if (retention) {
    const changed = await applyRetention(conn, retention);
    if (changed.length) log.info({ tables: changed, retention }, 'retention (TTL) applied');
  }
  return res;
}

/**
 * Starts the main job. The source is the Kafka topic of the config unless another Source is given (the
 * folder of container files of `cdr-pipeline ingest-files`).
 */
export async function startPipeline(cfg: Config, log: Log, metrics: Metrics = createMetrics(), sourceOverride?: Source): Promise<Pipeline> {
  if (!sourceOverride && cfg.kafka.brokers.length === 0) throw new ConfigError(['no Kafka brokers configured: set KAFKA_BROKERS (or kafka.brokers in the config file), or run `cdr-pipeline demo`, which starts a local broker']);
  const decode = buildDecoder(cfg, log);
  if (cfg.decode.format === 'confluent') await probeRegistry(cfg, log);
  // Rating: reference data and tariffs compiled once at start-up; without reference data CDRs are stored
  // NOT_RATED (never priced at zero) and `cdr-pipeline rerate` prices them later.
  let rateBatch: ((cdrs: SourcedCdr[]) => Record<string, number>) | undefined;
  let watcher: WatchedRatingStage | undefined;
  const onReload = (s: RatingBatchStage) => {
    for (const w of s.warnings) log.warn({ warning: w }, 'tariff book warning');
    log.info({ version: s.version, lines: s.reference.lines.length }, 'reference data and tariffs reloaded');
  };
  const onReloadError = (err: Error) => log.error({ err: err.message }, 'reference data or tariffs changed but do not load; the previous version stays in force');
  if (cfg.rating.referenceSource === 'files' && cfg.rating.referenceDir !== '') {
    watcher = watchRatingStage(cfg.rating.referenceDir, cfg.rating.tariffFile, cfg.rating.reloadIntervalMs, { onReload, onError: onReloadError });
    const stage = watcher.current();
    for (const w of stage.warnings) log.warn({ warning: w }, 'tariff book warning');
    log.info({ version: stage.version, lines: stage.reference.lines.length, referenceDir: cfg.rating.referenceDir, reloadIntervalMs: cfg.rating.reloadIntervalMs }, 'rating enabled');
    const w = watcher;
    rateBatch = (cdrs) => w.current().rateBatch(cdrs);
  } else if (cfg.rating.referenceSource === 'files') {
    log.warn({}, 'rating disabled: no rating.referenceDir (CDR_RATING_REFERENCE_DIR); CDRs are stored NOT_RATED');
  }
  const conn = await connectClickHouse(cfg);
  if (cfg.clickhouse.migrateOnStart) await applyMigrations(conn, log, cfg.retention);
  if (cfg.rating.referenceSource === 'clickhouse') {
    const w = await watchClickHouseRatingStage(conn, cfg.rating.tariffFile, cfg.rating.reloadIntervalMs, { onReload, onError: onReloadError });
    watcher = w;
    log.info({ version: w.current().version, reference: w.current().reference.dir }, 'rating enabled from reference data in ClickHouse');
    rateBatch = (cdrs) => w.current().rateBatch(cdrs);
  }
  const sink = new ClickHouseSink(conn, {
    retryInitialMs: cfg.sink.retryInitialMs,
    retryMaxMs: cfg.sink.retryMaxMs,
    format: cfg.sink.format,
    log: log.child({ component: 'clickhouse-sink' }),
    onInsert: (table, rows, seconds) => {
      metrics.sinkRows.inc({ table }, rows);
      metrics.sinkInsertDuration.observe({ table }, seconds);
    },
    onError: (table, err) => metrics.sinkErrors.inc({ table, class: err.errorClass }),
  });
  const source: Source = sourceOverride ?? new KafkaSource({
    brokers: cfg.kafka.brokers,
    security: kafkaSecurity(cfg),
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
  // Dead letters go to the dead_letters table (the sink) and, for Kafka sources, to the dead-letter topic.
  let dlq: KafkaSink | undefined;
  if (cfg.kafka.deadLetterTopic !== '' && cfg.kafka.brokers.length > 0) {
    // A missing dead-letter topic would make every batch with a dead letter retry for ever while the
    // pipeline looks ready: create it now, or fail start-up naming it.
    await requireTopics(kafkaConnection(cfg), [{ topic: cfg.kafka.deadLetterTopic, purpose: 'dead-letter (kafka.deadLetterTopic)' }], cfg.kafka.partitions, log);
    dlq = new KafkaSink({ brokers: cfg.kafka.brokers, security: kafkaSecurity(cfg), clientId: `${cfg.kafka.clientId}-dead-letters`, log: log.child({ component: 'dead-letter-topic' }) });
    await dlq.connect();
  }
  const dlqTopic = cfg.kafka.deadLetterTopic;
  // Fraud detection reads rated, enriched CDRs: it runs when rating does and Kafka carries the events.
  let fraudEvents: FraudEventPublisher | undefined;
  let fraud: FraudService | undefined;
  if (cfg.fraud.enabled && watcher && !sourceOverride && cfg.kafka.brokers.length > 0) {
    const w = watcher;
    let keyed: { stage: RatingBatchStage; keyer: FraudKeyer } | undefined;
    const keyer = () => {
      const stage = w.current();
      if (keyed?.stage !== stage) keyed = { stage, keyer: createFraudKeyer(stage.reference, stage.rating.normaliser) };
      return keyed.keyer;
    };
    fraudEvents = new FraudEventPublisher(cfg.fraud.eventsTopic, cfg.kafka.brokers, cfg.kafka.clientId, keyer, metrics, log, kafkaSecurity(cfg), cfg.fraud.eventBlocks ? BLOCK_MAX_BYTES : 0);
    await ensureTopic(kafkaConnection(cfg), cfg.fraud.eventsTopic, cfg.kafka.partitions, log);
    await fraudEvents.connect();
    fraud = new FraudService({ cfg, conn, metrics, log });
  } else if (cfg.fraud.enabled && !watcher) log.info({}, 'fraud detection off: it needs rating (reference data)');
  const runner = new Runner(source, decode, sink, metrics, log.child({ component: 'runner' }), {
    maxBatchRows: cfg.sink.maxBatchRows,
    maxBatchBytes: cfg.sink.maxBatchBytes,
    flushIntervalMs: cfg.sink.flushIntervalMs,
    heartbeatIntervalMs: cfg.kafka.heartbeatIntervalMs,
    retryInitialMs: cfg.sink.retryInitialMs,
    retryMaxMs: cfg.sink.retryMaxMs,
    shutdownTimeoutMs: cfg.sink.shutdownTimeoutMs,
    ...(rateBatch ? { rate: rateBatch } : {}),
    maxBufferedRows: cfg.sink.maxBufferedRows,
    maxBufferedBytes: cfg.sink.maxBufferedBytes,
    commitStallMs: cfg.sink.commitStallMs,
    ...(fraudEvents ? { fraudEvents: { prepare: (cdrs: SourcedCdr[]) => fraudEvents.prepare(cdrs), send: (p: unknown[]) => fraudEvents.send(p as PreparedFraudEvents[]) } } : {}),
    ...(dlq
      ? {
          // Bounded per message, per-record refusals isolated (pipeline/dead-letter-topic.ts): never fatal.
          publishDeadLetters: (dls: DeadLetter[]) => publishDeadLetters(dlq, dlqTopic, dls, log.child({ component: 'dead-letter-topic' })),
        }
      : {}),
  });
  const telemetry =
    cfg.telemetry.metricsPort >= 0
      ? await serveTelemetry(metrics, { live: () => true, ready: () => runner.ready }, cfg.telemetry.metricsHost, cfg.telemetry.metricsPort, { livenessTimeoutMs: cfg.telemetry.livenessTimeoutMs })
      : undefined;
  if (telemetry) log.info({ url: `http://${cfg.telemetry.metricsHost}:${telemetry.port}/metrics` }, 'telemetry endpoint listening');
  // Reports and dashboards read the pre-aggregates: their stale days are recomputed on a timer of their own,
  // beside ingestion (never in the batch path; a failure is logged, counted and retried, never fatal).
  let aggregates: AggregateRefresher | undefined;
  if (cfg.aggregates.refreshIntervalMs > 0) {
    for (const outcome of ['ok', 'error']) metrics.aggregateRefreshes.inc({ outcome }, 0); // both series exist from the start (alerts use increase())
    aggregates = new AggregateRefresher(conn, {
      intervalMs: cfg.aggregates.refreshIntervalMs,
      log: log.child({ component: 'aggregates' }),
      onRefresh: (r) => {
        metrics.aggregateRefreshes.inc({ outcome: 'ok' });
        metrics.aggregateRefreshDuration.observe(r.seconds);
        metrics.aggregateRefreshedDays.inc(r.days.length);
        metrics.aggregateLastSuccess.set(Date.now() / 1000);
      },
      onError: (_err, seconds) => {
        metrics.aggregateRefreshes.inc({ outcome: 'error' });
        metrics.aggregateRefreshDuration.observe(seconds);
      },
    });
  }
  // A fraud detector that stops for good (its consumer crashed, a fatal store error) stops the process too
  // (exit 1, like any fatal error: nothing more is committed): running on without detection while /readyz said ready
  // hid it behind one log line. Its position is committed, so the restart resumes it.
  let fraudFailed: ((err: Error) => void) | undefined;
  const done = fraud ? Promise.race([runner.run(), new Promise<never>((_, reject) => (fraudFailed = reject))]) : runner.run();
  aggregates?.start();
  if (fraud) {
    await fraud.start((err) => {
      log.error({ err: err.message }, 'fraud detector stopped: stopping the pipeline');
      fraudFailed?.(new Error(`fraud detector stopped: ${err.message}`));
    });
  }
  // Usage notifications (issue #16): a timer of their own over the stored rated CDRs, never in the batch path.
  const notifier = cfg.notifications.enabled ? new NotificationService({ cfg, conn, log, metrics }) : undefined;
  await notifier?.start();
  let stopping: Promise<void> | undefined;
  const closeAll = async () => {
    watcher?.stop();
    await notifier?.stop();
    await aggregates?.stop();
    await fraud?.stop().catch(() => undefined);
    await fraudEvents?.disconnect().catch(() => undefined);
    await dlq?.disconnect().catch(() => undefined);
    await telemetry?.close();
    await conn.close();
  };
  done.catch(() => void closeAll().catch(() => undefined));
  return {
    runner,
    fraud,
    aggregates,
    conn,
    metrics,
    metricsPort: telemetry?.port,
    done,
    stop: () =>
      (stopping ??= (async () => {
        // No refresh starts once stopping; one in flight finishes beside the final flush.
        const refreshStopped = aggregates?.stop();
        await runner.stop();
        await refreshStopped;
        await closeAll();
      })()),
  };
}
