/**
 * The ClickHouse server path (@clickhouse/client over HTTP, sinks/clickhouse/connection.ts openServer) against
 * the test endpoint (test/clickhouse-endpoint.ts: ClickHouse's HTTP interface, every statement run on chDB),
 * side by side with the embedded path (chDB in-process). Both connections pass one shared suite (migrations,
 * settings, the sink's writes, data errors, fatal errors); the server path then goes through the faults a
 * server and a network produce: HTTP 500 TOO_MANY_PARTS, a reset before the insert ran, a reset after it ran
 * (the ack is lost: insert_deduplication_token must keep the rows single), and a stall past the client's
 * request timeout. Every test uses its own database.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateCdrs } from '../simulators/synthetic.js';
import { DeadLetterCode, schemaPath } from '../schemas/index.js';
import { ClickHouseError, openEmbedded, openServer, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { ClickHouseSink, type CdrInsertFormat, type SinkBatch } from '../sinks/clickhouse/sink.js';
import { startClickHouseEndpoint, type ClickHouseEndpoint, type ClickHouseEndpointStats } from './clickhouse-endpoint.js';
import { chPath, quietLog, uniqueName } from './helpers.js';

const migrations = loadMigrations(schemaPath('ddl'));
let endpoint: ClickHouseEndpoint;
const open: ClickHouseConnection[] = [];

beforeAll(async () => {
  // The same chDB directory as this process's embedded connections: chDB allows one directory per process.
  endpoint = await startClickHouseEndpoint({ path: chPath() });
});
afterEach(async () => {
  endpoint.clearFaults();
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await endpoint?.close();
});

type Opener = (database: string, requestTimeoutMs?: number) => Promise<ClickHouseConnection>;
const openers: Array<[string, Opener]> = [
  ['server (@clickhouse/client -> test endpoint)', (database, requestTimeoutMs = 10_000) => openServer({ url: endpoint.url, username: 'default', password: 'x', database, requestTimeoutMs, createDatabase: true })],
  ['embedded (chDB)', (database) => openEmbedded({ path: chPath(), database })],
];

async function connect(opener: Opener, prefix: string, requestTimeoutMs?: number): Promise<ClickHouseConnection> {
  const conn = await opener(uniqueName(prefix), requestTimeoutMs);
  open.push(conn);
  return conn;
}

function batchOf(topic: string, n: number): SinkBatch {
  const cdrs = [...generateCdrs({ seed: 7, subscribers: 500, startMs: Date.UTC(2026, 0, 1), meanGapMs: 2000, switches: 3 }, n)].map((cdr, i) => ({
    cdr,
    topic,
    partition: 0,
    offset: String(i),
  }));
  return { topic, partition: 0, firstOffset: '0', lastOffset: String(n - 1), cdrs, deadLetters: [] };
}

/**
 * A sink with small retry delays that records every classified error it saw. JSONCompactEachRow unless told:
 * the tests of rows ClickHouse itself refuses need a text format (RowBinary rows are checked while encoding).
 */
function sinkOn(conn: ClickHouseConnection, format: CdrInsertFormat = 'json'): { sink: ClickHouseSink; errors: ClickHouseError[] } {
  const errors: ClickHouseError[] = [];
  const sink = new ClickHouseSink(conn, { retryInitialMs: 10, retryMaxMs: 50, log: quietLog, format, onError: (_t, err) => errors.push(err) });
  return { sink, errors };
}

/** Rows in cdrs as stored (no FINAL: a duplicate insert would show). */
async function storedCdrs(conn: ClickHouseConnection): Promise<{ rows: number; offsets: number[] }> {
  const [r] = await conn.query<{ rows: string; offsets: string[] }>('SELECT count() AS rows, arraySort(groupArray(_offset)) AS offsets FROM cdrs');
  return { rows: Number(r!.rows), offsets: r!.offsets.map(Number) };
}

const range = (n: number, skip?: number) => [...Array(n).keys()].filter((i) => i !== skip);

