/**
 * docker-compose.yml cannot be started here (no Docker engine, ../shared/PLATFORM.md), so it is checked in
 * two ways: against the Compose Specification schema with dclint (npm; the same schema `docker compose
 * config` applies), and for the facts users depend on: pinned images, the Grafana and Prometheus wiring to
 * the files under dashboards/, and a pipeline environment that loadConfig() accepts in server mode.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DCLinter } from 'dclint';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { envVariables, loadConfig } from '../pipeline/config.js';
import { packageRoot } from '../schemas/index.js';
import { CLICKHOUSE_PLUGIN_VERSION } from './tools/grafana-macros.js';

const root = packageRoot;
const composePath = join(root, 'docker-compose.yml');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  ports?: (string | number | object)[];
  command?: string | string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  profiles?: string[];
  ulimits?: Record<string, unknown>;
}
interface Compose {
  name?: string;
  services: Record<string, Service>;
}

const compose = parse(readFileSync(composePath, 'utf8')) as Compose;
const services = compose.services;

function service(name: string): Service {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
}

/** Compose interpolation with an empty environment: `${VAR:-default}` and `${VAR-default}` give the default, `$$` a `$`. */
function interpolate(value: string, env: Record<string, string> = {}): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}|\$(\w+)/g, (m, name?: string, op?: string, def?: string, bare?: string) => {
    if (m === '$$') return '$';
    const v = env[(name ?? bare)!];
    if (op === ':-') return v === undefined || v === '' ? (def ?? '') : v;
    if (op === '-') return v === undefined ? (def ?? '') : v;
    return v ?? '';
  });
}

function environment(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  const entries: [string, string][] = Array.isArray(env)
    ? env.map((e) => {
        const i = e.indexOf('=');
        return [e.slice(0, i), e.slice(i + 1)];
      })
    : Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(v)]));
}

/** Bind mounts as [host path, container path] (short syntax `./src:/dst[:ro]` or long syntax). */
function bindMounts(s: Service): [string, string][] {
  return (s.volumes ?? []).flatMap((v): [string, string][] => {
    if (typeof v === 'string') {
      const [src, dst] = v.split(':');
      return src && dst && (src.startsWith('.') || src.startsWith('/')) ? [[src.replace(/\/$/, ''), dst.replace(/\/$/, '')]] : [];
    }
    return v.type === 'bind' && v.source && v.target ? [[v.source, v.target]] : [];
  });
}

