/**
 * Configuration: embedded defaults, overridden by a JSON file (--config FILE or CDR_CONFIG), overridden by
 * environment variables. Validated once at start-up; every wrong value is reported with its source and what
 * was expected, all at once. Keys carry their units (STYLE.md §8).
 *
 * Environment variables: CDR_<SECTION>_<KEY> in SCREAMING_SNAKE_CASE, e.g. CDR_SINK_MAX_BATCH_ROWS=20000,
 * CDR_CLICKHOUSE_MODE=server. KAFKA_BROKERS (comma-separated) is accepted as an alias of CDR_KAFKA_BROKERS.
 */
import { accessSync, constants as fsConstants, existsSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { redactUrlsIn, type KafkaConnection, type KafkaSecurity } from '../schemas/security.js';
import { DEFAULT_RETENTION, retentionProblems, type Retention } from '../sinks/clickhouse/migrate.js';

export interface Config {
  kafka: {
    /** Broker list; empty means "start a local broker" (demo) or fail (run). */
    brokers: string[];
    clientId: string;
    groupId: string;
    topic: string;
    /** Dead letters are also published here (Avro, schemas/avro/dead-letter.avsc); empty = table only. */
    deadLetterTopic: string;
    partitions: number;
    fromBeginning: boolean;
    sessionTimeoutMs: number;
    heartbeatIntervalMs: number;
    maxBytesPerPartition: number;
    maxWaitTimeMs: number;
    minBytes: number;
    /** TLS to the brokers (docs/components/kafka-source.md "Security"); certificates verified unless sslRejectUnauthorized is false. */
    ssl: boolean;
    /** PEM CA bundle for the brokers' certificates; empty = Node's public CAs. */
    sslCaFile: string;
    /** PEM client certificate and key (brokers with ssl.client.auth=required). */
    sslCertFile: string;
    sslKeyFile: string;
    /** Passphrase of an encrypted client key, or a file holding it (CDR_KAFKA_SSL_KEY_PASSWORD[_FILE]). */
    sslKeyPassword: string;
    sslKeyPasswordFile: string;
    sslRejectUnauthorized: boolean;
    /** Name the brokers' certificates must carry (and SNI); empty = the host of each broker. */
    sslServername: string;
    /** SASL: none, plain, scram-sha-256 or scram-sha-512. */
    saslMechanism: 'none' | 'plain' | 'scram-sha-256' | 'scram-sha-512';
    saslUsername: string;
    /** Secret: prefer saslPasswordFile or CDR_KAFKA_SASL_PASSWORD to a config file; never logged or echoed. */
    saslPassword: string;
    saslPasswordFile: string;
  };
  decode: {
    maxFutureSkewMs: number;
    maxDurationMs: number;
    /** Avro datum (after framing) longer than this is dead-lettered unread (AVRO_LIMIT_EXCEEDED). */
    maxRecordBytes: number;
    /** Array items plus map entries per record (AVRO_LIMIT_EXCEEDED). */
    maxItems: number;
    /** Record nesting depth, for recursive writer schemas (AVRO_LIMIT_EXCEEDED). */
    maxDepth: number;
    /** Times before this are dead-lettered (PAST_TIMESTAMP); default 2000-01-01T00:00:00Z. */
    minTimestampMs: number;
    /** Allowed difference between durationMs/billableMs and the times (INCONSISTENT_TIMES). */
    durationToleranceMs: number;
    /** Framing of Kafka values: `avro` = bare Avro datum of writerSchema; `confluent` = magic byte, schema id, datum. */
    format: 'avro' | 'confluent';
    /** avro: path of the writer schema (.avsc); empty = the bundled current contract, schemas/avro/cdr.v3.avsc (schemas/index.ts CDR_SCHEMA_FILE). */
    writerSchema: string;
    /** confluent: schema registry base URL (Apicurio: http://host:8080/apis/ccompat/v7). */
    registryUrl: string;
    registryUsername: string;
    registryPassword: string;
    /** A file holding the registry password (CDR_DECODE_REGISTRY_PASSWORD_FILE); not with registryPassword. */
    registryPasswordFile: string;
    registryRequestTimeoutMs: number;
  };
  rating: {
    /** Where reference data comes from: files in referenceDir, or the newest snapshot in ClickHouse. */
    referenceSource: 'files' | 'clickhouse';
    /** Folder of reference data (docs/REFERENCE-DATA.md); empty = no rating (CDRs are stored NOT_RATED). */
    referenceDir: string;
    /** Tariff book (docs/TARIFFS.md); empty = the bundled schemas/tariffs/default.json. */
    tariffFile: string;
    /** How often the files are checked for changes and reloaded without a restart; 0 = never. */
    reloadIntervalMs: number;
  };
  fraud: {
    /** Run the fraud detector (needs rating: it reads rated, enriched CDRs). */
    enabled: boolean;
    /** Repartition topic: fraud events keyed by the entity each rule profiles (docs/FRAUD.md). */
    eventsTopic: string;
    /** Alerts (Avro, schemas/avro/fraud-alert.avsc), keyed by alertId; empty = ClickHouse only. */
    alertsTopic: string;
    /** Rule thresholds (JSON, only the rules and parameters that differ); empty = schemas/fraud/rules.json. */
    rulesFile: string;
    /** Consumer group of the detector (the fraud-events topic); empty = `<kafka.groupId>-fraud`. */
    groupId: string;
    /** How long a record may arrive after later ones (call length, NRTRDE delay) and still count, minutes. */
    maxLatenessMinutes: number;
    /**
     * Publish a stored batch's fraud events as one block record per fraud-events partition instead of one
     * record per event (docs/FRAUD.md, "Event blocks"; ~10 µs less CPU per CDR). Detectors of every version
     * since read both; turn it off only while detectors older than blocks still consume the topic.
     */
    eventBlocks: boolean;
  };
  clickhouse: {
    mode: 'embedded' | 'server';
    /** embedded: chDB data directory. */
    path: string;
    /** server: HTTP(S) endpoint of a ClickHouse server. */
    url: string;
    username: string;
    password: string;
    /** A file holding the password (CDR_CLICKHOUSE_PASSWORD_FILE); not with password. */
    passwordFile: string;
    /** server over https: PEM CA of the server certificate; with certFile/keyFile, a client certificate (mutual TLS). */
    caFile: string;
    certFile: string;
    keyFile: string;
    database: string;
    requestTimeoutMs: number;
    migrateOnStart: boolean;
  };
  sink: {
    maxBatchRows: number;
    maxBatchBytes: number;
    flushIntervalMs: number;
    retryInitialMs: number;
    retryMaxMs: number;
    /** On SIGTERM, how long to wait for ClickHouse to acknowledge what is buffered before stopping anyway. */
    shutdownTimeoutMs: number;
    /**
     * Backpressure budget: records consumed but not yet stored and committed (buffered + in flight, all
     * partitions). Over it, consumption pauses per partition until the sink catches up.
     */
    maxBufferedRows: number;
    /** The same budget in source (Kafka value) bytes. */
    maxBufferedBytes: number;
    /** Not ready when a partition's committed offset has not moved for this long while records wait on it. */
    commitStallMs: number;
    /**
     * How CDR rows travel to ClickHouse (sinks/clickhouse/rowbinary.ts; docs/BENCHMARKS.md "The insert format"):
     * `rowbinary` (RowBinaryWithNamesAndTypes) or `json` (JSONCompactEachRow, the format before issue #15).
     */
    format: 'rowbinary' | 'json';
  };
  aggregates: {
    /**
     * `run` recomputes the stale days of the pre-aggregates (agg_usage_daily, agg_traffic_hourly) this often,
     * beside ingestion (reports/aggregates/aggregates.ts AggregateRefresher); 0 = never (refresh with `cdr-pipeline
     * aggregate` instead).
     */
    refreshIntervalMs: number;
  };
  /** Usage notifications in the stream (issue #16; enrich/notify/README.md): bill-shock thresholds per subscriber and period. */
  notifications: {
    /** Run the notifier beside ingestion (it reads the stored, rated CDRs). */
    enabled: boolean;
    /** Avro notifications (schemas/avro/usage-notification.avsc), keyed by notificationId; empty = ClickHouse only. */
    topic: string;
    /** Caps and thresholds (JSON, schemas/notify/thresholds.json format); empty = the bundled EU-style defaults. */
    thresholdsFile: string;
    /** How often the subscribers with new rated CDRs are checked against their caps. */
    intervalMs: number;
  };
  /** Care adjustments (issue #16; care/README.md). */
  care: {
    /** Reason catalogue and role limits (JSON, schemas/care/policy.json format); empty = the bundled policy. */
    policyFile: string;
  };
  /**
   * Days to keep each kind of data in ClickHouse (TTL, applied by `migrate` and by `run` with
   * clickhouse.migrateOnStart: sinks/clickhouse/migrate.ts applyRetention); 0 = forever. docs/components/
   * clickhouse-sink.md "Retention".
   */
  retention: Retention;
  telemetry: {
    logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    metricsHost: string;
    /** 0 picks a free port; -1 disables the endpoint. */
    metricsPort: number;
    /** /healthz fails when the main event loop has not run for this long (a watchdog thread serves it). */
    livenessTimeoutMs: number;
  };
}

export const DEFAULTS: Config = {
  kafka: {
    brokers: [],
    clientId: 'cdr-pipeline',
    groupId: 'cdr-pipeline',
    topic: 'cdr.raw',
    deadLetterTopic: 'cdr.dead-letters',
    partitions: 6,
    fromBeginning: true,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 3_000,
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxWaitTimeMs: 250,
    minBytes: 1,
    ssl: false,
    sslCaFile: '',
    sslCertFile: '',
    sslKeyFile: '',
    sslKeyPassword: '',
    sslKeyPasswordFile: '',
    sslRejectUnauthorized: true,
    sslServername: '',
    saslMechanism: 'none',
    saslUsername: '',
    saslPassword: '',
    saslPasswordFile: '',
  },
  decode: {
    maxFutureSkewMs: 60 * 60 * 1000,
    maxDurationMs: 24 * 60 * 60 * 1000,
    maxRecordBytes: 65_536,
    maxItems: 10_000,
    maxDepth: 32,
    minTimestampMs: 946_684_800_000,
    durationToleranceMs: 1000,
    format: 'avro',
    writerSchema: '',
    registryUrl: '',
    registryUsername: '',
    registryPassword: '',
    registryPasswordFile: '',
    registryRequestTimeoutMs: 10_000,
  },
  rating: {
    referenceSource: 'files',
    referenceDir: '',
    tariffFile: '',
    reloadIntervalMs: 30_000,
  },
  fraud: {
    enabled: true,
    eventsTopic: 'cdr.fraud-events',
    alertsTopic: 'cdr.fraud-alerts',
    rulesFile: '',
    groupId: '',
    maxLatenessMinutes: 240,
    eventBlocks: true,
  },
  clickhouse: {
    mode: 'embedded',
    path: './data/clickhouse',
    url: 'http://127.0.0.1:8123',
    username: 'default',
    password: '',
    passwordFile: '',
    caFile: '',
    certFile: '',
    keyFile: '',
    database: 'cdr',
    requestTimeoutMs: 30_000,
    migrateOnStart: true,
  },
  sink: {
    maxBatchRows: 50_000,
    maxBatchBytes: 16 * 1024 * 1024,
    // 500 for the latency target (issue #15, docs/BENCHMARKS.md): a flush tick inserts every due partition in ONE
    // insert (pipeline/runner.ts), so the interval costs inserts per second, not inserts x partitions. Measured at
    // 2k CDR/s: p99 produce-to-queryable 766 ms (1000: 1066 ms, misses 1 s; 250: 520 ms at +14% more CPU than
    // 500), the latency process's CPU +30% over 1000 (a fixed cost per flush); 100k-CDR throughput unchanged.
    flushIntervalMs: 500,
    retryInitialMs: 200,
    retryMaxMs: 10_000,
    shutdownTimeoutMs: 30_000,
    maxBufferedRows: 100_000,
    maxBufferedBytes: 64 * 1024 * 1024,
    commitStallMs: 120_000,
    format: 'rowbinary',
  },
  aggregates: {
    refreshIntervalMs: 5 * 60 * 1000,
  },
  notifications: {
    enabled: false,
    topic: 'cdr.usage-notifications',
    thresholdsFile: '',
    intervalMs: 5_000,
  },
  care: {
    policyFile: '',
  },
  retention: { ...DEFAULT_RETENTION },
  telemetry: {
    logLevel: 'info',
    metricsHost: '127.0.0.1',
    metricsPort: 9464,
    livenessTimeoutMs: 30_000,
  },
};

/** `secret`: the value is never echoed in a problem (passwords); URLs are echoed with credentials stripped. */
type Rule = { kind: 'int'; min: number; max?: number } | { kind: 'string'; pattern?: RegExp; allowEmpty?: boolean; secret?: boolean } | { kind: 'enum'; values: readonly string[] } | { kind: 'bool' } | { kind: 'brokers' };

const RULES: { [S in keyof Config]: { [K in keyof Config[S]]: Rule } } = {
  kafka: {
    brokers: { kind: 'brokers' },
    clientId: { kind: 'string' },
    groupId: { kind: 'string' },
    topic: { kind: 'string', pattern: /^[a-zA-Z0-9._-]{1,249}$/ },
    deadLetterTopic: { kind: 'string', allowEmpty: true, pattern: /^[a-zA-Z0-9._-]{0,249}$/ },
    partitions: { kind: 'int', min: 1, max: 10_000 },
    fromBeginning: { kind: 'bool' },
    sessionTimeoutMs: { kind: 'int', min: 6_000, max: 300_000 },
    heartbeatIntervalMs: { kind: 'int', min: 100, max: 60_000 },
    maxBytesPerPartition: { kind: 'int', min: 1024 },
    maxWaitTimeMs: { kind: 'int', min: 0, max: 60_000 },
    minBytes: { kind: 'int', min: 1 },
    ssl: { kind: 'bool' },
    sslCaFile: { kind: 'string', allowEmpty: true },
    sslCertFile: { kind: 'string', allowEmpty: true },
    sslKeyFile: { kind: 'string', allowEmpty: true },
    sslKeyPassword: { kind: 'string', allowEmpty: true, secret: true },
    sslKeyPasswordFile: { kind: 'string', allowEmpty: true },
    sslRejectUnauthorized: { kind: 'bool' },
    sslServername: { kind: 'string', allowEmpty: true },
    saslMechanism: { kind: 'enum', values: ['none', 'plain', 'scram-sha-256', 'scram-sha-512'] },
    saslUsername: { kind: 'string', allowEmpty: true },
    saslPassword: { kind: 'string', allowEmpty: true, secret: true },
    saslPasswordFile: { kind: 'string', allowEmpty: true },
  },
  decode: {
    maxFutureSkewMs: { kind: 'int', min: 0 },
    maxDurationMs: { kind: 'int', min: 1 },
    maxRecordBytes: { kind: 'int', min: 16, max: 64 * 1024 * 1024 },
    maxItems: { kind: 'int', min: 0, max: 10_000_000 },
    maxDepth: { kind: 'int', min: 1, max: 1000 },
    minTimestampMs: { kind: 'int', min: 0 },
    durationToleranceMs: { kind: 'int', min: 0, max: 3_600_000 },
    format: { kind: 'enum', values: ['avro', 'confluent'] },
    writerSchema: { kind: 'string', allowEmpty: true },
    registryUrl: { kind: 'string', allowEmpty: true, pattern: /^(https?:\/\/[^\s]+)?$/ },
    registryUsername: { kind: 'string', allowEmpty: true },
    registryPassword: { kind: 'string', allowEmpty: true, secret: true },
    registryPasswordFile: { kind: 'string', allowEmpty: true },
    registryRequestTimeoutMs: { kind: 'int', min: 100 },
  },
  rating: {
    referenceSource: { kind: 'enum', values: ['files', 'clickhouse'] },
    referenceDir: { kind: 'string', allowEmpty: true },
    tariffFile: { kind: 'string', allowEmpty: true },
    reloadIntervalMs: { kind: 'int', min: 0 },
  },
  fraud: {
    enabled: { kind: 'bool' },
    eventsTopic: { kind: 'string', pattern: /^[a-zA-Z0-9._-]{1,249}$/ },
    alertsTopic: { kind: 'string', allowEmpty: true, pattern: /^[a-zA-Z0-9._-]{0,249}$/ },
    rulesFile: { kind: 'string', allowEmpty: true },
    groupId: { kind: 'string', allowEmpty: true },
    maxLatenessMinutes: { kind: 'int', min: 0, max: 7 * 24 * 60 },
    eventBlocks: { kind: 'bool' },
  },
  clickhouse: {
    mode: { kind: 'enum', values: ['embedded', 'server'] },
    path: { kind: 'string' },
    url: { kind: 'string', pattern: /^https?:\/\/[^\s]+$/ },
    username: { kind: 'string' },
    password: { kind: 'string', allowEmpty: true, secret: true },
    passwordFile: { kind: 'string', allowEmpty: true },
    caFile: { kind: 'string', allowEmpty: true },
    certFile: { kind: 'string', allowEmpty: true },
    keyFile: { kind: 'string', allowEmpty: true },
    database: { kind: 'string', pattern: /^[a-zA-Z_][a-zA-Z0-9_]*$/ },
    requestTimeoutMs: { kind: 'int', min: 100 },
    migrateOnStart: { kind: 'bool' },
  },
  sink: {
    maxBatchRows: { kind: 'int', min: 1, max: 1_000_000 },
    maxBatchBytes: { kind: 'int', min: 1024 },
    flushIntervalMs: { kind: 'int', min: 10 },
    retryInitialMs: { kind: 'int', min: 1 },
    retryMaxMs: { kind: 'int', min: 1 },
    shutdownTimeoutMs: { kind: 'int', min: 0 },
    maxBufferedRows: { kind: 'int', min: 1 },
    maxBufferedBytes: { kind: 'int', min: 1024 },
    commitStallMs: { kind: 'int', min: 1000 },
    format: { kind: 'enum', values: ['rowbinary', 'json'] },
  },
  aggregates: {
    // 0 = off; at most a day (a refresh interval longer than the day it refreshes defeats the point).
    refreshIntervalMs: { kind: 'int', min: 0, max: 86_400_000 },
  },
  notifications: {
    enabled: { kind: 'bool' },
    topic: { kind: 'string', allowEmpty: true, pattern: /^[a-zA-Z0-9._-]{0,249}$/ },
    thresholdsFile: { kind: 'string', allowEmpty: true },
    intervalMs: { kind: 'int', min: 100, max: 3_600_000 },
  },
  care: {
    policyFile: { kind: 'string', allowEmpty: true },
  },
  retention: {
    cdrsDays: { kind: 'int', min: 0, max: 36_500 },
    deadLettersDays: { kind: 'int', min: 0, max: 36_500 },
    fraudAlertsDays: { kind: 'int', min: 0, max: 36_500 },
    aggregatesDays: { kind: 'int', min: 0, max: 36_500 },
    portResponsesDays: { kind: 'int', min: 0, max: 36_500 },
    careAdjustmentsDays: { kind: 'int', min: 0, max: 36_500 },
    usageNotificationsDays: { kind: 'int', min: 0, max: 36_500 },
  },
  telemetry: {
    logLevel: { kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    metricsHost: { kind: 'string' },
    metricsPort: { kind: 'int', min: -1, max: 65_535 },
    livenessTimeoutMs: { kind: 'int', min: 1000 },
  },
};

/**
 * Node's timers hold at most 2^31 - 1 ms (~24.8 days): setTimeout(fn, 3e9) warns and fires after 1 ms, so a
 * shutdown grace of 3e9 ms gave none at all. Every `...Ms` setting that is a duration is capped here
 * (decode.minTimestampMs is a point in time, not a duration).
 */
export const MAX_TIMER_MS = 2_147_483_647;
for (const keys of Object.values(RULES) as Record<string, Rule>[]) {
  for (const [key, rule] of Object.entries(keys)) if (rule.kind === 'int' && key.endsWith('Ms') && key !== 'minTimestampMs') rule.max = Math.min(rule.max ?? MAX_TIMER_MS, MAX_TIMER_MS);
}

/** Why `file` cannot serve as a certificate or key file (missing, not a regular file, unreadable), or undefined. */
function unreadableFile(file: string): string | undefined {
  try {
    if (!statSync(file).isFile()) return `${file} is not a regular file`;
    accessSync(file, fsConstants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `no file ${file}` : `cannot read ${file} (${code ?? 'error'})`;
  }
}

/** An IP literal, or a host name of RFC 1123 labels whose last label is not all digits (256.1.1.1 is neither). */
export function isListenHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.split('.');
  if (!labels.every((l) => /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(l))) return false;
  return !/^\d+$/.test(labels[labels.length - 1]!);
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function envName(section: string, key: string): string {
  return `CDR_${section.toUpperCase()}_${key.replace(/([A-Z])/g, '_$1').toUpperCase()}`;
}

/** Every environment variable the pipeline reads, for --help and the README. */
export function envVariables(): string[] {
  const out: string[] = [];
  for (const [section, keys] of Object.entries(RULES)) for (const key of Object.keys(keys)) out.push(envName(section, key));
  return out;
}

/** A value as a problem may show it: JSON, with credentials of any URL in it replaced by `***`. */
function shown(raw: unknown): string {
  return redactUrlsIn(JSON.stringify(raw) ?? String(raw));
}

function check(rule: Rule, raw: unknown, where: string, problems: string[]): unknown {
  switch (rule.kind) {
    case 'int': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) return void problems.push(`${where}: expected an integer, got ${shown(raw)}`);
      if (n < rule.min || (rule.max !== undefined && n > rule.max)) return void problems.push(`${where}: ${n} is outside ${rule.min}..${rule.max ?? '∞'}`);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return void problems.push(`${where}: expected true or false, got ${shown(raw)}`);
    }
    case 'enum':
      if (typeof raw === 'string' && rule.values.includes(raw)) return raw;
      return void problems.push(`${where}: expected one of ${rule.values.join(', ')}, got ${shown(raw)}`);
    case 'string':
      if (typeof raw !== 'string') return void problems.push(`${where}: expected a string, got ${rule.secret ? `a ${typeof raw} (value not shown)` : shown(raw)}`);
      if (!rule.allowEmpty && raw.length === 0) return void problems.push(`${where}: must not be empty`);
      if (rule.pattern && !rule.pattern.test(raw)) return void problems.push(`${where}: ${rule.secret ? '(value not shown)' : shown(raw)} does not match ${rule.pattern}`);
      return raw;
    case 'brokers': {
      const list = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
      if (!Array.isArray(list) || !list.every((b) => typeof b === 'string' && /^[^\s:]+:\d{1,5}$/.test(b))) {
        return void problems.push(`${where}: expected host:port[,host:port...], got ${shown(raw)}`);
      }
      return list;
    }
  }
}

export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Highest precedence, from command-line flags. */
  overrides?: { [S in keyof Config]?: Partial<Config[S]> };
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  let fileCfg: Record<string, Record<string, unknown>> = {};
  const file = opts.file ?? env.CDR_CONFIG;
  if (file) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) problems.push(`${file}: expected a JSON object`);
      else fileCfg = parsed as Record<string, Record<string, unknown>>;
    } catch (err) {
      // V8's JSON.parse messages quote a piece of the file, which may be a password: position only.
      const message = err instanceof SyntaxError ? `not valid JSON (${err.message.replace(/,? ".*" is not valid JSON$/s, '').replace(/^Unexpected token '.*?'/s, 'unexpected token')})` : (err as Error).message;
      problems.push(`${file}: ${message}`);
    }
  }
  for (const section of Object.keys(fileCfg)) {
    if (!(section in RULES)) problems.push(`${file}: unknown section "${section}" (known: ${Object.keys(RULES).join(', ')})`);
    else for (const key of Object.keys(fileCfg[section] ?? {})) if (!(key in (RULES as Record<string, object>)[section]!)) problems.push(`${file}: unknown key "${section}.${key}"`);
  }
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, keys] of Object.entries(RULES) as [keyof Config, Record<string, Rule>][]) {
    out[section] = {};
    for (const [key, rule] of Object.entries(keys)) {
      let raw: unknown = (DEFAULTS[section] as Record<string, unknown>)[key];
      let where = `default ${section}.${key}`;
      const fromFile = fileCfg[section]?.[key];
      if (fromFile !== undefined) {
        raw = fromFile;
        where = `${file}: ${section}.${key}`;
      }
      const name = envName(section, key);
      const fromEnv = env[name] ?? (section === 'kafka' && key === 'brokers' ? env.KAFKA_BROKERS : undefined);
      if (fromEnv !== undefined && fromEnv !== '') {
        raw = fromEnv;
        where = env[name] !== undefined ? name : 'KAFKA_BROKERS';
      }
      const fromFlag = (opts.overrides?.[section] as Record<string, unknown> | undefined)?.[key];
      if (fromFlag !== undefined) {
        raw = fromFlag;
        where = `flag for ${section}.${key}`;
      }
      out[section]![key] = check(rule, raw, where, problems);
    }
  }
  const cfg = out as unknown as Config;
  // Checked here (exit 2, listed with every other problem) rather than when the endpoint listens after migrations.
  if (typeof cfg.telemetry.metricsHost === 'string' && !isListenHost(cfg.telemetry.metricsHost)) problems.push(`telemetry.metricsHost: ${shown(cfg.telemetry.metricsHost)} is neither an IP address nor a host name`);
  if (problems.length === 0) resolveSecrets(cfg, problems);
  if (problems.length === 0) {
    if (cfg.decode.format === 'confluent' && cfg.decode.registryUrl === '') problems.push('decode.format is confluent: decode.registryUrl (CDR_DECODE_REGISTRY_URL) must name the schema registry');
    if (cfg.decode.writerSchema !== '' && !existsSync(cfg.decode.writerSchema)) problems.push(`decode.writerSchema: no file ${cfg.decode.writerSchema}`);
    if (cfg.rating.referenceDir !== '' && !existsSync(cfg.rating.referenceDir)) problems.push(`rating.referenceDir: no folder ${cfg.rating.referenceDir}`);
    if (cfg.rating.tariffFile !== '' && !existsSync(cfg.rating.tariffFile)) problems.push(`rating.tariffFile: no file ${cfg.rating.tariffFile}`);
    if (cfg.sink.retryMaxMs < cfg.sink.retryInitialMs) problems.push('sink.retryMaxMs must be >= sink.retryInitialMs');
    // A buffer flushes at maxBatchRows; a budget below it would pause every partition before a full batch.
    if (cfg.sink.maxBufferedRows < cfg.sink.maxBatchRows) problems.push(`sink.maxBufferedRows (${cfg.sink.maxBufferedRows}) must be >= sink.maxBatchRows (${cfg.sink.maxBatchRows})`);
    if (cfg.kafka.heartbeatIntervalMs * 3 > cfg.kafka.sessionTimeoutMs) problems.push('kafka.heartbeatIntervalMs must be at most a third of kafka.sessionTimeoutMs (Kafka consumer rule)');
    checkTls(cfg, problems);
    problems.push(...retentionProblems(cfg.retention));
  }
  if (problems.length) throw new ConfigError(problems);
  return cfg;
}

