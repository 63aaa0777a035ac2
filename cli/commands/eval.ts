/** `cdr-pipeline eval`: its options, help and action. */
import { join } from 'node:path';
import { common, configFrom, loggerFor, out, UsageError, isoArg, intArg, type Command } from '../command.js';

export const evalCmd: Command = {
  summary: 'measure fraud detection on labelled generated traffic (precision, recall, time to detect)',
  usage: 'cdr-pipeline eval fraud [--setup NAME] [--home-country GB|DE] [--variant plain|evasive|both] [--format table|json] [--subscribers N] [--days N] [--start ISO] [--seed N] [--scenarios LIST] [--param K=V]... [--partitions N] [--partial-interval D] [--in-process]',
  options: { ...common, setup: { type: 'string' }, variant: { type: 'string' }, format: { type: 'string' }, subscribers: { type: 'string' }, days: { type: 'string' }, start: { type: 'string' }, seed: { type: 'string' }, scenarios: { type: 'string' }, 'home-country': { type: 'string' }, param: { type: 'string', multiple: true }, partitions: { type: 'string' }, 'in-process': { type: 'boolean' }, 'partial-interval': { type: 'string' }, 'data-dir': { type: 'string' }, 'timeout-ms': { type: 'string' } },
  help: `fraud: generates traffic with the labelled fraud scenarios (cdr-pipeline generate --help lists them and
their parameters), runs it through the real pipeline (a local Kafka broker unless KAFKA_BROKERS is set;
embedded ClickHouse; rating; the fraud-events topic; the detector with the rule book of fraud.rulesFile) and
scores the alerts against the labels, per scenario: entity-level recall and precision, median time to detect
from the attack's first record (traffic time; records are produced in release order, as switches write them)
and the rated cost of the attack's records released before the first alert; plus false alerts on clean
traffic (with its hard negatives) per 10,000 subscribers per day. Plain and evasive variants of every
scenario are generated and scored separately. Method and results: docs/FRAUD.md.

    --setup NAME      development (default: seed 7, 5000 subscribers, 7 days from 2026-10-05), or a
                      held-out configuration: held-out-a (seed 424242, 12000 subscribers, 4 days from
                      2027-03-15), held-out-b (seed 90001, 8000 subscribers, 6 days from 2026-12-21,
                      Christmas week), held-out-c (seed 31337, 6000 subscribers, 4 days from 2027-07-05,
                      home country DE). Held-out configurations are for reporting only: thresholds are
                      never tuned on them. The options below override the configuration's values
    --home-country C  the operator's home country: GB or DE (German numbering, Europe/Berlin, German
                      holidays; rated with a tariff book derived for it); default the configuration's
    --variant V       plain, evasive (every scenario's evasive variant) or both (default)
    --format F        table (default) or json (one object: configuration, and per variant the scores)
    --subscribers N   population
    --days N          days of traffic
    --start ISO       first instant of the window
    --seed N          generator seed
    --scenarios LIST  comma-separated scenario names, or all (default all)
    --param K=V       scenario parameter, e.g. wangiri.victims=200 (repeatable)
    --partitions N    partitions of the evaluation's CDR and fraud-events topics (default 1). The week is
                      produced first and read as a backlog: with several partitions the consumer reads
                      each hours of traffic apart (a fetch holds hours of a partition), which delays
                      detection on entities fed by many lines (ranges, accounts) as after an outage; one
                      partition delivers the records in release order, as a live pipeline sees them
    --partial-interval D  long calls and data sessions as TS 32.298 partial records every D (CDR contract
                      v3; default 5m), or off: the traffic of contracts v1/v2, where a call exists only once it ends
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
    const { evalConfig } = await import('../../tools/eval/configs.js');
    let conf;
    try {
      conf = evalConfig(typeof values.setup === 'string' ? values.setup : 'development');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const variant = typeof values.variant === 'string' ? values.variant : 'both';
    if (!['plain', 'evasive', 'both'].includes(variant)) throw new UsageError(`--variant must be plain, evasive or both, got "${variant}"`);
    const format = typeof values.format === 'string' ? values.format : 'table';
    if (format !== 'table' && format !== 'json') throw new UsageError(`--format must be table or json, got "${format}"`);
    const opts = {
      seed: intArg(values.seed, conf.seed, 'seed'),
      subscribers: intArg(values.subscribers, conf.subscribers, 'subscribers'),
      days: intArg(values.days, conf.days, 'days'),
      startMs: isoArg(values.start, 'start') ?? Date.parse(conf.start),
      scenarios: sc,
      partialIntervalMs: await partialInterval(values['partial-interval']),
      homeCountry: typeof values['home-country'] === 'string' ? values['home-country'].toUpperCase() : conf.homeCountry,
    };
    const { HOME_COUNTRIES } = await import('../../simulators/traffic/index.js');
    if (!HOME_COUNTRIES.includes(opts.homeCountry)) throw new UsageError(`--home-country must be one of ${HOME_COUNTRIES.join(', ')}, got "${opts.homeCountry}"`);
    const variants = (variant === 'both' ? ['plain', 'evasive'] : [variant]) as ('plain' | 'evasive')[];
    const { ParamError, evasiveParams } = await import('../../simulators/traffic/index.js');
    // JSON goes to stdout alone: progress lines are dropped.
    const say = format === 'json' ? () => {} : out;
    const report: Record<string, unknown> = { config: { ...conf, seed: opts.seed, subscribers: opts.subscribers, days: opts.days, start: new Date(opts.startMs).toISOString(), homeCountry: opts.homeCountry }, rules: cfg.fraud.rulesFile || 'schemas/fraud/rules.json', variants: {} };
    try {
      for (const v of variants) {
        const vp = { ...(v === 'evasive' ? evasiveParams(sc) : {}), ...params };
        say(`\n## ${v} (${conf.name}${conf.heldOut ? ', held out: never tuned on' : ''}${opts.homeCountry !== conf.homeCountry ? `, home country ${opts.homeCountry}` : ''})`);
        if (values['in-process']) {
          const { runOfflineEval } = await import('../../tools/eval/fraud-offline.js');
          const { formatScore } = await import('../../tools/eval/eval-fraud.js');
          const r = runOfflineEval({ ...opts, params: vp, rulesFile: cfg.fraud.rulesFile });
          say(`${r.records} CDRs, ${r.events} fraud events; generate+rate ${r.seconds.generateRate.toFixed(1)} s, key+detect ${r.seconds.keyDetect.toFixed(1)} s`);
          for (const line of formatScore(r.score, r.alerts.length)) say(line);
          (report.variants as Record<string, unknown>)[v] = scoreJson(r.score, r.records);
          continue;
        }
        const { runFraudEval } = await import('../../tools/eval/eval-fraud.js');
        const r = await runFraudEval(cfg, { ...opts, params: vp, partitions: intArg(values.partitions, 1, 'partitions'), dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : join('data', 'eval'), timeoutMs: intArg(values['timeout-ms'], 1_800_000, 'timeout-ms') }, log, say);
        (report.variants as Record<string, unknown>)[v] = scoreJson(r.score, r.produced);
      }
      if (format === 'json') out(JSON.stringify(report, null, 2));
      return 0;
    } catch (err) {
      if (err instanceof ParamError) throw new UsageError(err.message);
      throw err;
    }
  },
};

