/**
 * The Confluent wire format path: framing, the schema registry client (schemas/registry.ts) against a real
 * registry (Apicurio Registry's Confluent-compatible API, started by the global setup; or SCHEMA_REGISTRY_URL),
 * the Confluent decoder (enrich/decode.ts) on recorded bytes, a registry that is down and comes back, and the
 * whole pipeline on a real Kafka topic with mixed v1/v2 records and bad ones.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { avroCodec, avroSchemaText, DeadLetterCode, resolverCount, type Cdr, type SourceRecord } from '../schemas/index.js';
import { confluentFrame, RegistryError, SchemaRegistryClient } from '../schemas/registry.js';
import { createConfluentDecoder, type Decoder } from '../enrich/decode.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { ensureTopic, groupOffsets, topicEndOffsets } from '../ingest/kafka.js';
import { KafkaSink, type OutRecord } from '../sinks/kafka.js';
import { freePort } from '../tools/local/broker.js';
import { loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { produceCdrs } from '../simulators/produce.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const registryUrl = inject('schemaRegistryUrl');
const brokers = inject('kafkaBrokers');
const fixture = (name: string) => Buffer.from(readFileSync(join(import.meta.dirname, 'fixtures', `${name}.hex`), 'utf8').trim(), 'hex');
const v1Text = avroSchemaText('cdr.v1.avsc');
const v2Text = avroSchemaText('cdr.v2.avsc');
const v1 = avroCodec<Cdr>('cdr.v1.avsc');
const v2 = avroCodec<Record<string, unknown>>('cdr.v2.avsc');
const NOW = Date.UTC(2026, 10, 1);
const limits = { maxFutureSkewMs: 3_600_000, maxDurationMs: 86_400_000, now: () => NOW };
const coords = { topic: 't', partition: 1 };
const rec = (value: Buffer | null, offset: number): SourceRecord => ({ key: Buffer.from('k'), value, offset: String(offset), timestamp: NOW });
const sample = (n: number, seed = 7) => [...generateCdrs({ seed, subscribers: 50, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 2 }, n)];

function toV2(c: Cdr): Record<string, unknown> {
  const { lac, ...rest } = c;
  return { ...rest, locationAreaCode: lac, chargingId: null, ratType: 6 };
}

/** A schema text no other test registers: each test gets its own id and its own resolver. */
function distinct(text: string, tag: string): string {
  const s = JSON.parse(text) as { doc: string };
  s.doc = `${s.doc} [${tag}]`;
  return JSON.stringify(s);
}

const registry = new SchemaRegistryClient({ url: registryUrl, log: quietLog });

async function decodeAll(decode: Decoder, records: SourceRecord[]) {
  expect(await decode.prepare!(records)).toBe(true);
  return decode(coords, records);
}

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});

describe('Confluent wire format', () => {
  it('frames a datum as magic byte 0, big-endian int32 schema id, Avro bytes', () => {
    const f = confluentFrame(0x01020304, Buffer.from([0xaa, 0xbb]));
    expect(f.toString('hex')).toBe('0001020304aabb');
  });
});

