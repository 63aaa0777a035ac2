/**
 * Shared test helpers. chDB allows one data directory per process, and vitest runs each test file in its
 * own process (pool: forks): chPath() gives that process's directory, and every test isolates itself with
 * its own database name (uniqueName()).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../pipeline/telemetry.js';
import type { Log } from '../schemas/index.js';

let path: string | undefined;

export function chPath(): string {
  return (path ??= mkdtempSync(join(tmpdir(), 'cdr-test-ch-')));
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export const quietLog: Log = createLogger((process.env.TEST_LOG_LEVEL as 'warn' | undefined) ?? 'silent');

/** `what` may be a function, evaluated only on timeout (e.g. a child's output at that moment). */
export async function waitFor<T>(what: string | (() => string), fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}${last ? `: ${String(last)}` : ''}`);
}
