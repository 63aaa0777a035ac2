/**
 * Hostile input after issue #11 (the adversarial review's findings): each test reproduces one way a single
 * record, file, folder or setting stopped, hung or fooled the pipeline, and asserts the fixed behaviour.
 * Real Kafka (the test broker) and embedded ClickHouse where the finding involved them.
 */
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import avro from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { avroSchemaText, cdrCodec, cdrReaderFor, CDR_SCHEMA_FILE, DeadLetterCode, SchemaIncompatibleError, schemaPath, type Cdr, type DeadLetter, type FetchedBatch, type SourcedCdr } from '../schemas/index.js';
import { ContainerError, ContainerReader, writeContainerFile } from '../schemas/container.js';
import { decodeDeadLetter } from '../schemas/dead-letter.js';
import { createDecoder } from '../enrich/decode.js';
import { CheckpointError, FileSource } from '../ingest/files.js';
import { ensureTopic } from '../ingest/kafka.js';
import { KafkaSink } from '../sinks/kafka.js';
import { openEmbedded, ClickHouseError, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink } from '../sinks/clickhouse/sink.js';
import { dateTime64Text, deadLetterRowJson } from '../sinks/clickhouse/rows.js';
import { ConfigError, loadConfig, type Config } from '../pipeline/config.js';
import { publishDeadLetters, DEAD_LETTER_MAX_MESSAGE_BYTES } from '../pipeline/dead-letter-topic.js';
import { FraudEventPublisher } from '../pipeline/fraud.js';
import { startPipeline } from '../pipeline/app.js';
import { createMetrics } from '../pipeline/telemetry.js';
import { redactLogLine, maskIdentities } from '../pipeline/redact.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');
const codec = cdrCodec();
const NOW = Date.now();
const conns: ClickHouseConnection[] = [];
afterAll(async () => {
  await Promise.all(conns.map((c) => c.close()));
});

/** A valid CDR released a minute ago (the synthetic generator's shape, moved to now). */
function cdr(i: number, over: Partial<Cdr> = {}): Cdr {
  const c = [...generateCdrs({ seed: 3, subscribers: 20, startMs: NOW - 3_600_000, meanGapMs: 1000, switches: 1 }, i + 1)][i]!;
  return { ...c, recordId: `hostile-${i}-${randomBytes(3).toString('hex')}`, ...over };
}

const decoder = () => createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 });
const decodeOne = (value: Buffer) => decoder()({ topic: 't', partition: 0 }, [{ key: null, value, offset: '0', timestamp: NOW }]);

function cfgFor(db: string, over: Partial<Config['kafka']> = {}): Config {
  const base = loadConfig({ env: {} });
  return {
    ...base,
    kafka: { ...base.kafka, brokers, ...over },
    clickhouse: { ...base.clickhouse, path: chPath(), database: db },
    sink: { ...base.sink, flushIntervalMs: 100 },
    aggregates: { ...base.aggregates, refreshIntervalMs: 0 },
    telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
  };
}

async function store(db: string): Promise<ClickHouseConnection> {
  const conn = await openEmbedded({ path: chPath(), database: db });
  conns.push(conn);
  return conn;
}

describe('decoder (H2, M2)', () => {
  it('refuses a release time beyond now + decode.maxFutureSkewMs (its fraud event would be refused by the broker)', () => {
    const c = cdr(0);
    const seizure = NOW - 60_000;
    const r = decodeOne(codec.encode({ ...c, seizureTime: seizure, answerTime: seizure + 10_000, releaseTime: NOW + 2 * 3_600_000, durationMs: 2 * 3_600_000 + 60_000, billableMs: 2 * 3_600_000 + 50_000 }));
    expect(r.cdrs).toHaveLength(0);
    expect(r.deadLetters[0]!.code).toBe(DeadLetterCode.FUTURE_TIMESTAMP);
    expect(r.deadLetters[0]!.message).toContain('releaseTime');
  });

  it('refuses control characters and invalid UTF-8 in ids, names and extensions: distinct bytes never collapse into one recordId', () => {
    const base = cdr(1, { recordId: 'IDXX', recordingEntity: 'MSCY' });
    const a = codec.encode(base);
    const b = codec.encode(base);
    const at = a.indexOf('XX');
    a[at] = 0xff;
    a[at + 1] = 0xfe;
    b[at] = 0xc0;
    b[at + 1] = 0x80;
    const ent = codec.encode(base);
    const e = ent.indexOf('MSCY');
    ent[e + 3] = 0xff;
    const cases = [a, b, ent, codec.encode({ ...base, recordId: 'a\u0000b' }), codec.encode({ ...base, recordingEntity: 'MSC\n1' }), codec.encode({ ...base, extensions: { ['k\ufffd']: 'v' } })];
    const r = decoder()({ topic: 't', partition: 0 }, cases.map((value, i) => ({ key: null, value, offset: String(i), timestamp: NOW })));
    expect(r.cdrs).toHaveLength(0);
    expect(r.deadLetters.map((d) => d.code)).toEqual(cases.map(() => DeadLetterCode.VALUE_OUT_OF_DOMAIN));
    // Ordinary text (accents included) is fine.
    expect(decodeOne(codec.encode({ ...base, recordId: 'café-1', extensions: { note: 'línea\tuno' } })).cdrs).toHaveLength(1);
  });
});

