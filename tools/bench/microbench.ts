/**
 * Decode microbenchmarks (`cdr-pipeline microbench`): records per second on one core for each way a CDR can
 * arrive, all in one process on the same generated records, so the ratios are comparable on any machine
 * (report ratios measured in one run, and absolute rates with the machine described).
 *
 * Scenarios: bare Avro (decode-only, and decode + validate through the decoder the pipeline runs); Confluent
 * framing with the writer schema equal to the reader's; Confluent with v2 records resolved to the current reader (v3); the
 * anti-pattern baseline of a resolver rebuilt per record; JSON.parse of the same CDR.
 * Each scenario runs `runs` times after a warm-up; the median is reported, with the rate per CPU-second of
 * this process (per core: the decoder is single-threaded) next to the wall-clock rate.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { avroCodec, avroSchemaText, cdrCodec, cdrReaderFor, CDR_SCHEMA_FILE, packageRoot, uncachedReaderCodec, type AvroCodec, type Cdr, type SourceRecord } from '../../schemas/index.js';
import { confluentFrame, type WriterSchemaSource } from '../../schemas/registry.js';
import { createConfluentDecoder, createDecoder, type Decoder } from '../../enrich/decode.js';
import { generateCdrs } from '../../simulators/synthetic.js';

export interface MicrobenchOptions {
  /** Distinct records per run (the anti-pattern baseline uses a twentieth of them). */
  records: number;
  runs: number;
  /** Records per decoder batch (the runner hands the decoder one Kafka fetch at a time). */
  batch: number;
  doc: boolean;
}

export interface MicrobenchRow {
  name: string;
  /** Median records per CPU-second of this process. */
  perCoreSec: number;
  /** Median records per wall-clock second. */
  perWallSec: number;
  /** Ratio to the Confluent decode-only rate (writer = reader schema). */
  relative?: number;
}

type Utf8Slice = { utf8Slice(start: number, end: number): string };

const V1_ID = 1;
const V2_ID = 2;

function v2Of(c: Cdr): Record<string, unknown> {
  const { lac, ...rest } = c;
  return { ...rest, locationAreaCode: lac, chargingId: c.eventType === 'DATA' ? 1 : null, ratType: 6 };
}

