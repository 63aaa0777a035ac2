/** `cdr-pipeline generate`: its options, help and action. */
import { common, configFrom, loggerFor, out, UsageError, intArg, type Command } from '../command.js';
import { ConfigError } from '../../pipeline/config.js';
import { kafkaConnection, kafkaSecurity } from '../../pipeline/config.js';

export const generate: Command = {
  summary: 'generate synthetic traffic with labelled fraud (Kafka, labels, reference data)',
  usage: 'cdr-pipeline generate [--home-country GB|DE] [--subscribers N] [--days N] [--scenarios LIST|all] [--param K=V ...] [--labels-out FILE] [--reference-out DIR] [--invoices-out FILE] [--rate N] [--no-kafka]',
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
    'home-country': { type: 'string' },
    rate: { type: 'string' },
    'no-kafka': { type: 'boolean' },
    'labels-out': { type: 'string' },
    'reference-out': { type: 'string' },
    'invoices-out': { type: 'string' },
    'billing-labels-out': { type: 'string' },
    'billing-errors': { type: 'string' },
    'unused-days': { type: 'string' },
    'partial-interval': { type: 'string' },
  },
  // Printed from the scenario and parameter declarations (simulators/traffic), so it cannot drift from the code.
  help: (await import('../../simulators/generate.js')).generateHelp(),
  async run(values) {
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    const g = await import('../../simulators/generate.js');
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
    let partialIntervalMs: number;
    const homeCountry = (str('home-country') ?? 'GB').toUpperCase();
    const { HOME_COUNTRIES } = await import('../../simulators/traffic/index.js');
    if (!HOME_COUNTRIES.includes(homeCountry)) throw new UsageError(`--home-country must be one of ${HOME_COUNTRIES.join(', ')}, got "${str('home-country') ?? ''}"`);
    try {
      startMs = g.parseInstant(str('start') ?? g.DEFAULT_START, '--start', homeCountry);
      endMs = str('end') !== undefined ? g.parseInstant(str('end') as string, '--end', homeCountry) : startMs + intArg(values.days, 7, 'days') * 86_400_000;
      partialIntervalMs = g.parseInterval(str('partial-interval') ?? 'off', '--partial-interval');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const topic = str('topic') ?? cfg.kafka.topic;
    if (kafka) {
      const { ensureTopic } = await import('../../ingest/kafka.js');
      await ensureTopic(kafkaConnection(cfg), topic, cfg.kafka.partitions, log);
    }
    const { ParamError } = await import('../../simulators/traffic/index.js');
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
          homeCountry,
          ...(str('holidays') !== undefined ? { holidays: (str('holidays') as string).split(',').map((x) => x.trim()).filter(Boolean) } : {}),
          maxRecords: values.records === undefined ? null : intArg(values.records, 0, 'records'),
          corrupt: intArg(values.corrupt, 0, 'corrupt'),
          kafka: kafka ? { brokers: cfg.kafka.brokers, topic, security: kafkaSecurity(cfg) } : null,
          ratePerSec: rate === 0 ? null : rate,
          partialIntervalMs,
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
};
