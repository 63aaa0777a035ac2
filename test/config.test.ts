import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, envName, loadConfig } from '../pipeline/config.js';

const file = (obj: unknown) => {
  const p = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'c.json');
  writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
};

describe('config', () => {
  it('uses embedded defaults with an empty environment', () => {
    expect(loadConfig({ env: {} })).toEqual(DEFAULTS);
  });

  it('layers file < environment < flags', () => {
    const f = file({ sink: { maxBatchRows: 1000, flushIntervalMs: 500 }, clickhouse: { mode: 'server' } });
    const cfg = loadConfig({ file: f, env: { CDR_SINK_MAX_BATCH_ROWS: '2000', KAFKA_BROKERS: 'a:1, b:2' }, overrides: { sink: { flushIntervalMs: 250 } } });
    expect(cfg.sink.maxBatchRows).toBe(2000);
    expect(cfg.sink.flushIntervalMs).toBe(250);
    expect(cfg.clickhouse.mode).toBe('server');
    expect(cfg.kafka.brokers).toEqual(['a:1', 'b:2']);
  });

  it('prefers CDR_KAFKA_BROKERS over the KAFKA_BROKERS alias', () => {
    expect(loadConfig({ env: { CDR_KAFKA_BROKERS: 'x:9', KAFKA_BROKERS: 'y:9' } }).kafka.brokers).toEqual(['x:9']);
  });

  it('reports every wrong value at once, naming where it came from', () => {
    const f = file({ sink: { maxBatchRows: 0 }, bogus: {}, kafka: { nope: 1 } });
    let err: ConfigError | undefined;
    try {
      loadConfig({ file: f, env: { CDR_CLICKHOUSE_MODE: 'cloud', CDR_KAFKA_BROKERS: 'no-port', CDR_SINK_FLUSH_INTERVAL_MS: 'soon' } });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.problems.join('\n');
    expect(text).toContain('unknown section "bogus"');
    expect(text).toContain('unknown key "kafka.nope"');
    expect(text).toMatch(/sink\.maxBatchRows: 0 is outside 1\.\./);
    expect(text).toContain('CDR_CLICKHOUSE_MODE: expected one of embedded, server, got "cloud"');
    expect(text).toContain('CDR_KAFKA_BROKERS: expected host:port');
    expect(text).toContain('CDR_SINK_FLUSH_INTERVAL_MS: expected an integer, got "soon"');
    expect(err!.problems).toHaveLength(6);
  });

  it('aggregates.refreshIntervalMs: 5 minutes by default, 0 turns it off, from the file or CDR_AGGREGATES_REFRESH_INTERVAL_MS', () => {
    expect(DEFAULTS.aggregates.refreshIntervalMs).toBe(300_000);
    expect(envName('aggregates', 'refreshIntervalMs')).toBe('CDR_AGGREGATES_REFRESH_INTERVAL_MS');
    expect(loadConfig({ env: { CDR_AGGREGATES_REFRESH_INTERVAL_MS: '0' } }).aggregates.refreshIntervalMs).toBe(0);
    expect(loadConfig({ file: file({ aggregates: { refreshIntervalMs: 60_000 } }), env: {} }).aggregates.refreshIntervalMs).toBe(60_000);
    expect(() => loadConfig({ env: { CDR_AGGREGATES_REFRESH_INTERVAL_MS: '-1' } })).toThrow(/CDR_AGGREGATES_REFRESH_INTERVAL_MS: -1 is outside 0\.\.86400000/);
    expect(() => loadConfig({ env: { CDR_AGGREGATES_REFRESH_INTERVAL_MS: '5min' } })).toThrow(/expected an integer, got "5min"/);
  });

  it('rejects a file that is not JSON', () => {
    expect(() => loadConfig({ file: file('{ not json'), env: {} })).toThrow(ConfigError);
  });

  it('checks relations between values', () => {
    expect(() => loadConfig({ env: { CDR_SINK_RETRY_INITIAL_MS: '500', CDR_SINK_RETRY_MAX_MS: '100' } })).toThrow(/retryMaxMs must be >= sink.retryInitialMs/);
    expect(() => loadConfig({ env: { CDR_KAFKA_HEARTBEAT_INTERVAL_MS: '20000' } })).toThrow(/heartbeatIntervalMs must be at most a third/);
  });

  it('names environment variables after the key with its unit', () => {
    expect(envName('sink', 'maxBatchBytes')).toBe('CDR_SINK_MAX_BATCH_BYTES');
    expect(envName('telemetry', 'metricsPort')).toBe('CDR_TELEMETRY_METRICS_PORT');
  });
});