/** Runs fn (which processes `n` records) `runs` times after one warm-up; medians of rates. */
function measure(name: string, n: number, runs: number, fn: () => number): MicrobenchRow {
  let sink = fn(); // warm-up: compile, inline caches
  const cpuRates: number[] = [];
  const wallRates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    sink += fn();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    cpuRates.push(n / Math.max(cpu, wall * 0.5, 1e-6));
    wallRates.push(n / wall);
  }
  if (sink === -1) process.stdout.write(''); // keeps the work observable
  return { name, perCoreSec: Math.round(median(cpuRates)), perWallSec: Math.round(median(wallRates)) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function decodeOnly(codec: AvroCodec<Cdr>, values: Buffer[], offset: number): () => number {
  return () => {
    let sum = 0;
    for (let i = 0; i < values.length; i++) sum += codec.decode(values[i]!, offset).durationMs;
    return sum;
  };
}

function throughDecoder(decode: Decoder, batches: SourceRecord[][]): () => number {
  const coords = { topic: 'bench', partition: 0 };
  return () => {
    let n = 0;
    for (const b of batches) n += decode(coords, b).cdrs.length;
    return n;
  };
}

export async function runMicrobench(o: MicrobenchOptions, print: (line: string) => void): Promise<MicrobenchRow[]> {
  // Generated records whose seizure times are in the past relative to now, so they all validate.
  const cdrs = [...generateCdrs({ seed: 42, subscribers: Math.max(100, o.records >> 4), startMs: Date.now() - 30 * 86_400_000, meanGapMs: 50, switches: 4 }, o.records)];
  const v1 = cdrCodec();
  const v2 = avroCodec<Record<string, unknown>>('cdr.v2.avsc');
  // "v1" here is the pipeline's current CDR schema (the reader: contract v3 since issue #14), the bytes' writer in
  // the writer = reader scenarios.
  const v1Text = avroSchemaText(CDR_SCHEMA_FILE);
  const v2Text = avroSchemaText('cdr.v2.avsc');
  const bare = cdrs.map((c) => v1.encode(c));
  const framedV1 = bare.map((b) => confluentFrame(V1_ID, b));
  const framedV2 = cdrs.map((c) => confluentFrame(V2_ID, v2.encode(v2Of(c))));
  const json = cdrs.map((c) => Buffer.from(JSON.stringify(c)));
  const toBatches = (values: Buffer[]): SourceRecord[][] => {
    const out: SourceRecord[][] = [];
    for (let i = 0; i < values.length; i += o.batch) out.push(values.slice(i, i + o.batch).map((value, j) => ({ key: null, value, offset: String(i + j), timestamp: 0 })));
    return out;
  };
  const limits = { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 };
  const registry: WriterSchemaSource = { schemaById: async (id) => ({ schema: id === V1_ID ? v1Text : v2Text, schemaType: 'AVRO' }) };
  const confluent = createConfluentDecoder({ ...limits, registry });
  const v1Batches = toBatches(framedV1);
  const v2Batches = toBatches(framedV2);
  await confluent.prepare!(v1Batches[0]!);
  await confluent.prepare!(v2Batches[0]!);
  const n = cdrs.length;
  const slow = Math.max(100, Math.floor(n / 20));

  print(`decode microbenchmarks: ${n} distinct CDRs (${Math.round(bare.reduce((s, b) => s + b.length, 0) / n)} B bare Avro, ${Math.round(json.reduce((s, b) => s + b.length, 0) / n)} B JSON), ${o.runs} runs each, median; batches of ${o.batch}`);
  const rows: MicrobenchRow[] = [];
  const run = (name: string, count: number, fn: () => number) => {
    const row = measure(name, count, o.runs, fn);
    rows.push(row);
    print(`  ${name.padEnd(58)} ${String(row.perCoreSec).padStart(10)} /CPU-s ${String(row.perWallSec).padStart(10)} /s`);
  };
  run('bare Avro: decode only', n, decodeOnly(v1, bare, 0));
  run('bare Avro: decode + validate (decoder)', n, throughDecoder(createDecoder(v1, limits), toBatches(bare)));
  run('Confluent, writer = reader schema: decode only', n, decodeOnly(cdrReaderFor(v1Text), framedV1, 5));
  run('Confluent, writer = reader schema: decode + validate', n, throughDecoder(confluent, v1Batches));
  run('Confluent, v2 resolved to v3 (cached resolver): decode only', n, decodeOnly(cdrReaderFor(v2Text), framedV2, 5));
  run('Confluent, v2 resolved to v3: decode + validate', n, throughDecoder(confluent, v2Batches));
  run('anti-pattern: resolver rebuilt per record (v2 -> v3)', slow, () => {
    let sum = 0;
    for (let i = 0; i < slow; i++) sum += uncachedReaderCodec<Cdr>(CDR_SCHEMA_FILE, v2Text).decode(framedV2[i]!, 5).durationMs;
    return sum;
  });
  // The floor under any decoder that hands out JS strings: only turning each record's UTF-8 strings into
  // JS strings, no Avro at all. Buffer#utf8Slice (undocumented, what avsc's Tap.readString calls) skips
  // toString's argument checks, which would otherwise cost as much as the slicing.
  const strings = cdrs.map((c) => {
    const parts = [...Object.values(c).filter((v): v is string => typeof v === 'string'), ...Object.entries(c.extensions).flat()].map((v) => Buffer.from(v));
    return { buf: Buffer.concat(parts) as Buffer & Utf8Slice, ends: parts.map((_, i) => parts.slice(0, i + 1).reduce((t, b) => t + b.length, 0)) };
  });
  const perRecord = strings.reduce((t, x) => t + x.ends.length, 0) / n;
  run(`floor: only the ${perRecord.toFixed(1)} strings per CDR to JS strings (no Avro)`, n, () => {
    let sum = 0;
    for (let i = 0; i < strings.length; i++) {
      const { buf, ends } = strings[i]!;
      let start = 0;
      for (let j = 0; j < ends.length; j++) {
        sum += buf.utf8Slice(start, ends[j]!).length;
        start = ends[j]!;
      }
    }
    return sum;
  });
  run('JSON.parse of the same CDR (Buffer -> string -> object)', n, () => {
    let sum = 0;
    for (let i = 0; i < json.length; i++) sum += (JSON.parse(json[i]!.toString('utf8')) as Cdr).durationMs;
    return sum;
  });
  const ref = rows[2]!.perCoreSec;
  for (const r of rows) r.relative = Number((r.perCoreSec / ref).toPrecision(3));

  if (o.doc) {
    const doc = join(packageRoot, 'docs', 'BENCHMARKS.md');
    const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}, load average ${loadavg()[0]?.toFixed(2)}`;
    const block = [
      `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `\`cdr-pipeline microbench --records ${n} --runs ${o.runs} --batch ${o.batch}\` on ${machine}. Median of ${o.runs} runs; "× ref" is relative to Confluent decode-only with the writer schema equal to the reader's.`,
      '',
      '| scenario | records/CPU-s (one core) | records/s (wall) | × ref |',
      '|---|---:|---:|---:|',
      ...rows.map((r) => `| ${r.name} | ${r.perCoreSec.toLocaleString('en-US')} | ${r.perWallSec.toLocaleString('en-US')} | ${r.relative} |`),
      '',
    ].join('\n');
    writeFileSync(doc, withRunBlock(existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n', block));
    print(`added to the "${SECTION}" section of ${doc}`);
  }
  return rows;
}

const SECTION = 'Decode microbenchmarks';

const SECTION_INTRO = `Written by \`cdr-pipeline microbench\` (tools/bench/microbench.ts), newest run first. Each scenario decodes the
same generated CDRs in one process: bare Avro (decode only; decode + validate through the decoder the
pipeline runs, in batches), the Confluent wire format with the writer schema equal to the reader's, v2
records resolved to the v1 reader with the cached resolver, the anti-pattern of a resolver rebuilt per record
(what @kafkajs/confluent-schema-registry does per message with a reader schema), the floor of
only turning each record's strings into JS strings, and JSON.parse of the same CDR.
`;

/**
 * Puts a run's block at the top of the "Decode microbenchmarks" section (creating the section before the
 * first other section, so tables that other commands append at the end of the file stay contiguous).
 */
function withRunBlock(text: string, block: string): string {
  const head = `## ${SECTION}\n`;
  const at = text.indexOf(head);
  if (at < 0) {
    const section = `${head}\n${SECTION_INTRO}\n${block}\n`;
    const next = text.indexOf('\n## ');
    return next < 0 ? `${text.replace(/\n*$/, '\n\n')}${section}` : `${text.slice(0, next + 1)}${section}${text.slice(next + 1)}`;
  }
  const firstRun = text.indexOf('\n### ', at);
  const nextSection = text.indexOf('\n## ', at + head.length);
  const insertAt = firstRun >= 0 && (nextSection < 0 || firstRun < nextSection) ? firstRun + 1 : nextSection < 0 ? text.length : nextSection + 1;
  return `${text.slice(0, insertAt).replace(/\n*$/, '\n\n')}${block}\n${text.slice(insertAt)}`;
}
