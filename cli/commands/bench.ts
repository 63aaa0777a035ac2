/** `cdr-pipeline bench`: its options, help and action. */
import { join } from 'node:path';
import { common, configFrom, loggerFor, out, recordsToDoc, UsageError, intArg, type Command } from '../command.js';

export const bench: Command = {
  summary: 'measure throughput, CPU per CDR and latency against the naive pipeline and ClickHouse\'s Kafka engine',
  usage: 'cdr-pipeline bench [--records N] [--runs N] [--scenarios LIST] [--latency-rate N] [--latency-seconds N] [--out FILE] [--record] | bench --reconcile [--records N] [--runs N] [--record] | bench --fraud [--subscribers N] [--hours N] [--runs N] [--record]',
  options: { ...common, records: { type: 'string' }, out: { type: 'string' }, record: { type: 'boolean' }, 'no-doc': { type: 'boolean' }, reconcile: { type: 'boolean' }, runs: { type: 'string' }, 'data-dir': { type: 'string' }, keep: { type: 'boolean' }, fraud: { type: 'boolean' }, subscribers: { type: 'string' }, hours: { type: 'string' }, 'warmup-hours': { type: 'string' }, 'detector-thread': { type: 'boolean' }, scenarios: { type: 'string' }, 'latency-rate': { type: 'string' }, 'latency-seconds': { type: 'string' } },
  help: `Produces N CDRs of generated traffic (Confluent-framed Avro, every fraud scenario) into a fresh topic, then
runs each scenario in a process of its own on a fresh consumer group, --runs times round-robin (tools/bench/bench.ts):
pipeline (\`run\` with rating and fraud, embedded ClickHouse), naive (kafkajs eachBatch + avsc + JSONEachRow into
chDB), kafka-engine (ClickHouse's Kafka engine in chDB, AvroConfluent + materialized view), server (the pipeline
inserting over HTTP into a ClickHouse-compatible endpoint in another process). Each run is measured from the first
consumed record until everything is stored, committed and through the fraud detector: CDR/s, CPU per CDR of the
whole process and by thread group, the broker's CPU, GC share, peak RSS; medians with the load average. Then
produce-to-queryable latency p50/p99 at a steady rate. Writes a JSON result; with --record also rows in
docs/BENCHMARKS.md. Needs a schema registry (decode.registryUrl or SCHEMA_REGISTRY_URL; else one is started).

    --records N       CDRs in the topic (default 100000)
    --runs N          repetitions of every scenario, medians reported (default 3)
    --scenarios LIST  comma-separated, from pipeline, naive, kafka-engine, server, pipeline-fraud-off,
                      pipeline-rating-off (default pipeline,naive,kafka-engine,server)
    --latency-rate N  CDR/s of the latency phase (default 30000, half the 60k target; capped at half the
                      measured sustained rate)
    --latency-seconds N  length of the latency phase (default 10; 0 skips it)
    --out FILE        JSON result (default bench-results/bench-<time>.json)
    --record          also write the result into docs/BENCHMARKS.md (a tracked file: off by default)

    --reconcile       instead: the reconciliation query benchmark (tools/bench/bench-reconcile.ts). Fills a fresh
                      embedded ClickHouse with a generated, rated month (--records, default 10000000) and its
                      invoices, refreshes the pre-aggregates, and times the usage comparison on the
                      pre-aggregate against the same query on raw rows (cdrs FINAL), and the whole monthly
                      reconciliation; needs no Kafka. "Reconciliation" section of docs/BENCHMARKS.md
    --runs N          (--reconcile) timed runs per query, the median is reported (default 5)
    --data-dir DIR    (--reconcile) where the ClickHouse data goes (default ./data/bench; removed afterwards)
    --keep            (--reconcile) keep the data directory

    --fraud           instead: the fraud detector's cost and memory (tools/bench/bench-fraud.ts), in one process
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
      const { fraudBenchCommand } = await import('../../tools/bench/bench-fraud.js');
      const subscribers = intArg(values.subscribers, 1_000_000, 'subscribers');
      const hours = intArg(values.hours, 4, 'hours');
      const runs = intArg(values.runs, 4, 'runs');
      const warmup = values['warmup-hours'] === undefined ? undefined : intArg(values['warmup-hours'], 24, 'warmup-hours');
      if (subscribers < 10 || hours < 1 || runs < 1 || (warmup !== undefined && warmup < 0)) throw new UsageError('--subscribers must be at least 10, --hours and --runs at least 1');
      return fraudBenchCommand({ subscribers, hours, runs, ...(warmup !== undefined ? { warmupHours: warmup } : {}), detectorThread: values['detector-thread'] === true, out: typeof values.out === 'string' ? values.out : undefined, doc: recordsToDoc(values) }, out);
    }
    if (values.reconcile === true) {
      const { runReconcileBench } = await import('../../tools/bench/bench-reconcile.js');
      const runs = intArg(values.runs, 5, 'runs');
      const records = intArg(values.records, 10_000_000, 'records');
      if (runs < 1 || records < 1000) throw new UsageError('--runs must be at least 1 and --records at least 1000');
      await runReconcileBench({ records, runs, dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : join('data', 'bench'), out: typeof values.out === 'string' ? values.out : undefined, doc: recordsToDoc(values), keep: values.keep === true }, log, out);
      return 0;
    }
    const { runBench, SCENARIOS, DEFAULT_SCENARIOS } = await import('../../tools/bench/bench.js');
    const scenarios = typeof values.scenarios === 'string' ? values.scenarios.split(',').map((x) => x.trim()).filter(Boolean) : DEFAULT_SCENARIOS;
    const unknown = scenarios.filter((x) => !(SCENARIOS as readonly string[]).includes(x));
    if (unknown.length > 0 || scenarios.length === 0) throw new UsageError(`--scenarios: unknown ${unknown.join(', ') || '(empty)'}; choose from ${SCENARIOS.join(', ')}`);
    const runs = intArg(values.runs, 3, 'runs');
    const records = intArg(values.records, 100_000, 'records');
    if (runs < 1 || records < 1000) throw new UsageError('--runs must be at least 1 and --records at least 1000');
    await runBench(
      cfg,
      {
        records,
        runs,
        scenarios: scenarios as (typeof SCENARIOS)[number][],
        ...(values['latency-rate'] !== undefined ? { latencyRatePerSec: intArg(values['latency-rate'], 30_000, 'latency-rate') } : {}),
        latencySeconds: intArg(values['latency-seconds'], 10, 'latency-seconds'),
        out: typeof values.out === 'string' ? values.out : undefined,
        doc: recordsToDoc(values),
      },
      log,
      out,
    );
    return 0;
  },
};
