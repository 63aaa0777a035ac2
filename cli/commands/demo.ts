/** `cdr-pipeline demo`: its options, help and action. */
import { join } from 'node:path';
import { common, configFrom, loggerFor, out, intArg, type Command } from '../command.js';

export const demo: Command = {
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
    const { runDemo } = await import('../../tools/demo.js');
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
};
