/**
 * The services beside ingestion (fraud detector, usage notifier) retry what a dependency being down makes
 * fail, and only that: ClickHouse errors classed transient, and anything that is not a ClickHouse error
 * (network, broker). A ClickHouse data or fatal error propagates; so does any error once the service stops.
 */
import type { Log } from '../schemas/index.js';
import { ClickHouseError } from '../sinks/clickhouse/connection.js';

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  stopped: () => boolean;
  log: Log;
}

/** Runs `f` until it passes, with capped exponential backoff between transient failures. */
export async function retryTransient(what: string, f: () => Promise<void>, p: RetryPolicy): Promise<void> {
  let delay = p.initialMs;
  for (;;) {
    try {
      await f();
      return;
    } catch (err) {
      if (p.stopped()) throw err;
      if (err instanceof ClickHouseError && err.errorClass !== 'transient') throw err;
      p.log.warn({ err: (err as Error).message, retryInMs: delay }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, p.maxMs);
    }
  }
}
