/** `cdr-pipeline aggregate`: its options, help and action. */
import { common, configFrom, loggerFor, out, UsageError, intArg, type Command } from '../command.js';

export const aggregate: Command = {
  summary: 'refresh the pre-aggregates (agg_usage_daily, agg_traffic_hourly) from the deduplicated CDRs',
  usage: 'cdr-pipeline aggregate [--period YYYY-MM | --from DATE --to DATE | --all] [--every SECONDS]',
  options: { ...common, period: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, all: { type: 'boolean' }, every: { type: 'string' } },
  help: `Recomputes whole UTC days of the pre-aggregates from cdrs FINAL and swaps each day in atomically (REPLACE
PARTITION), so replays, switch duplicates and re-ratings never count twice (docs/RECONCILIATION.md). By
default only the stale days are recomputed: those whose CDRs changed (row count or newest _ingested_at) since
their last refresh, and those built with an older reference snapshot than the one in force (\`reference
import\` since: the aggregates read ref_networks and ref_lines). \`cdr-pipeline run\` does this on its own every aggregates.refreshIntervalMs (default 5
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
    const agg = await import('../../reports/aggregates/aggregates.js');
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
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
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
};
