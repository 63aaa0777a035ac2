#!/usr/bin/env node
/**
 * The `cdr-pipeline` command: a small dispatcher. Each command is one module under cli/commands/ (its options,
 * help and action together); this file routes argv to it, prints help, and maps errors to exit codes:
 * 0 success, 1 runtime failure, 2 usage or configuration error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, envVariables } from '../pipeline/config.js';
import { maskIdentities } from '../pipeline/redact.js';
import { redactUrlsIn } from '../schemas/security.js';
import { packageRoot } from '../schemas/index.js';
import { COMMON_HELP, out, UsageError, type Command } from './command.js';
import { run } from './commands/run.js';
import { demo } from './commands/demo.js';
import { generate } from './commands/generate.js';
import { ingestFiles } from './commands/ingest-files.js';
import { replayDeadLetters } from './commands/replay-dead-letters.js';
import { reference } from './commands/reference.js';
import { importCmd } from './commands/import.js';
import { aggregate } from './commands/aggregate.js';
import { evalCmd } from './commands/eval.js';
import { report } from './commands/report.js';
import { rerate } from './commands/rerate.js';
import { schemaTypes } from './commands/schema-types.js';
import { migrate } from './commands/migrate.js';
import { kafka } from './commands/kafka.js';
import { bench } from './commands/bench.js';
import { microbench } from './commands/microbench.js';
import { port } from './commands/port.js';
import { adjust } from './commands/adjust.js';

const commands: Record<string, Command> = {
  run: run,
  demo: demo,
  generate: generate,
  'ingest-files': ingestFiles,
  'replay-dead-letters': replayDeadLetters,
  reference: reference,
  import: importCmd,
  aggregate: aggregate,
  eval: evalCmd,
  report: report,
  rerate: rerate,
  'schema-types': schemaTypes,
  migrate: migrate,
  kafka: kafka,
  bench: bench,
  microbench: microbench,
  port: port,
  adjust: adjust,
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return `cdr-pipeline: telecom CDR stream processing (Kafka, Avro -> rate, enrich, detect fraud -> ClickHouse)

Usage: cdr-pipeline <command> [options]    (cdr-pipeline <command> --help for details)
       cdr-pipeline --version

Commands:
${Object.entries(commands)
  .map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Configuration: defaults < JSON file (--config or CDR_CONFIG) < environment variables:
  ${envVariables().join('\n  ')}
  KAFKA_BROKERS (alias of CDR_KAFKA_BROKERS)
`;
}

/** Error text as it may reach stderr: URL credentials and subscriber identities masked (as in the logs). */
function safeText(text: string): string {
  return maskIdentities(redactUrlsIn(text));
}

/** The package version (package.json next to dist/ and the sources). */
export function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * A reader that goes away (`cdr-pipeline report subscriber ... | head`) is not a failure: the next write to
 * stdout fails with EPIPE, and the command ends quietly with exit 0 instead of an unhandled 'error' stack.
 */
function quietOnClosedStdout(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedStdout();
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    out(`cdr-pipeline ${version()}`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`cdr-pipeline: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
    if (values.help) {
      // `report <name> --help` lists that report's options only; `report --help` all of them.
      const help = cmd.help.includes('{{REPORTS}}') ? cmd.help.replace('{{REPORTS}}', await (await import('../reports/index.js')).reportHelp(positionals[0])) : cmd.help;
      out(`Usage: ${cmd.usage}\n\n${help}\n\nCommon options:\n${COMMON_HELP}`);
      return 0;
    }
    return await cmd.run(values as Record<string, string | boolean | undefined>, positionals);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`cdr-pipeline ${name}: ${safeText((err as Error).message)}\nSee: cdr-pipeline ${name} --help\n`);
      return 2;
    }
    // Errors that explain themselves (bad reference data or tariffs, a broker that cannot start): no stack.
    const e = err as Error;
    if (e.name === 'ReferenceDataError' || e.name === 'TariffError' || e.name === 'RuleBookError') {
      process.stderr.write(`cdr-pipeline ${name}: ${safeText(e.message)}\n`);
      return 2;
    }
    if (e.name === 'BrokerError' || e.name === 'MissingTopicError' || e.name === 'NoInvoiceLinesError') {
      process.stderr.write(`cdr-pipeline ${name}: ${safeText(e.message)}\n`);
      return 1;
    }
    process.stderr.write(`cdr-pipeline ${name}: ${safeText(e.stack ?? String(err))}\n`);
    return 1;
  }
}
