/**
 * The container-file source end to end on the real ClickHouse engine: container files in a folder (null and
 * deflate codecs, one written by avsc itself, one with a corrupt block, one that is not a container), a
 * restart after SIGKILL that neither skips nor repeats, and the block reader against avsc's own decoder.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { avroCodec, cdrCodec, packageRoot, type Cdr } from '../schemas/index.js';
import { ContainerReader, writeContainerFile } from '../schemas/container.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { FileSource } from '../ingest/files.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const codec = cdrCodec();
const cdrs = (seed: number, n: number): Cdr[] => [...generateCdrs({ seed, subscribers: 300, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, n)];

function cfgFor(db: string): Config {
  const base = loadConfig({ env: {} });
  return { ...base, clickhouse: { ...base.clickhouse, path: chPath(), database: db }, sink: { ...base.sink, flushIntervalMs: 100, maxBatchRows: 2000 }, telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' } };
}

const conns: ClickHouseConnection[] = [];
afterAll(async () => {
  for (const c of conns) await c.close();
});

describe('container files', () => {
  it('reads blocks exactly as avsc writes them, and writes files avsc reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocf-'));
    const records = cdrs(1, 2500);
    // A file written by avsc's own encoder (deflate, small blocks).
    const path = join(dir, 'avsc.avro');
    await new Promise<void>((resolve, reject) => {
      const enc = avro.createFileEncoder(path, codec.schema as avro.Schema, { codec: 'deflate', blockSize: 16 * 1024 });
      enc.on('error', reject);
      enc.on('finish', () => resolve());
      for (const r of records) enc.write(r);
      enc.end();
    });
    await new Promise((r) => setTimeout(r, 100));
    const reader = await ContainerReader.open(path);
    const got: Buffer[] = [];
    let blocks = 0;
    let expectedFirst = 0;
    for await (const b of reader.blocks()) {
      expect(b.firstRecord).toBe(expectedFirst);
      expectedFirst += b.records.length;
      got.push(...b.records);
      blocks++;
    }
    await reader.close();
    expect(blocks).toBeGreaterThan(1);
    expect(got.map((b) => codec.decode(b))).toEqual(records);
    // Ours, read back by avsc.
    const ours = join(dir, 'ours.avro');
    await writeContainerFile(ours, codec.schema, records.map((r) => codec.encode(r)), { codec: 'null', recordsPerBlock: 300 });
    const back: unknown[] = [];
    await new Promise<void>((resolve, reject) => avro.createFileDecoder(ours).on('data', (d: unknown) => back.push(d)).on('end', () => resolve()).on('error', reject));
    expect(back).toEqual(records);
  });

  it('ingests a folder: every good record once, corrupt parts as dead letters with their bytes, files moved', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drop-'));
    const db = uniqueName('files');
    const a = cdrs(2, 3000);
    const b = cdrs(3, 2000);
    const c = cdrs(4, 1000);
    await writeContainerFile(join(dir, 'a.avro'), codec.schema, a.map((r) => codec.encode(r)), { codec: 'deflate', recordsPerBlock: 400 });
    await writeContainerFile(join(dir, 'b.avro'), codec.schema, b.map((r) => codec.encode(r)), { codec: 'null', recordsPerBlock: 500 });
    // c: corrupt the sync marker ending block 2 (the 4th marker, counting the header's): blocks 0 and 1 are
    // good, the rest of the file is one dead letter.
    await writeContainerFile(join(dir, 'c.avro'), codec.schema, c.map((r) => codec.encode(r)), { codec: 'null', recordsPerBlock: 250 });
    const cbytes = readFileSync(join(dir, 'c.avro'));
    const sync = cbytes.subarray(cbytes.length - 16);
    let second = -1;
    for (let i = 0, found = 0; i < cbytes.length - 16; i++) if (cbytes.subarray(i, i + 16).equals(sync) && ++found === 4) (second = i);
    cbytes[second] = cbytes[second]! ^ 0xff;
    writeFileSync(join(dir, 'c.avro'), cbytes);
    writeFileSync(join(dir, 'd.avro'), 'not a container at all');
    writeFileSync(join(dir, 'ignored.txt'), 'not picked up');

    const source = new FileSource({ dir, pattern: /\.avro$/, settleMs: 0, pollIntervalMs: 50, exitWhenIdle: true, log: process.env.TEST_LOG_LEVEL ? (await import('../pipeline/telemetry.js')).createLogger('debug') : quietLog });
    const p = await startPipeline(cfgFor(db), quietLog, undefined, source);
    // A fatal pipeline error must fail the test, not hang it.
    await Promise.race([source.idle, p.done]);
    await p.stop();
    await p.done;
    const conn = await openEmbedded({ path: chPath(), database: db });
    conns.push(conn);
    const [r] = await conn.query<{ rows: string; ids: string }>('SELECT count() AS rows, uniqExact(record_id) AS ids FROM cdrs');
    expect(Number(r!.rows)).toBe(3000 + 2000 + 500);
    expect(Number(r!.ids)).toBe(5500);
    const dead = await conn.query<{ code: string; topic: string; len: string; message: string }>('SELECT code, topic, length(value) AS len, message FROM dead_letters ORDER BY topic');
    expect(dead.map((d) => [d.code, d.topic])).toEqual([
      ['CONTAINER_CORRUPT', 'file:c.avro'],
      ['CONTAINER_CORRUPT', 'file:d.avro'],
    ]);
    expect(Number(dead[1]!.len)).toBe('not a container at all'.length);
    expect(Number(dead[0]!.len)).toBeGreaterThan(0);
    expect(readdirSync(join(dir, 'done')).sort()).toEqual(['a.avro', 'b.avro']);
    expect(readdirSync(join(dir, 'failed')).sort()).toEqual(['c.avro', 'd.avro']);
    expect(existsSync(join(dir, 'ignored.txt'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, '.cdr-pipeline-checkpoints.json'), 'utf8'))).toEqual({});
  });

  it('decodes files with the writer schema of their header: v2 files are resolved to the CDR schema, unrelated schemas are dead letters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evolve-'));
    const db = uniqueName('evolve');
    const v2 = avroCodec<Record<string, unknown>>('cdr.v2.avsc');
    const records = cdrs(6, 700);
    // Version 2 writes lac as locationAreaCode, adds chargingId/ratType and may use the new REJECTED symbol.
    const asV2 = records.map((c, i) => {
      const { lac, ...rest } = c;
      return { ...rest, locationAreaCode: lac, chargingId: i % 2 ? 1000 + i : null, ratType: 6, disposition: i % 10 === 0 ? 'REJECTED' : c.disposition };
    });
    await writeContainerFile(join(dir, 'v2.avro'), v2.schema, asV2.map((r) => v2.encode(r)), { codec: 'deflate', recordsPerBlock: 200 });
    const other = { type: 'record', name: 'Invoice', fields: [{ name: 'amount', type: 'string' }] };
    const otherType = avro.Type.forSchema(other as avro.Schema);
    await writeContainerFile(join(dir, 'other.avro'), other, [otherType.toBuffer({ amount: '1.00' }), otherType.toBuffer({ amount: '2.00' })], { codec: 'null' });
    const source = new FileSource({ dir, pattern: /\.avro$/, settleMs: 0, pollIntervalMs: 50, exitWhenIdle: true, log: quietLog });
    const p = await startPipeline(cfgFor(db), quietLog, undefined, source);
    await Promise.race([source.idle, p.done]);
    await p.stop();
    const conn = await openEmbedded({ path: chPath(), database: db });
    conns.push(conn);
    const stored = await conn.query<{ id: string; lac: number | null; disposition: string }>('SELECT record_id AS id, lac, toString(disposition) AS disposition FROM cdrs ORDER BY id');
    expect(stored).toHaveLength(700);
    const byId = new Map(records.map((c, i) => [c.recordId, { lac: c.lac, disposition: i % 10 === 0 ? 'REJECTED' : c.disposition }]));
    // The renamed field arrives through its alias; REJECTED (v2) is a symbol of the reader (v3) too.
    for (const r of stored) expect({ lac: r.lac, disposition: r.disposition }).toEqual(byId.get(r.id));
    const dead = await conn.query<{ code: string; n: string }>('SELECT code, count() AS n FROM dead_letters GROUP BY code');
    expect(dead).toEqual([{ code: 'SCHEMA_INCOMPATIBLE', n: '2' }]);
  });

  it('a restarted ingest (after SIGKILL) neither skips nor repeats a record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'restart-'));
    const db = uniqueName('restart');
    const records = cdrs(5, 30_000);
    await writeContainerFile(join(dir, 'big.avro'), codec.schema, records.map((r) => codec.encode(r)), { codec: 'deflate', recordsPerBlock: 500 });
    const chDir = mkdtempSync(join(tmpdir(), 'restart-ch-'));
    const env = { ...process.env, CDR_CLICKHOUSE_PATH: chDir, CDR_CLICKHOUSE_DATABASE: db, CDR_SINK_MAX_BATCH_ROWS: '500', CDR_SINK_FLUSH_INTERVAL_MS: '100', CDR_TELEMETRY_METRICS_PORT: '-1', CDR_TELEMETRY_LOG_LEVEL: 'warn' };
    const cli = join(packageRoot, 'bin', 'cdr-pipeline.js');
    const state = join(dir, '.cdr-pipeline-checkpoints.json');
    const first = spawn(process.execPath, [cli, 'ingest-files', dir, '--settle-ms', '0', '--poll-ms', '50'], { env, stdio: 'ignore' });
    const checkpointed = () => (existsSync(state) ? ((JSON.parse(readFileSync(state, 'utf8')) as Record<string, { record: number }>)['big.avro']?.record ?? 0) : 0);
    await waitFor('a checkpoint mid-file', async () => checkpointed() >= 2000, 60_000, 20);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const at = checkpointed();
    expect(at).toBeLessThan(30_000);
    let out = '';
    const second = spawn(process.execPath, [cli, 'ingest-files', dir, '--once', '--settle-ms', '0', '--poll-ms', '50'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    second.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    second.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => second.once('exit', r));
    expect(code, out).toBe(0);
    // The second run started exactly at the checkpoint: it stored the rest, nothing before it.
    expect(out).toContain(`stored ${30_000 - at} CDRs`);
    expect(readdirSync(join(dir, 'done'))).toEqual(['big.avro']);
    // Read the child's ClickHouse data in a child too (chDB: one data directory per process).
    const q = spawn(process.execPath, ['-e', `import('${join(packageRoot, 'dist/sinks/clickhouse/connection.js')}').then(async (m) => { const c = await m.openEmbedded({ path: ${JSON.stringify(chDir)}, database: ${JSON.stringify(db)} }); const r = await c.query('SELECT count() AS rows, uniqExact(record_id) AS ids, (SELECT count() FROM cdrs FINAL) AS final FROM cdrs'); process.stdout.write(JSON.stringify(r[0])); await c.close(); })`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let json = '';
    q.stdout!.on('data', (d: Buffer) => (json += d.toString()));
    await new Promise((r) => q.once('exit', r));
    const r = JSON.parse(json) as { rows: string; ids: string; final: string };
    expect(Number(r.ids)).toBe(30_000);
    expect(Number(r.final)).toBe(30_000);
    process.stdout.write(`[files] killed at checkpoint ${at}/30000; rows stored ${r.rows} (blocks stored but not checkpointed are read again and collapse), distinct ${r.ids}\n`);
  }, 180_000);
});
