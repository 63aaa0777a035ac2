/**
 * The cdrs insert in isolation (issue #15 item 2): the same N rated CDRs (generated traffic with every fraud
 * scenario, rated by the real rating stage) serialised and inserted in one block, each way the sink can do it,
 * CPU per row, medians of `--reps` runs, each run into a fresh table (so no run pays for another's merges):
 *
 * - serialisation alone: JSONCompactEachRow (cdrRowCompact) vs RowBinary (CdrRowBinaryEncoder), in chunks of
 *   1000 as the runner calls it;
 * - embedded chDB, whole-process CPU of the insert (engine threads, libuv pool, main thread): JSONCompactEachRow
 *   through chDB's raw insert vs RowBinaryWithNamesAndTypes through a file and file(); and table variants: the
 *   table as migrated (82 columns, projection p_network, ZSTD codecs), without the projection, with the default
 *   codec (LZ4) instead of the ZSTD ones, both, and only the 45 decoded columns (an unrated row);
 * - the server connection: @clickhouse/client over HTTP into the ClickHouse-compatible endpoint in another
 *   process (test/clickhouse-endpoint.ts, via tools/bench/bench-endpoint.ts): this process's CPU (request
 *   body, HTTP) and the endpoint's (/proc/<pid>/stat).
 *
 * Usage: node dist/tools/bench/microbench-insert.js [--rows 50000] [--reps 3]
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schemaPath, type SourcedCdr } from '../../schemas/index.js';
import { createTraffic, writeReference } from '../../simulators/traffic/index.js';
import { createRatingStage } from '../../enrich/rate/stage.js';
import { openEmbedded, openServer, type ClickHouseConnection, type InsertShape } from '../../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../../sinks/clickhouse/migrate.js';
import { CDR_COLUMNS, CDR_INSERT_COLUMNS, cdrRowCompact, cdrValues } from '../../sinks/clickhouse/rows.js';
import { CDR_ROWBINARY_HEADER, CdrRowBinaryEncoder } from '../../sinks/clickhouse/rowbinary.js';
import { procCpuSeconds, threadCpu } from './meter.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const N = opt('rows', 50_000);
const REPS = opt('reps', 3);
/** --serialise-only: the serialisation rows alone (quick iterations on the encoders). */
const SERIALISE_ONLY = args.includes('--serialise-only');

const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const us = (sec: number) => Math.round((sec / N) * 1e6 * 10) / 10;
const procCpu = (pid: number) => procCpuSeconds(pid) ?? NaN;
/** CPU of ClickHouse's threads in this process (libuv's pool runs chDB's calls, plus the engine's own). */
const engineCpu = () => {
  const t = threadCpu();
  return t ? t.libuv + t.engine : NaN;
};

function ratedRows(): SourcedCdr[] {
  const dir = mkdtempSync(join(tmpdir(), 'mb-insert-ref-'));
  const start = Date.UTC(2026, 9, 5, 6);
  const traffic = createTraffic({ seed: 15, subscribers: 5000, startMs: start, endMs: start + 24 * 3_600_000, scenarios: 'all' });
  writeReference(dir, traffic.reference());
  const out: SourcedCdr[] = [];
  for (const cdr of traffic.records()) {
    out.push({ cdr, topic: 'cdr.raw', partition: out.length % 6, offset: String(out.length) });
    if (out.length === N) break;
  }
  const stage = createRatingStage(dir, '');
  for (let i = 0; i < out.length; i += 1000) stage.rateBatch(out.slice(i, i + 1000));
  rmSync(dir, { recursive: true, force: true });
  return out;
}

