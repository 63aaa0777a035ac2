/**
 * docker-compose.yml cannot be started here (no Docker engine), so it is checked in
 * two ways: against the Compose Specification schema with dclint (npm; the same schema `docker compose
 * config` applies), and for the facts users depend on: pinned images, the Grafana and Prometheus wiring to
 * the files under dashboards/, and a pipeline environment that loadConfig() accepts in server mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DCLinter } from 'dclint';
import { parse } from 'yaml';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { envVariables, loadConfig } from '../pipeline/config.js';
import { createLogger } from '../pipeline/telemetry.js';
import { packageRoot } from '../schemas/index.js';
import { groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { openServer } from '../sinks/clickhouse/connection.js';
import { freePort, startLocalBroker } from '../tools/local/broker.js';
import { startClickHouseEndpoint } from './clickhouse-endpoint.js';
import { chPath, waitFor } from './helpers.js';
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
    expect(Object.keys(services).sort()).toEqual(['clickhouse', 'generator', 'grafana', 'kafka', 'kafka-init', 'pipeline', 'prometheus', 'reference-data', 'reference-import']);
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
    // The topic the pipeline consumes is one kafka-init creates, with its partition count.
    expect(environment(service('kafka-init')).CDR_TOPICS!.split(/\s+/)).toContain(`${cfg.kafka.topic}:${cfg.kafka.partitions}`);
    expect(s.depends_on).toEqual({ clickhouse: { condition: 'service_healthy' }, 'kafka-init': { condition: 'service_completed_successfully' }, 'reference-import': { condition: 'service_completed_successfully' } });
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

/**
 * The stack as `docker compose up` + `--profile demo up generator` starts it, without Docker: the same
 * services in the same order with the same settings. What differs is only where things run: the broker is
 * the local Apache Kafka (same release) with the compose broker's KAFKA_* properties (auto-creation off);
 * kafka-init's shell script runs as written, with /opt/kafka/bin/kafka-topics.sh answered by a stand-in that
 * creates the topic it is asked for through the admin API (the Maven classpath has no kafka-tools); ClickHouse
 * is the test endpoint (ClickHouse's HTTP interface over chDB); host names become 127.0.0.1 ports. The
 * pipeline runs the image's CMD with the compose environment; the demo population is smaller
 * (CDR_DEMO_SUBSCRIBERS, read by generator and reference-data alike).
 */