describe.each(openers)('%s', (_label, opener) => {
  it('runs the migrations; a second run changes nothing', async () => {
    const conn = await connect(opener, 'mig');
    const schema = () =>
      conn.query<{ name: string; engine: string; create_table_query: string }>(
        `SELECT name, engine, create_table_query FROM system.tables WHERE database = '${conn.database}' ORDER BY name`,
      );

    const names = migrations.map((m) => m.name);
    expect(names.slice(0, 2)).toEqual(['0001_cdrs', '0002_dead_letter_replays']);
    const first = await migrate(conn, migrations);
    expect(first).toEqual({ applied: names, skipped: [] });
    const before = await schema();
    const refTables = ['accounts', 'cells', 'contracted_rates', 'countries', 'directory_listings', 'feature_catalogue', 'features', 'holidays', 'lines', 'networks', 'numbering_plan', 'operator', 'plans'].map((t) => [`ref_${t}`, 'MergeTree']);
    expect(before.map((t) => [t.name, t.engine])).toEqual(
      [
        ['cdrs', 'ReplacingMergeTree'],
        ['dead_letter_replays', 'ReplacingMergeTree'],
        ['dead_letters', 'ReplacingMergeTree'],
        ['fraud_alerts', 'ReplacingMergeTree'],
        // Billing reconciliation: invoice lines, benchmark rates (0007) and the pre-aggregates (0008).
        ['invoice_lines', 'ReplacingMergeTree'],
        ['rate_benchmarks', 'ReplacingMergeTree'],
        ['agg_usage_daily', 'ReplacingMergeTree'],
        ['agg_traffic_hourly', 'ReplacingMergeTree'],
        ['agg_refreshes', 'ReplacingMergeTree'],
        // Traffic forecasts (0009).
        ['traffic_forecast', 'ReplacingMergeTree'],
        // Identity-free views for Grafana and restricted roles (0023).
        ['agg_usage_daily_masked', 'View'],
        ['cdrs_billing', 'View'],
        ['dead_letters_masked', 'View'],
        ['fraud_alerts_masked', 'View'],
        ['network_calls', 'View'],
        // Port-out answers (0031), care adjustments (0032), usage notifications (0033).
        ['port_responses', 'ReplacingMergeTree'],
        ['care_adjustments', 'ReplacingMergeTree'],
        ['usage_notifications', 'ReplacingMergeTree'],
        // Lines in use in any role (0050).
        ['agg_line_use_daily', 'ReplacingMergeTree'],
        ['lines_in_use_daily', 'View'],
        ...refTables,
        ['ref_current_version', 'View'],
        ['reference_versions', 'MergeTree'],
        ['schema_migrations', 'ReplacingMergeTree'],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    expect(before.find((t) => t.name === 'cdrs')!.create_table_query).toContain('non_replicated_deduplication_window = 10000');

    const second = await migrate(conn, migrations);
    expect(second).toEqual({ applied: [], skipped: names });
    expect(await schema()).toEqual(before);
    // Without FINAL: the second run inserted no second schema_migrations row.
    expect(await conn.query('SELECT version, name FROM schema_migrations ORDER BY version')).toEqual(migrations.map((m) => ({ version: m.version, name: m.name })));
  });

  it('passes settings to the engine and quotes 64-bit integers', async () => {
    const conn = await connect(opener, 'set');
    expect(await conn.ping()).toBe(true);
    const rows = await conn.query("SELECT getSetting('insert_deduplication_token') AS token, getSetting('max_threads') AS threads, toUInt64(18446744073709551615) AS big", {
      insert_deduplication_token: "it's:0:1-2",
      max_threads: 3,
    });
    expect(rows).toEqual([{ token: "it's:0:1-2", threads: 3, big: '18446744073709551615' }]);
  });

  it('stores a batch once, and a replayed batch is deduplicated', async () => {
    const conn = await connect(opener, 'ok');
    await migrate(conn, migrations);
    const { sink, errors } = sinkOn(conn);
    const batch = batchOf(uniqueName('t'), 200);

    expect(await sink.write(batch)).toMatchObject({ cdrRows: 200, deadLetterRows: 0, rejected: 0, retries: 0 });
    expect(await storedCdrs(conn)).toEqual({ rows: 200, offsets: range(200) });
    const expectedMs = batch.cdrs.reduce((s, c) => s + BigInt(c.cdr.durationMs), 0n);
    expect(await conn.query('SELECT toString(sum(duration_ms)) AS ms FROM cdrs')).toEqual([{ ms: String(expectedMs) }]);

    // The same offsets again from the same sink (a retry after a lost acknowledgement): the same token, so ClickHouse
    // drops the block. (A replay by another process carries another token and collapses in the ReplacingMergeTree key.)
    await sink.write(batch);
    expect((await storedCdrs(conn)).rows).toBe(200);
    expect(errors).toEqual([]);
  });

  it('RowBinary: stores a batch once with the same values as JSON, and a replayed batch is deduplicated', async () => {
    const conn = await connect(opener, 'rb');
    await migrate(conn, migrations);
    const { sink, errors } = sinkOn(conn, 'rowbinary');
    const batch = batchOf(uniqueName('t'), 200);
    expect(await sink.write(batch)).toMatchObject({ cdrRows: 200, deadLetterRows: 0, rejected: 0, retries: 0 });
    await sink.write(batch);
    expect(await storedCdrs(conn)).toEqual({ rows: 200, offsets: range(200) });
    // The same CDRs through JSONCompactEachRow, and pre-encoded RowBinary rows (what the runner hands over), under
    // other topics: every column stored identically.
    const viaJson = { ...batchOf(`${batch.topic}-json`, 200) };
    await sinkOn(conn, 'json').sink.write(viaJson);
    const pre = batchOf(`${batch.topic}-pre`, 200);
    const encoded: SinkBatch = { ...pre, cdrs: [], encoded: sink.encode(pre.cdrs) };
    expect(Buffer.isBuffer(encoded.encoded![0]!.line)).toBe(true);
    expect(await sink.write(encoded)).toMatchObject({ cdrRows: 200 });
    const dump = async (topic: string) => (await conn.query<Record<string, unknown>>(`SELECT * EXCEPT (_ingested_at, _topic) FROM cdrs WHERE _topic = '${topic}' ORDER BY _offset`)).map((r) => JSON.stringify(r));
    const binary = await dump(batch.topic);
    expect(binary).toHaveLength(200);
    expect(await dump(viaJson.topic)).toEqual(binary);
    expect(await dump(pre.topic)).toEqual(binary);
    expect(errors).toEqual([]);
  });

  it('RowBinary: a CDR a column cannot hold is a SINK_REJECTED dead letter with its source bytes; the rest is stored', async () => {
    const conn = await connect(opener, 'rbbad');
    await migrate(conn, migrations);
    const { sink, errors } = sinkOn(conn, 'rowbinary');
    const batch = batchOf(uniqueName('t'), 64);
    batch.cdrs[37]!.cdr.durationMs = -5;
    batch.cdrs[37]!.source = { key: null, value: Buffer.from('original-37'), offset: '37', timestamp: Date.UTC(2026, 0, 1) };
    expect(await sink.write(batch)).toMatchObject({ cdrRows: 63, deadLetterRows: 1, rejected: 1, rejectedIndexes: [37], retries: 0, dataErrors: 0 });
    expect(await storedCdrs(conn)).toEqual({ rows: 63, offsets: range(64, 37) });
    const dead = await conn.query<{ code: string; offset: string; message: string; value: string }>('SELECT code, offset, message, value FROM dead_letters');
    expect(dead).toEqual([{ code: DeadLetterCode.SINK_REJECTED, offset: '37', message: 'column duration_ms: -5 is not a UInt64', value: 'original-37' }]);
    // Refused before ClickHouse saw it: no failed insert.
    expect(errors).toEqual([]);
    // The same batch again (a restart): nothing stored twice, the dead letter not duplicated.
    await sink.write(batch);
    expect((await storedCdrs(conn)).rows).toBe(63);
  });

  it('RowBinary: a column whose type a migration changed never receives shifted bytes', async () => {
    const conn = await connect(opener, 'rbtype');
    await migrate(conn, migrations);
    await conn.command('ALTER TABLE cdrs MODIFY COLUMN sms_segments UInt16 DEFAULT 1');
    const { sink } = sinkOn(conn, 'rowbinary');
    const batch = batchOf(uniqueName('t'), 10);
    const res = await sink.write(batch).catch((e: unknown) => e);
    // The header is checked against the table (a server: input_format_with_types_use_header; chDB's file() takes
    // its structure from the table it inserts into): the insert stops loudly, nothing is dead-lettered.
    expect(res).toBeInstanceOf(ClickHouseError);
    expect(res).toMatchObject({ errorClass: 'fatal', code: 117 });
    expect((res as Error).message).toMatch(/does not match the table.*Type of 'sms_segments' must be UInt16, not UInt8/);
    expect((await storedCdrs(conn)).rows).toBe(0);
    expect(await conn.query('SELECT count() AS n FROM dead_letters')).toEqual([{ n: '0' }]);
  });

  it('isolates a row ClickHouse refuses as a SINK_REJECTED dead letter and stores the rest', async () => {
    const conn = await connect(opener, 'bad');
    await migrate(conn, migrations);
    const { sink, errors } = sinkOn(conn);
    const batch = batchOf(uniqueName('t'), 64);
    // A negative duration passes the TypeScript types but not UInt64: ClickHouse refuses the row with
    // Code 72 CANNOT_PARSE_NUMBER ("Unsigned type must not contain '-' symbol").
    batch.cdrs[37]!.cdr.durationMs = -5;

    expect(await sink.write(batch)).toMatchObject({ cdrRows: 63, deadLetterRows: 1, rejected: 1, retries: 0 });
    expect(await storedCdrs(conn)).toEqual({ rows: 63, offsets: range(64, 37) });
    const dead = await conn.query<{ code: string; offset: string; message: string; value: string }>('SELECT code, offset, message, value FROM dead_letters');
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ code: DeadLetterCode.SINK_REJECTED, offset: '37' });
    expect(dead[0]!.message).toMatch(/Unsigned type must not contain '-' symbol/);
    expect(JSON.parse(dead[0]!.value)).toMatchObject({ recordId: batch.cdrs[37]!.cdr.recordId, durationMs: -5 });
    // ClickHouse names the row ("(at row 38)"): the block is refused once, the named row is confirmed alone
    // (refused again), and the rows around it go in. Halving alone took 7 refused inserts (64 -> 32 -> ... -> 1).
    expect(errors.map((e) => [e.errorClass, e.code])).toEqual(Array(2).fill(['data', 72]));
    // The reason stops at the row marker: the diagnostics after it quote neighbouring rows (subscriber numbers).
    expect(dead[0]!.message).toMatch(/\(at row 1\)$/);
    expect(dead[0]!.message).not.toContain(batch.cdrs[36]!.cdr.servedMsisdn);
  });

  it('isolates k refused rows among n with about 2k refused inserts, and the original bytes when known', async () => {
    const conn = await connect(opener, 'many');
    await migrate(conn, migrations);
    const n = 4000;
    const bad = new Set<number>();
    for (let i = 0; bad.size < 40; i++) bad.add((i * 7919 + 13) % n);
    const run = async (useErrorRowNumbers: boolean) => {
      const errors: ClickHouseError[] = [];
      let inserts = 0;
      const sink = new ClickHouseSink(conn, { retryInitialMs: 10, retryMaxMs: 50, log: quietLog, useErrorRowNumbers, onError: (_t, err) => errors.push(err), onInsert: () => inserts++ });
      const batch = batchOf(uniqueName('t'), n);
      for (const i of bad) {
        batch.cdrs[i]!.cdr.durationMs = -1;
        // The runner keeps a reference to the source record: its bytes are what the dead letter carries. (Its
        // timestamp 1 ms once made ClickHouse refuse the dead letter: "1.000" read as a malformed date.)
        batch.cdrs[i]!.source = { key: null, value: Buffer.from(`original-${i}`), offset: String(i), timestamp: 1 };
      }
      const res = await sink.write(batch);
      expect(res).toMatchObject({ cdrRows: n - bad.size, rejected: bad.size });
      expect(res.rejectedIndexes).toEqual([...bad].sort((a, b) => a - b));
      const dead = await conn.query<{ value: string }>(`SELECT value FROM dead_letters WHERE topic = '${batch.topic}' ORDER BY toUInt64(offset)`);
      expect(dead.map((d) => d.value)).toEqual([...bad].sort((a, b) => a - b).map((i) => `original-${i}`));
      const [c] = await conn.query<{ c: string }>(`SELECT count() AS c FROM cdrs WHERE _topic = '${batch.topic}'`);
      expect(Number(c!.c)).toBe(n - bad.size);
      return { refused: errors.filter((e) => e.errorClass === 'data').length, accepted: inserts };
    };
    const jump = await run(true);
    const halving = await run(false);
    process.stdout.write(`[sink-isolation] ${_label}: ${bad.size} refused rows in ${n}: row-number jump ${jump.refused} refused + ${jump.accepted} accepted inserts; halving only ${halving.refused} refused + ${halving.accepted} accepted\n`);
    // Every refused insert finds a row, and its confirmation costs one more: 2k, against ~2k log2(n/k) for halving.
    expect(jump.refused).toBe(2 * bad.size);
    expect(jump.refused).toBeLessThan(halving.refused / 2);
    expect(jump.accepted).toBeLessThanOrEqual(3 * bad.size + 1);
  });

  it('throws a fatal error when the table does not exist (migrations never ran)', async () => {
    const conn = await connect(opener, 'fatal');
    const { sink, errors } = sinkOn(conn);
    const err = await sink.write(batchOf(uniqueName('t'), 5)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClickHouseError);
    expect(err).toMatchObject({ errorClass: 'fatal', code: 60 });
    expect(errors).toHaveLength(1); // not retried
  });
});

