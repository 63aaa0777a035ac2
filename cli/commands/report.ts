/** `cdr-pipeline report`: its options, help and action. */
import { common, configFrom, loggerFor, out, UsageError, type Command } from '../command.js';

export const report: Command = {
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
    account: { type: 'string' },
    'rows-per-page': { type: 'string' },
    'max-pages': { type: 'string' },
    strict: { type: 'boolean' },
  },
  help: `Reports read what billing and planning read: the rated CDRs (FINAL, so replays and switch duplicates count
once), the pre-aggregates and the reference tables in ClickHouse (clickhouse.* settings). The SQL of each
report is kept in files under reports/<capability>/sql/ so analysts can run it in ClickHouse or Grafana too.

    --format table|csv|json   output format (default table)
    --out FILE                write the report to FILE instead of stdout

Reports:
{{REPORTS}}`,
  async run(values, positionals) {
    const [name, ...args] = positionals;
    const { REPORTS } = await import('../../reports/index.js');
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
};