describe('claims of docs/ERRORS.md, proven', () => {
  it('an unanswered call has no billable time at all: 1 ms is INCONSISTENT_TIMES (the fuzz run\'s open finding)', () => {
    const c = { ...cdr(3), seizureTime: NOW - 100_000, answerTime: null, releaseTime: NOW - 40_000, durationMs: 60_000, billableMs: 1 };
    expect(decodeOne(codec.encode(c)).deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.INCONSISTENT_TIMES]);
    expect(decodeOne(codec.encode({ ...c, billableMs: 0 })).cdrs).toHaveLength(1);
  });

  it('disposition and answer time (a decision, docs/ERRORS.md): ANSWERED without answerTime and 0 billable is stored, so is BUSY with one', () => {
    const voice = { ...cdr(5), eventType: 'VOICE_MO' as const, calledNumber: '447700900111', seizureTime: NOW - 100_000, releaseTime: NOW - 40_000, durationMs: 60_000 };
    const r = decoder()({ topic: 't', partition: 0 }, [
      { key: null, value: codec.encode({ ...voice, disposition: 'ANSWERED', answerTime: null, billableMs: 0 }), offset: '0', timestamp: NOW },
      { key: null, value: codec.encode({ ...voice, disposition: 'BUSY', answerTime: NOW - 70_000, billableMs: 30_000 }), offset: '1', timestamp: NOW },
    ]);
    expect(r.deadLetters.map((d) => d.message)).toEqual([]);
    expect(r.cdrs.map((x) => x.cdr.disposition)).toEqual(['ANSWERED', 'BUSY']);
  });

  it('UNKNOWN_SCHEMA_ID: the registry is asked again once unknownIdRetryMs passed, and the id then decodes', async () => {
    const { createConfluentDecoder } = await import('../enrich/decode.js');
    const { confluentFrame } = await import('../schemas/registry.js');
    let known = false;
    let asked = 0;
    const registry = { schemaById: async () => (asked++, known ? { schema: avroSchemaText(CDR_SCHEMA_FILE), schemaType: 'AVRO' as const } : undefined) };
    const decode = createConfluentDecoder({ registry, unknownIdRetryMs: 100, maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000 });
    const records = [{ key: null, value: confluentFrame(42, codec.encode(cdr(4))), offset: '0', timestamp: NOW }];
    expect(await decode.prepare!(records)).toBe(true);
    expect(decode({ topic: 't', partition: 0 }, records).deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.UNKNOWN_SCHEMA_ID]);
    known = true;
    await decode.prepare!(records); // within the minute: believed, not asked
    expect(asked).toBe(1);
    await new Promise((r) => setTimeout(r, 120));
    await decode.prepare!(records);
    expect(asked).toBe(2);
    expect(decode({ topic: 't', partition: 0 }, records).cdrs).toHaveLength(1);
  });
});

