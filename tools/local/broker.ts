/**
 * A real Apache Kafka broker without Docker: the broker jars come from Maven Central
 * through tools/local/kafka-broker/pom.xml (cached in ~/.m2), KRaft storage is formatted with
 * kafka.tools.StorageTool and a single combined broker/controller runs on 127.0.0.1.
 * Used by `cdr-pipeline kafka start`, the demo and the test suite.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { packageRoot, type Log } from '../../schemas/index.js';
import { waitForBroker } from '../../ingest/kafka.js';

export const KAFKA_VERSION = '4.3.1';
const BROKER_POM_DIR = join(packageRoot, 'tools', 'local', 'kafka-broker');
const LIBS = join(BROKER_POM_DIR, 'target', 'libs');

export class BrokerError extends Error {
  override name = 'BrokerError';
}

function have(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

/** Copies the broker's classpath from Maven (a no-op once done; Maven caches downloads in ~/.m2). */
export function resolveBrokerJars(log: Log): string {
  const marker = join(LIBS, `.kafka-${KAFKA_VERSION}`);
  if (existsSync(marker)) return LIBS;
  if (!have('java', ['-version'])) throw new BrokerError('Java 17+ is needed to run the local Kafka broker, and `java` is not on PATH. Install OpenJDK 17 (Debian: apt-get install openjdk-17-jre-headless) or set KAFKA_BROKERS to a running cluster.');
  if (!have('mvn', ['-v'])) throw new BrokerError('Maven is needed once to fetch the Kafka broker jars, and `mvn` is not on PATH. Install Maven (Debian: apt-get install maven) or set KAFKA_BROKERS to a running cluster.');
  log.info({ version: KAFKA_VERSION }, 'resolving Apache Kafka broker jars from Maven Central (cached in ~/.m2 after the first time)');
  rmSync(LIBS, { recursive: true, force: true });
  const r = spawnSync('mvn', ['-q', '-B', '-f', join(BROKER_POM_DIR, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${LIBS}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new BrokerError(`mvn could not resolve the Kafka broker (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-2000)}`);
  if (!readdirSync(LIBS).some((f) => f.startsWith(`kafka_2.13-${KAFKA_VERSION}`))) throw new BrokerError(`mvn finished but ${LIBS} has no kafka_2.13-${KAFKA_VERSION}.jar`);
  writeFileSync(marker, '');
  return LIBS;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

/**
 * Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (org.apache.kafka.common.Uuid).
 * Like Uuid.randomUuid(), never one starting with '-': the storage tool's argument parser would take it for
 * an option.
 */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * A SASL_SSL listener beside the PLAINTEXT one (which stays for inter-broker and controller traffic), for
 * tests of the clients' security settings. Kafka reads PEM key stores directly (KIP-651:
 * ssl.keystore.type=PEM, the unencrypted PKCS#8 key followed by the certificate chain in one file); SCRAM
 * credentials are added when KRaft storage is formatted (`kafka-storage format --add-scram`, KIP-900) and
 * PLAIN users are listed in the listener's JAAS configuration.
 */
export interface SaslSslListener {
  /** 0 or absent picks a free port. */
  port?: number;
  /** PEM file: the broker's private key (PKCS#8, unencrypted) followed by its certificate chain. */
  keystorePem: string;
  /** PEM CA bundle the broker trusts for client certificates. */
  truststorePem: string;
  /** ssl.client.auth=required: clients must present a certificate signed by the truststore's CA. */
  clientAuth?: boolean;
  scram?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }[];
  plain?: { username: string; password: string }[];
}

export interface LocalBrokerOptions {
  /** Working directory for data, config and broker.log. Wiped unless keepData. */
  dir: string;
  /** 0 picks free ports. */
  port?: number;
  controllerPort?: number;
  keepData?: boolean;
  heapMb?: number;
  startTimeoutMs?: number;
  log: Log;
  /** Let the broker outlive this process (`cdr-pipeline kafka start`). */
  detached?: boolean;
  /** Also listen with SASL over TLS (tests of kafka.ssl* and kafka.sasl*). */
  saslSsl?: SaslSslListener;
  /**
   * Broker properties that replace the defaults below (e.g. `auto.create.topics.enable: 'false'`, as the
   * docker-compose broker runs; test/compose.test.ts passes the compose file's KAFKA_* settings).
   */
  properties?: Record<string, string>;
}

export interface LocalBroker {
  brokers: string[];
  /** The SASL_SSL listener's bootstrap address, when one was asked for. */
  saslSslBrokers?: string[];
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startLocalBroker(o: LocalBrokerOptions): Promise<LocalBroker> {
  const libs = resolveBrokerJars(o.log);
  const dir = resolve(o.dir);
  const dataDir = join(dir, 'data');
  const formatted = existsSync(join(dataDir, 'meta.properties'));
  if (!o.keepData) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const port = o.port || (await freePort());
  const cport = o.controllerPort || (await freePort());
  const sport = o.saslSsl ? o.saslSsl.port || (await freePort()) : 0;
  const extra = o.saslSsl ? `,SASL_SSL://127.0.0.1:${sport}` : '';
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${cport}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}${extra}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}${extra}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${o.saslSsl ? ',SASL_SSL:SASL_SSL' : ''}`,
    ...(o.saslSsl ? saslSslProperties(o.saslSsl) : []),
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    // Small footprint on a 2-core machine (embedded-kafka uses the same cleaner buffer).
    'num.network.threads=2',
    'num.io.threads=2',
    'log.cleaner.dedupe.buffer.size=1048577',
    'num.recovery.threads.per.data.dir=1',
  ];
  const overrides = Object.entries(o.properties ?? {});
  const kept = props.filter((p) => !overrides.some(([k]) => p.startsWith(`${k}=`)));
  writeFileSync(join(dir, 'server.properties'), [...kept, ...overrides.map(([k, v]) => `${k}=${v}`)].join('\n') + '\n');
  writeFileSync(
    join(dir, 'log4j2.properties'),
    ['status = warn', 'appender.f.type = File', 'appender.f.name = F', `appender.f.fileName = ${join(dir, 'broker.log')}`, 'appender.f.layout.type = PatternLayout', 'appender.f.layout.pattern = [%d] %p %m (%c)%n', 'rootLogger.level = info', 'rootLogger.appenderRef.f.ref = F'].join('\n') + '\n',
  );
  const cp = `${libs}/*`;
  const jvm = [`-Xmx${o.heapMb ?? 512}m`, '-Xms128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`, '-cp', cp];
  if (!(o.keepData && formatted)) {
    const scram = (o.saslSsl?.scram ?? []).flatMap((u) => ['--add-scram', `${u.mechanism}=[name=${u.username},password=${u.password}]`]);
    const f = spawnSync('java', [...jvm, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId(), '-c', join(dir, 'server.properties'), ...scram], { encoding: 'utf8' });
    if (f.status !== 0) throw new BrokerError(`formatting KRaft storage failed (exit ${f.status}):\n${(f.stdout + f.stderr).slice(-2000)}`);
  }
  const out = openSync(join(dir, 'broker.out'), 'a');
  const child: ChildProcess = spawn('java', [...jvm, 'kafka.Kafka', join(dir, 'server.properties')], { stdio: ['ignore', out, out], detached: o.detached ?? false });
  if (!child.pid) throw new BrokerError('could not spawn java');
  if (o.detached) child.unref();
  writeFileSync(join(dir, 'broker.pid'), String(child.pid));
  const brokers = [`127.0.0.1:${port}`];
  let exited: string | undefined;
  child.once('exit', (code, sig) => (exited = `broker exited (code ${code}, signal ${sig})`));
  try {
    await waitForBroker(brokers, o.startTimeoutMs ?? 90_000, o.log);
  } catch (err) {
    child.kill('SIGKILL');
    const tail = existsSync(join(dir, 'broker.log')) ? readFileSync(join(dir, 'broker.log'), 'utf8').split('\n').slice(-30).join('\n') : '';
    throw new BrokerError(`${exited ?? (err as Error).message}\nlast lines of ${join(dir, 'broker.log')}:\n${tail}`);
  }
  o.log.info({ brokers, dir, pid: child.pid, version: KAFKA_VERSION }, 'local Kafka broker ready');
  return { brokers, ...(o.saslSsl ? { saslSslBrokers: [`127.0.0.1:${sport}`] } : {}), dir, pid: child.pid, stop: () => stopPid(child.pid!, child) };
}

/** Listener-scoped properties of the SASL_SSL listener (Kafka docs: security, "listener.name.<l>.<prop>"). */
function saslSslProperties(l: SaslSslListener): string[] {
  const p = 'listener.name.sasl_ssl.';
  const mechanisms = [...new Set([...(l.scram ?? []).map((u) => u.mechanism), ...(l.plain?.length ? ['PLAIN'] : [])])];
  if (mechanisms.length === 0) throw new BrokerError('a SASL_SSL listener needs at least one SCRAM or PLAIN user');
  const jaasString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return [
    `sasl.enabled.mechanisms=${mechanisms.join(',')}`,
    `${p}ssl.keystore.type=PEM`,
    `${p}ssl.keystore.location=${l.keystorePem}`,
    `${p}ssl.truststore.type=PEM`,
    `${p}ssl.truststore.location=${l.truststorePem}`,
    `${p}ssl.client.auth=${l.clientAuth ? 'required' : 'none'}`,
    ...mechanisms.filter((m) => m !== 'PLAIN').map((m) => `${p}${m.toLowerCase()}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`),
    ...(l.plain?.length ? [`${p}plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${l.plain.map((u) => `user_${u.username}=${jaasString(u.password)}`).join(' ')};`] : []),
  ];
}

/** SIGTERM (controlled shutdown), then SIGKILL after 20 s. */
export async function stopPid(pid: number, child?: ChildProcess): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  const exited = child ? new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()))) : undefined;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (exited) {
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 200))]);
      if (done) return;
    } else {
      if (!alive()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

export function readPid(dir: string): number | undefined {
  try {
    return Number(readFileSync(join(dir, 'broker.pid'), 'utf8')) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is the broker started for `dir`: a live java process running kafka.Kafka with this folder's
 * server.properties (its /proc/PID/cmdline, NUL-separated). A pid file outlives its process, and the kernel
 * reuses pids, so a pid alone could name an unrelated process.
 */
export function isOurBroker(pid: number, dir: string): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false; // gone (or no /proc: then we cannot tell, and do not signal)
  }
  return /(^|\/)java$/.test(argv[0] ?? '') && argv.includes('kafka.Kafka') && argv.includes(join(resolve(dir), 'server.properties'));
}

export type StopResult = { state: 'stopped'; pid: number } | { state: 'stale'; pid: number } | { state: 'none' };

/**
 * `cdr-pipeline kafka stop`: stops the broker whose pid file is in `dir`, after checking the pid is that
 * broker (isOurBroker). A stale pid file (the process gone, or the pid reused by another process) is removed
 * and reported, and nothing is signalled.
 */
export async function stopBroker(dir: string): Promise<StopResult> {
  const pid = readPid(dir);
  if (!pid) return { state: 'none' };
  const file = join(dir, 'broker.pid');
  if (!isOurBroker(pid, dir)) {
    rmSync(file, { force: true });
    return { state: 'stale', pid };
  }
  await stopPid(pid);
  rmSync(file, { force: true });
  return { state: 'stopped', pid };
}