describe('server path under faults', () => {
  const server = openers[0]![1];
  const N = 120;

  /** Opens a migrated connection and returns the endpoint counters' deltas since then. */
  async function setup(prefix: string, requestTimeoutMs?: number) {
    const conn = await connect(server, prefix, requestTimeoutMs);
    await migrate(conn, migrations);
    const base: ClickHouseEndpointStats = { ...endpoint.stats };
    const injectedBefore = endpoint.injected.length;
    const sink = sinkOn(conn);
    const delta = () => ({ inserts: endpoint.stats.inserts - base.inserts, faultsInjected: endpoint.stats.faultsInjected - base.faultsInjected });
    return {
      conn,
      ...sink,
      delta,
      injected: () => endpoint.injected.slice(injectedBefore).map((f) => [f.kind, f.sql]),
      /** The figures of the run, in the test output (issue #5: exactly-once under injected faults, with figures). */
      print: async (fault: string) => {
        const s = await storedCdrs(conn);
        const d = delta();
        process.stdout.write(`[server-faults] ${fault}: ${d.faultsInjected} injected, ${sink.errors.length} retried (${sink.errors.map((e) => e.code ?? e.errorClass).join(', ')}), ${d.inserts} insert(s) reached the engine; rows ${s.rows} of ${N}, distinct offsets ${new Set(s.offsets).size}\n`);
      },
    };
  }

  it('retries HTTP 500 TOO_MANY_PARTS and loses nothing', async () => {
    const t = await setup('f500');
    endpoint.failNext('http500', 3, { insertsOnly: true, table: 'cdrs' });

    expect(await t.sink.write(batchOf(uniqueName('t'), N))).toMatchObject({ cdrRows: N, deadLetterRows: 0, rejected: 0, retries: 3 });
    expect(t.delta()).toEqual({ inserts: 1, faultsInjected: 3 });
    expect(t.injected()).toEqual(Array(3).fill(['http500', expect.stringMatching(/^INSERT INTO `cdrs` \(`recording_entity`, .*\) FORMAT JSONCompactEachRow$/)]));
    // The client parsed the ClickHouse error body; the code decided "transient".
    expect(t.errors.map((e) => [e.errorClass, e.code])).toEqual(Array(3).fill(['transient', 252]));
    expect(await storedCdrs(t.conn)).toEqual({ rows: N, offsets: range(N) });
    await t.print('HTTP 500 TOO_MANY_PARTS x3');
  });

  it('retries a connection reset before the insert ran and loses nothing', async () => {
    const t = await setup('rst');
    endpoint.failNext('reset', 1, { insertsOnly: true, table: 'cdrs' });

    expect(await t.sink.write(batchOf(uniqueName('t'), N))).toMatchObject({ cdrRows: N, retries: 1 });
    expect(t.delta()).toEqual({ inserts: 1, faultsInjected: 1 });
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]).toMatchObject({ errorClass: 'transient', code: undefined });
    expect(await storedCdrs(t.conn)).toEqual({ rows: N, offsets: range(N) });
    await t.print('connection reset before the insert ran');
  });

  it('retries a reset after the insert ran (ack lost); the deduplication token keeps each row once', async () => {
    const t = await setup('ack');
    endpoint.failNext('reset', 1, { insertsOnly: true, table: 'cdrs', afterExecute: true });

    expect(await t.sink.write(batchOf(uniqueName('t'), N))).toMatchObject({ cdrRows: N, retries: 1 });
    // Both attempts reached the engine: the first wrote the rows, the retry's block was dropped as a duplicate.
    expect(t.delta()).toEqual({ inserts: 2, faultsInjected: 1 });
    expect(t.errors[0]).toMatchObject({ errorClass: 'transient' });
    expect(await storedCdrs(t.conn)).toEqual({ rows: N, offsets: range(N) });
    await t.print('connection reset after the insert ran (ack lost)');
  });

  it('RowBinary: retries HTTP 500 and an ack lost after the insert ran; each row once', async () => {
    const t = await setup('rback');
    const { sink, errors } = sinkOn(t.conn, 'rowbinary');
    endpoint.failNext('http500', 1, { insertsOnly: true, table: 'cdrs' });
    endpoint.failNext('reset', 1, { insertsOnly: true, table: 'cdrs', afterExecute: true });
    expect(await sink.write(batchOf(uniqueName('t'), N))).toMatchObject({ cdrRows: N, retries: 2 });
    expect(t.injected()).toEqual([
      ['http500', expect.stringMatching(/^INSERT INTO `cdrs` \(`recording_entity`, .*\) FORMAT RowBinaryWithNamesAndTypes$/)],
      ['reset', expect.stringMatching(/FORMAT RowBinaryWithNamesAndTypes$/)],
    ]);
    expect(t.delta()).toEqual({ inserts: 2, faultsInjected: 2 });
    expect(errors.map((e) => e.errorClass)).toEqual(['transient', 'transient']);
    expect(await storedCdrs(t.conn)).toEqual({ rows: N, offsets: range(N) });
  });

  it('retries an insert that stalls past the request timeout', async () => {
    const t = await setup('stall', 1000);
    endpoint.failNext('stall', 1, { insertsOnly: true, table: 'cdrs', ms: 10_000 });

    const started = Date.now();
    expect(await t.sink.write(batchOf(uniqueName('t'), N))).toMatchObject({ cdrRows: N, retries: 1 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(8000); // the client gave up at its timeout, not when the stall ended
    expect(t.delta()).toEqual({ inserts: 1, faultsInjected: 1 }); // the abandoned request never ran
    expect(t.errors[0]).toMatchObject({ errorClass: 'transient' });
    expect(t.errors[0]!.message).toMatch(/Timeout/);
    expect(await storedCdrs(t.conn)).toEqual({ rows: N, offsets: range(N) });
    await t.print(`stall past the 1 s request timeout (gave up after ${elapsed} ms)`);
  });
});

