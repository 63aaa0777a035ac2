/**
 * `cdr-pipeline report <name>`: analyst reports read from ClickHouse. Each report lives in its own module
 * (pipeline/report-<name>.ts) and registers here; the CLI only parses the options and dispatches.
 */
import type { Config } from './config.js';
import type { Log } from '../schemas/index.js';

export type ReportValues = Record<string, string | boolean | undefined>;

export interface ReportContext {
  cfg: Config;
  log: Log;
  values: ReportValues;
  /** Positionals after the report name. */
  args: string[];
  out(line: string): void;
}

export interface Report {
  summary: string;
  /** Lines for `report --help`: options of this report. */
  help: string;
  run(ctx: ReportContext): Promise<number>;
}

/** Raised for a bad option value: the CLI prints it with usage and exits 2. */
export class ReportUsageError extends Error {
  override name = 'ReportUsageError';
}

/** Lazily imported so `report --help` does not load ClickHouse. */
export const REPORTS: Record<string, () => Promise<Report>> = {};

/** Help of every report, or of the one named (when it exists). */
export async function reportHelp(only?: string): Promise<string> {
  const parts: string[] = [];
  for (const [name, load] of Object.entries(REPORTS)) {
    if (only !== undefined && only in REPORTS && name !== only) continue;
    const r = await load();
    parts.push(`  ${name}: ${r.summary}\n${r.help}`);
  }
  return parts.join('\n\n');
}

// Billing reconciliation and the service-record audit (issue #5 item 3; docs/RECONCILIATION.md).
REPORTS.reconcile = async () => (await import('./report-reconcile.js')).reconcileReport;
// Forecasting and the dispute look-up (issue #5 items 4 and 5; docs/FORECASTING.md).
REPORTS.forecast = async () => (await import('./report-forecast.js')).forecastReport;
REPORTS.backtest = async () => (await import('./report-forecast.js')).backtestReport;
REPORTS.subscriber = async () => (await import('./report-subscriber.js')).subscriberReport;