describe('schema registry client (real registry)', () => {
  it('registers (idempotently), finds the latest version, and fetches schemas by id, once', async () => {
    const subject = uniqueName('client-value');
    const a = await registry.register(subject, distinct(v1Text, subject));
    expect(await registry.register(subject, distinct(v1Text, subject))).toBe(a);
    const b = await registry.register(subject, distinct(v2Text, subject));
    expect(b).not.toBe(a);
    const latest = await registry.latest(subject);
    expect(latest).toMatchObject({ subject, id: b, version: 2 });
    expect(JSON.parse(latest!.schema)).toEqual(JSON.parse(distinct(v2Text, subject)));
    expect(await registry.latest(uniqueName('no-such-subject'))).toBeUndefined();

    const fresh = new SchemaRegistryClient({ url: registryUrl });
    const s1 = await fresh.schemaById(a);
    expect(JSON.parse(s1!.schema)).toEqual(JSON.parse(distinct(v1Text, subject)));
    expect(s1!.schemaType).toBe('AVRO');
    await fresh.schemaById(a);
    expect(fresh.requests).toBe(1);
    expect(await fresh.schemaById(2_000_000_000)).toBeUndefined();
  });

  it('a wrong base path is a configuration error, not "unknown schema id" (which would dead-letter everything)', async () => {
    const root = registryUrl.replace(/\/apis\/ccompat\/v7$/, '');
    if (root === registryUrl) return; // an external Confluent registry has no base path to get wrong
    const err = await new SchemaRegistryClient({ url: root }).schemaById(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).errorClass).toBe('fatal');
    expect((err as RegistryError).message).toMatch(/base path/);
  });

  it('sends HTTP basic auth when a username is configured', async () => {
    let seen: IncomingHttpHeaders | undefined;
    const server = createServer((req, res) => {
      seen = req.headers;
      res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify({ schema: v1Text }));
    });
    servers.push(server);
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    await new SchemaRegistryClient({ url: `http://127.0.0.1:${port}/`, username: 'cdr', password: 's3cret' }).schemaById(5);
    expect(seen?.authorization).toBe(`Basic ${Buffer.from('cdr:s3cret').toString('base64')}`);
    expect(seen?.accept).toContain('application/vnd.schemaregistry.v1+json');
  });
});

