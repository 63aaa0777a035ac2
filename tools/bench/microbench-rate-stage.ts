/**
 * The rating stage as the runner drives it (issue #15): CPU per CDR of rating + enrichment end to end, on the
 * realistic generated traffic `cdr-pipeline bench` produces (simulators/traffic, seed 1, every fraud scenario,
 * subscribers = records / 20, the bundled tariff book), in chunks of 1000 records like pipeline/runner.ts.
 *
 * Scenarios (each over all records, chunk by chunk, nothing kept between chunks but the output bytes):
 * - `decode+serialise`: Avro decode + validate (enrich/decode.ts) and the RowBinary insert row
 *   (sinks/clickhouse/rowbinary.ts) without rating: the pipeline with rating off;
 * - `decode+rate+serialise`: the same with the rating stage between them (enrich/rate/stage.ts rateBatch),
 *   the difference being what rating and enrichment cost the runner (including the rated columns' share of
 *   the row and the garbage collection of what rating allocates);
 * - `rate`: rateBatch alone on decoded chunks (decode done outside the timed part of the chunk).
 *
 * Run (private build; node --cpu-prof for a profile of one scenario):
 *   node .scratch/NAME/dist/tools/bench/microbench-rate-stage.js [--records 100000] [--runs 3] [--only rate]
 * Prints the median CPU µs per CDR of `runs` runs of each scenario and the load average before and after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cdrCodec, type SourceRecord } from '../../schemas/index.js';
import { createDecoder } from '../../enrich/decode.js';
import { createRatingStage, type RatingBatchStage } from '../../enrich/rate/stage.js';
import { CdrRowBinaryEncoder } from '../../sinks/clickhouse/rowbinary.js';
import { createTraffic, writeReference } from '../../simulators/traffic/index.js';

export const CHUNK = 1000;

/** The records `cdr-pipeline bench` produces (tools/bench/bench.ts), as Avro values, and the rating stage of its reference data. */
export function benchWorkload(records: number): { values: Buffer[]; stage: RatingBatchStage; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cdr-rate-stage-'));
  const subscribers = Math.max(1000, Math.floor(records / 20));
  const startMs = Date.UTC(2026, 9, 5, 23);
  const traffic = createTraffic({ seed: 1, subscribers, startMs, endMs: startMs + 7 * 86_400_000, scenarios: 'all' });
  writeReference(dir, traffic.reference());
  const stage = createRatingStage(dir, '');
  const codec = cdrCodec();
  // Only the encoded values are kept (the decoded objects of a chunk live as long as in the runner).
  const values: Buffer[] = [];
  for (const c of traffic.records()) {
    values.push(codec.encode(c));
    if (values.length >= records) break;
  }
  return { values, stage, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

type Scenario = 'decode+serialise' | 'decode+rate+serialise' | 'rate';
const SCENARIOS: Scenario[] = ['decode+serialise', 'decode+rate+serialise', 'rate'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One pass over every record; returns CPU µs per CDR of the measured part (process CPU, all threads). */
function pass(scenario: Scenario, records: SourceRecord[], stage: RatingBatchStage): { cpuUs: number; rows: number; bytes: number } {
  // Decode + validate with the limits `cdr-pipeline run` uses by default (pipeline/config.ts).
  const decode = createDecoder(cdrCodec(), { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 });
  const enc = new CdrRowBinaryEncoder();
  const coords = { topic: 'bench', partition: 0 };
  let rows = 0;
  let bytes = 0;
  let cpu = 0;
  const whole = scenario !== 'rate';
  const c0 = whole ? process.cpuUsage() : undefined;
  for (let from = 0; from < records.length; from += CHUNK) {
    const chunk = records.slice(from, from + CHUNK);
    if (whole) {
      const { cdrs } = decode(coords, chunk);
      if (scenario === 'decode+rate+serialise') stage.rateBatch(cdrs);
      for (const b of enc.encode(cdrs)) bytes += b.length;
      rows += cdrs.length;
    } else {
      const { cdrs } = decode(coords, chunk);
      const c1 = process.cpuUsage();
      const counts = stage.rateBatch(cdrs);
      const d = process.cpuUsage(c1);
      cpu += d.user + d.system;
      rows += counts.rated ?? 0;
    }
  }
  if (c0) {
    const d = process.cpuUsage(c0);
    cpu = d.user + d.system;
  }
  return { cpuUs: cpu / records.length, rows, bytes };
}

export function runRateStageBench(o: { records: number; runs: number; only?: Scenario }, print: (s: string) => void): Record<string, number> {
  const load0 = loadavg().map((x) => x.toFixed(2)).join(' ');
  const t0 = Date.now();
  const w = benchWorkload(o.records);
  const records: SourceRecord[] = w.values.map((value, i) => ({ key: null, value, offset: String(i), timestamp: 0 }));
  print(`rate-stage microbenchmark: ${records.length} generated CDRs (bench traffic, seed 1), chunks of ${CHUNK}, ${o.runs} runs, medians; workload built in ${Date.now() - t0} ms`);
  const scenarios = o.only ? [o.only] : SCENARIOS;
  // Warm-up: one pass of each, so every scenario runs optimised code and warm caches (day plans, subscribers).
  for (const s of scenarios) pass(s, records.slice(0, Math.min(records.length, 20_000)), w.stage);
  const per: Record<string, number[]> = {};
  for (let r = 0; r < o.runs; r++) {
    for (const s of scenarios) {
      const x = pass(s, records, w.stage);
      (per[s] ??= []).push(x.cpuUs);
    }
  }
  const out: Record<string, number> = {};
  for (const s of scenarios) {
    out[s] = median(per[s]!);
    print(`  ${s.padEnd(24)} ${out[s]!.toFixed(2).padStart(7)} µs CPU per CDR (runs ${per[s]!.map((x) => x.toFixed(2)).join(', ')})`);
  }
  if (out['decode+rate+serialise'] !== undefined && out['decode+serialise'] !== undefined) {
    print(`  rating + enrichment as the runner sees it (difference): ${(out['decode+rate+serialise'] - out['decode+serialise']).toFixed(2)} µs per CDR`);
  }
  print(`  load average before ${load0}, after ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  w.cleanup();
  return out;
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop()!);
if (isMain) {
  const { values } = parseArgs({ options: { records: { type: 'string', default: '100000' }, runs: { type: 'string', default: '3' }, only: { type: 'string' } } });
  const only = values.only as Scenario | undefined;
  if (only !== undefined && !SCENARIOS.includes(only)) throw new Error(`--only: one of ${SCENARIOS.join(', ')}`);
  runRateStageBench({ records: Number(values.records), runs: Number(values.runs), ...(only ? { only } : {}) }, (s) => process.stdout.write(s + '\n'));
}
