/** `cdr-pipeline eval`: its options, help and action. */
import { join } from 'node:path';
import { common, configFrom, loggerFor, out, UsageError, isoArg, intArg, type Command } from '../command.js';

export const evalCmd: Command = {
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
    const { ParamError } = await import('../../simulators/traffic/index.js');
    try {
      if (values['in-process']) {
        const { runOfflineEval } = await import('../../tools/eval/fraud-offline.js');
        const { formatScore } = await import('../../tools/eval/eval-fraud.js');
        const r = runOfflineEval({ ...opts, rulesFile: cfg.fraud.rulesFile });
        out(`${r.records} CDRs, ${r.events} fraud events; generate+rate ${r.seconds.generateRate.toFixed(1)} s, key+detect ${r.seconds.keyDetect.toFixed(1)} s`);
        for (const line of formatScore(r.score, r.alerts.length)) out(line);
        return 0;
      }
      const { runFraudEval } = await import('../../tools/eval/eval-fraud.js');
      await runFraudEval(cfg, { ...opts, partitions: intArg(values.partitions, 1, 'partitions'), dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : join('data', 'eval'), timeoutMs: intArg(values['timeout-ms'], 1_800_000, 'timeout-ms') }, log, out);
      return 0;
    } catch (err) {
      if (err instanceof ParamError) throw new UsageError(err.message);
      throw err;
    }
  },
};