describe('Confluent decoder (recorded bytes, real registry)', () => {
  it('decodes v1 and v2 records of one batch, each through its writer schema', async () => {
    const subject = uniqueName('mixed-value');
    const id1 = await registry.register(subject, v1Text);
    const id2 = await registry.register(subject, v2Text);
    const decode = createConfluentDecoder({ ...limits, registry: new SchemaRegistryClient({ url: registryUrl }) });
    const r = await decodeAll(decode, [rec(confluentFrame(id1, fixture('cdr.v1.voice')), 0), rec(confluentFrame(id2, fixture('cdr.v2.voice')), 1), rec(confluentFrame(id2, fixture('cdr.v2.rejected')), 2)]);
    expect(r.deadLetters).toEqual([]);
    // The same call: v2 adds only its bearer fields (the v3 reader keeps them; v1 records read null).
    expect({ ...r.cdrs[1]!.cdr, chargingId: null, ratType: null }).toEqual({ ...r.cdrs[0]!.cdr });
    expect(r.cdrs.map((c) => [c.offset, c.cdr.recordId, c.cdr.lac, c.cdr.disposition])).toEqual([
      ['0', 'MSC1-1792065600000-1', 1234, 'ANSWERED'],
      ['1', 'MSC1-1792065600000-1', 1234, 'ANSWERED'],
      ['2', 'MSC1-1792065600000-2', 1234, 'REJECTED'],
    ]);
  });

  it('dead-letters bad framing, unknown ids and unresolvable writer schemas with their original bytes', async () => {
    const subject = uniqueName('bad-value');
    const id1 = await registry.register(subject, v1Text);
    const noDuration = JSON.parse(v1Text) as { fields: { name: string }[] };
    noDuration.fields = noDuration.fields.filter((f) => f.name !== 'durationMs');
    const idBad = await registry.register(uniqueName('incompatible-value'), JSON.stringify(noDuration));
    const client = new SchemaRegistryClient({ url: registryUrl });
    const decode = createConfluentDecoder({ ...limits, registry: client });
    const good = confluentFrame(id1, fixture('cdr.v1.voice'));
    const cases: [Buffer | null, DeadLetterCode][] = [
      [null, DeadLetterCode.EMPTY_VALUE],
      [Buffer.alloc(0), DeadLetterCode.EMPTY_VALUE],
      [fixture('cdr.v1.voice'), DeadLetterCode.BAD_MAGIC_BYTE], // bare Avro on a Confluent topic
      [Buffer.from([1, 0, 0, 0, id1, 0x28]), DeadLetterCode.BAD_MAGIC_BYTE],
      [Buffer.from([0, 0, 0]), DeadLetterCode.AVRO_TRUNCATED], // header cut short
      [good.subarray(0, good.length - 10), DeadLetterCode.AVRO_TRUNCATED],
      [Buffer.concat([good, Buffer.from([7])]), DeadLetterCode.AVRO_TRAILING_BYTES],
      [confluentFrame(1_999_999_999, fixture('cdr.v1.voice')), DeadLetterCode.UNKNOWN_SCHEMA_ID],
      [confluentFrame(idBad, fixture('cdr.v1.voice')), DeadLetterCode.SCHEMA_INCOMPATIBLE],
      [confluentFrame(id1, v1.encode({ ...v1.decode(fixture('cdr.v1.voice')), durationMs: -1 })), DeadLetterCode.INVALID_DURATION],
    ];
    const records = [rec(good, 0), ...cases.map(([v], i) => rec(v, i + 1)), rec(good, cases.length + 1)];
    const r = await decodeAll(decode, records);
    expect(r.cdrs.map((c) => c.offset)).toEqual(['0', String(cases.length + 1)]);
    expect(r.deadLetters.map((d) => d.code)).toEqual(cases.map(([, code]) => code));
    r.deadLetters.forEach((d, i) => {
      expect(d.value).toBe(cases[i]![0]);
      expect(d).toMatchObject({ topic: 't', partition: 1, offset: String(i + 1) });
    });
    expect(r.deadLetters.find((d) => d.code === 'SCHEMA_INCOMPATIBLE')!.message).toMatch(/durationMs/);
    // Three ids, three lookups; a second batch with the same ids asks nothing (unknown ids are believed for a while).
    expect(client.requests).toBe(3);
    await decodeAll(decode, records);
    expect(client.requests).toBe(3);
  });

  it('compiles one resolver per writer schema and asks the registry once per id, however many records and batches', async () => {
    const subject = uniqueName('cache-value');
    const id = await registry.register(subject, distinct(v2Text, subject));
    const client = new SchemaRegistryClient({ url: registryUrl });
    const decode = createConfluentDecoder({ ...limits, registry: client });
    const before = resolverCount();
    const cdrs = sample(2000);
    const framed = cdrs.map((c) => confluentFrame(id, v2.encode(toV2(c))));
    for (let b = 0; b < 4; b++) {
      const r = await decodeAll(decode, framed.slice(b * 500, (b + 1) * 500).map((v, i) => rec(v, b * 500 + i)));
      expect(r.cdrs.length).toBe(500);
    }
    expect(resolverCount() - before).toBe(1);
    expect(client.requests).toBe(1);
  });

  it('refuses to decode a batch whose ids were not prepared (a bug, so it throws)', () => {
    const decode = createConfluentDecoder({ ...limits, registry: new SchemaRegistryClient({ url: registryUrl }) });
    expect(() => decode(coords, [rec(confluentFrame(1, fixture('cdr.v1.voice')), 0)])).toThrow(/prepare/);
  });
});

/**
 * An HTTP front for the real registry that can be down (nothing listening), broken (503) or passing through.
 */
async function flakyFront(upstream: string) {
  const port = await freePort();
  let mode: 'down' | '503' | 'up' = 'down';
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (mode === '503') {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 50301, message: 'registry warming up' }));
      return;
    }
    void fetch(upstream + req.url!.replace(/^\/+/, '/'), { headers: { accept: req.headers.accept ?? '*/*' } }).then(async (r) => {
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
    });
  });
  servers.push(server);
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    async set(m: 'down' | '503' | 'up') {
      if (mode === 'down' && m !== 'down') await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      mode = m;
    },
  };
}

