/**
 * Storage benchmark of issue #17 item 5 (docs/BENCHMARKS.md, "Storage"): what a CDR costs on disk and what a
 * time-range panel costs to read, before and after the storage migrations (schemas/ddl/0020..0029).
 *
 *   1. a database migrated up to 0011 (the schema before #17) is filled with N generated, rated CDRs
 *      (simulators/traffic, rated with the bundled tariff book; JSONEachRow, fields the old schema lacks skipped);
 *   2. BEFORE: bytes on disk per CDR (after OPTIMIZE FINAL, so every schema is measured merged), and the
 *      median time of a network-quality panel query over 6 hours (today's form: `cdrs FINAL`);
 *   3. the remaining migrations run on the populated table (codecs, Nullable conversions, projection, TTL);
 *      counts and sums are compared; OPTIMIZE FINAL rewrites the parts with the new codecs;
 *   4. AFTER: the same measurements (the panel query as the dashboard now sends it, through network_calls).
 *
 * `--codec-study` first measures every candidate codec per column on the same rows (one table holding each
 * column once per candidate) and prints the per-column bytes: how the codecs of 0020 were chosen.
 *
 * Run: node --import ./test/tools/ts-loader.mjs tools/bench/bench-storage.ts [--records N] [--codec-study]
 * (not wired into `cdr-pipeline bench`; it never writes docs/BENCHMARKS.md: the numbers were copied by hand).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { schemaPath, type SourcedCdr } from '../../schemas/index.js';
import { createTraffic, writeReference } from '../../simulators/traffic/index.js';
import { createRatingStage } from '../../enrich/rate/stage.js';
import { openEmbedded, type ClickHouseConnection } from '../../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../../sinks/clickhouse/migrate.js';
import { cdrRowJson } from '../../sinks/clickhouse/rows.js';

const DB = 'storage';
/** CDRs per home line in October with the default clean traffic (tools/bench/bench-reconcile.ts). */
const CDRS_PER_LINE_MONTH = 623;
const START = Date.UTC(2026, 9, 1);
const END = Date.UTC(2026, 10, 1);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Codec candidates by column type (ClickHouse docs, "Column compression codecs"). */
function candidates(type: string): string[] {
  const base = ['LZ4', 'ZSTD(1)', 'ZSTD(3)'];
  if (/^(Nullable\()?DateTime64|^(Nullable\()?DateTime|^Date/.test(type)) return [...base, 'Delta, ZSTD(1)', 'DoubleDelta, ZSTD(1)', 'T64, ZSTD(1)'];
  if (/^(Nullable\()?U?Int\d+/.test(type)) return [...base, 'T64, LZ4', 'T64, ZSTD(1)', 'Delta, ZSTD(1)'];
  if (/^(Nullable\()?Decimal/.test(type)) return [...base, 'T64, ZSTD(1)'];
  return base;
}

async function fill(conn: ClickHouseConnection, records: number, work: string, print: (s: string) => void): Promise<number> {
  const subscribers = Math.max(10, Math.round(records / CDRS_PER_LINE_MONTH));
  const options = { seed: 17, subscribers, startMs: START, endMs: END, scenarios: 'none' as const };
  const traffic = createTraffic(options);
  const refDir = join(work, 'reference');
  writeReference(refDir, traffic.reference());
  const stage = createRatingStage(refDir, '');
  let offset = 0;
  const t0 = performance.now();
  for (const b of traffic.batches(200_000)) {
    const batch: SourcedCdr[] = b.map((cdr) => ({ cdr, topic: 'cdr.raw', partition: offset % 6, offset: String(offset++) }));
    stage.rateBatch(batch);
    // JSONEachRow, skipping fields the old schema lacks (columns later migrations add, e.g. 0040's).
    await conn.insert('cdrs', batch.map(cdrRowJson).join(''), { input_format_skip_unknown_fields: 1 });
  }
  print(`  ${offset} CDRs (${subscribers} lines, October 2026) generated, rated and stored in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return offset;
}

interface Footprint {
  rows: number;
  bytes: number;
  projectionBytes: number;
  columns: Map<string, number>;
}

async function footprint(conn: ClickHouseConnection, table: string): Promise<Footprint> {
  await conn.command(`OPTIMIZE TABLE ${table} FINAL`);
  const [p] = await conn.query<{ rows: string; bytes: string }>(`SELECT sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = '${DB}' AND table = '${table}' AND active`);
  const [pp] = await conn.query<{ bytes: string }>(`SELECT sum(bytes_on_disk) AS bytes FROM system.projection_parts WHERE database = '${DB}' AND table = '${table}' AND active`);
  const cols = await conn.query<{ name: string; bytes: string }>(`SELECT name, data_compressed_bytes AS bytes FROM system.columns WHERE database = '${DB}' AND table = '${table}'`);
  return { rows: Number(p!.rows), bytes: Number(p!.bytes), projectionBytes: Number(pp?.bytes ?? 0), columns: new Map(cols.map((c) => [c.name, Number(c.bytes)])) };
}

/** The fingerprint of the data: counts and sums that a lossless migration keeps. */
const FINGERPRINT = `SELECT count() AS rows, uniqExact(record_id) AS ids, sum(duration_ms) AS duration, sum(cost_total) AS cost,
  countIf(account_id != '') AS with_account, countIf(serving_region != '') AS with_region, sum(cityHash64(served_msisdn)) AS msisdn_hash,
  sum(toUnixTimestamp64Milli(seizure_time)) AS seizure, countIf(answer_time IS NULL) AS unanswered FROM cdrs`;

/** Six hours of network quality per region: the query shape of dashboards/network-quality.json. */
function panelBefore(from: string, to: string): string {
  return `SELECT ifNull(serving_region, '') AS region, countIf(disposition = 'ANSWERED') / count() AS asr, count() AS seizures
FROM cdrs FINAL WHERE seizure_time >= toDateTime64('${from}', 3, 'UTC') AND seizure_time < toDateTime64('${to}', 3, 'UTC')
  AND event_type IN ('VOICE_MO', 'VOICE_FWD') GROUP BY region ORDER BY region`;
}
function panelAfter(from: string, to: string): string {
  return `SELECT region, countIf(disposition = 'ANSWERED') / count() AS asr, count() AS seizures
FROM network_calls WHERE seizure_time >= toDateTime64('${from}', 3, 'UTC') AND seizure_time < toDateTime64('${to}', 3, 'UTC')
  AND event_type IN ('VOICE_MO', 'VOICE_FWD') GROUP BY region ORDER BY region`;
}

/** Rows and marks (granules) ClickHouse plans to read for a query (EXPLAIN ESTIMATE): independent of load. */
async function estimate(conn: ClickHouseConnection, sql: string): Promise<{ rows: number; marks: number }> {
  const r = await conn.query<{ rows: string; marks: string }>(`EXPLAIN ESTIMATE ${sql}`);
  return { rows: r.reduce((a, x) => a + Number(x.rows), 0), marks: r.reduce((a, x) => a + Number(x.marks), 0) };
}

async function time(conn: ClickHouseConnection, sql: string, runs = 7): Promise<{ ms: number; rows: Record<string, unknown>[] }> {
  const ms: number[] = [];
  let rows: Record<string, unknown>[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    rows = await conn.query(sql);
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), rows };
}

async function codecStudy(conn: ClickHouseConnection, print: (s: string) => void): Promise<void> {
  const cols = await conn.query<{ name: string; type: string }>(`SELECT name, type FROM system.columns WHERE database = '${DB}' AND table = 'cdrs' AND default_kind != 'ALIAS' AND type NOT LIKE 'Map%' ORDER BY position`);
  const defs: string[] = [];
  const sel: string[] = [];
  const plan: { col: string; codec: string; name: string }[] = [];
  for (const c of cols) {
    for (const [i, codec] of candidates(c.type.replace(/^LowCardinality\((.*)\)$/, '$1')).entries()) {
      const name = `${c.name}__${i}`;
      defs.push(`\`${name}\` ${c.type} CODEC(${codec})`);
      sel.push(`${c.name} AS \`${name}\``);
      plan.push({ col: c.name, codec, name });
    }
  }
  await conn.command(`DROP TABLE IF EXISTS codec_study`);
  await conn.command(`CREATE TABLE codec_study (${defs.join(', ')}) ENGINE = MergeTree ORDER BY (served_msisdn__0, seizure_time__0, recording_entity__0, record_id__0)`);
  await conn.command(`INSERT INTO codec_study SELECT ${sel.join(', ')} FROM cdrs`);
  await conn.command(`OPTIMIZE TABLE codec_study FINAL`);
  const bytes = new Map((await conn.query<{ name: string; bytes: string }>(`SELECT name, data_compressed_bytes AS bytes FROM system.columns WHERE database = '${DB}' AND table = 'codec_study'`)).map((r) => [r.name, Number(r.bytes)]));
  print('  codec study (compressed bytes per column and candidate; * = smallest):');
  for (const c of cols) {
    const mine = plan.filter((p) => p.col === c.name).map((p) => ({ ...p, bytes: bytes.get(p.name) ?? 0 }));
    const best = Math.min(...mine.map((m) => m.bytes));
    print(`    ${c.name.padEnd(24)} ${c.type.padEnd(42)} ${mine.map((m) => `${m.codec}=${m.bytes}${m.bytes === best ? '*' : ''}`).join('  ')}`);
  }
  await conn.command(`DROP TABLE codec_study`);
}

export async function runStorageBench(records: number, study: boolean, print: (s: string) => void): Promise<void> {
  const work = join(tmpdir(), `cdr-storage-bench-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const conn = await openEmbedded({ path: join(work, 'clickhouse'), database: DB });
  try {
    print(`storage benchmark: ${records} CDRs, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`);
    const all = loadMigrations(schemaPath('ddl'));
    await migrate(conn, all.filter((m) => m.version <= 11));
    const n = await fill(conn, records, work, print);
    if (study) await codecStudy(conn, print);

    const before = await footprint(conn, 'cdrs');
    const fpBefore = (await conn.query(FINGERPRINT))[0]!;
    const from = '2026-10-14 12:00:00';
    const to = '2026-10-14 18:00:00';
    const qBefore = await time(conn, panelBefore(from, to));
    const [someone] = await conn.query<{ m: string }>(`SELECT served_msisdn AS m FROM cdrs GROUP BY m ORDER BY count() DESC LIMIT 1`);
    const lookup = `SELECT count() AS n, sum(cost_total) AS cost FROM cdrs FINAL WHERE served_msisdn = '${someone!.m}' AND seizure_time >= '2026-10-01' AND seizure_time < '2026-11-01'`;
    const lBefore = await time(conn, lookup);
    const eBefore = await estimate(conn, panelBefore(from, to));
    print(`  BEFORE: ${(before.bytes / n).toFixed(1)} bytes per CDR (${before.bytes} bytes, ${before.rows} rows); 6-hour network panel ${qBefore.ms.toFixed(1)} ms reading ${eBefore.rows} rows (${eBefore.marks} granules), a subscriber's month ${lBefore.ms.toFixed(1)} ms (medians of 7)`);

    const t0 = performance.now();
    const r = await migrate(conn, all);
    print(`  migrated the populated table (${r.applied.join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const fpAfter = (await conn.query(FINGERPRINT))[0]!;
    const same = JSON.stringify(fpBefore) === JSON.stringify(fpAfter);
    print(`  counts and sums after the migrations ${same ? 'equal' : 'DIFFER'}: ${JSON.stringify(fpAfter)}`);
    const after = await footprint(conn, 'cdrs');
    const qAfter = await time(conn, panelAfter(from, to));
    const lAfter = await time(conn, lookup);
    const eAfter = await estimate(conn, panelAfter(from, to));
    const plan = (await conn.query<{ explain: string }>(`EXPLAIN indexes = 1, projections = 1 ${panelAfter(from, to)}`)).map((r) => r.explain);
    print(`  AFTER plan: ${plan.filter((l) => /ReadFromMergeTree|Granules:|Name: p_/.test(l)).map((l) => l.trim()).join('; ')}`);
    const sameAnswer = JSON.stringify(qBefore.rows) === JSON.stringify(qAfter.rows) && JSON.stringify(lBefore.rows) === JSON.stringify(lAfter.rows);
    print(`  AFTER: ${((after.bytes - after.projectionBytes) / n).toFixed(1)} bytes per CDR without the time projection, ${(after.bytes / n).toFixed(1)} with it (projection ${after.projectionBytes} bytes); 6-hour network panel ${qAfter.ms.toFixed(1)} ms reading ${eAfter.rows} rows (${eAfter.marks} granules), a subscriber's month ${lAfter.ms.toFixed(1)} ms (medians of 7), same answers: ${sameAnswer}`);
    print('  largest columns before -> after (compressed bytes per CDR):');
    const names = [...before.columns.keys()].sort((a, b) => (before.columns.get(b) ?? 0) - (before.columns.get(a) ?? 0)).slice(0, 20);
    for (const c of names) print(`    ${c.padEnd(24)} ${((before.columns.get(c) ?? 0) / n).toFixed(2).padStart(7)} -> ${((after.columns.get(c) ?? 0) / n).toFixed(2)}`);
    if (!same || !sameAnswer) process.exitCode = 1;
  } finally {
    await conn.close();
    if (process.env.BENCH_STORAGE_KEEP) print(`  data kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('bench-storage.ts')) {
  const { values } = parseArgs({ options: { records: { type: 'string', default: '1000000' }, 'codec-study': { type: 'boolean', default: false } } });
  await runStorageBench(Number(values.records), values['codec-study'] === true, (s) => process.stdout.write(s + '\n'));
}