/**
 * Secrets from files: `<key>File` names a file whose content (one trailing newline removed) becomes `<key>`,
 * so passwords can come from mounted secrets (Docker/Kubernetes) instead of the config file. Setting both
 * is a problem; no problem message ever shows a secret.
 */
const SECRET_FILES: [section: 'kafka' | 'decode' | 'clickhouse', key: string, fileKey: string][] = [
  ['kafka', 'saslPassword', 'saslPasswordFile'],
  ['kafka', 'sslKeyPassword', 'sslKeyPasswordFile'],
  ['decode', 'registryPassword', 'registryPasswordFile'],
  ['clickhouse', 'password', 'passwordFile'],
];

function resolveSecrets(cfg: Config, problems: string[]): void {
  for (const [section, key, fileKey] of SECRET_FILES) {
    const sec = cfg[section] as unknown as Record<string, string>;
    const file = sec[fileKey] ?? '';
    if (file === '') continue;
    if ((sec[key] ?? '') !== '') {
      problems.push(`${section}.${key} and ${section}.${fileKey} are both set (${envName(section, key)} / ${envName(section, fileKey)}): keep one`);
      continue;
    }
    try {
      sec[key] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${section}.${fileKey}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}

function checkTls(cfg: Config, problems: string[]): void {
  const k = cfg.kafka;
  const kafkaFiles: [string, string][] = [
    ['sslCaFile', k.sslCaFile],
    ['sslCertFile', k.sslCertFile],
    ['sslKeyFile', k.sslKeyFile],
  ];
  for (const [key, file] of kafkaFiles) {
    if (file === '') continue;
    if (!k.ssl) problems.push(`kafka.${key} is set but kafka.ssl is false (CDR_KAFKA_SSL=true turns TLS on)`);
    else {
      const why = unreadableFile(file);
      if (why) problems.push(`kafka.${key}: ${why}`);
    }
  }
  if ((k.sslCertFile === '') !== (k.sslKeyFile === '')) problems.push('kafka.sslCertFile and kafka.sslKeyFile go together (a client certificate needs its key)');
  if (k.saslMechanism !== 'none') {
    if (k.saslUsername === '') problems.push(`kafka.saslMechanism is ${k.saslMechanism}: kafka.saslUsername (CDR_KAFKA_SASL_USERNAME) must be set`);
    if (k.saslPassword === '') problems.push(`kafka.saslMechanism is ${k.saslMechanism}: set kafka.saslPasswordFile (CDR_KAFKA_SASL_PASSWORD_FILE) or CDR_KAFKA_SASL_PASSWORD`);
  }
  const c = cfg.clickhouse;
  const chFiles: [string, string][] = [
    ['caFile', c.caFile],
    ['certFile', c.certFile],
    ['keyFile', c.keyFile],
  ];
  for (const [key, file] of chFiles) {
    const why = file === '' ? undefined : unreadableFile(file);
    if (why) problems.push(`clickhouse.${key}: ${why}`);
  }
  if ((c.certFile === '') !== (c.keyFile === '')) problems.push('clickhouse.certFile and clickhouse.keyFile go together (a client certificate needs its key)');
  if (c.certFile !== '' && c.caFile === '') problems.push('clickhouse.certFile needs clickhouse.caFile (@clickhouse/client takes a client certificate only with the CA)');
  if (c.mode === 'server' && (c.caFile !== '' || c.certFile !== '') && !c.url.startsWith('https://')) problems.push(`clickhouse.caFile/certFile are for TLS: clickhouse.url must start with https:// (got ${redactUrlsIn(c.url)})`);
}

/** The security settings every Kafka client of the pipeline uses (schemas/security.ts). */
export function kafkaSecurity(cfg: Config): KafkaSecurity {
  const k = cfg.kafka;
  return {
    ssl: k.ssl,
    sslCaFile: k.sslCaFile,
    sslCertFile: k.sslCertFile,
    sslKeyFile: k.sslKeyFile,
    sslKeyPassword: k.sslKeyPassword,
    sslRejectUnauthorized: k.sslRejectUnauthorized,
    sslServername: k.sslServername,
    saslMechanism: k.saslMechanism,
    saslUsername: k.saslUsername,
    saslPassword: k.saslPassword,
  };
}

/** Brokers and security of the configuration, for the admin helpers (ensureTopic, topicEndOffsets, ...). */
export function kafkaConnection(cfg: Config, brokers: string[] = cfg.kafka.brokers): KafkaConnection {
  return { brokers, security: kafkaSecurity(cfg) };
}