describe('registry down, then up', () => {
  it('the batch waits (heartbeating) and then decodes completely; nothing is dropped', async () => {
    const subject = uniqueName('flaky-value');
    const id = await registry.register(subject, v1Text);
    const front = await flakyFront(registryUrl);
    const client = new SchemaRegistryClient({ url: front.url, retryInitialMs: 50, retryMaxMs: 200 });
    const decode = createConfluentDecoder({ ...limits, registry: client, pollMs: 50 });
    const cdrs = sample(300, 21);
    const records = cdrs.map((c, i) => rec(confluentFrame(id, v1.encode(c)), i));
    let heartbeats = 0;
    let settled = false;
    const ready = decode.prepare!(records, { heartbeat: async () => void heartbeats++, isRunning: () => true }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 600)); // connection refused
    expect(settled).toBe(false);
    await front.set('503');
    await waitFor('503 answers', async () => front.hits() >= 2, 5000, 20);
    expect(settled).toBe(false);
    await front.set('up');
    expect(await ready).toBe(true);
    expect(heartbeats).toBeGreaterThan(3);
    const r = decode(coords, records);
    expect(r.deadLetters).toEqual([]);
    expect(r.cdrs.map((c) => c.cdr)).toEqual(cdrs);
  });

  it('gives the batch up uncommitted when the source stops while the registry is down', async () => {
    const decode = createConfluentDecoder({ ...limits, registry: new SchemaRegistryClient({ url: `http://127.0.0.1:${await freePort()}`, retryInitialMs: 50, retryMaxMs: 100 }), pollMs: 20 });
    let running = true;
    const ready = decode.prepare!([rec(confluentFrame(3, fixture('cdr.v1.voice')), 0)], { heartbeat: async () => undefined, isRunning: () => running });
    setTimeout(() => (running = false), 200);
    expect(await ready).toBe(false);
  });
});

describe('configuration', () => {
  it('decode.format=confluent needs decode.registryUrl (CDR_DECODE_* environment variables)', () => {
    expect(() => loadConfig({ env: { CDR_DECODE_FORMAT: 'confluent' } })).toThrow(/decode\.registryUrl/);
    expect(() => loadConfig({ env: { CDR_DECODE_FORMAT: 'protobuf' } })).toThrow(/expected one of avro, confluent/);
    expect(() => loadConfig({ env: { CDR_DECODE_REGISTRY_URL: 'registry:8081' } })).toThrow(/CDR_DECODE_REGISTRY_URL/);
    const cfg = loadConfig({ env: { CDR_DECODE_FORMAT: 'confluent', CDR_DECODE_REGISTRY_URL: 'https://sr.example/apis/ccompat/v7', CDR_DECODE_REGISTRY_USERNAME: 'key', CDR_DECODE_REGISTRY_PASSWORD: 'secret' } });
    expect(cfg.decode).toMatchObject({ format: 'confluent', registryUrl: 'https://sr.example/apis/ccompat/v7', registryUsername: 'key', registryPassword: 'secret', writerSchema: '' });
  });

  it('a registry URL without its base path stops start-up with the reason, before anything is consumed', async () => {
    const root = registryUrl.replace(/\/apis\/ccompat\/v7$/, '');
    if (root === registryUrl) return;
    const base = loadConfig({ env: {} });
    const name = uniqueName('badurl');
    const cfg: Config = { ...base, kafka: { ...base.kafka, brokers, topic: name, groupId: name }, decode: { ...base.decode, format: 'confluent', registryUrl: root }, clickhouse: { ...base.clickhouse, path: chPath(), database: name }, telemetry: { ...base.telemetry, metricsPort: -1 } };
    await expect(startPipeline(cfg, quietLog)).rejects.toThrow(/base path/);
  });
});

