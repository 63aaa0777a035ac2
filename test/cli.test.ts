/**
 * The `cdr-pipeline` command as users run it (bin/cdr-pipeline.js, the compiled dist/): results on stdout,
 * logs on stderr, `--format json` that parses, a closed pipe that ends quietly, `--version`, usage errors
 * exiting 2, and the small bugs of issue #17 (kafka stop and stale pid files, replay with an unknown code,
 * ingest-files --once with the default settle time, reconcile of a period without invoices, bench writing
 * the tracked BENCHMARKS.md, the metric names promtool lints).
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdrCodec, DeadLetterCode, packageRoot } from '../schemas/index.js';
import { writeContainerFile } from '../schemas/container.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { createMetrics } from '../pipeline/telemetry.js';
import { recordsToDoc } from '../cli/command.js';

const CLI = join(packageRoot, 'bin', 'cdr-pipeline.js');
const dir = mkdtempSync(join(tmpdir(), 'cdr-cli-'));
const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in its own ClickHouse data directory (embedded), with no Kafka unless given. */
function cli(args: string[], env: Record<string, string> = {}, opts: { closeStdout?: boolean } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const { KAFKA_BROKERS: _k, CDR_KAFKA_BROKERS: _c, ...base } = process.env;
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, CDR_CLICKHOUSE_PATH: join(dir, 'ch'), CDR_TELEMETRY_METRICS_PORT: '-1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // `| head -0`: the reader is gone before the command writes its first line.
    if (opts.closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(() => {
  expect(existsSync(join(packageRoot, 'dist', 'cli', 'index.js')), 'run `npm run build` first (npm test does)').toBe(true);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cdr-pipeline: streams, versions and exit codes', () => {
  it('--version and version print the package version', async () => {
    for (const a of ['--version', 'version', '-V']) {
      const r = await cli([a]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(`cdr-pipeline ${version}`);
    }
  });

  it('logs go to stderr as JSON, results to stdout: report --format json parses even at debug level', async () => {
    const r = await cli(['report', 'subscriber', '--msisdn', '447700900123', '--period', '2026-10', '--format', 'json', '--log-level', 'debug']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { msisdn: string };
    expect(doc.msisdn).toBe('447700900123');
    // The migrations ran (a fresh data directory) and said so on stderr, as JSON lines.
    const logs = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
    expect(logs.some((l) => l.msg === 'migrations applied')).toBe(true);
  });

  it('a reader that goes away (| head) ends the command quietly with exit 0', async () => {
    for (const args of [['generate', '--help'], ['report', 'subscriber', '--msisdn', '447700900123', '--period', '2026-10']]) {
      const r = await cli(args, {}, { closeStdout: true });
      expect(r.stderr, args.join(' ')).not.toMatch(/EPIPE|Error|at /);
      expect(r.code, args.join(' ')).toBe(0);
    }
  });

  it('usage errors exit 2 with a pointer to --help, for every kind of command', async () => {
    const cases: string[][] = [
      ['nope'],
      ['run', '--bogus'],
      ['report'],
      ['report', 'reconcile'],
      ['report', 'subscriber', '--period', '2026-10', '--format', 'yaml', '--msisdn', '447700900123'],
      ['kafka'],
      ['ingest-files'],
      ['bench', '--records', 'many'],
      ['generate', '--no-kafka', '--days', 'x'],
      ['replay-dead-letters', '--limit', '-1'],
      ['reference', 'export'],
      ['migrate', '--cluster'],
    ];
    for (const args of cases) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
    }
  });

  it("migrate's usage line names --cluster", async () => {
    const r = await cli(['migrate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^Usage: .*--cluster NAME/);
  });

  it('no help text or user-visible string points outside the repository', async () => {
    const helps = await Promise.all(['generate', 'report', 'bench', 'eval', 'run'].map((c) => cli([c, '--help'])));
    for (const h of helps) expect(h.stdout).not.toMatch(/\.\.\/shared|fraud\.md|rating\.md|perf\.md|ecosystem\.md|PLATFORM\.md/);
    const rules = readFileSync(join(packageRoot, 'schemas', 'fraud', 'rules.json'), 'utf8');
    expect(rules).not.toMatch(/\.\.\/shared|fraud\.md/);
  });
});

describe('the small bugs of issue #17', () => {
  it('replay-dead-letters --code NOPE is a usage error listing the valid codes (nothing replayed)', async () => {
    const r = await cli(['replay-dead-letters', '--code', 'NOPE', '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown code "NOPE"');
    for (const c of Object.values(DeadLetterCode).filter((c) => c !== 'SINK_REJECTED')) expect(r.stderr).toContain(c);
    expect(r.stdout).not.toMatch(/replayed/);
    const sinkRejected = await cli(['replay-dead-letters', '--code', 'SINK_REJECTED', '--dry-run']);
    expect(sinkRejected.code).toBe(2);
    const ok = await cli(['replay-dead-letters', '--code', 'AVRO_TRUNCATED', '--dry-run']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/would replay 0 dead letters/);
  });

  it('report reconcile for a period without invoice lines says so and reports no findings (exit 1)', async () => {
    const r = await cli(['report', 'reconcile', '--period', '2026-10', '--format', 'json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^cdr-pipeline report: no invoice lines of 2026-10 in ClickHouse: nothing to reconcile/m);
    expect(r.stderr).not.toMatch(/unused-line|at /);
  });

  it('kafka stop refuses a stale pid file: the process it names is not signalled, the file is removed, exit 1', async () => {
    const kdir = join(dir, 'kafka');
    mkdirSync(kdir, { recursive: true });
    // An unrelated live process whose pid sits in the broker's pid file (a reused pid).
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(kdir, 'broker.pid'), String(other.pid));
      const r = await cli(['kafka', 'stop', '--dir', kdir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/stale pid file/);
      expect(existsSync(join(kdir, 'broker.pid'))).toBe(false);
      expect(other.exitCode).toBeNull();
      expect(() => process.kill(other.pid!, 0)).not.toThrow();
      // A second stop has nothing to stop and says so (never "stopped").
      const again = await cli(['kafka', 'stop', '--dir', kdir]);
      expect(again.code).toBe(1);
      expect(again.stdout).not.toMatch(/stopped/);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('ingest-files DIR --once with the default settle time stores the files already there', async () => {
    const drop = join(dir, 'drop');
    mkdirSync(drop, { recursive: true });
    const codec = cdrCodec();
    const records = [...generateCdrs({ seed: 7, subscribers: 20, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 1 }, 120)];
    await writeContainerFile(join(drop, 'batch1.avro'), codec.schema, records.map((r) => codec.encode(r)), { codec: 'null', recordsPerBlock: 50 });
    const t0 = Date.now();
    const r = await cli(['ingest-files', drop, '--once', '--poll-ms', '200'], { CDR_CLICKHOUSE_PATH: join(dir, 'ch-files'), CDR_TELEMETRY_LOG_LEVEL: 'warn' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^stored 120 CDRs and 0 dead letters/m);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000); // it waited the settle time (2 s) rather than skipping the file
    expect(existsSync(join(drop, 'done', 'batch1.avro'))).toBe(true);
  });

  it('bench and microbench write docs/BENCHMARKS.md only with --record', () => {
    expect(recordsToDoc({})).toBe(false);
    expect(recordsToDoc({ 'no-doc': true })).toBe(false);
    expect(recordsToDoc({ record: true })).toBe(true);
  });

  it('microbench without --record leaves the tracked docs/BENCHMARKS.md untouched', async () => {
    const doc = join(packageRoot, 'docs', 'BENCHMARKS.md');
    const before = readFileSync(doc, 'utf8');
    const r = await cli(['microbench', '--records', '400', '--runs', '1', '--batch', '100']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/BENCHMARKS\.md/);
    expect(readFileSync(doc, 'utf8')).toBe(before);
  }, 120_000);

  it('promtool check metrics accepts every metric the pipeline registers', async () => {
    const promtool = execFileSync('bash', [join(packageRoot, 'test', 'tools', 'promtool.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    const m = createMetrics();
    // Every series present once (labelled metrics appear only after a first value).
    m.aggregateRefreshedDays.inc(1);
    for (const [k, v] of Object.entries(m)) {
      if (k === 'registry') continue;
      const metric = v as { inc?: (l: object, n?: number) => void; set?: (l: object, n: number) => void; observe?: (l: object, n: number) => void; labelNames?: string[] };
      const labels = Object.fromEntries(((metric as unknown as { labelNames: string[] }).labelNames ?? []).map((l) => [l, 'x']));
      if (metric.inc) metric.inc(labels, 1);
      else if (metric.set) metric.set(labels, 1);
      else if (metric.observe) metric.observe(labels, 1);
    }
    const text = (await m.registry.metrics())
      .split('\n')
      .filter((l) => !/^(# (HELP|TYPE) )?(process|nodejs)_/.test(l)) // Node's default metrics are prom-client's, not ours
      .join('\n');
    expect(text).toContain('cdr_aggregate_day_refreshes_total');
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (b: Buffer) => (out += b.toString()));
      c.stderr.on('data', (b: Buffer) => (out += b.toString()));
      c.once('close', (code) => resolve({ code, out }));
      c.stdin.end(text + '\n');
    });
    expect(r.out.trim()).toBe('');
    expect(r.code).toBe(0);
  });
});