const norm = (p: string) => p.replace(/^\.\//, '').replace(/\/$/, '');

/** dclint's result messages (its .d.ts files use extension-less imports, which NodeNext resolution cannot follow). */
interface LintMessage {
  rule: string;
  type: 'error' | 'warning';
  message: string;
  line: number;
  column: number;
}

describe('docker-compose.yml: Compose Specification (dclint)', () => {
  const linter = new DCLinter({ rules: {}, quiet: true, debug: false, exclude: [] });
  const lint = (path: string): LintMessage[] => {
    const results = linter.lintFiles([path], false) as { filePath: string; messages: LintMessage[] }[];
    expect(results.map((r) => r.filePath), 'dclint linted no file').toHaveLength(1);
    return results[0]!.messages;
  };

  it('is valid YAML and valid against the Compose schema, with no dclint errors', () => {
    const messages = lint(composePath);
    expect(messages.filter((m) => m.type === 'error').map((m) => `${m.line}:${m.column} ${m.rule}: ${m.message}`)).toEqual([]);
    // Style findings (key order, quoting) are warnings: reported, not failed on; `npx dclint --fix` fixes most.
    const warnings = messages.filter((m) => m.type === 'warning');
    if (warnings.length) console.warn(`dclint warnings:\n${warnings.map((m) => `  ${m.line}: ${m.rule}: ${m.message}`).join('\n')}`);
  });

  it('the schema check does reject an invalid file (the linter is really validating)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdr-compose-'));
    const bad = join(dir, 'docker-compose.yml');
    try {
      writeFileSync(bad, 'name: bad\nservices:\n  a:\n    image: busybox:1.36\n    depends_on:\n      b:\n        condition: when_ready\n  b:\n    image: busybox:1.36\n');
      expect(lint(bad).map((m) => m.rule)).toContain('invalid-schema');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docker-compose.yml: what users depend on', () => {
  it('has a project name and the expected services', () => {
    expect(compose.name).toBe('cdr-pipeline');
    expect(Object.keys(services).sort()).toEqual(['clickhouse', 'generator', 'grafana', 'kafka', 'kafka-init', 'pipeline', 'prometheus']);
  });

  it('pins every image to an explicit version tag (never latest or a moving channel)', () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.image === undefined) {
        expect(s.build, `${name} has neither image nor build`).toBeDefined();
        continue;
      }
      const m = /^([a-z0-9./-]+):([A-Za-z0-9._-]+)$/.exec(s.image);
      expect(m, `${name}: image ${s.image} has no tag`).not.toBeNull();
      const tag = m![2]!;
      expect(['latest', 'stable', 'lts', 'edge', 'nightly', 'head', 'main'], `${name}: ${s.image}`).not.toContain(tag.toLowerCase());
      expect(tag, `${name}: ${s.image} tag carries no version number`).toMatch(/^v?\d+(\.\d+)+/);
    }
    expect(service('kafka').image).toMatch(/^apache\/kafka:4\.\d+\.\d+$/);
    expect(service('kafka-init').image).toBe(service('kafka').image);
    expect(service('clickhouse').image).toMatch(/^clickhouse\/clickhouse-server:\d+\.(3|8)(\.\d+)*$/); // LTS lines are x.3 and x.8
    expect(service('grafana').image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(service('prometheus').image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
  });

  it('Kafka runs KRaft with an internal listener for containers and localhost:9092 for the host', () => {
    const env = environment(service('kafka'));
    expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    const advertised = env.KAFKA_ADVERTISED_LISTENERS!.split(',');
    expect(advertised).toContain('PLAINTEXT_HOST://localhost:9092');
    expect(advertised).toContain('PLAINTEXT://kafka:19092');
    expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe(`${env.KAFKA_NODE_ID}@kafka:29093`);
    // CLUSTER_ID must be a base64url-encoded 16-byte UUID (Kafka's Uuid.fromString).
    expect(Buffer.from(env.CLUSTER_ID!, 'base64url').length).toBe(16);
    expect(env.CLUSTER_ID).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(service('kafka').ports).toContain('127.0.0.1:9092:9092');
    expect(service('kafka').healthcheck?.test).toBeDefined();
  });

  it('ClickHouse has credentials from the environment, a healthcheck and raised nofile limits', () => {
    const s = service('clickhouse');
    const env = environment(s);
    expect(env.CLICKHOUSE_USER).not.toBe('');
    expect(env.CLICKHOUSE_PASSWORD).not.toBe('');
    expect(env.CLICKHOUSE_DB).toBe('cdr');
    expect(s.healthcheck?.test).toBeDefined();
    expect(s.ulimits?.nofile).toEqual({ soft: 262144, hard: 262144 });
  });

  it('the pipeline is built from the Dockerfile and configured for server-mode ClickHouse, reachable metrics and the internal Kafka listener', () => {
    const s = service('pipeline');
    expect(s.build).toBe('.');
    const env = environment(s);
    // Every CDR_* variable is one the pipeline reads (a typo would be silently ignored).
    const known = new Set(envVariables());
    for (const k of Object.keys(env).filter((k) => k.startsWith('CDR_'))) expect(known, `unknown variable ${k}`).toContain(k);
    const cfg = loadConfig({ env });
    expect(cfg.clickhouse.mode).toBe('server');
    expect(new URL(cfg.clickhouse.url).hostname).toBe('clickhouse');
    expect(new URL(cfg.clickhouse.url).port).toBe('8123');
    expect(cfg.clickhouse.username).toBe(environment(service('clickhouse')).CLICKHOUSE_USER);
    expect(cfg.clickhouse.password).toBe(environment(service('clickhouse')).CLICKHOUSE_PASSWORD);
    expect(cfg.clickhouse.database).toBe(environment(service('clickhouse')).CLICKHOUSE_DB);
    expect(cfg.telemetry.metricsHost).toBe('0.0.0.0');
    expect(cfg.telemetry.metricsPort).toBe(9464);
    expect(cfg.kafka.brokers).toEqual(['kafka:19092']);
    expect(environment(service('kafka')).KAFKA_ADVERTISED_LISTENERS).toContain(`//${cfg.kafka.brokers[0]}`);
    // The topic kafka-init creates is the one the pipeline consumes, with its partition count.
    const init = service('kafka-init').command as string[];
    expect(init[init.indexOf('--topic') + 1]).toBe(cfg.kafka.topic);
    expect(Number(init[init.indexOf('--partitions') + 1])).toBe(cfg.kafka.partitions);
    expect(s.depends_on).toEqual({ clickhouse: { condition: 'service_healthy' }, 'kafka-init': { condition: 'service_completed_successfully' } });
    // chDB's native library (loaded by the ClickHouse sink module) exists on npm for linux-x64 only.
    expect((s as { platform?: string }).platform).toBe('linux/amd64');
    expect(s.healthcheck?.test).toBeDefined();
  });

  it('the generator is a demo-profile service publishing to the same broker and topic', () => {
    const s = service('generator');
    expect(s.profiles).toEqual(['demo']);
    const env = environment(s);
    for (const k of Object.keys(env).filter((k) => k.startsWith('CDR_'))) expect(new Set(envVariables()), `unknown variable ${k}`).toContain(k);
    const cfg = loadConfig({ env });
    const pipeline = loadConfig({ env: environment(service('pipeline')) });
    expect(cfg.kafka.brokers).toEqual(pipeline.kafka.brokers);
    expect(cfg.kafka.topic).toBe(pipeline.kafka.topic);
    expect((s.command as string[]).slice(0, 3)).toEqual(['node', 'bin/cdr-pipeline.js', 'generate']);
  });

  it('every service_healthy dependency has a healthcheck', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = s.depends_on;
      if (!deps || Array.isArray(deps)) continue;
      for (const [dep, { condition }] of Object.entries(deps)) {
        expect(services[dep], `${name} depends on unknown service ${dep}`).toBeDefined();
        if (condition === 'service_healthy') expect(services[dep]!.healthcheck?.test, `${dep} (needed healthy by ${name}) has no healthcheck`).toBeDefined();
      }
    }
  });

  it('Grafana preinstalls the pinned ClickHouse plugin and mounts provisioning and the dashboards folder the provider reads', () => {
    const s = service('grafana');
    const env = environment(s);
    expect(env.GF_PLUGINS_PREINSTALL_SYNC).toBe(`grafana-clickhouse-datasource@${CLICKHOUSE_PLUGIN_VERSION}`);
    const mounts = bindMounts(s).map(([src, dst]) => [norm(src), dst] as const);
    expect(mounts).toContainEqual(['dashboards/provisioning', '/etc/grafana/provisioning']);
    const dashboardsMount = mounts.find(([src]) => src === 'dashboards');
    expect(dashboardsMount, 'grafana does not mount ./dashboards').toBeDefined();
    const providers = (parse(readFileSync(join(root, 'dashboards/provisioning/dashboards/dashboards.yml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] }).providers;
    expect(providers.map((p) => p.options.path)).toContain(dashboardsMount![1]);
    // Datasource provisioning reads these from the grafana service's environment.
    const ds = readFileSync(join(root, 'dashboards/provisioning/datasources/datasources.yml'), 'utf8');
    for (const v of ds.matchAll(/\$\{(\w+)\}/g)) expect(Object.keys(env), `grafana lacks ${v[1]} for datasources.yml`).toContain(v[1]);
  });

  it('Prometheus mounts dashboards/prometheus, scrapes pipeline:9464 and loads alerts.yml', () => {
    const s = service('prometheus');
    const mounts = bindMounts(s).map(([src, dst]) => [norm(src), dst] as const);
    const promMount = mounts.find(([src]) => src === 'dashboards/prometheus');
    expect(promMount).toBeDefined();
    expect(s.command).toContain(`--config.file=${promMount![1]}/prometheus.yml`);
    const cfg = parse(readFileSync(join(root, 'dashboards/prometheus/prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    expect(cfg.rule_files).toContain('alerts.yml');
    const job = cfg.scrape_configs.find((j) => j.static_configs.some((c) => c.targets.includes('pipeline:9464')));
    expect(job, 'no scrape job targets pipeline:9464').toBeDefined();
    expect(job!.metrics_path ?? '/metrics').toBe('/metrics');
    // The alert rules select the scrape job by name.
    expect(readFileSync(join(root, 'dashboards/prometheus/alerts.yml'), 'utf8')).toContain(`up{job="${job!.job_name}"}`);
    const pipelinePort = loadConfig({ env: environment(service('pipeline')) }).telemetry.metricsPort;
    expect(pipelinePort).toBe(9464);
  });

  it('host ports bind to 127.0.0.1 only', () => {
    for (const [name, s] of Object.entries(services)) for (const p of s.ports ?? []) expect(String(p), `${name} publishes ${String(p)} on all interfaces`).toMatch(/^127\.0\.0\.1:/);
  });

  it('the Dockerfile builds on node:20-bookworm-slim with npm ci and npm run build and runs the pipeline', () => {
    const df = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const froms = [...df.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f).toBe('node:20-bookworm-slim');
    expect(df).toMatch(/^RUN npm ci\b/m);
    expect(df).toMatch(/^RUN npm run build$/m);
    expect(df).toMatch(/^CMD \["node", "bin\/cdr-pipeline\.js", "run"\]$/m);
    // Everything the build stage compiles must be in the build context (.dockerignore must not drop it).
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'schemas', 'ingest', 'enrich', 'sinks', 'pipeline', 'bin']) expect(ignored).not.toContain(needed);
    expect(ignored).toContain('node_modules');
    const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { include: string[] };
    for (const dir of tsconfig.include) expect(df, `Dockerfile does not copy ${dir}/`).toMatch(new RegExp(`^COPY ${dir} \\./${dir}$`, 'm'));
  });
});