describe('writer schemas (H3)', () => {
  const deepSchema = (depth: number) => {
    const s = JSON.parse(avroSchemaText(CDR_SCHEMA_FILE)) as { fields: unknown[] };
    let t = '"null"';
    for (let i = 0; i < depth; i++) t = `{"type":"array","items":${t}}`;
    return JSON.stringify(s).replace(/\]\}$/, `,{"name":"deep","type":${t}}]}`);
  };

  it('a writer schema nested thousands of levels deep is SCHEMA_INCOMPATIBLE, never a stack overflow', () => {
    expect(() => cdrReaderFor(deepSchema(5000))).toThrow(SchemaIncompatibleError);
    expect(() => cdrReaderFor(deepSchema(1000))).toThrow(SchemaIncompatibleError);
    // Records of a batch carrying that schema (a container file's) become dead letters.
    const r = decoder()({ topic: 'file:x', partition: 0, writerSchema: deepSchema(5000) }, [{ key: null, value: codec.encode(cdr(2)), offset: '0', timestamp: NOW }]);
    expect(r.deadLetters.map((d) => d.code)).toEqual([DeadLetterCode.SCHEMA_INCOMPATIBLE]);
    // A schema nested moderately (50 levels) is still read.
    expect(() => cdrReaderFor(deepSchema(50))).not.toThrow();
  });

  it('a container file whose header schema is nested too deep is BAD_SCHEMA (CONTAINER_CORRUPT), not a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deep-'));
    const path = join(dir, 'deep.avro');
    const meta = avro.Type.forSchema({ type: 'map', values: 'bytes' });
    const long = avro.Type.forSchema('long');
    const sync = randomBytes(16);
    // 1000 levels: avsc compiles it, the guard's compiler then overflowed the stack while splitting the block.
    writeFileSync(path, Buffer.concat([Buffer.from('Obj\x01', 'latin1'), meta.toBuffer({ 'avro.schema': Buffer.from(deepSchema(1000)) }), sync, long.toBuffer(1), long.toBuffer(1), Buffer.from([0]), sync]));
    const err = await (async () => {
      const reader = await ContainerReader.open(path);
      try {
        for await (const b of reader.blocks()) void b;
      } finally {
        await reader.close();
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as ContainerError).kind).toBe('BAD_SCHEMA');
  });
});

describe('container blocks (H8, M1)', () => {
  const header = (codecName: string, sync: Buffer) => Buffer.concat([Buffer.from('Obj\x01', 'latin1'), avro.Type.forSchema({ type: 'map', values: 'bytes' }).toBuffer({ 'avro.schema': Buffer.from(JSON.stringify(codec.schema)), 'avro.codec': Buffer.from(codecName) }), sync]);
  const long = avro.Type.forSchema('long');

  it('a deflate block that inflates beyond the largest block accepted is CORRUPT_BLOCK at once (no gigabyte inflate)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bomb-'));
    const path = join(dir, 'bomb.avro');
    const sync = randomBytes(16);
    const z = deflateRawSync(Buffer.alloc(32 * 1024 * 1024), { level: 9 });
    writeFileSync(path, Buffer.concat([header('deflate', sync), long.toBuffer(1), long.toBuffer(z.length), z, sync]));
    const reader = await ContainerReader.open(path, 'r', { maxBlockBytes: 1024 * 1024 });
    const t0 = performance.now();
    const err = await (async () => {
      for await (const _ of reader.blocks()) void _;
    })().catch((e: unknown) => e);
    await reader.close();
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as ContainerError).kind).toBe('CORRUPT_BLOCK');
    expect((err as ContainerError).message).toContain('inflates to more than the largest block accepted (1.0 MiB)');
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('bytes left after a block\'s announced records are a CONTAINER_CORRUPT piece, not silently dropped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'short-'));
    const path = join(dir, 'short.avro');
    const sync = randomBytes(16);
    const data = Buffer.concat(Array.from({ length: 10 }, (_, i) => codec.encode(cdr(i))));
    // The block says 5 records, holds 10; then a second, honest block of 2.
    const second = Buffer.concat([codec.encode(cdr(11)), codec.encode(cdr(12))]);
    writeFileSync(path, Buffer.concat([header('null', sync), long.toBuffer(5), long.toBuffer(data.length), data, sync, long.toBuffer(2), long.toBuffer(second.length), second, sync]));
    const reader = await ContainerReader.open(path);
    const blocks = [];
    for await (const b of reader.blocks()) blocks.push(b);
    await reader.close();
    expect(blocks[0]!.records).toHaveLength(5);
    expect(blocks[0]!.unsplittable?.bytes.length).toBe(data.length - Buffer.concat(blocks[0]!.records).length);
    expect(blocks[0]!.unsplittable?.message).toMatch(/bytes left after the block's 5 announced records/);
    // The piece takes one record index: the next block's records follow it.
    expect(blocks[1]!.firstRecord).toBe(6);
    expect(blocks[1]!.records).toHaveLength(2);
  });
});

