/**
 * What every command module is: its options, help text and action together (cli/commands/<name>.ts), plus the
 * option helpers they share. The dispatcher (cli/index.ts) only routes argv to one of them.
 */
import { type ParseArgsConfig } from 'node:util';
import { loadConfig, type Config } from '../pipeline/config.js';
import { createLogger, type LogLevel } from '../pipeline/telemetry.js';
import type { Log } from '../schemas/index.js';

export type Values = Record<string, string | boolean | undefined>;

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  help: string;
  run(values: Values, positionals: string[]): Promise<number>;
}

export const common = {
  config: { type: 'string', short: 'c' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COMMON_HELP = `  -c, --config FILE     JSON config file (also CDR_CONFIG); environment variables override it
      --log-level LEVEL fatal|error|warn|info|debug|trace|silent (also CDR_TELEMETRY_LOG_LEVEL)
  -h, --help            this help`;

export function configFrom(values: Values): Config {
  const level = values['log-level'];
  return loadConfig({
    file: typeof values.config === 'string' ? values.config : undefined,
    overrides: typeof level === 'string' ? { telemetry: { logLevel: level as Config['telemetry']['logLevel'] } } : {},
  });
}

export function loggerFor(cfg: Config): Log {
  return createLogger(cfg.telemetry.logLevel as LogLevel);
}

/** Results go to stdout, one line at a time; logs go to stderr (pino). */
export const out = (line: string): void => {
  process.stdout.write(line + '\n');
};

/** A bad option or argument: the dispatcher prints it with a pointer to --help and exits 2. */
export class UsageError extends Error {}

export function isoArg(v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`--${name} expects an ISO time, got ${String(v)}`);
  return t;
}

/**
 * Whether a benchmark writes its result into the tracked docs/BENCHMARKS.md: only when asked (`--record`), so
 * a user's trial run never edits the repository. `--no-doc` (the old opt-out) is accepted and changes nothing.
 */
export function recordsToDoc(values: Values): boolean {
  return values.record === true;
}

export function intArg(v: string | boolean | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < 0) throw new UsageError(`--${name} expects a non-negative integer, got ${String(v)}`);
  return n;
}
