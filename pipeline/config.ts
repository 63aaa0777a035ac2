/**
 * Configuration: embedded defaults, overridden by a JSON file (--config FILE or CDR_CONFIG), overridden by
 * environment variables. Validated once at start-up; every wrong value is reported with its source and what
 * was expected, all at once. Keys carry their units (STYLE.md §8).
 *
 * Environment variables: CDR_<SECTION>_<KEY> in SCREAMING_SNAKE_CASE, e.g. CDR_SINK_MAX_BATCH_ROWS=20000,
 * CDR_CLICKHOUSE_MODE=server. KAFKA_BROKERS (comma-separated) is accepted as an alias of CDR_KAFKA_BROKERS.
 */
import { existsSync, readFileSync } from 'node:fs';

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
  };
  decode: {
    maxFutureSkewMs: number;
    maxDurationMs: number;
    /** Framing of Kafka values: `avro` = bare Avro datum of writerSchema; `confluent` = magic byte, schema id, datum. */
    format: 'avro' | 'confluent';
    /** avro: path of the writer schema (.avsc); empty = the bundled schemas/avro/cdr.v1.avsc. */
    writerSchema: string;
    /** confluent: schema registry base URL (Apicurio: http://host:8080/apis/ccompat/v7). */
    registryUrl: string;
    registryUsername: string;
    registryPassword: string;
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
  };
  clickhouse: {
    mode: 'embedded' | 'server';
    /** embedded: chDB data directory. */
    path: string;
    /** server: HTTP(S) endpoint of a ClickHouse server. */
    url: string;
    username: string;
    password: string;
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
  };
  aggregates: {
    /**
     * `run` recomputes the stale days of the pre-aggregates (agg_usage_daily, agg_traffic_hourly) this often,
     * beside ingestion (reports/aggregates/aggregates.ts AggregateRefresher); 0 = never (refresh with `cdr-pipeline
     * aggregate` instead).
     */
    refreshIntervalMs: number;
  };
  telemetry: {
    logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    metricsHost: string;
    /** 0 picks a free port; -1 disables the endpoint. */
    metricsPort: number;
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
  },
  decode: {
    maxFutureSkewMs: 60 * 60 * 1000,
    maxDurationMs: 24 * 60 * 60 * 1000,
    format: 'avro',
    writerSchema: '',
    registryUrl: '',
    registryUsername: '',
    registryPassword: '',
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
  },
  clickhouse: {
    mode: 'embedded',
    path: './data/clickhouse',
    url: 'http://127.0.0.1:8123',
    username: 'default',
    password: '',
    database: 'cdr',
    requestTimeoutMs: 30_000,
    migrateOnStart: true,
  },
  sink: {
    maxBatchRows: 50_000,
    maxBatchBytes: 16 * 1024 * 1024,
    flushIntervalMs: 1_000,
    retryInitialMs: 200,
    retryMaxMs: 10_000,
    shutdownTimeoutMs: 30_000,
  },
  aggregates: {
    refreshIntervalMs: 5 * 60 * 1000,
  },
  telemetry: {
    logLevel: 'info',
    metricsHost: '127.0.0.1',
    metricsPort: 9464,
  },
};

type Rule = { kind: 'int'; min: number; max?: number } | { kind: 'string'; pattern?: RegExp; allowEmpty?: boolean } | { kind: 'enum'; values: readonly string[] } | { kind: 'bool' } | { kind: 'brokers' };

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
  },
  decode: {
    maxFutureSkewMs: { kind: 'int', min: 0 },
    maxDurationMs: { kind: 'int', min: 1 },
    format: { kind: 'enum', values: ['avro', 'confluent'] },
    writerSchema: { kind: 'string', allowEmpty: true },
    registryUrl: { kind: 'string', allowEmpty: true, pattern: /^(https?:\/\/[^\s]+)?$/ },
    registryUsername: { kind: 'string', allowEmpty: true },
    registryPassword: { kind: 'string', allowEmpty: true },
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
  },
  clickhouse: {
    mode: { kind: 'enum', values: ['embedded', 'server'] },
    path: { kind: 'string' },
    url: { kind: 'string', pattern: /^https?:\/\/[^\s]+$/ },
    username: { kind: 'string' },
    password: { kind: 'string', allowEmpty: true },
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
  },
  aggregates: {
    // 0 = off; at most a day (a refresh interval longer than the day it refreshes defeats the point).
    refreshIntervalMs: { kind: 'int', min: 0, max: 86_400_000 },
  },
  telemetry: {
    logLevel: { kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    metricsHost: { kind: 'string' },
    metricsPort: { kind: 'int', min: -1, max: 65_535 },
  },
};

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

function check(rule: Rule, raw: unknown, where: string, problems: string[]): unknown {
  switch (rule.kind) {
    case 'int': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) return void problems.push(`${where}: expected an integer, got ${JSON.stringify(raw)}`);
      if (n < rule.min || (rule.max !== undefined && n > rule.max)) return void problems.push(`${where}: ${n} is outside ${rule.min}..${rule.max ?? '∞'}`);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return void problems.push(`${where}: expected true or false, got ${JSON.stringify(raw)}`);
    }
    case 'enum':
      if (typeof raw === 'string' && rule.values.includes(raw)) return raw;
      return void problems.push(`${where}: expected one of ${rule.values.join(', ')}, got ${JSON.stringify(raw)}`);
    case 'string':
      if (typeof raw !== 'string') return void problems.push(`${where}: expected a string, got ${JSON.stringify(raw)}`);
      if (!rule.allowEmpty && raw.length === 0) return void problems.push(`${where}: must not be empty`);
      if (rule.pattern && !rule.pattern.test(raw)) return void problems.push(`${where}: ${JSON.stringify(raw)} does not match ${rule.pattern}`);
      return raw;
    case 'brokers': {
      const list = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
      if (!Array.isArray(list) || !list.every((b) => typeof b === 'string' && /^[^\s:]+:\d{1,5}$/.test(b))) {
        return void problems.push(`${where}: expected host:port[,host:port...], got ${JSON.stringify(raw)}`);
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
      problems.push(`${file}: ${(err as Error).message}`);
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
  if (problems.length === 0) {
    if (cfg.decode.format === 'confluent' && cfg.decode.registryUrl === '') problems.push('decode.format is confluent: decode.registryUrl (CDR_DECODE_REGISTRY_URL) must name the schema registry');
    if (cfg.decode.writerSchema !== '' && !existsSync(cfg.decode.writerSchema)) problems.push(`decode.writerSchema: no file ${cfg.decode.writerSchema}`);
    if (cfg.rating.referenceDir !== '' && !existsSync(cfg.rating.referenceDir)) problems.push(`rating.referenceDir: no folder ${cfg.rating.referenceDir}`);
    if (cfg.rating.tariffFile !== '' && !existsSync(cfg.rating.tariffFile)) problems.push(`rating.tariffFile: no file ${cfg.rating.tariffFile}`);
    if (cfg.sink.retryMaxMs < cfg.sink.retryInitialMs) problems.push('sink.retryMaxMs must be >= sink.retryInitialMs');
    if (cfg.kafka.heartbeatIntervalMs * 3 > cfg.kafka.sessionTimeoutMs) problems.push('kafka.heartbeatIntervalMs must be at most a third of kafka.sessionTimeoutMs (Kafka consumer rule)');
  }
  if (problems.length) throw new ConfigError(problems);
  return cfg;
}