/** Runs a FileSource with a handler standing in for the runner: every batch is committed at once. */
async function drain(source: FileSource, onBatch: (b: FetchedBatch) => void | Promise<void> = () => undefined): Promise<FetchedBatch[]> {
  const batches: FetchedBatch[] = [];
  let crash: Error | undefined;
  await source.start(
    async (b) => {
      batches.push(b);
      await onBatch(b);
      await source.commit(b.topic, b.partition, b.highWatermark);
    },
    { onCrash: (err) => void (crash = err) },
  );
  await Promise.race([source.idle, waitFor('crash', async () => crash, 20_000, 20).then((e) => Promise.reject(e))]);
  await source.stop();
  return batches;
}

function capture() {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  const log = {
    info: (o: object, msg: string) => void lines.push({ ...o, msg }),
    warn: (o: object, msg: string) => void lines.push({ ...o, msg }),
    error: (o: object, msg: string) => void lines.push({ ...o, msg }),
    debug: () => undefined,
    child: () => log,
  };
  return { log: log as unknown as typeof quietLog, lines };
}

describe('file drops (H4-H7, Lows)', () => {
  const opts = (dir: string, log = quietLog) => ({ dir, pattern: /\.avro$/, settleMs: 0, pollIntervalMs: 20, exitWhenIdle: true, log });

  it('a link planted at the checkpoint temp name is not written through (the victim keeps its bytes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tmplink-'));
    const victim = join(mkdtempSync(join(tmpdir(), 'victim-')), 'secret.txt');
    writeFileSync(victim, 'do not overwrite');
    symlinkSync(victim, join(dir, '.cdr-pipeline-checkpoints.json.tmp'));
    await writeContainerFile(join(dir, 'a.avro'), codec.schema, [codec.encode(cdr(0))]);
    const batches = await drain(new FileSource(opts(dir)));
    expect(batches).toHaveLength(1);
    expect(readFileSync(victim, 'utf8')).toBe('do not overwrite');
    expect(readdirSync(join(dir, 'done'))).toEqual(['a.avro']);
    expect(JSON.parse(readFileSync(join(dir, '.cdr-pipeline-checkpoints.json'), 'utf8'))).toEqual({});
  });

  it('done/ or failed/ as a symbolic link is refused at start-up (files would be moved out of the folder)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'donelink-'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'elsewhere-'));
    symlinkSync(elsewhere, join(dir, 'done'));
    await writeContainerFile(join(dir, 'a.avro'), codec.schema, [codec.encode(cdr(0))]);
    expect(() => new FileSource(opts(dir))).toThrow(CheckpointError);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('a corrupt or linked checkpoint file is a CheckpointError naming the file, never a crash quoting it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'badstate-'));
    writeFileSync(join(dir, '.cdr-pipeline-checkpoints.json'), '{"a.avro": {"size": 1');
    expect(() => new FileSource(opts(dir))).toThrow(/checkpoint file .* is not valid JSON/);
    writeFileSync(join(dir, '.cdr-pipeline-checkpoints.json'), '{"a.avro": {"size": "x"}}');
    expect(() => new FileSource(opts(dir))).toThrow(CheckpointError);
    const secret = join(mkdtempSync(join(tmpdir(), 'victim-')), 'key.pem');
    writeFileSync(secret, 'SECRET KEY MATERIAL');
    const linked = mkdtempSync(join(tmpdir(), 'statelink-'));
    symlinkSync(secret, join(linked, '.cdr-pipeline-checkpoints.json'));
    const err = (() => {
      try {
        new FileSource(opts(linked));
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err!.message).not.toContain('SECRET');
  });

  it('ingest-files exits 2 with a plain message on a corrupt checkpoint file (not 1 with a stack)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'badstate-cli-'));
    writeFileSync(join(dir, '.cdr-pipeline-checkpoints.json'), '{"a.avro": ');
    const { main } = await import('../cli/index.js');
    const write = process.stderr.write.bind(process.stderr);
    let err = '';
    process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['ingest-files', dir, '--once', '--log-level', 'silent'])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(err).toMatch(/checkpoint file .* is not valid JSON/);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('a file replaced while it is read is not moved to done/ unread: the new file is read as a new file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'replace-'));
    const first = Array.from({ length: 6 }, (_, i) => cdr(i));
    const second = Array.from({ length: 3 }, (_, i) => cdr(20 + i));
    await writeContainerFile(join(dir, 'a.avro'), codec.schema, first.map((c) => codec.encode(c)), { recordsPerBlock: 2 });
    await writeContainerFile(join(dir, 'new.tmp'), codec.schema, second.map((c) => codec.encode(c)), { recordsPerBlock: 3 });
    let replaced = false;
    const batches = await drain(new FileSource(opts(dir)), () => {
      if (replaced) return;
      replaced = true;
      renameSync(join(dir, 'new.tmp'), join(dir, 'a.avro')); // the switch rewrites the file mid-read
    });
    const ids = batches.flatMap((b) => b.records.map((r) => codec.decode(r.value!).recordId));
    // Everything of the first file was read, and the replacement too (not moved away unread).
    for (const c of [...first, ...second]) expect(ids).toContain(c.recordId);
    expect(readdirSync(join(dir, 'done'))).toEqual(['a.avro']);
    // What was moved is the replacement, after it was read itself.
    const reader = await ContainerReader.open(join(dir, 'done', 'a.avro'));
    const moved: string[] = [];
    for await (const b of reader.blocks()) for (const r of b.records) moved.push(codec.decode(r).recordId);
    await reader.close();
    expect(moved).toEqual(second.map((c) => c.recordId));
  });

  it('a hard link into the drop folder is refused (nlink > 1): another file\'s bytes never reach dead_letters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hardlink-'));
    const outside = join(mkdtempSync(join(tmpdir(), 'outside-')), 'secret.avro');
    writeFileSync(outside, 'SECRET not a container');
    linkSync(outside, join(dir, 'x.avro'));
    const cap = capture();
    const batches = await drain(new FileSource(opts(dir, cap.log)));
    expect(batches).toHaveLength(0);
    expect(cap.lines.some((l) => l.reason === 'has other hard links (nlink > 1)')).toBe(true);
    expect(existsSync(join(dir, 'x.avro'))).toBe(true);
  });

  it('dead letters of files with a 1960 or 2300 mtime are stored (record_timestamp clamped), the pipeline goes on', async () => {
    const db = uniqueName('mtime');
    const dir = mkdtempSync(join(tmpdir(), 'mtime-'));
    const good = [cdr(0), cdr(1)];
    await writeContainerFile(join(dir, 'a.avro'), codec.schema, [codec.encode(good[0]!), Buffer.from([0xff, 0xff])], { codec: 'null' });
    await writeContainerFile(join(dir, 'b.avro'), codec.schema, [codec.encode(good[1]!), Buffer.from([0xff, 0xff])], { codec: 'null' });
    utimesSync(join(dir, 'a.avro'), new Date('1960-01-01T00:00:00Z'), new Date('1960-01-01T00:00:00Z'));
    utimesSync(join(dir, 'b.avro'), new Date('2300-01-01T00:00:00Z'), new Date('2300-01-01T00:00:00Z'));
    const source = new FileSource(opts(dir));
    const p = await startPipeline(cfgFor(db, { brokers: [] }), quietLog, undefined, source);
    await Promise.race([source.idle, p.done]);
    await p.stop();
    await p.done;
    const conn = await store(db);
    const rows = await conn.query<{ topic: string; ts: string }>("SELECT topic, toString(record_timestamp) AS ts FROM dead_letters ORDER BY topic");
    expect(rows).toEqual([
      { topic: 'file:a.avro', ts: '1960-01-01 00:00:00.000' },
      { topic: 'file:b.avro', ts: '2299-12-31 23:59:59.999' },
    ]);
    const [n] = await conn.query<{ n: string }>('SELECT count() AS n FROM cdrs');
    expect(Number(n!.n)).toBe(2);
  });
});