/** A score as JSON: per scenario, and the false alerts (rule, entity kind, times; entities are subscriber identities and are left out). */
function scoreJson(score: import('../../tools/eval/fraud-score.js').FraudScore, records: number): Record<string, unknown> {
  return {
    records,
    alerts: score.alerts,
    truePositives: score.truePositives,
    falseAlerts: score.falseAlerts.length,
    falseAlertsPer10kPerDay: Number(score.falseAlertsPer10kPerDay.toFixed(3)),
    falseAlertsByRule: score.falseAlerts.reduce<Record<string, number>>((m, a) => ((m[a.rule] = (m[a.rule] ?? 0) + 1), m), {}),
    scenarios: score.scenarios.map((s) => ({
      scenario: s.scenario,
      entities: s.entities,
      detected: s.detected,
      recall: Number(s.recall.toFixed(3)),
      alerts: s.alerts,
      falseAlerts: s.falseAlerts,
      precision: Number(s.precision.toFixed(3)),
      medianTtdMinutes: s.medianTtdMinutes === null ? null : Number(s.medianTtdMinutes.toFixed(1)),
      exposureBefore: (s.exposureBeforeMicros / 1e6).toFixed(2),
      exposureTotal: (s.exposureTotalMicros / 1e6).toFixed(2),
      missed: s.missed.length,
    })),
  };
}

/** --partial-interval: undefined = the evaluation's default (tools/eval/fraud-offline.ts EVAL_PARTIAL_INTERVAL_MS). */
async function partialInterval(v: unknown): Promise<number | undefined> {
  if (typeof v !== 'string') return undefined;
  const { parseInterval } = await import('../../simulators/generate.js');
  try {
    return parseInterval(v, '--partial-interval');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
