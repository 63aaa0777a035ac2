#!/usr/bin/env node
// Entry point of the `cdr-pipeline` command: runs the compiled CLI (npm run build, done by npm ci via prepare).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('cdr-pipeline: not built yet; run `npm run build` in the package directory\n');
  process.exit(2);
}
const { main } = await import(cli.href);
const code = await main(process.argv.slice(2));
// Give pino and sockets a tick to flush, then exit with the command's code.
process.exitCode = code;
setTimeout(() => process.exit(code), 50).unref();
