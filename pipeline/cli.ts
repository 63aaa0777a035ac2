#!/usr/bin/env node
/**
 * The `cdr-pipeline` command. Every subcommand has --help. Exit codes: 0 success, 1 runtime failure,
 * 2 usage or configuration error.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { join } from 'node:path';
import { maskIdentities } from './redact.js';
import { redactUrlsIn } from '../schemas/security.js';
import { ConfigError, envVariables, kafkaConnection, kafkaSecurity, loadConfig, type Config } from './config.js';
import { createLogger, type LogLevel } from './telemetry.js';
import type { Log } from '../schemas/index.js';

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  help: string;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const common = {
  config: { type: 'string', short: 'c' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMON_HELP = `  -c, --config FILE     JSON config file (also CDR_CONFIG); environment variables override it
      --log-level LEVEL fatal|error|warn|info|debug|trace|silent (also CDR_TELEMETRY_LOG_LEVEL)
  -h, --help            this help`;

function configFrom(values: Record<string, string | boolean | undefined>): Config {
  const level = values['log-level'];
  return loadConfig({
    file: typeof values.config === 'string' ? values.config : undefined,
    overrides: typeof level === 'string' ? { telemetry: { logLevel: level as Config['telemetry']['logLevel'] } } : {},
  });
}

function loggerFor(cfg: Config): Log {
  return createLogger(cfg.telemetry.logLevel as LogLevel);
}

const out = (line: string) => process.stdout.write(line + '\n');

const commands: Record<string, Command> = {
  run: {
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
      const { startPipeline } = await import('./app.js');
      const p = await startPipeline(cfg, log);
      let signalled = false;
      const onSignal = (sig: string) => {
        if (signalled) return;
        signalled = true;
        log.info({ signal: sig }, 'stopping: flushing and committing');
        void p.stop();
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
      try {
        await p.done;
        log.info({ stats: p.runner.stats }, 'stopped');
        return 0;
      } catch (err) {
        log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'fatal error: stopping without committing further offsets');
        return 1;
      }
    },
  },
  demo: {
    summary: 'run the whole pipeline on embedded defaults and print what it stored',
    usage: 'cdr-pipeline demo [--records N] [--corrupt N] [--seed N] [--data-dir DIR]',
    options: { ...common, records: { type: 'string' }, corrupt: { type: 'string' }, seed: { type: 'string' }, 'data-dir': { type: 'string' }, 'timeout-ms': { type: 'string' } },
    help: `Starts a local Apache Kafka broker (unless KAFKA_BROKERS is set; needs Java 17 and Maven), produces
synthetic Avro CDRs plus a few corrupt records, runs the pipeline into embedded ClickHouse (chDB) until all
of them are stored, and prints the counts. Each run uses a fresh topic, group and database.

      --records N       CDRs to produce (default 100000)
      --corrupt N       corrupt records mixed in, which must end as dead letters (default 50)
      --seed N          generator seed (default 42)
      --data-dir DIR    where the broker and ClickHouse keep data (default ./data/demo)
      --timeout-ms N    give up after this long (default 600000)`,
    async run(values) {
      const cfg = configFrom({ ...values, 'log-level': values['log-level'] ?? process.env.CDR_TELEMETRY_LOG_LEVEL ?? 'error' });
      const log = loggerFor(cfg);
      const { runDemo } = await import('./demo.js');
      const r = await runDemo(
        cfg,
        {
          records: intArg(values.records, 100_000, 'records'),
          corrupt: intArg(values.corrupt, 50, 'corrupt'),
          seed: intArg(values.seed, 42, 'seed'),
          dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : join('data', 'demo'),
          timeoutMs: intArg(values['timeout-ms'], 600_000, 'timeout-ms'),
        },
        log,
        out,
      );
      return r.stored === r.produced && r.deadLetters === r.corrupt ? 0 : 1;
    },
  },
  generate: {
    summary: 'generate synthetic traffic with labelled fraud (Kafka, labels, reference data)',
    usage: 'cdr-pipeline generate [--subscribers N] [--days N] [--scenarios LIST|all] [--param K=V ...] [--labels-out FILE] [--reference-out DIR] [--invoices-out FILE] [--rate N] [--no-kafka]',
    options: {
      ...common,
      records: { type: 'string' },
      topic: { type: 'string' },
      seed: { type: 'string' },
      corrupt: { type: 'string' },
      subscribers: { type: 'string' },
      days: { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      scenarios: { type: 'string' },
      param: { type: 'string', multiple: true },
      holidays: { type: 'string' },
      rate: { type: 'string' },
      'no-kafka': { type: 'boolean' },
      'labels-out': { type: 'string' },
      'reference-out': { type: 'string' },
      'invoices-out': { type: 'string' },
      'billing-labels-out': { type: 'string' },
      'billing-errors': { type: 'string' },
      'unused-days': { type: 'string' },
    },
    // Printed from the scenario and parameter declarations (ingest/traffic), so it cannot drift from the code.
    help: (await import('./generate.js')).generateHelp(),
    async run(values) {
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      const g = await import('./generate.js');
      const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
      const kafka = values['no-kafka'] !== true;
      if (kafka && cfg.kafka.brokers.length === 0) throw new ConfigError(['no Kafka brokers: set KAFKA_BROKERS or kafka.brokers (or use --no-kafka)']);
      const params: Record<string, string> = {};
      for (const kv of ((values as Record<string, unknown>).param as string[] | undefined) ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`--param expects NAME.PARAM=VALUE, got "${kv}"`);
        params[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      const scen = str('scenarios') ?? 'none';
      let startMs: number;
      let endMs: number;
      try {
        startMs = g.parseInstant(str('start') ?? g.DEFAULT_START, '--start');
        endMs = str('end') !== undefined ? g.parseInstant(str('end') as string, '--end') : startMs + intArg(values.days, 7, 'days') * 86_400_000;
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const topic = str('topic') ?? cfg.kafka.topic;
      if (kafka) {
        const { ensureTopic } = await import('../ingest/kafka.js');
        await ensureTopic(kafkaConnection(cfg), topic, cfg.kafka.partitions, log);
      }
      const { ParamError } = await import('../ingest/traffic/index.js');
      const rate = values.rate === undefined ? null : intArg(values.rate, 0, 'rate');
      const invoicesOut = str('invoices-out');
      if (invoicesOut === undefined && (str('billing-labels-out') ?? str('billing-errors') ?? str('unused-days')) !== undefined) throw new UsageError('--billing-labels-out, --billing-errors and --unused-days go with --invoices-out');
      if (invoicesOut !== undefined && str('reference-out') === undefined) throw new UsageError('--invoices-out needs --reference-out (the inventory the invoices are reconciled against)');
      if (invoicesOut !== undefined && values.records !== undefined) throw new UsageError('--invoices-out bills the whole window: leave out --records');
      const billing = invoicesOut === undefined ? null : { invoicesOut, labelsOut: str('billing-labels-out') ?? null, errorsPerKind: intArg(values['billing-errors'], 2, 'billing-errors'), unusedDays: intArg(values['unused-days'], 30, 'unused-days'), tariffFile: cfg.rating.tariffFile };
      const r = await g
        .runGenerate(
          {
            seed: intArg(values.seed, 42, 'seed'),
            subscribers: intArg(values.subscribers, 10_000, 'subscribers'),
            startMs,
            endMs,
            scenarios: scen === 'all' || scen === 'none' ? scen : scen.split(',').map((x) => x.trim()).filter(Boolean),
            params,
            holidays: (str('holidays') ?? 'uk').split(',').map((x) => x.trim()).filter(Boolean),
            maxRecords: values.records === undefined ? null : intArg(values.records, 0, 'records'),
            corrupt: intArg(values.corrupt, 0, 'corrupt'),
            kafka: kafka ? { brokers: cfg.kafka.brokers, topic, security: kafkaSecurity(cfg) } : null,
            ratePerSec: rate === 0 ? null : rate,
            labelsOut: str('labels-out') ?? null,
            referenceOut: str('reference-out') ?? null,
            billing,
            chunk: 5000,
            log,
          },
          out,
        )
        .catch((err: unknown) => {
          throw err instanceof ParamError || err instanceof RangeError ? new UsageError((err as Error).message) : err;
        });
      out(`generated ${r.records} CDRs${kafka ? ` and ${r.corrupt} corrupt records to ${topic}` : ''} in ${r.seconds.toFixed(1)} s (${Math.round(r.records / r.seconds)} CDR/s); ${r.labels} fraud labels`);
      return 0;
    },
  },
  'ingest-files': {
    summary: 'ingest Avro container files from a folder (switch file drops)',
    usage: 'cdr-pipeline ingest-files DIR [--once] [--pattern REGEX] [--settle-ms N]',
    options: { ...common, once: { type: 'boolean' }, pattern: { type: 'string' }, 'settle-ms': { type: 'string' }, 'poll-ms': { type: 'string' } },
    help: `Reads Avro object container files (codecs null and deflate) that switches drop in DIR, decodes and validates
their records and stores CDRs and dead letters in ClickHouse, like \`run\` does for Kafka. Progress is
checkpointed per block in DIR/.cdr-pipeline-checkpoints.json after ClickHouse acknowledged, so a restart
neither skips nor repeats a record. Finished files move to DIR/done/, unreadable ones to DIR/failed/ (their
bytes become CONTAINER_CORRUPT dead letters). A file is picked up once its size and mtime are stable.
One instance per folder.

      --once            stop when the folder is drained and everything is stored (batch mode)
      --pattern REGEX   file names to pick up (default \.avro$)
      --settle-ms N     how long a file must be unchanged before it is read (default 2000)
      --poll-ms N       how often the folder is listed (default 1000)`,
    async run(values, positionals) {
      const dir = positionals[0];
      if (!dir) throw new UsageError('ingest-files needs a folder: cdr-pipeline ingest-files DIR');
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      const { FileSource } = await import('../ingest/files.js');
      const { startPipeline } = await import('./app.js');
      let pattern: RegExp;
      try {
        pattern = new RegExp(typeof values.pattern === 'string' ? values.pattern : '\\.avro$');
      } catch (err) {
        throw new UsageError(`--pattern: ${(err as Error).message}`);
      }
      const source = new FileSource({ dir, pattern, settleMs: intArg(values['settle-ms'], 2000, 'settle-ms'), pollIntervalMs: intArg(values['poll-ms'], 1000, 'poll-ms'), exitWhenIdle: values.once === true, log: log.child({ component: 'file-source' }) });
      const p = await startPipeline(cfg, log, undefined, source);
      const stop = () => void p.stop();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      if (values.once === true) void source.idle.then(stop);
      try {
        await p.done;
        out(`stored ${p.runner.stats.stored} CDRs and ${p.runner.stats.deadLetters} dead letters`);
        return 0;
      } catch (err) {
        log.error({ err: (err as Error).message }, 'fatal error');
        return 1;
      }
    },
  },
  'replay-dead-letters': {
    summary: 're-publish dead letters (original bytes) after a fix',
    usage: 'cdr-pipeline replay-dead-letters [--code C[,C]] [--since ISO] [--until ISO] [--topic T] [--limit N] [--dry-run] [--force]',
    options: { ...common, code: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, topic: { type: 'string' }, limit: { type: 'string' }, 'dry-run': { type: 'boolean' }, force: { type: 'boolean' } },
    help: `Selects dead letters from ClickHouse (table dead_letters) and re-publishes their original key and value bytes
to Kafka, so the running pipeline processes them again once the cause is fixed (a schema registered, a
migration applied, a switch repaired). Every replay is recorded in dead_letter_replays and a dead letter is
not replayed twice unless --force. SINK_REJECTED dead letters hold decoded JSON, not source bytes, and are
not replayed. Records carry the headers cdr-replay-of (topic/partition/offset) and cdr-replay-code.

      --code C[,C]      only these codes (docs/ERRORS.md); default all
      --since ISO       dead since this time (e.g. 2026-11-01T00:00:00Z)
      --until ISO       dead before this time
      --topic T         publish here (default: each dead letter's own topic; needed for file sources)
      --limit N         at most N (default 1000000)
      --dry-run         count what would be replayed, publish nothing
      --force           replay even dead letters replayed before`,
    async run(values) {
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      if (cfg.kafka.brokers.length === 0 && values['dry-run'] !== true) throw new ConfigError(['no Kafka brokers: set KAFKA_BROKERS or kafka.brokers']);
      const { connectClickHouse, applyMigrations } = await import('./app.js');
      const { replayDeadLetters } = await import('./replay.js');
      const conn = await connectClickHouse(cfg);
      try {
        await applyMigrations(conn, log);
        const r = await replayDeadLetters(conn, {
          brokers: cfg.kafka.brokers,
          security: kafkaSecurity(cfg),
          targetTopic: typeof values.topic === 'string' ? values.topic : undefined,
          codes: typeof values.code === 'string' ? values.code.split(',').map((c) => c.trim()).filter(Boolean) : [],
          sinceMs: isoArg(values.since, 'since'),
          untilMs: isoArg(values.until, 'until'),
          limit: intArg(values.limit, 1_000_000, 'limit'),
          force: values.force === true,
          dryRun: values['dry-run'] === true,
          log,
        });
        out(`${values['dry-run'] === true ? 'would replay' : 'replayed'} ${values['dry-run'] === true ? r.selected : r.published} dead letters${Object.keys(r.byTopic).length ? ': ' + Object.entries(r.byTopic).map(([t, n]) => `${n} to ${t}`).join(', ') : ''}`);
      } finally {
        await conn.close();
      }
      return 0;
    },
  },
  reference: {
    summary: 'import reference data files into ClickHouse (a versioned snapshot)',
    usage: 'cdr-pipeline reference import DIR',
    options: { ...common },
    help: `import: validates the reference data files of DIR (docs/REFERENCE-DATA.md) and stores them in ClickHouse as
one snapshot (tables ref_*, version = a hash of the files; reference_versions marks it complete). Rating reads
the newest snapshot with rating.referenceSource = clickhouse and reloads when a newer one is imported;
reconciliation joins against the same tables. Importing the same files twice changes nothing.`,
    async run(values, positionals) {
      if (positionals[0] !== 'import' || !positionals[1]) throw new UsageError('usage: cdr-pipeline reference import DIR');
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      const { connectClickHouse, applyMigrations } = await import('./app.js');
      const { importReference } = await import('./reference-store.js');
      const conn = await connectClickHouse(cfg);
      try {
        await applyMigrations(conn, log);
        const r = await importReference(conn, positionals[1], log);
        out(r.imported ? `imported reference snapshot ${r.version}: ${Object.entries(r.rows).map(([k, v]) => `${v} ${k}`).join(', ')}` : `reference snapshot ${r.version} is already imported`);
      } finally {
        await conn.close();
      }
      return 0;
    },
  },
  import: {
    summary: 'import billing data into ClickHouse: invoice lines, benchmark rates',
    usage: 'cdr-pipeline import invoices FILE | cdr-pipeline import benchmarks FILE | cdr-pipeline import benchmarks --from-tariffs',
    options: { ...common, 'from-tariffs': { type: 'boolean' } },
    help: `invoices FILE: the billing system's invoice lines (CSV with a header row naming the columns, in any order;
RFC 4180 quoting, LF or CRLF, UTF-8 with or without a byte order mark; format in docs/RECONCILIATION.md)
into the invoice_lines table, for \`cdr-pipeline report reconcile\`. Every row is validated before anything is
stored: a bad file is reported with the line number of each problem and nothing is imported (exit code 2).
Importing the same file twice changes nothing; a corrected export of the same invoices replaces their lines.
Prints the lines, invoices, accounts and periods imported and the total billed.

benchmarks FILE: benchmark per-minute rates by destination class (CSV: service, destination_class, price_unit,
rate, description) into rate_benchmarks, the ceiling the rate audit checks billed rates against where no
contracted rate applies. A newer import of the same service and class replaces the rate.

      --from-tariffs    benchmarks from the tariff book instead of a file (rating.tariffFile, default the bundled
                        book): per destination, the highest per-minute list price of any retail tariff`,
    async run(values, positionals) {
      const [what, file] = positionals;
      if (what !== 'invoices' && what !== 'benchmarks') throw new UsageError('import needs what to import: invoices FILE or benchmarks FILE|--from-tariffs');
      const fromTariffs = values['from-tariffs'] === true;
      if (what === 'invoices' && (!file || fromTariffs)) throw new UsageError('usage: cdr-pipeline import invoices FILE');
      if (what === 'benchmarks' && !file === !fromTariffs) throw new UsageError('usage: cdr-pipeline import benchmarks FILE, or --from-tariffs');
      if (file && !(await import('node:fs')).existsSync(file)) throw new UsageError(`${file}: no such file`);
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      const inv = await import('./invoices.js');
      const { connectClickHouse, applyMigrations } = await import('./app.js');
      // A benchmark file is read and checked before ClickHouse is opened.
      let rates: Awaited<ReturnType<typeof inv.readBenchmarks>> = [];
      let source = file ?? '';
      try {
        if (what === 'benchmarks') {
          if (fromTariffs) {
            const { benchmarksFromTariffs } = await import('./billing.js');
            const { defaultTariffPath, loadTariffBook } = await import('../enrich/rate/index.js');
            source = cfg.rating.tariffFile || defaultTariffPath();
            rates = benchmarksFromTariffs(loadTariffBook(source));
          } else rates = await inv.readBenchmarks(file!);
        }
        const conn = await connectClickHouse(cfg);
        try {
          await applyMigrations(conn, log);
          if (what === 'benchmarks') {
            const n = await inv.importBenchmarks(conn, rates, source);
            out(`imported ${n} benchmark rates from ${source}`);
            return 0;
          }
          const r = await inv.importInvoices(conn, file!, log);
          if (r.alreadyImported) out(`${file} is already imported (${r.lines} lines, file ${r.sha.slice(0, 12)}): nothing changed`);
          else {
            out(`imported ${r.lines} invoice lines of ${r.invoices} invoices, ${r.accounts} accounts, period${r.periods.length > 1 ? 's' : ''} ${r.periods.join(', ')} from ${file}`);
            out(`  by charge type: ${Object.entries(r.byChargeType).map(([k, n]) => `${k} ${n}`).join(', ')}`);
            out(`  billed: ${Object.entries(r.amounts).map(([c, a]) => `${a} ${c}`).join(', ')}${r.replaced ? `; ${r.replaced} lines of an earlier export of these invoices replaced` : ''}`);
          }
          return 0;
        } finally {
          await conn.close();
        }
      } catch (err) {
        if ((err as Error).name !== 'InvoiceFileError') throw err;
        process.stderr.write(`cdr-pipeline import: ${(err as Error).message}\n`);
        return 2;
      }
    },
  },
  aggregate: {
    summary: 'refresh the pre-aggregates (agg_usage_daily, agg_traffic_hourly) from the deduplicated CDRs',
    usage: 'cdr-pipeline aggregate [--period YYYY-MM | --from DATE --to DATE | --all] [--every SECONDS]',
    options: { ...common, period: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, all: { type: 'boolean' }, every: { type: 'string' } },
    help: `Recomputes whole UTC days of the pre-aggregates from cdrs FINAL and swaps each day in atomically (REPLACE
PARTITION), so replays, switch duplicates and re-ratings never count twice (docs/RECONCILIATION.md). By
default only the stale days are recomputed: those whose CDRs changed (row count or newest _ingested_at) since
their last refresh. \`cdr-pipeline run\` does this on its own every aggregates.refreshIntervalMs (default 5
minutes; CDR_AGGREGATES_REFRESH_INTERVAL_MS, 0 = off), and \`report reconcile\`, \`report forecast\` and
\`report backtest\` refresh the days they read first; run this after bulk loads, to backfill, or where no
pipeline runs (a reporting host against a ClickHouse server).

      --period YYYY-MM  recompute every day of the month, stale or not
      --from DATE       recompute the days from DATE (YYYY-MM-DD, UTC) ...
      --to DATE         ... to DATE (exclusive; default: the day after --from)
      --all             recompute every day that has CDRs or aggregates
      --every SECONDS   keep running: refresh the stale days every SECONDS until SIGTERM/SIGINT; a failed refresh
                        is logged and tried again next time (server mode; embedded ClickHouse is one process's,
                        and \`run\` refreshes it itself)

Prints the days recomputed and the rows written. Exit code 1 if a one-off refresh fails.`,
    async run(values) {
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      const agg = await import('./aggregates.js');
      const day = (v: string | boolean | undefined, name: string) => {
        if (v === undefined) return undefined;
        if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw new UsageError(`--${name} expects YYYY-MM-DD, got ${String(v)}`);
        return v;
      };
      let range: { fromDay: string; toDay: string } | undefined;
      if (typeof values.period === 'string') {
        try {
          range = agg.periodDays(values.period);
        } catch (err) {
          throw new UsageError(`--period: ${(err as Error).message}`);
        }
      } else if (values.from !== undefined) {
        const fromDay = day(values.from, 'from')!;
        range = { fromDay, toDay: day(values.to, 'to') ?? agg.isoDay(Date.parse(`${fromDay}T00:00:00Z`) + 86_400_000) };
      } else if (values.to !== undefined) throw new UsageError('--to needs --from');
      const every = values.every === undefined ? 0 : intArg(values.every, 0, 'every');
      const { connectClickHouse, applyMigrations } = await import('./app.js');
      const conn = await connectClickHouse(cfg);
      try {
        await applyMigrations(conn, log);
        const once = async (force: boolean) => {
          const days = range && force ? agg.daysBetween(range.fromDay, range.toDay) : values.all === true && force ? (await agg.dayFingerprints(conn, '1970-01-01', '2200-01-01')).map((d) => d.day) : await agg.staleDays(conn, range?.fromDay, range?.toDay);
          const r = await agg.refreshDays(conn, days, log);
          out(`refreshed ${r.days.length} day(s)${r.days.length ? ` (${r.days[0]} .. ${r.days[r.days.length - 1]})` : ''}: ${r.usageRows} agg_usage_daily rows, ${r.trafficRows} agg_traffic_hourly rows in ${r.seconds.toFixed(1)} s`);
        };
        await once(range !== undefined || values.all === true);
        if (every > 0) {
          let stop = false;
          const onSignal = () => void (stop = true);
          process.once('SIGTERM', onSignal);
          process.once('SIGINT', onSignal);
          while (!stop) {
            await new Promise((res) => setTimeout(res, every * 1000));
            // A failed refresh (ClickHouse restarting, a timeout) is reported and retried; the loop goes on.
            if (!stop) await once(false).catch((err: unknown) => log.error({ err: (err as Error).message, nextInSeconds: every }, 'aggregate refresh failed; retrying after the interval'));
          }
        }
      } finally {
        await conn.close();
      }
      return 0;
    },
  },
  eval: {
    summary: 'measure fraud detection on labelled generated traffic (precision, recall, time to detect)',
    usage: 'cdr-pipeline eval fraud [--subscribers N] [--days N] [--start ISO] [--seed N] [--scenarios LIST] [--param K=V]... [--partitions N] [--in-process]',
    options: { ...common, subscribers: { type: 'string' }, days: { type: 'string' }, start: { type: 'string' }, seed: { type: 'string' }, scenarios: { type: 'string' }, param: { type: 'string', multiple: true }, partitions: { type: 'string' }, 'in-process': { type: 'boolean' }, 'data-dir': { type: 'string' }, 'timeout-ms': { type: 'string' } },
    help: `fraud: generates traffic with the labelled fraud scenarios (cdr-pipeline generate --help lists them and
their parameters), runs it through the real pipeline (a local Kafka broker unless KAFKA_BROKERS is set;
embedded ClickHouse; rating; the fraud-events topic; the detector with the rule book of fraud.rulesFile) and
scores the alerts against the labels, per scenario: entity-level recall and precision, median time to detect
from the attack's first record (traffic time; records are produced in release order, as switches write them)
and the rated cost of the attack's records released before the first alert; plus false alerts on clean
traffic (with its hard negatives) per 1,000 subscribers per day. Method and results: docs/FRAUD.md.

      --subscribers N   population (default 5000)
      --days N          days of traffic (default 7)
      --start ISO       first day (default 2026-10-05, a Monday; scenarios start when the literature says)
      --seed N          generator seed (default 7)
      --scenarios LIST  comma-separated scenario names, or all (default all)
      --param K=V       scenario parameter, e.g. wangiri.victims=200 (repeatable)
      --partitions N    partitions of the evaluation's CDR and fraud-events topics (default 1). The week is
                        produced first and read as a backlog: with several partitions the consumer reads
                        each hours of traffic apart (a fetch holds hours of a partition), which delays
                        detection on entities fed by many lines (ranges, accounts) as after an outage; one
                        partition delivers the records in release order, as a live pipeline sees them
      --in-process      skip Kafka and ClickHouse: generate, rate, key and detect in this process (fast
                        threshold tuning; same detector and scoring)
      --data-dir DIR    where the broker and ClickHouse keep data (default ./data/eval)
      --timeout-ms N    give up after this long (default 1800000)`,
    async run(values, positionals) {
      if (positionals[0] !== 'fraud') throw new UsageError('usage: cdr-pipeline eval fraud [options] (see --help)');
      const cfg = configFrom({ ...values, 'log-level': values['log-level'] ?? process.env.CDR_TELEMETRY_LOG_LEVEL ?? 'error' });
      const log = loggerFor(cfg);
      const params: Record<string, string> = {};
      for (const kv of (values.param as unknown as string[] | undefined) ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`--param ${kv}: expected NAME.PARAM=VALUE`);
        params[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      const sc: string[] | 'all' = typeof values.scenarios === 'string' && values.scenarios !== 'all' ? values.scenarios.split(',') : 'all';
      const opts = {
        seed: intArg(values.seed, 7, 'seed'),
        subscribers: intArg(values.subscribers, 5000, 'subscribers'),
        days: intArg(values.days, 7, 'days'),
        startMs: isoArg(values.start, 'start') ?? Date.UTC(2026, 9, 4, 23),
        scenarios: sc,
        params,
      };
      const { ParamError } = await import('../ingest/traffic/index.js');
      try {
        if (values['in-process']) {
          const { runOfflineEval } = await import('./fraud-offline.js');
          const { formatScore } = await import('./eval-fraud.js');
          const r = runOfflineEval({ ...opts, rulesFile: cfg.fraud.rulesFile });
          out(`${r.records} CDRs, ${r.events} fraud events; generate+rate ${r.seconds.generateRate.toFixed(1)} s, key+detect ${r.seconds.keyDetect.toFixed(1)} s`);
          for (const line of formatScore(r.score, r.alerts.length)) out(line);
          return 0;
        }
        const { runFraudEval } = await import('./eval-fraud.js');
        await runFraudEval(cfg, { ...opts, partitions: intArg(values.partitions, 1, 'partitions'), dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : join('data', 'eval'), timeoutMs: intArg(values['timeout-ms'], 1_800_000, 'timeout-ms') }, log, out);
        return 0;
      } catch (err) {
        if (err instanceof ParamError) throw new UsageError(err.message);
        throw err;
      }
    },
  },
  report: {
    summary: 'billing reconciliation, forecasts and dispute look-ups from ClickHouse',
    usage: 'cdr-pipeline report <name> [options]    (names below)',
    options: {
      ...common,
      period: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      horizon: { type: 'string' },
      from: { type: 'string' },
      'weeks-of-history': { type: 'string' },
      weeks: { type: 'string' },
      holidays: { type: 'string' },
      'time-zone': { type: 'string' },
      msisdn: { type: 'string' },
      tolerance: { type: 'string' },
      'unused-days': { type: 'string' },
      'no-refresh': { type: 'boolean' },
    },
    help: `Reports read what billing and planning read: the rated CDRs (FINAL, so replays and switch duplicates count
once), the pre-aggregates and the reference tables in ClickHouse (clickhouse.* settings). The SQL of each
report is kept in files under sinks/clickhouse/sql/ so analysts can run it in ClickHouse or Grafana too.

      --format table|csv|json   output format (default table)
      --out FILE                write the report to FILE instead of stdout

Reports:
{{REPORTS}}`,
    async run(values, positionals) {
      const [name, ...args] = positionals;
      const { REPORTS } = await import('./report.js');
      const load = name === undefined ? undefined : REPORTS[name];
      if (!load) throw new UsageError(`report needs one of: ${Object.keys(REPORTS).join(', ') || '(none yet)'}`);
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      const report = await load();
      try {
        return await report.run({ cfg, log, values, args, out });
      } catch (err) {
        if ((err as Error).name === 'ReportUsageError') throw new UsageError((err as Error).message);
        throw err;
      }
    },
  },
  rerate: {
    summary: 'price stored CDRs again (the unrated ones, or a period) after reference data was fixed',
    usage: 'cdr-pipeline rerate [--all] [--from ISO] [--to ISO] [--batch N]',
    options: { ...common, all: { type: 'boolean' }, from: { type: 'string' }, to: { type: 'string' }, batch: { type: 'string' } },
    help: `Rates stored CDRs again with the current tariff book (rating.tariffFile) and reference data
(rating.referenceDir): by default those stored NOT_RATED or UNRATED, with --all every CDR of the period.
The re-priced row replaces the old one (same ReplacingMergeTree key, newer _ingested_at): no CDR is
duplicated in what billing queries read (FINAL). Each row records the rating_version used.

      --all             re-price every CDR of the period, not only the unrated ones
      --from ISO        seizure time from (inclusive), e.g. 2026-10-01T00:00:00Z
      --to ISO          seizure time to (exclusive)
      --batch N         CDRs per page (default 20000)`,
    async run(values) {
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      if (cfg.rating.referenceSource === 'files' && cfg.rating.referenceDir === '') throw new ConfigError(['rerate needs reference data: set rating.referenceDir (CDR_RATING_REFERENCE_DIR) or rating.referenceSource=clickhouse']);
      const { createRatingStage, createRatingStageFrom } = await import('../enrich/rate/stage.js');
      const { connectClickHouse, applyMigrations } = await import('./app.js');
      const { rerate } = await import('./rerate.js');
      const { loadReferenceFromClickHouse } = await import('./reference-store.js');
      const conn = await connectClickHouse(cfg);
      try {
        await applyMigrations(conn, log);
        const stage = cfg.rating.referenceSource === 'clickhouse' ? createRatingStageFrom(await loadReferenceFromClickHouse(conn), cfg.rating.tariffFile) : createRatingStage(cfg.rating.referenceDir, cfg.rating.tariffFile);
        const r = await rerate(conn, stage, { all: values.all === true, fromMs: isoArg(values.from, 'from'), toMs: isoArg(values.to, 'to'), batchRows: intArg(values.batch, 20_000, 'batch'), log });
        out(`re-priced ${r.rerated} CDRs with rating version ${stage.version}: ${Object.entries(r.outcomes).map(([k, v]) => `${v} ${k}`).join(', ') || 'nothing to do'}`);
      } finally {
        await conn.close();
      }
      return 0;
    },
  },
  'schema-types': {
    summary: 'regenerate the TypeScript types from the Avro schemas',
    usage: 'cdr-pipeline schema-types [--check]',
    options: { ...common, check: { type: 'boolean' } },
    help: `Writes schemas/types.generated.ts from schemas/avro/*.avsc (the schemas are the source of truth; the
types are never edited by hand). Run after changing a schema, then rebuild.

      --check           only compare; exit 1 if the file is stale`,
    async run(values) {
      const { generateTypes } = await import('../schemas/codegen.js');
      const { schemaPath } = await import('../schemas/index.js');
      const { readFileSync, writeFileSync } = await import('node:fs');
      const file = schemaPath('types.generated.ts');
      const text = generateTypes();
      const current = readFileSync(file, 'utf8');
      if (values.check === true) {
        out(current === text ? 'schemas/types.generated.ts is up to date' : 'schemas/types.generated.ts is stale: run cdr-pipeline schema-types');
        return current === text ? 0 : 1;
      }
      writeFileSync(file, text);
      out(current === text ? 'unchanged' : 'wrote schemas/types.generated.ts');
      return 0;
    },
  },
  migrate: {
    summary: 'apply the ClickHouse schema migrations',
    usage: 'cdr-pipeline migrate [--config FILE]',
    options: { ...common, cluster: { type: 'string' } },
    help: `Applies schemas/ddl/NNNN_*.sql in order to the configured ClickHouse (embedded or server), recording each in
schema_migrations. Idempotent: running it twice changes nothing.

      --cluster NAME    print the cluster variant of the whole schema instead (ON CLUSTER, Replicated* engines,
                        Distributed <table>_all over cdrs and dead letters sharded by subscriber), to apply
                        with clickhouse-client --multiquery`,
    async run(values) {
      if (typeof values.cluster === 'string') {
        const { loadMigrations } = await import('../sinks/clickhouse/migrate.js');
        const { clusterStatements } = await import('../sinks/clickhouse/cluster.js');
        const { schemaPath } = await import('../schemas/index.js');
        out(clusterStatements(loadMigrations(schemaPath('ddl')), values.cluster).map((st) => st + ';').join('\n\n'));
        return 0;
      }
      const cfg = configFrom(values);
      const log = loggerFor(cfg);
      const { connectClickHouse, applyMigrations } = await import('./app.js');
      const conn = await connectClickHouse(cfg);
      try {
        const r = await applyMigrations(conn, log);
        out(`applied: ${r.applied.length ? r.applied.join(', ') : '(none)'}; already applied: ${r.skipped.length}`);
      } finally {
        await conn.close();
      }
      return 0;
    },
  },
  kafka: {
    summary: 'start or stop a local Apache Kafka broker (KRaft, from Maven Central)',
    usage: 'cdr-pipeline kafka start|stop [--dir DIR] [--port N]',
    options: { ...common, dir: { type: 'string' }, port: { type: 'string' }, 'keep-data': { type: 'boolean' } },
    help: `start: resolves the Apache Kafka broker jars with Maven (cached in ~/.m2), formats KRaft storage, starts a
single combined broker/controller on 127.0.0.1 in the background, waits until it serves metadata, and
prints the bootstrap address. stop: stops it (SIGTERM, then SIGKILL after 20 s).
Needs Java 17+ and Maven.

      --dir DIR         data and logs (default ./data/kafka)
      --port N          client port (default 9092; the controller uses a free port)
      --keep-data       keep existing data instead of starting empty`,
    async run(values, positionals) {
      const action = positionals[0];
      const dir = typeof values.dir === 'string' ? values.dir : join('data', 'kafka');
      const { startLocalBroker, readPid, stopPid } = await import('./broker.js');
      if (action === 'start') {
        const log = createLogger('warn');
        const b = await startLocalBroker({ dir, port: intArg(values.port, 9092, 'port'), keepData: values['keep-data'] === true, detached: true, log });
        out(`Kafka ready at ${b.brokers.join(',')} (pid ${b.pid}, logs in ${dir}/broker.log)`);
        out(`export KAFKA_BROKERS=${b.brokers.join(',')}`);
        return 0;
      }
      if (action === 'stop') {
        const pid = readPid(dir);
        if (!pid) {
          out(`no broker pid in ${dir}`);
          return 1;
        }
        await stopPid(pid);
        out(`stopped broker ${pid}`);
        return 0;
      }
      throw new UsageError('kafka needs an action: start or stop');
    },
  },
  bench: {
    summary: 'measure throughput and latency (Kafka -> discard, Kafka -> ClickHouse)',
    usage: 'cdr-pipeline bench [--records N] [--out FILE] | bench --reconcile [--records N] [--runs N] | bench --fraud [--subscribers N] [--hours N] [--runs N]',
    options: { ...common, records: { type: 'string' }, out: { type: 'string' }, 'no-doc': { type: 'boolean' }, reconcile: { type: 'boolean' }, runs: { type: 'string' }, 'data-dir': { type: 'string' }, keep: { type: 'boolean' }, fraud: { type: 'boolean' }, subscribers: { type: 'string' }, hours: { type: 'string' }, 'warmup-hours': { type: 'string' }, 'detector-thread': { type: 'boolean' } },
    help: `Produces N CDRs into a fresh topic, then measures in one run: (a) Kafka -> discard (the consumer alone) and
(b) Kafka -> decode -> ClickHouse end to end, as sustained CDRs/s, produce-to-queryable latency p50/p99,
CPU seconds per CDR and peak RSS. Writes a JSON result and appends a row to docs/BENCHMARKS.md.

      --records N       CDRs per scenario (default 200000)
      --out FILE        JSON result (default bench-results/bench-<time>.json)
      --no-doc          do not append to docs/BENCHMARKS.md

      --reconcile       instead: the reconciliation query benchmark (pipeline/bench-reconcile.ts). Fills a fresh
                        embedded ClickHouse with a generated, rated month (--records, default 10000000) and its
                        invoices, refreshes the pre-aggregates, and times the usage comparison on the
                        pre-aggregate against the same query on raw rows (cdrs FINAL), and the whole monthly
                        reconciliation; needs no Kafka. "Reconciliation" section of docs/BENCHMARKS.md
      --runs N          (--reconcile) timed runs per query, the median is reported (default 5)
      --data-dir DIR    (--reconcile) where the ClickHouse data goes (default ./data/bench; removed afterwards)
      --keep            (--reconcile) keep the data directory

      --fraud           instead: the fraud detector's cost and memory (pipeline/bench-fraud.ts), in one process
                        without Kafka or ClickHouse. Generated traffic (every fraud scenario) warms the
                        detector up for its longest window (24 h of traffic) so every active line's window
                        is full, sampling state and heap hourly; then times --hours more in --runs slices:
                        (a) decode + rate + ClickHouse row per CDR, (b) keyer + detector (process + sweep),
                        (c) the fraud events' Avro codec and the service's per-batch bookkeeping. Prints
                        medians, (b)/(a), (b) against the end-to-end CPU per CDR of the newest \`bench\` result
                        (budget 20%), and the detector's heap per subscriber. Re-runs itself with
                        node --expose-gc and a large heap. "Fraud detector" section of docs/BENCHMARKS.md
      --subscribers N   (--fraud) active home lines (default 1000000)
      --hours N         (--fraud) hours of traffic timed after the warm-up (default 4)
      --warmup-hours N  (--fraud) hours of traffic before timing (default the longest window, 24)
      --runs N          (--fraud) timed slices of --hours, the median is reported (default 4)
      --detector-thread (--fraud) the detector in a worker thread with its own heap, fed the encoded events
                        (default: in the pipeline's thread, as \`run\` has it)`,
    async run(values) {
      const cfg = configFrom({ ...values, 'log-level': values['log-level'] ?? process.env.CDR_TELEMETRY_LOG_LEVEL ?? 'error' });
      const log = loggerFor(cfg);
      if (values.fraud === true) {
        const { fraudBenchCommand } = await import('./bench-fraud.js');
        const subscribers = intArg(values.subscribers, 1_000_000, 'subscribers');
        const hours = intArg(values.hours, 4, 'hours');
        const runs = intArg(values.runs, 4, 'runs');
        const warmup = values['warmup-hours'] === undefined ? undefined : intArg(values['warmup-hours'], 24, 'warmup-hours');
        if (subscribers < 10 || hours < 1 || runs < 1 || (warmup !== undefined && warmup < 0)) throw new UsageError('--subscribers must be at least 10, --hours and --runs at least 1');
        return fraudBenchCommand({ subscribers, hours, runs, ...(warmup !== undefined ? { warmupHours: warmup } : {}), detectorThread: values['detector-thread'] === true, out: typeof values.out === 'string' ? values.out : undefined, doc: values['no-doc'] !== true }, out);
      }
      if (values.reconcile === true) {
        const { runReconcileBench } = await import('./bench-reconcile.js');
        const runs = intArg(values.runs, 5, 'runs');
        const records = intArg(values.records, 10_000_000, 'records');
        if (runs < 1 || records < 1000) throw new UsageError('--runs must be at least 1 and --records at least 1000');
        await runReconcileBench({ records, runs, dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : join('data', 'bench'), out: typeof values.out === 'string' ? values.out : undefined, doc: values['no-doc'] !== true, keep: values.keep === true }, log, out);
        return 0;
      }
      const { runBench } = await import('./bench.js');
      await runBench(cfg, { records: intArg(values.records, 200_000, 'records'), out: typeof values.out === 'string' ? values.out : undefined, doc: values['no-doc'] !== true }, log, out);
      return 0;
    },
  },
  microbench: {
    summary: 'decode microbenchmarks: records/s per core for bare Avro, Confluent, v2->v1 resolution, baselines',
    usage: 'cdr-pipeline microbench [--only decode|rating] [--records N] [--runs N] [--batch N] [--no-doc]',
    options: { ...common, only: { type: 'string' }, records: { type: 'string' }, runs: { type: 'string' }, batch: { type: 'string' }, 'no-doc': { type: 'boolean' } },
    help: `Measures, in one process on the same generated CDRs, records per CPU-second (one core) and per second of:
bare Avro decode (alone and with validation), Confluent decode with the writer schema equal to the reader's,
Confluent decode of v2 records resolved to v1 (cached resolver), the anti-pattern of a resolver rebuilt per
record, and JSON.parse of the same CDR. Medians of several runs after a warm-up. Needs no Kafka, registry
or ClickHouse. Prints a table and appends it, with the machine described, to docs/BENCHMARKS.md.

      --records N       distinct CDRs per run (default 50000; the rebuilt-resolver baseline uses N/20)
      --runs N          measured runs per scenario (default 7)
      --batch N         records per decoder batch (default 1000)
      --no-doc          do not append to docs/BENCHMARKS.md
      --only rating     instead: the rating microbenchmarks (pipeline/microbench-rating.ts): CDRs rated per
                        second with a 100k-prefix tariff, with a 1M-line inventory, band splits, baselines,
                        and the memory of both ("Rating" section of docs/BENCHMARKS.md); --records default 200000`,
    async run(values) {
      if (values.only !== undefined && values.only !== 'decode' && values.only !== 'rating') throw new UsageError('--only expects decode or rating');
      if (values.only === 'rating') {
        const { runRatingMicrobench } = await import('./microbench-rating.js');
        const runs = intArg(values.runs, 7, 'runs');
        const records = intArg(values.records, 200_000, 'records');
        if (runs < 1 || records < 1) throw new UsageError('--records and --runs must be at least 1');
        await runRatingMicrobench({ records, runs, prefixes: 100_000, lines: 1_000_000, doc: values['no-doc'] !== true }, out);
        return 0;
      }
      const { runMicrobench } = await import('./microbench.js');
      const runs = intArg(values.runs, 7, 'runs');
      const records = intArg(values.records, 50_000, 'records');
      const batch = intArg(values.batch, 1000, 'batch');
      if (runs < 1 || records < 1 || batch < 1) throw new UsageError('--records, --runs and --batch must be at least 1');
      await runMicrobench({ records, runs, batch, doc: values['no-doc'] !== true }, out);
      return 0;
    },
  },
};

class UsageError extends Error {}

function isoArg(v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`--${name} expects an ISO time, got ${String(v)}`);
  return t;
}

function intArg(v: string | boolean | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < 0) throw new UsageError(`--${name} expects a non-negative integer, got ${String(v)}`);
  return n;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return `cdr-pipeline: telecom CDR stream processing (Kafka, Avro -> rate, enrich, detect fraud -> ClickHouse)

Usage: cdr-pipeline <command> [options]    (cdr-pipeline <command> --help for details)

Commands:
${Object.entries(commands)
  .map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Configuration: defaults < JSON file (--config or CDR_CONFIG) < environment variables:
  ${envVariables().join('\n  ')}
  KAFKA_BROKERS (alias of CDR_KAFKA_BROKERS)
`;
}

/** Error text as it may reach stderr: URL credentials and subscriber identities masked (as in the logs). */
function safeText(text: string): string {
  return maskIdentities(redactUrlsIn(text));
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`cdr-pipeline: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
    if (values.help) {
      // `report <name> --help` lists that report's options only; `report --help` all of them.
      const help = cmd.help.includes('{{REPORTS}}') ? cmd.help.replace('{{REPORTS}}', await (await import('./report.js')).reportHelp(positionals[0])) : cmd.help;
      out(`Usage: ${cmd.usage}\n\n${help}\n\nCommon options:\n${COMMON_HELP}`);
      return 0;
    }
    return await cmd.run(values as Record<string, string | boolean | undefined>, positionals);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`cdr-pipeline ${name}: ${safeText((err as Error).message)}\nSee: cdr-pipeline ${name} --help\n`);
      return 2;
    }
    // Errors that explain themselves (bad reference data or tariffs, a broker that cannot start): no stack.
    const e = err as Error;
    if (e.name === 'ReferenceDataError' || e.name === 'TariffError' || e.name === 'RuleBookError') {
      process.stderr.write(`cdr-pipeline ${name}: ${safeText(e.message)}\n`);
      return 2;
    }
    if (e.name === 'BrokerError' || e.name === 'MissingTopicError') {
      process.stderr.write(`cdr-pipeline ${name}: ${safeText(e.message)}\n`);
      return 1;
    }
    process.stderr.write(`cdr-pipeline ${name}: ${safeText(e.stack ?? String(err))}\n`);
    return 1;
  }
}
