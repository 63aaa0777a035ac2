/** `cdr-pipeline run`: its options, help and action. */
import { common, configFrom, loggerFor, type Command } from '../command.js';

export const run: Command = {
  summary: 'consume CDRs from Kafka, decode, rate and enrich, store in ClickHouse, detect fraud (the main job)',
  usage: 'cdr-pipeline run [--config FILE]',
  options: { ...common },
  help: `Consumes the CDR topic in a consumer group, decodes the Avro records, validates them, and writes CDRs and
dead letters to ClickHouse. Offsets are committed only after ClickHouse acknowledged the rows.
Stops gracefully on SIGTERM or SIGINT (flushes, commits, leaves the group).
Beside ingestion, every aggregates.refreshIntervalMs (default 5 minutes; CDR_AGGREGATES_REFRESH_INTERVAL_MS,
0 = off) it recomputes the stale days of the pre-aggregates that reports and Grafana read (agg_usage_daily,
agg_traffic_hourly); a failed refresh is logged, counted (cdr_aggregate_refreshes_total{outcome="error"}) and
tried again, and never stops ingestion.

Needs Kafka brokers: KAFKA_BROKERS=host:port[,host:port] or kafka.brokers in the config file.
ClickHouse: embedded chDB in ./data/clickhouse by default; CDR_CLICKHOUSE_MODE=server and
CDR_CLICKHOUSE_URL=http://host:8123 for a server.
Metrics: http://127.0.0.1:9464/metrics, /healthz, /readyz (CDR_TELEMETRY_METRICS_PORT).`,
  async run(values) {
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    const { startPipeline } = await import('../../pipeline/app.js');
    // Handlers before start-up: a signal while the pipeline starts stops it as soon as it is up (exit 0).
    let p: Awaited<ReturnType<typeof startPipeline>> | undefined;
    let signalled = false;
    const onSignal = (sig: string) => {
      if (signalled) return;
      signalled = true;
      log.info({ signal: sig }, 'stopping: flushing and committing');
      if (p) void p.stop();
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    p = await startPipeline(cfg, log);
    if (signalled) void p.stop();
    try {
      await p.done;
      log.info({ stats: p.runner.stats }, 'stopped');
      return 0;
    } catch (err) {
      log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'fatal error: stopping without committing further offsets');
      return 1;
    }
  },
};
