/**
 * A real schema registry without Docker: Apicurio Registry, a
 * Quarkus application published on Maven Central as `io.apicurio:apicurio-registry-app:<v>:zip:all`, run
 * with its default in-memory storage on 127.0.0.1. Its Confluent-compatible API is at /apis/ccompat/v7,
 * which is what schemas/registry.ts speaks. Used by the test suite (test/global-setup.ts).
 *
 * Maven facts this relies on: `mvn dependency:get` cannot fetch this artifact, because the app's parent POM
 * (io.apicurio:apicurio-registry:3.0.9) is not on Central; `dependency:copy` resolves the single artifact
 * without its POM and leaves it cached in ~/.m2. The 3.0.9 zip holds a Quarkus legacy-jar layout
 * (`apicurio-registry-app-3.0.9-runner.jar` + `lib/`); newer builds use the fast-jar `quarkus-app/quarkus-run.jar`.
 * Both are looked for.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Log } from '../../schemas/index.js';
import { freePort, stopPid } from './broker.js';

export const APICURIO_VERSION = '3.0.9';
const ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:zip:all`;
const ZIP_NAME = `apicurio-registry-app-${APICURIO_VERSION}-all.zip`;
export const CCOMPAT_PATH = '/apis/ccompat/v7';

export class RegistryLaunchError extends Error {
  override name = 'RegistryLaunchError';
}

function have(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** Where the unpacked application is kept between runs ($XDG_CACHE_HOME or ~/.cache). */
export function registryCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cdr-pipeline', `apicurio-registry-${APICURIO_VERSION}`);
}

function findLauncher(dir: string): string | undefined {
  const fast = join(dir, 'quarkus-app', 'quarkus-run.jar');
  if (existsSync(fast)) return fast;
  for (const d of [dir, ...readdirSync(dir).map((f) => join(dir, f)).filter((p) => statSync(p).isDirectory())]) {
    const runner = readdirSync(d).find((f) => f.endsWith('-runner.jar'));
    if (runner) return join(d, runner);
    const nested = join(d, 'quarkus-app', 'quarkus-run.jar');
    if (existsSync(nested)) return nested;
  }
  return undefined;
}

/** Fetches (once, through Maven) and unpacks (once) Apicurio Registry; returns the jar to run. */
export function resolveRegistryApp(log: Log, cacheDir = registryCacheDir()): string {
  const marker = join(cacheDir, '.unpacked');
  if (existsSync(marker)) {
    const jar = findLauncher(join(cacheDir, 'app'));
    if (jar) return jar;
  }
  if (!have('java', ['-version'])) throw new RegistryLaunchError('Java 17+ is needed to run the local schema registry (Apicurio Registry), and `java` is not on PATH. Install OpenJDK 17 (Debian: apt-get install openjdk-17-jre-headless) or set SCHEMA_REGISTRY_URL to a running registry.');
  if (!have('mvn', ['-v'])) throw new RegistryLaunchError('Maven is needed once to fetch Apicurio Registry from Maven Central, and `mvn` is not on PATH. Install Maven (Debian: apt-get install maven) or set SCHEMA_REGISTRY_URL to a running registry.');
  mkdirSync(cacheDir, { recursive: true });
  const zip = join(cacheDir, ZIP_NAME);
  if (!existsSync(zip)) {
    log.info({ artifact: ARTIFACT }, 'fetching Apicurio Registry from Maven Central (about 109 MB, cached in ~/.m2 after the first time)');
    const r = spawnSync('mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${cacheDir}`], { encoding: 'utf8' });
    if (r.status !== 0 || !existsSync(zip)) throw new RegistryLaunchError(`mvn could not fetch ${ARTIFACT} (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-2000)}`);
  }
  const app = join(cacheDir, 'app');
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  // unzip is not on every Debian image; Python's zipfile and the JDK's jar tool are the fallbacks.
  const unpackers: [string, string[]][] = [
    ['unzip', ['-q', '-o', zip, '-d', app]],
    ['python3', ['-m', 'zipfile', '-e', zip, app]],
    ['jar', ['xf', zip]],
  ];
  let unpacked = false;
  for (const [cmd, args] of unpackers) {
    const r = spawnSync(cmd, args, { cwd: app, stdio: 'ignore' });
    if (r.status === 0) {
      unpacked = true;
      break;
    }
  }
  if (!unpacked) throw new RegistryLaunchError(`could not unpack ${zip}: none of unzip, python3, jar worked`);
  const jar = findLauncher(app);
  if (!jar) throw new RegistryLaunchError(`${zip} holds neither quarkus-app/quarkus-run.jar nor a *-runner.jar`);
  writeFileSync(marker, APICURIO_VERSION + '\n');
  // The zip stays in ~/.m2; this copy is not needed once unpacked.
  rmSync(zip, { force: true });
  return jar;
}

export interface LocalRegistryOptions {
  /** Working directory for registry.log and registry.pid (the storage is in memory). */
  dir: string;
  /** 0 picks a free port. */
  port?: number;
  heapMb?: number;
  startTimeoutMs?: number;
  log: Log;
  detached?: boolean;
}

export interface LocalRegistry {
  /** Base URL of the Confluent-compatible API, for schemas/registry.ts and decode.registryUrl. */
  url: string;
  pid: number;
  /** Milliseconds from spawn to the API answering. */
  startMs: number;
  stop(): Promise<void>;
}

export async function startLocalRegistry(o: LocalRegistryOptions): Promise<LocalRegistry> {
  const jar = resolveRegistryApp(o.log);
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  const port = o.port || (await freePort());
  const logFile = join(dir, 'registry.log');
  const out = openSync(logFile, 'a');
  const args = [
    `-Xmx${o.heapMb ?? 384}m`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dquarkus.http.port=${port}`,
    '-Dquarkus.http.host=127.0.0.1',
    // One line per request is noise in a test log.
    '-Dquarkus.http.access-log.enabled=false',
    '-jar',
    jar,
  ];
  const started = Date.now();
  const child: ChildProcess = spawn('java', args, { cwd: dir, stdio: ['ignore', out, out], detached: o.detached ?? false });
  if (!child.pid) throw new RegistryLaunchError('could not spawn java');
  if (o.detached) child.unref();
  writeFileSync(join(dir, 'registry.pid'), String(child.pid));
  let exited: string | undefined;
  child.once('exit', (code, sig) => (exited = `schema registry exited (code ${code}, signal ${sig})`));
  const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
  const deadline = started + (o.startTimeoutMs ?? 120_000);
  for (;;) {
    if (exited === undefined) {
      try {
        const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) break;
      } catch {
        /* not listening yet */
      }
    }
    if (exited !== undefined || Date.now() > deadline) {
      child.kill('SIGKILL');
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
      throw new RegistryLaunchError(`${exited ?? `Apicurio Registry did not answer at ${url} within ${o.startTimeoutMs ?? 120_000} ms`}\nlast lines of ${logFile}:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const startMs = Date.now() - started;
  o.log.info({ url, pid: child.pid, version: APICURIO_VERSION, startMs }, 'local schema registry ready');
  return { url, pid: child.pid, startMs, stop: () => stopPid(child.pid!, child) };
}