describe('ClickHouse dead-letter rows (H6)', () => {
  it('times outside what DateTime64(3) holds are clamped, negative ones written as text ClickHouse reads', () => {
    expect(dateTime64Text(-315_619_200_000)).toBe('1960-01-01 00:00:00.000');
    const row = (ts: number) => JSON.parse(deadLetterRowJson({ code: DeadLetterCode.EMPTY_VALUE, message: '', topic: 't', partition: 0, offset: '0', timestamp: ts, key: null, value: null })) as { record_timestamp: string };
    expect(row(Date.UTC(3000, 0, 1)).record_timestamp).toBe('2299-12-31 23:59:59.999');
    expect(row(Date.UTC(1800, 0, 1)).record_timestamp).toBe('1900-01-01 00:00:00.000');
    expect(row(NaN).record_timestamp).toBe('0000000000.000');
  });

  it('a dead-letter row ClickHouse refuses is stored in a sanitised form instead of stopping the pipeline', async () => {
    const db = uniqueName('dlrefused');
    const real = await store(db);
    await migrate(real, loadMigrations(schemaPath('ddl')));
    // ClickHouse refusing non-ASCII text in a row stands for "a field no one foresaw".
    const picky: ClickHouseConnection = {
      ...real,
      kind: real.kind,
      database: real.database,
      command: (...a) => real.command(...a),
      query: (...a) => real.query(...a),
      ping: () => real.ping(),
      close: () => real.close(),
      insert: async (table, body, settings, shape) => {
        if (table === 'dead_letters' && /[^\x00-\x7f]/.test(String(body))) throw new ClickHouseError('Cannot parse input: unexpected character: (at row 1)', 'data', 27);
        return real.insert(table, body, settings, shape);
      },
    };
    const sink = new ClickHouseSink(picky, { retryInitialMs: 1, retryMaxMs: 2, log: quietLog });
    const dl: DeadLetter = { code: DeadLetterCode.AVRO_DECODE_FAILED, message: 'señal', topic: 'topic-ñ', partition: 0, offset: '7', timestamp: NOW, key: null, value: Buffer.from([1, 2, 3]) };
    const res = await sink.write({ topic: 'topic-ñ', partition: 0, firstOffset: '7', lastOffset: '7', cdrs: [], deadLetters: [dl] });
    expect(res.deadLetterRows).toBe(1);
    const rows = await real.query<{ message: string; value: string; offset: string }>('SELECT message, value, offset FROM dead_letters');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.message).toMatch(/^se\?al \[row first refused by ClickHouse/);
    expect(Buffer.from(rows[0]!.value, 'latin1')).toEqual(Buffer.from([1, 2, 3]));
    expect(rows[0]!.offset).toBe('7');
  });
});