const rows = ratedRows();
process.stderr.write(`${rows.length} rated CDRs; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);

const results: { what: string; node: number; engine?: number; bytes?: number }[] = [];

// 1. Serialisation.
function serialiseJson(): string {
  let s = '';
  const parts: string[] = [];
  for (let i = 0; i < rows.length; i += 1000) for (const sc of rows.slice(i, i + 1000)) parts.push(cdrRowCompact(sc));
  s = parts.join('');
  return s;
}
const encoder = new CdrRowBinaryEncoder();
function serialiseBinary(): Buffer {
  const parts: Buffer[] = [CDR_ROWBINARY_HEADER];
  for (let i = 0; i < rows.length; i += 1000) for (const b of encoder.encode(rows.slice(i, i + 1000))) parts.push(b);
  return Buffer.concat(parts);
}
function timeIt<T>(fn: () => T): { cpu: number; out: T } {
  const c0 = cpuNow();
  const out = fn();
  return { cpu: cpuNow() - c0, out };
}
serialiseJson();
serialiseBinary();
const json = serialiseJson();
const binary = serialiseBinary();
const decodedJson = rows.map((sc) => JSON.stringify(cdrValues(sc)) + '\n').join('');
results.push({ what: 'serialise JSONCompactEachRow (cdrRowCompact)', node: median(Array.from({ length: REPS }, () => timeIt(serialiseJson).cpu)), bytes: Buffer.byteLength(json) });
results.push({ what: 'serialise RowBinary (CdrRowBinaryEncoder)', node: median(Array.from({ length: REPS }, () => timeIt(serialiseBinary).cpu)), bytes: binary.length });

if (SERIALISE_ONLY) {
  for (const r of results) process.stdout.write(`${r.what}: ${us(r.node)} µs per row, ${Math.round(r.bytes! / N)} bytes per row\n`);
  process.exit(0);
}

const JSON_SHAPE: InsertShape = { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS };
const BIN_SHAPE: InsertShape = { format: 'RowBinaryWithNamesAndTypes', columns: CDR_INSERT_COLUMNS };
const DECODED_SHAPE: InsertShape = { format: 'JSONCompactEachRow', columns: CDR_COLUMNS };
const jsonBuf = Buffer.from(json);
const decodedBuf = Buffer.from(decodedJson);

type Variant = { name: string; alter: string[] };
const ALL_CODECS = async (conn: ClickHouseConnection, t: string) => {
  const cols = await conn.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${conn.database}' AND table = '${t}' AND compression_codec != ''`);
  return `ALTER TABLE ${t} ${cols.map((c) => `MODIFY COLUMN \`${c.name}\` REMOVE CODEC`).join(', ')}`;
};
const VARIANTS: Variant[] = [
  { name: 'as migrated (projection p_network, ZSTD codecs)', alter: [] },
  { name: 'without projection p_network', alter: ['DROP PROJECTION p_network'] },
  { name: 'default codec (LZ4) instead of ZSTD', alter: ['CODECS'] },
  { name: 'without projection, LZ4', alter: ['DROP PROJECTION p_network', 'CODECS'] },
];

let tableNo = 0;
async function freshTable(conn: ClickHouseConnection, v: Variant): Promise<string> {
  const t = `bench_${++tableNo}`;
  await conn.command(`CREATE TABLE ${t} AS cdrs`);
  for (const a of v.alter) await conn.command(a === 'CODECS' ? await ALL_CODECS(conn, t) : `ALTER TABLE ${t} ${a}`);
  return t;
}

async function measureInsert(conn: ClickHouseConnection, v: Variant, body: string | Buffer, shape: InsertShape, endpointPid?: number): Promise<{ node: number; engine: number | undefined }> {
  const node: number[] = [];
  const engine: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t = await freshTable(conn, v);
    const e0 = endpointPid ? procCpu(endpointPid) : engineCpu();
    const c0 = cpuNow();
    await conn.insert(t, body, { insert_deduplicate: 1, insert_deduplication_token: `mb-${t}`, deduplicate_blocks_in_dependent_materialized_views: 1 }, shape);
    node.push(cpuNow() - c0);
    engine.push(endpointPid ? procCpu(endpointPid) - e0 : engineCpu() - e0);
    const [c] = await conn.query<{ n: string }>(`SELECT count() AS n FROM ${t}`);
    if (Number(c!.n) !== N) throw new Error(`${t}: ${c!.n} rows stored, ${N} sent`);
    await conn.command(`DROP TABLE ${t} SYNC`);
  }
  return { node: median(node), engine: median(engine) };
}

// 2. Embedded chDB (whole-process CPU: the engine runs in this process).
const chDir = mkdtempSync(join(tmpdir(), 'mb-insert-ch-'));
const emb = await openEmbedded({ path: chDir, database: 'mb' });
await migrate(emb, loadMigrations(schemaPath('ddl')));
for (const v of VARIANTS) {
  const j = await measureInsert(emb, v, jsonBuf, JSON_SHAPE);
  results.push({ what: `chDB insert, JSONCompactEachRow, ${v.name}`, node: j.node, engine: j.engine! });
  const b = await measureInsert(emb, v, binary, BIN_SHAPE);
  results.push({ what: `chDB insert, RowBinary via file(), ${v.name}`, node: b.node, engine: b.engine! });
}
// The rating and enrichment columns' share: the same CDRs unrated (those 37 columns at their defaults).
const unratedBinary = Buffer.concat([CDR_ROWBINARY_HEADER, ...encoder.encode(rows.map((sc) => ({ ...sc, rated: undefined })))]);
const u = await measureInsert(emb, VARIANTS[0]!, unratedBinary, BIN_SHAPE);
results.push({ what: 'chDB insert, RowBinary via file(), the same CDRs unrated (rating columns at their defaults)', node: u.node, engine: u.engine!, bytes: unratedBinary.length });
const d = await measureInsert(emb, VARIANTS[0]!, decodedBuf, DECODED_SHAPE);
results.push({ what: 'chDB insert, JSONCompactEachRow, only the 45 decoded columns (unrated row)', node: d.node, engine: d.engine!, bytes: decodedBuf.length });
await emb.close();

// 3. Server connection: the endpoint in another process.
const epDir = mkdtempSync(join(tmpdir(), 'mb-insert-ep-'));
const child = fork(join(dirname(fileURLToPath(import.meta.url)), 'bench-endpoint.js'), [epDir], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
const ep = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
  child.once('message', (m) => resolve(m as { url: string; pid: number }));
  child.once('exit', (code) => reject(new Error(`endpoint exited ${code}`)));
});
const srv = await openServer({ url: ep.url, username: 'default', password: '', database: 'mb', requestTimeoutMs: 120_000, createDatabase: true });
await migrate(srv, loadMigrations(schemaPath('ddl')));
const sj = await measureInsert(srv, VARIANTS[0]!, jsonBuf, JSON_SHAPE, ep.pid);
results.push({ what: 'HTTP insert, JSONCompactEachRow (this process / the endpoint)', node: sj.node, engine: sj.engine! });
const sb = await measureInsert(srv, VARIANTS[0]!, binary, BIN_SHAPE, ep.pid);
results.push({ what: 'HTTP insert, RowBinaryWithNamesAndTypes (this process / the endpoint)', node: sb.node, engine: sb.engine! });
await srv.close();
child.send({ type: 'stop' });
await new Promise((r) => child.once('exit', r));
rmSync(chDir, { recursive: true, force: true });
rmSync(epDir, { recursive: true, force: true });

process.stdout.write(`| what (${N} rated CDRs, one block, medians of ${REPS}; load ${loadavg()[0]!.toFixed(1)}) | µs CPU per row: this process | of which ClickHouse threads (chDB) / the endpoint process (HTTP) | bytes per row |\n|---|---|---|---|\n`);
for (const r of results) process.stdout.write(`| ${r.what} | ${us(r.node)} | ${r.engine === undefined ? '–' : us(r.engine)} | ${r.bytes === undefined ? '–' : Math.round(r.bytes / N)} |\n`);
