#!/usr/bin/env node
// npm 11's `npm ci` refuses a lock file that lacks entries for optional platform packages, and `npm install`
// leaves out chdb's non-Linux-x64 engines when the registry cannot serve them. This adds those entries
// (os/cpu-restricted, so npm skips them on this platform without fetching anything).
// Run after `npm install <pkg>`; `--check` only reports (used by .ci/run).
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const chdb = lock.packages['node_modules/chdb'];
const missing = [];
for (const [name, version] of Object.entries(chdb?.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  const m = /lib-(darwin|linux)-(arm64|x64)(-gnu)?$/.exec(name);
  if (!m) throw new Error(`unexpected optional dependency ${name}`);
  missing.push(name);
  lock.packages[key] = { version, cpu: [m[2]], license: 'Apache-2.0', optional: true, os: [m[1]], ...(m[3] ? { libc: ['glibc'] } : {}) };
}
if (process.argv.includes('--check')) {
  if (missing.length) {
    console.error(`package-lock.json lacks ${missing.join(', ')}: run node .ci/lock-platforms.mjs`);
    process.exit(1);
  }
} else if (missing.length) {
  const root = lock.packages[''];
  const rest = Object.keys(lock.packages).filter((k) => k !== '').sort();
  lock.packages = Object.fromEntries([['', root], ...rest.map((k) => [k, lock.packages[k]])]);
  writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
  console.log(`added ${missing.join(', ')}`);
}