describe('test endpoint protocol', () => {
  it('answers /ping, decodes a gzip body and refuses multi-statements like a server', async () => {
    const ping = await fetch(`${endpoint.url}/ping`);
    expect([ping.status, await ping.text()]).toEqual([200, 'Ok.\n']);

    const gz = await fetch(`${endpoint.url}/?default_format=JSONEachRow&max_threads=2`, {
      method: 'POST',
      headers: { 'Content-Encoding': 'gzip' },
      body: gzipSync("SELECT getSetting('max_threads') AS t, currentDatabase() AS db"),
    });
    expect(gz.status).toBe(200);
    expect(gz.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    expect(JSON.parse(await gz.text())).toEqual({ t: 2, db: 'default' });

    const multi = await fetch(`${endpoint.url}/`, { method: 'POST', body: "SELECT 1; DROP DATABASE IF EXISTS 'x;y'" });
    expect(multi.status).toBe(400);
    expect(multi.headers.get('x-clickhouse-exception-code')).toBe('62');
    expect(await multi.text()).toMatch(/^Code: 62\. DB::Exception: Syntax error \(Multi-statements are not allowed\)/);

    const unknown = await fetch(`${endpoint.url}/?database=no_such_db`, { method: 'POST', body: 'SELECT 1' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-clickhouse-exception-code')).toBe('81');
  });
});