describe('pipeline end to end with decode.format=confluent (real Kafka, real registry, embedded ClickHouse)', () => {
  it('stores every v1 and v2 record once and dead-letters the bad ones with their codes and original bytes', async () => {
    const name = uniqueName('confluent');
    await ensureTopic(brokers, name, 3, quietLog);
    // Producers of the current contract (v3 since issue #14; with the demo's five corruption kinds, framed), registering under <topic>-value.
    const produced = await produceCdrs({
      brokers,
      topic: name,
      records: 3000,
      corrupt: 25,
      generator: { seed: 31, subscribers: 300, startMs: Date.UTC(2026, 9, 1), meanGapMs: 300, switches: 3 },
      confluent: { registryUrl },
      log: quietLog,
    });
    expect(produced.schemaId).toBeGreaterThan(0);
    // A v2 producer on the same topic, plus records no decoder can read.
    const idV2 = await registry.register(`${name}-value`, v2Text);
    const noDuration = JSON.parse(v1Text) as { fields: { name: string }[] };
    noDuration.fields = noDuration.fields.filter((f) => f.name !== 'durationMs');
    const idBad = await registry.register(uniqueName('incompatible-value'), JSON.stringify(noDuration));
    const v2Cdrs = sample(2000, 32).map((c, i) => ({ ...c, recordId: `v2-${i}`, lac: 100 + (i % 50) }));
    const bad: { value: Buffer; code: string }[] = [
      ...Array.from({ length: 5 }, (_, i) => ({ value: confluentFrame(1_900_000_000 + i, fixture('cdr.v1.voice')), code: 'UNKNOWN_SCHEMA_ID' })),
      ...Array.from({ length: 4 }, () => ({ value: confluentFrame(idBad, fixture('cdr.v1.voice')), code: 'SCHEMA_INCOMPATIBLE' })),
      ...Array.from({ length: 3 }, () => ({ value: fixture('cdr.v2.voice'), code: 'BAD_MAGIC_BYTE' })),
    ];
    const out: OutRecord[] = v2Cdrs.map((c) => ({ key: c.servedMsisdn, value: confluentFrame(idV2, v2.encode(toV2(c))) }));
    bad.forEach((b, i) => out.splice(100 + i * 150, 0, { key: `bad-${i}`, value: b.value }));
    const sink = new KafkaSink({ brokers, clientId: 'confluent-test', log: quietLog });
    await sink.connect();
    await sink.send(name, out);
    await sink.disconnect();

    const base = loadConfig({ env: {} });
    const cfg: Config = {
      ...base,
      kafka: { ...base.kafka, brokers, topic: name, groupId: name, partitions: 3 },
      decode: { ...base.decode, format: 'confluent', registryUrl },
      clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath(), database: name },
      sink: { ...base.sink, flushIntervalMs: 200, maxBatchRows: 2000 },
      telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
    };
    const expectedDead = produced.corrupt + bad.length;
    const p = await startPipeline(cfg, quietLog);
    try {
      await waitFor('all records stored', async () => {
        const [r] = await p.conn.query<{ c: string; d: string }>('SELECT (SELECT count() FROM cdrs) AS c, (SELECT count() FROM dead_letters) AS d');
        return Number(r!.c) >= produced.produced + v2Cdrs.length && Number(r!.d) >= expectedDead;
      });
      const end = await topicEndOffsets(brokers, name, quietLog);
      await waitFor('offsets committed to the end', async () => {
        const g = await groupOffsets(brokers, name, name, quietLog);
        return [...end].every(([part, hi]) => g.get(part) === hi);
      });
      const ids = new Set((await p.conn.query<{ id: string }>('SELECT record_id AS id FROM cdrs')).map((r) => r.id));
      expect(ids.size).toBe(produced.produced + v2Cdrs.length);
      expect(produced.recordIds.every((id) => ids.has(id))).toBe(true);
      expect(v2Cdrs.every((c) => ids.has(c.recordId))).toBe(true);
      // The renamed field survived v2 -> v1 resolution.
      const lacs = await p.conn.query<{ id: string; lac: number | null }>("SELECT record_id AS id, lac FROM cdrs WHERE startsWith(record_id, 'v2-') ORDER BY id");
      expect(new Map(lacs.map((r) => [r.id, r.lac === null ? null : Number(r.lac)]))).toEqual(new Map(v2Cdrs.map((c) => [c.recordId, c.lac])));
      const dead = await p.conn.query<{ code: string; hex: string }>('SELECT code, hex(value) AS hex FROM dead_letters');
      expect(dead.length).toBe(expectedDead);
      // Original bytes, byte for byte (the v1 producer's garbage records are BAD_MAGIC_BYTE too).
      const garbage = Buffer.from('this is not avro').toString('hex');
      const byCode = (code: string) => dead.filter((d) => d.code === code && !d.hex.toLowerCase().startsWith(garbage)).map((d) => d.hex.toLowerCase()).sort();
      for (const code of ['UNKNOWN_SCHEMA_ID', 'SCHEMA_INCOMPATIBLE', 'BAD_MAGIC_BYTE']) {
        expect(byCode(code)).toEqual(bad.filter((b) => b.code === code).map((b) => b.value.toString('hex')).sort());
      }
      // The v1 producer's corruptions (simulators/produce.ts corruptRecord), framed: truncation, garbage (no
      // magic byte), empty, semantic faults.
      expect([...new Set(dead.map((d) => d.code))]).toEqual(expect.arrayContaining(['AVRO_TRUNCATED', 'EMPTY_VALUE', 'RELEASE_BEFORE_SEIZURE', 'INVALID_DURATION']));
    } finally {
      await p.stop();
    }
  });

  it('waits while the registry is down: nothing is stored, dead-lettered or committed until it answers, then everything is', async () => {
    const name = uniqueName('regdown');
    await ensureTopic(brokers, name, 2, quietLog);
    const produced = await produceCdrs({ brokers, topic: name, records: 1500, corrupt: 0, generator: { seed: 41, subscribers: 100, startMs: Date.UTC(2026, 9, 1), meanGapMs: 300, switches: 2 }, confluent: { registryUrl }, log: quietLog });
    const front = await flakyFront(registryUrl);
    const base = loadConfig({ env: {} });
    const cfg: Config = {
      ...base,
      kafka: { ...base.kafka, brokers, topic: name, groupId: name, partitions: 2 },
      decode: { ...base.decode, format: 'confluent', registryUrl: front.url },
      clickhouse: { ...base.clickhouse, mode: 'embedded', path: chPath(), database: name },
      sink: { ...base.sink, flushIntervalMs: 200 },
      telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' },
    };
    // A first instance stops while its batch waits for the registry: it neither hangs nor commits.
    const p1 = await startPipeline(cfg, quietLog);
    await waitFor('the group to join', async () => p1.runner.ready, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    const stopping = Date.now();
    await p1.stop();
    expect(Date.now() - stopping).toBeLessThan(15_000);
    expect(p1.runner.stats.consumed).toBe(0);
    // A second one waits until the registry answers, then stores everything.
    const p = await startPipeline(cfg, quietLog);
    try {
      await waitFor('the group to join', async () => p.runner.ready, 30_000);
      await new Promise((r) => setTimeout(r, 2500));
      const [held] = await p.conn.query<{ c: string; d: string }>('SELECT (SELECT count() FROM cdrs) AS c, (SELECT count() FROM dead_letters) AS d');
      expect([Number(held!.c), Number(held!.d)]).toEqual([0, 0]);
      expect([...(await groupOffsets(brokers, name, name, quietLog)).values()].every((o) => o <= 0n)).toBe(true);
      await front.set('up');
      await waitFor('all records stored', async () => {
        const [r] = await p.conn.query<{ c: string }>('SELECT count() AS c FROM cdrs');
        return Number(r!.c) >= produced.produced;
      });
      const [r] = await p.conn.query<{ c: string; ids: string; d: string }>('SELECT count() AS c, uniqExact(record_id) AS ids, (SELECT count() FROM dead_letters) AS d FROM cdrs');
      expect([Number(r!.c), Number(r!.ids), Number(r!.d)]).toEqual([produced.produced, produced.produced, 0]);
    } finally {
      await p.stop();
    }
  });
});