describe('docker-compose.yml: the stack started as compose starts it (auto-creation off)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdr-compose-run-'));
  const demoEnv = { CDR_DEMO_SUBSCRIBERS: '1000' };
  const cli = join(root, 'bin', 'cdr-pipeline.js');
  const image = dockerfileEnv();
  let broker: { brokers: string[]; stop(): Promise<void> } | undefined;
  let endpoint: { url: string; close(): Promise<void> } | undefined;
  let pipeline: ChildProcess | undefined;

  afterAll(async () => {
    if (pipeline && pipeline.exitCode === null) pipeline.kill('SIGKILL');
    await endpoint?.close();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A service's command (compose interpolation with the demo variables), host names and volumes mapped. */
  function commandOf(name: string, map: (a: string) => string): string[] {
    return (service(name).command as string[]).map((a) => map(interpolate(a, demoEnv)));
  }

  it('starts kafka -> kafka-init -> reference-data -> reference-import -> pipeline -> generator and stores, rates, alerts and commits', async () => {
    expect(existsSync(join(root, 'dist', 'cli', 'index.js')), 'run `npm run build` first (npm test does)').toBe(true);
    const quiet = createLogger('silent');
    // kafka: the compose broker's settings that are not about its network or storage.
    const kenv = environment(service('kafka'));
    const skip = new Set(['NODE_ID', 'PROCESS_ROLES', 'LISTENERS', 'ADVERTISED_LISTENERS', 'LISTENER_SECURITY_PROTOCOL_MAP', 'CONTROLLER_LISTENER_NAMES', 'CONTROLLER_QUORUM_VOTERS', 'INTER_BROKER_LISTENER_NAME', 'LOG_DIRS']);
    const properties = Object.fromEntries(Object.entries(kenv).filter(([k]) => k.startsWith('KAFKA_') && !skip.has(k.slice(6))).map(([k, v]) => [k.slice(6).toLowerCase().replace(/_/g, '.'), v]));
    expect(properties['auto.create.topics.enable']).toBe('false');
    broker = await startLocalBroker({ dir: join(dir, 'kafka'), port: 0, log: quiet, properties });
    const bootstrap = broker.brokers[0]!;
    const host = (a: string) => a.replace('kafka:19092', bootstrap);
    const admin = new Kafka({ clientId: 'compose-test', brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      // Auto-creation really is off: metadata for an unknown topic does not create it.
      await admin.fetchTopicMetadata({ topics: ['not.created.by.asking'] }).catch(() => undefined);
      expect(await admin.listTopics()).not.toContain('not.created.by.asking');

      // kafka-init: its script, run by sh, with the stand-in kafka-topics.sh.
      const standIn = join(dir, 'kafka-topics.mjs');
      writeFileSync(standIn, KAFKA_TOPICS_STAND_IN.replace('KAFKAJS', JSON.stringify(join(root, 'node_modules', 'kafkajs', 'index.js'))));
      const init = service('kafka-init');
      const script = (init.command as string[])[0]!.replace(/\$\$/g, '$').replace('/opt/kafka/bin/kafka-topics.sh', `node ${standIn}`).replace('kafka:19092', bootstrap);
      expect((init as { entrypoint?: string[] }).entrypoint).toEqual(['/bin/sh', '-ec']);
      const r = await runChild('/bin/sh', ['-ec', script], { ...process.env, ...environment(init) });
      expect(r.status, r.stderr).toBe(0);
      const topics = await admin.fetchTopicMetadata({ topics: [] });
      const partitions = new Map(topics.topics.map((t) => [t.name, t.partitions.length]));
      for (const spec of environment(init).CDR_TOPICS!.split(/\s+/)) {
        const [name, n] = spec.split(':');
        expect(partitions.get(name!), `kafka-init did not create ${name}`).toBe(Number(n));
      }

      // clickhouse: the server the pipeline, reference-import (and Grafana) talk to over HTTP.
      endpoint = await startClickHouseEndpoint({ path: chPath() });
      const chUrl = (a: string) => a.replace('http://clickhouse:8123', endpoint!.url);
      const envOf = (name: string, extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...image, ...Object.fromEntries(Object.entries(environment(service(name))).map(([k, v]) => [k, chUrl(host(v))])), ...extra });

      // reference-data, then reference-import (the shared volume is a folder here).
      const volume = join(dir, 'reference');
      const vol = (a: string) => a.replace('/data/reference', volume);
      const refData = await runChild(process.execPath, commandOf('reference-data', vol).slice(1), envOf('reference-data'));
      expect(refData.status, refData.stderr).toBe(0);
      expect(existsSync(join(volume, 'lines.csv'))).toBe(true);
      const refImport = await runChild(process.execPath, commandOf('reference-import', vol).slice(1), envOf('reference-import'));
      expect(refImport.status, refImport.stderr).toBe(0);
      expect(refImport.stdout).toMatch(/imported reference snapshot/);

      // pipeline: the image's CMD with the compose environment (metrics on a free port of this machine).
      const metricsPort = await freePort();
      pipeline = spawn(process.execPath, [cli, 'run'], { env: envOf('pipeline', { CDR_TELEMETRY_METRICS_HOST: '127.0.0.1', CDR_TELEMETRY_METRICS_PORT: String(metricsPort), CDR_TELEMETRY_LOG_LEVEL: 'warn', CDR_AGGREGATES_REFRESH_INTERVAL_MS: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      pipeline.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)));
      const url = `http://127.0.0.1:${metricsPort}`;
      await waitFor('the pipeline to be ready', async () => pipeline!.exitCode === null && (await fetch(`${url}/readyz`).then((x) => x.ok, () => false)), 90_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${stderr}`);
      });

      // generator (demo profile): a day of the population with every scenario and corrupt records.
      const gen = await runChild(process.execPath, commandOf('generator', (a) => a).slice(1), envOf('generator'));
      expect(gen.status, gen.stderr).toBe(0);
      const m = /generated (\d+) CDRs and (\d+) corrupt records/.exec(gen.stdout);
      expect(m, gen.stdout).not.toBeNull();
      const [cdrs, corrupt] = [Number(m![1]), Number(m![2])];
      expect(corrupt).toBeGreaterThan(0);

      const conn = await openServer({ url: endpoint.url, username: 'default', password: '', database: 'cdr', requestTimeoutMs: 30_000, createDatabase: false });
      try {
        const counts = await waitFor(
          'every CDR and dead letter stored, and fraud alerts raised',
          async () => {
            const [c] = await conn.query<{ stored: string; unrated: string; dead: string; alerts: string }>(
              "SELECT (SELECT count() FROM cdrs FINAL) AS stored, (SELECT countIf(rating_status != 'RATED') FROM cdrs FINAL) AS unrated, (SELECT count() FROM dead_letters) AS dead, (SELECT count() FROM fraud_alerts) AS alerts",
            );
            return c && Number(c.stored) === cdrs && Number(c.dead) >= corrupt && Number(c.alerts) > 0 ? c : undefined;
          },
          150_000,
          1000,
        ).catch((err: Error) => {
          throw new Error(`${err.message}\n${stderr}`);
        });
        // Rated against the imported snapshot: a CDR the reference data cannot price would be UNRATED.
        expect(Number(counts.unrated)).toBeLessThan(cdrs * 0.01);
        console.log(`compose stack: ${cdrs} CDRs stored (${counts.unrated} not rated), ${counts.dead} dead letters, ${counts.alerts} fraud alerts`);
      } finally {
        await conn.close();
      }
      // Commits moved to the end of every CDR partition, and the metrics say so.
      const ends = await topicEndOffsets(broker.brokers, 'cdr.raw', quiet);
      await waitFor('commits at the end of every partition', async () => {
        const committed = await groupOffsets(broker!.brokers, 'cdr-pipeline', 'cdr.raw', quiet);
        return [...ends].every(([p, end]) => committed.get(p) === end);
      }, 60_000);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      for (const [p, end] of ends) expect(metrics).toContain(`cdr_source_committed_offset{topic="cdr.raw",partition="${p}"} ${end}`);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);

      // docker compose stop: SIGTERM, then SIGKILL after stop_grace_period.
      const grace = seconds((service('pipeline') as { stop_grace_period?: string }).stop_grace_period ?? '10s');
      const t0 = Date.now();
      const exited = new Promise<number | null>((res) => pipeline!.once('exit', (code) => res(code)));
      pipeline.kill('SIGTERM');
      const code = await exited;
      const took = (Date.now() - t0) / 1000;
      console.log(`compose stack: pipeline exited ${code} ${took.toFixed(1)} s after SIGTERM (stop_grace_period ${grace} s)`);
      expect(code).toBe(0);
      expect(took).toBeLessThan(grace);
    } finally {
      await admin.disconnect();
    }
  }, 300_000);
});

describe('docker-compose.yml: everything a service names exists or is created', () => {
  it('every topic the pipeline and the generator use is created by kafka-init, with the pipeline partition count', () => {
    const created = new Map(environment(service('kafka-init')).CDR_TOPICS!.split(/\s+/).map((s) => s.split(':') as [string, string]).map(([t, n]) => [t, Number(n)]));
    const cfg = loadConfig({ env: environment(service('pipeline')) });
    const gen = loadConfig({ env: environment(service('generator')) });
    for (const t of [cfg.kafka.topic, cfg.kafka.deadLetterTopic, cfg.fraud.eventsTopic, gen.kafka.topic]) expect(created.get(t), `topic ${t} is not created`).toBe(cfg.kafka.partitions);
    expect(created.has(cfg.fraud.alertsTopic), `topic ${cfg.fraud.alertsTopic}`).toBe(true);
    expect(environment(service('kafka')).KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
  });

  it('reference data is generated for the generated population and imported before the pipeline starts, which rates from ClickHouse', () => {
    const population = (name: string) => {
      const c = (service(name).command as string[]).map((a) => interpolate(a));
      const pick = (flag: string) => c[c.indexOf(flag) + 1];
      return ['--seed', '--subscribers', '--days', '--start', '--scenarios'].map((f) => [f, pick(f)]);
    };
    expect(population('reference-data')).toEqual(population('generator'));
    expect(population('generator')).toContainEqual(['--scenarios', 'all']);
    expect(population('generator')).toContainEqual(['--days', '1']);
    const out = (service('reference-data').command as string[]).at(-1)!;
    expect((service('reference-import').command as string[]).at(-1)).toBe(out);
    const volumeOf = (name: string) => (service(name).volumes as string[]).find((v) => v.split(':')[1] === out)?.split(':')[0];
    expect(volumeOf('reference-data')).toBe('reference-data');
    expect(volumeOf('reference-import')).toBe('reference-data');
    expect(Object.keys((compose as { volumes?: Record<string, unknown> }).volumes ?? {})).toContain('reference-data');
    // The image lets the node user write the volume's mount point (named volumes take its owner).
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toMatch(new RegExp(`mkdir -p ${out} && chown node:node ${out}`));
    const deps = (name: string) => service(name).depends_on as Record<string, { condition: string }>;
    expect(deps('reference-import')['reference-data']).toEqual({ condition: 'service_completed_successfully' });
    expect(deps('pipeline')['reference-import']).toEqual({ condition: 'service_completed_successfully' });
    const cfg = loadConfig({ env: environment(service('pipeline')) });
    expect(cfg.rating.referenceSource).toBe('clickhouse');
    expect(cfg.fraud.enabled).toBe(true);
    const imp = loadConfig({ env: environment(service('reference-import')) });
    expect([imp.clickhouse.url, imp.clickhouse.username, imp.clickhouse.database]).toEqual([cfg.clickhouse.url, cfg.clickhouse.username, cfg.clickhouse.database]);
  });

  it('Grafana reads ClickHouse as a read-only user that the ClickHouse server defines (users.d), with the Grafana reader role\'s grants', () => {
    const ch = service('clickhouse');
    const mount = bindMounts(ch).find(([, dst]) => dst.startsWith('/etc/clickhouse-server/users.d/'));
    expect(mount, 'no users.d file mounted into clickhouse').toBeDefined();
    const xml = readFileSync(join(root, norm(mount![0])), 'utf8');
    const genv = environment(service('grafana'));
    expect(genv.CLICKHOUSE_USER).not.toBe(environment(ch).CLICKHOUSE_USER); // never the pipeline's read-write user
    const user = new RegExp(`<users>[\\s\\S]*<${genv.CLICKHOUSE_USER}>([\\s\\S]*?)</${genv.CLICKHOUSE_USER}>`).exec(xml);
    expect(user, `users.d defines no user ${genv.CLICKHOUSE_USER}`).not.toBeNull();
    const profile = /<profile>(\w+)<\/profile>/.exec(user![1]!)![1]!;
    const prof = new RegExp(`<profiles>[\\s\\S]*<${profile}>([\\s\\S]*?)</${profile}>`).exec(xml)![1]!;
    expect(prof).toMatch(/<readonly>1<\/readonly>/);
    // The plugin sets max_execution_time on every query: allowed in read-only mode, nothing else is.
    expect(prof).toMatch(/<max_execution_time>\s*<changeable_in_readonly\/>/);
    // Exactly the grants of the cdr_grafana_reader role (schemas/ddl/roles/roles.sql): identity-free views and
    // aggregates, never the database as a whole (users.d users cannot be given a role the server creates later).
    const db = String(environment(ch).CLICKHOUSE_DB);
    const roleGrants = [...readFileSync(join(root, 'schemas/ddl/roles/roles.sql'), 'utf8').matchAll(/^(GRANT SELECT(?:\([^)]*\))? ON )\{database\}(\.\w+) TO cdr_grafana_reader;$/gm)].map((m) => `${m[1]}${db}${m[2]}`);
    expect(roleGrants.length).toBeGreaterThan(5);
    expect([...user![1]!.matchAll(/<query>([^<]+)<\/query>/g)].map((m) => m[1])).toEqual(roleGrants);
    // Its password is the server's environment variable, the one Grafana's datasource is given.
    const passwordVar = /<password from_env="(\w+)"\/>/.exec(user![1]!)![1]!;
    expect(environment(ch)[passwordVar]).toBe(genv.CLICKHOUSE_PASSWORD);
    const ds = readFileSync(join(root, 'dashboards/provisioning/datasources/datasources.yml'), 'utf8');
    expect(ds).toContain('username: ${CLICKHOUSE_USER}');
  });

  it('every file a service mounts exists, and every table the pipeline writes is created by the migrations', () => {
    for (const [name, s] of Object.entries(services)) for (const [src] of bindMounts(s)) expect(existsSync(join(root, norm(src))), `${name} mounts missing ${src}`).toBe(true);
    const ddl = readdirSync(join(root, 'schemas', 'ddl')).filter((f) => f.endsWith('.sql')).map((f) => readFileSync(join(root, 'schemas', 'ddl', f), 'utf8')).join('\n');
    for (const table of ['cdrs', 'dead_letters', 'fraud_alerts', 'agg_usage_daily', 'agg_traffic_hourly', 'reference_versions', 'ref_lines']) expect(ddl, `no migration creates ${table}`).toMatch(new RegExp(`CREATE TABLE IF NOT EXISTS\\s+(\\{?\\w*\\}?\\.)?${table}\\b`, 'i'));
  });

  it('stop_grace_period leaves the pipeline its shutdown timeout plus a minute', () => {
    const cfg = loadConfig({ env: environment(service('pipeline')) });
    expect(seconds((service('pipeline') as { stop_grace_period?: string }).stop_grace_period ?? '10s')).toBeGreaterThanOrEqual(cfg.sink.shutdownTimeoutMs / 1000 + 60);
  });
});

/** A child process run to its end without blocking this process (the ClickHouse endpoint answers from it). */
function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 180_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.once('close', (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Compose durations: `90s`, `1m30s`. */
function seconds(d: string): number {
  let s = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)) s += Number(m[1]) * { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 }[m[2] as 'h']!;
  return s;
}

/** The ENV the Dockerfile sets in the runtime image (every service built from it starts with them). */
function dockerfileEnv(): Record<string, string> {
  const df = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const last = df.slice(df.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const m of last.matchAll(/^ENV ((?:[^\n]*\\\n)*[^\n]*)/gm)) for (const kv of m[1]!.replace(/\\\n/g, ' ').trim().split(/\s+/)) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

/** Answers `kafka-topics.sh --bootstrap-server B --create [--if-not-exists] --topic T --partitions N --replication-factor R`. */
const KAFKA_TOPICS_STAND_IN = `
import kafkajs from KAFKAJS;
const a = process.argv.slice(2);
const arg = (f) => a[a.indexOf(f) + 1];
if (!a.includes('--create')) { console.error('stand-in supports --create only'); process.exit(2); }
const admin = new kafkajs.Kafka({ clientId: 'kafka-topics', brokers: [arg('--bootstrap-server')], logLevel: kafkajs.logLevel.NOTHING }).admin();
await admin.connect();
try {
  const exists = (await admin.listTopics()).includes(arg('--topic'));
  if (exists && !a.includes('--if-not-exists')) { console.error('Topic ' + arg('--topic') + ' already exists.'); process.exit(1); }
  if (!exists) await admin.createTopics({ topics: [{ topic: arg('--topic'), numPartitions: Number(arg('--partitions')), replicationFactor: Number(arg('--replication-factor')) }], waitForLeaders: true });
  console.log('Created topic ' + arg('--topic') + '.');
} finally { await admin.disconnect(); }
`;