describe('Kafka publishing (H1, H2)', () => {
  it('a dead letter too large for the dead-letter topic is published bounded (length + sha256 headers); the table keeps every byte; nothing is fatal', async () => {
    const name = uniqueName('bigdl');
    const db = name;
    await ensureTopic(brokers, name, 1, quietLog);
    const kafka = new Kafka({ brokers, clientId: name, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const big = Buffer.alloc(1_000_000, 0x41);
    const future = cdr(1, { seizureTime: NOW - 60_000, answerTime: NOW - 50_000, releaseTime: NOW + 7_200_000, durationMs: 7_260_000, billableMs: 7_250_000 });
    await producer.send({ topic: name, acks: -1, messages: [{ key: 'k', value: big }, { key: null, value: codec.encode(cdr(0)) }, { key: null, value: codec.encode(future) }] });
    await producer.disconnect();
    const p = await startPipeline(cfgFor(db, { topic: name, groupId: name, fromBeginning: true, deadLetterTopic: `${name}-dlq`, maxBytesPerPartition: 2_000_000 }), quietLog);
    const conn = await store(db);
    try {
      await waitFor('committed', async () => p.runner.stats.commits > 0 && p.runner.stats.consumed === 3 && p.runner.stats.stored + p.runner.stats.deadLetters === 3, 30_000);
    } finally {
      await p.stop();
    }
    await p.done; // resolves: nothing was fatal
    const dls = await conn.query<{ code: string; len: string }>('SELECT code, length(value) AS len FROM dead_letters ORDER BY offset');
    expect(dls).toEqual([
      { code: DeadLetterCode.AVRO_LIMIT_EXCEEDED, len: String(big.length) },
      { code: DeadLetterCode.FUTURE_TIMESTAMP, len: String(codec.encode(future).length) },
    ]);
    // The dead-letter topic has both: the big one bounded, the other whole.
    const consumer = kafka.consumer({ groupId: `${name}-read` });
    await consumer.connect();
    await consumer.subscribe({ topic: `${name}-dlq`, fromBeginning: true });
    const got: { headers: Record<string, string>; dl: DeadLetter }[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void got.push({ headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])), dl: decodeDeadLetter(message.value!) }) });
    await waitFor('both dead letters on the topic', async () => got.length >= 2, 30_000);
    await consumer.disconnect();
    const bounded = got.find((g) => g.dl.offset === '0')!;
    expect(bounded.headers['cdr-dl-truncated']).toBe('true');
    expect(bounded.headers['cdr-dl-value-bytes']).toBe(String(big.length));
    expect(bounded.headers['cdr-dl-value-sha256']).toBe((await import('node:crypto')).createHash('sha256').update(big).digest('hex'));
    expect(bounded.dl.value).toBeNull();
    const whole = got.find((g) => g.dl.offset === '2')!;
    expect(whole.headers['cdr-dl-truncated']).toBeUndefined();
    expect(whole.dl.value).toEqual(codec.encode(future));
  }, 60_000);

  it('a dead letter a topic refuses for its size (max.message.bytes below the bound) is isolated and sent bounded; the others go whole', async () => {
    const topic = uniqueName('smalltopic');
    const kafka = new Kafka({ brokers, clientId: topic, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }], waitForLeaders: true });
    await admin.disconnect();
    const sink = new KafkaSink({ brokers, clientId: topic, log: quietLog });
    await sink.connect();
    const mk = (offset: number, size: number): DeadLetter => ({ code: DeadLetterCode.AVRO_DECODE_FAILED, message: 'm', topic: 'src', partition: 0, offset: String(offset), timestamp: NOW, key: null, value: Buffer.alloc(size, 1) });
    const dls = [mk(0, 100), mk(1, 50_000), mk(2, 100)];
    expect(50_000).toBeLessThan(DEAD_LETTER_MAX_MESSAGE_BYTES); // so the first attempt sends it whole
    await publishDeadLetters(sink, topic, dls, quietLog);
    await sink.disconnect();
    const consumer = kafka.consumer({ groupId: `${topic}-read` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: { truncated: boolean; dl: DeadLetter }[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void got.push({ truncated: String(message.headers?.['cdr-dl-truncated'] ?? '') === 'true', dl: decodeDeadLetter(message.value!) }) });
    await waitFor('three dead letters', async () => got.length >= 3, 30_000);
    await consumer.disconnect();
    expect(got.map((g) => [g.dl.offset, g.truncated, g.dl.value?.length ?? null]).sort()).toEqual([
      ['0', false, 100],
      ['1', true, null],
      ['2', false, 100],
    ]);
  }, 60_000);

  it('fraud events are stamped min(release, now): a release beyond the broker\'s timestamp window is published, not a crash loop', async () => {
    const topic = uniqueName('fraudts');
    await ensureTopic(brokers, topic, 1, quietLog);
    const eventType = avro.Type.forSchema(JSON.parse(avroSchemaText('fraud-event.avsc')) as avro.Schema);
    const sc: SourcedCdr = { cdr: cdr(0, { releaseTime: NOW + 3 * 3_600_000 }), topic: 'src', partition: 0, offset: '0' };
    const event: Record<string, unknown> = { ...(eventType.random() as unknown as Record<string, unknown>), end: sc.cdr.releaseTime };
    const pub = new FraudEventPublisher(topic, brokers, topic, () => () => [event as never], createMetrics(), quietLog);
    await pub.connect();
    try {
      await pub.send(pub.prepare([sc]));
    } finally {
      await pub.disconnect();
    }
    const kafka = new Kafka({ brokers, clientId: topic, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `${topic}-read` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const stamps: number[] = [];
    const eventKey = `${String(event.group)}:${String(event.key)}`;
    let markers = 0;
    // The event itself (not only the progress marker published after it) reaches the topic.
    await consumer.run({ eachMessage: async ({ message }) => void (message.key?.toString() === eventKey ? stamps.push(Number(message.timestamp)) : markers++) });
    await waitFor('the event and its progress marker', async () => stamps.length >= 1 && markers >= 1, 30_000);
    await consumer.disconnect();
    expect(stamps).toHaveLength(1);
    expect(stamps[0]).toBeLessThanOrEqual(Date.now());
  }, 60_000);
});

