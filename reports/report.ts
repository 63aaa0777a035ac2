/** What every analyst report is: its context, options and usage errors (reports/index.ts registers them). */
import type { Config } from '../pipeline/config.js';
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