describe('configuration (M3, M4)', () => {
  it('every timer setting is capped at 2^31 - 1 ms (Node fires a longer timer after 1 ms)', () => {
    const err = (() => {
      try {
        loadConfig({ env: { CDR_SINK_SHUTDOWN_TIMEOUT_MS: '3000000000', CDR_SINK_FLUSH_INTERVAL_MS: '2147483648' } });
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems.join('\n')).toMatch(/CDR_SINK_SHUTDOWN_TIMEOUT_MS: 3000000000 is outside 0\.\.2147483647/);
    expect(err!.problems.join('\n')).toMatch(/CDR_SINK_FLUSH_INTERVAL_MS: 2147483648 is outside/);
    expect(loadConfig({ env: { CDR_SINK_SHUTDOWN_TIMEOUT_MS: '2147483647' } }).sink.shutdownTimeoutMs).toBe(2147483647);
    // A point in time is not a timer.
    expect(loadConfig({ env: { CDR_DECODE_MIN_TIMESTAMP_MS: '946684800000' } }).decode.minTimestampMs).toBe(946684800000);
  });

  it('TLS files must be readable regular files, and the metrics host an IP or host name, at config load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tls-'));
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ env });
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    expect(problems({ CDR_KAFKA_SSL: 'true', CDR_KAFKA_SSL_CA_FILE: dir }).join()).toMatch(/kafka\.sslCaFile: .* is not a regular file/);
    expect(problems({ CDR_CLICKHOUSE_CA_FILE: dir }).join()).toMatch(/clickhouse\.caFile: .* is not a regular file/);
    mkdirSync(join(dir, 'sub'));
    expect(problems({ CDR_TELEMETRY_METRICS_HOST: '256.1.1.1' }).join()).toMatch(/telemetry\.metricsHost: "256\.1\.1\.1" is neither/);
    expect(problems({ CDR_TELEMETRY_METRICS_HOST: 'bad host' }).join()).toMatch(/metricsHost/);
    for (const ok of ['127.0.0.1', '::1', '0.0.0.0', 'localhost', 'metrics.internal.example']) expect(problems({ CDR_TELEMETRY_METRICS_HOST: ok })).toEqual([]);
  });
});

describe('redaction by value (M5)', () => {
  it('masks 7+ digit numbers written with separators, fillers or full-width digits; keeps dates, IPs and decimals', () => {
    const probes = ['600123456', '44770*0900123', '+44#7700#900#777', '34.600.123.456', '(0)7700 900123', 'tel:+44(20)79460018', '2341500000009\u00a099', '３４６００１２３４５６', '4477009001２3', '7700900'];
    for (const p of probes) {
      const out = redactLogLine(JSON.stringify({ msg: 'x', err: `number ${p} here` }));
      expect(out, p).toContain('[redacted]');
      expect(out, p).not.toContain(p.slice(-4));
    }
    const keep = JSON.stringify({ time: '2026-12-04T23:53:06.089Z', msg: 'at 2026-12-04 23:53:06 from 192.168.100.200 exposure 18.098400, port 19092, 123456 rows', exposure: '18.098400' });
    expect(redactLogLine(keep)).toBe(keep);
    expect(maskIdentities('IMEI 35-345678-901234-5')).not.toContain('901234');
  });

  it('field-name exemptions go by the last name segment and never cover a field that names an identity', () => {
    const line = JSON.stringify({ lastOffset: 447700900123, offset: '447700900123', format: 447700900123, report: '447700900123', msisdnCount: 447700900123, windowStartMs: 1791234567890 });
    const out = JSON.parse(redactLogLine(line)) as Record<string, unknown>;
    expect(out.lastOffset).toBe(447700900123);
    expect(out.offset).toBe('447700900123');
    expect(out.windowStartMs).toBe(1791234567890);
    expect(out.format).toBe('[redacted]');
    expect(out.report).toBe('[redacted]');
    expect(out.msisdnCount).toBe('[redacted]');
  });
});
