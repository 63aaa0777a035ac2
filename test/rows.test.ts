/**
 * The positional CDR row carries exactly the columns the DDL has, and stores the same data as JSONEachRow; the
 * RowBinary row (the sink's default format in the pipeline) stores the same data as the positional JSON row.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { schemaPath, type SourcedCdr } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { openEmbedded, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { loadMigrations, migrate } from '../sinks/clickhouse/migrate.js';
import { CDR_INSERT_COLUMNS, RATED_COLUMNS, cdrRowCompact, cdrRowJson } from '../sinks/clickhouse/rows.js';
import { CDR_COLUMN_TYPES, CDR_ROWBINARY_HEADER, CdrRowBinaryEncoder, RowRefusedError } from '../sinks/clickhouse/rowbinary.js';
import { chPath, uniqueName } from './helpers.js';

let conn: ClickHouseConnection | undefined;
afterAll(async () => conn?.close());

it('rated rows: every key the rating stage sets is a column, positional and keyed inserts store the same rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rows-'));
  const start = Date.UTC(2026, 9, 5, 6);
  const traffic = createTraffic({ seed: 8, subscribers: 300, startMs: start, endMs: start + 3 * 3_600_000, scenarios: 'all' });
  writeReference(dir, traffic.reference());
  const records = [...traffic.records()];
  const make = (): SourcedCdr[] => records.map((cdr, i) => ({ cdr, topic: 't', partition: 1, offset: String(i) }));
  const rated = make();
  createRatingStage(dir, '').rateBatch(rated);
  const keys = new Set<string>();
  for (const r of rated) for (const k of Object.keys(r.rated!)) keys.add(k);
  expect([...keys].sort()).toEqual([...RATED_COLUMNS].sort());

  conn = await openEmbedded({ path: chPath(), database: uniqueName('rows') });
  await migrate(conn, loadMigrations(schemaPath('ddl')));
  const ddl = (await conn.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${conn.database}' AND table = 'cdrs'`)).map((c) => c.name);
  // Every inserted column exists; the only ones not inserted are filled by ClickHouse.
  expect(CDR_INSERT_COLUMNS.filter((c) => !ddl.includes(c))).toEqual([]);
  expect(ddl.filter((c) => !CDR_INSERT_COLUMNS.includes(c))).toEqual(['_ingested_at']);

  await conn.command('CREATE TABLE cdrs_keyed AS cdrs');
  // 50 more CDRs without rating (other record ids: a key seen twice in one block collapses on insert).
  const unrated = make().slice(0, 50).map((u) => ({ ...u, cdr: { ...u.cdr, recordId: `${u.cdr.recordId}-u` }, partition: 2, offset: String(1_000_000 + Number(u.offset)) }));
  const all = rated.concat(unrated);
  await conn.insert('cdrs', all.map(cdrRowCompact).join(''), {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
  await conn.insert('cdrs_keyed', all.map(cdrRowJson).join(''));
  const dump = async (t: string) => (await conn!.query<Record<string, unknown>>(`SELECT * EXCEPT _ingested_at FROM ${t} ORDER BY _offset`)).map((r) => JSON.stringify(r));
  const a = await dump('cdrs');
  expect(a).toHaveLength(rated.length + 50);
  expect(a).toEqual(await dump('cdrs_keyed'));
  // A CDR without rating is stored NOT_RATED (the column default), never RATED at zero.
  const [nr] = await conn.query<{ n: string; unrated: string }>("SELECT countIf(rating_status = 'NOT_RATED') AS n, countIf(_partition = 2) AS unrated FROM cdrs");
  expect(Number(nr!.n)).toBe(50);
  expect(Number(nr!.unrated)).toBe(50);
});

describe('RowBinary (sinks/clickhouse/rowbinary.ts)', () => {
  const start = Date.UTC(2026, 9, 5, 6);
  let rated: SourcedCdr[] = [];
  let db: ClickHouseConnection | undefined;
  afterAll(async () => db?.close());

  function ratedCdrs(): SourcedCdr[] {
    if (rated.length) return rated;
    const dir = mkdtempSync(join(tmpdir(), 'rows-rb-'));
    const traffic = createTraffic({ seed: 9, subscribers: 300, startMs: start, endMs: start + 3 * 3_600_000, scenarios: 'all' });
    writeReference(dir, traffic.reference());
    rated = [...traffic.records()].map((cdr, i) => ({ cdr, topic: 't', partition: 3, offset: String(i) }));
    createRatingStage(dir, '').rateBatch(rated);
    return rated;
  }

  /** Edge rows: every Nullable null, extreme Decimals, non-ASCII and long strings, 64-bit offsets. */
  function edgeRows(base: SourcedCdr): SourcedCdr[] {
    const allNull: SourcedCdr = {
      topic: 't',
      partition: 4,
      offset: '9007199254740993', // above 2^53: exact only as a string
      cdr: {
        ...base.cdr, recordId: 'edge-null', servedImsi: null, servedImei: null, callingNumber: null, calledNumber: null, connectedNumber: null,
        translatedNumber: null, originalCalledNumber: null, redirectingNumber: null, redirectionReason: null, answerTime: null, q850Cause: null,
        servingPlmn: null, homePlmn: null, lac: null, tac: null, cellId: null, inTrunkGroup: null, outTrunkGroup: null, smsCentre: null, smsResult: null,
        apn: null, ratingGroup: null, chargingId: null, ratType: null, recordSequenceNumber: null, localRecordSequenceNumber: null, extensions: {},
      },
      rated: Object.fromEntries(RATED_COLUMNS.map((c) => [c, null])),
    };
    const wide = 'ñ'.repeat(70) + 'x'.repeat(100); // 240 bytes: a two-byte length prefix
    const extreme: SourcedCdr = {
      topic: 'tópico-ü',
      partition: 4294967295,
      offset: '18446744073709551615',
      cdr: { ...base.cdr, recordId: 'edge-ü-日本-😀', recordingEntity: 'MSC-Zürich', callingNumber: wide, calledNumber: 'a'.repeat(200), extensions: { clé: 'valeur ñ', ['k'.repeat(130)]: '' }, durationMs: Number.MAX_SAFE_INTEGER, uplinkBytes: 0, cellId: 2 ** 40, utcOffsetMinutes: -720, smsSegments: 255, localRecordSequenceNumber: 4294967295 },
      rated: {
        ...base.rated!,
        cost_total: '999999999999.999999',
        cost_connect_fee: '-999999999999.999999',
        cost_usage: '0.000001',
        cost_adjustment: '-0.000001',
        cost_surcharge: 7, // an integer number of units
        rating_note: 'tarifa nocturna — ñ',
        account_id: 'ACC-Ω',
        rated_at: Date.UTC(2286, 0, 1, 23, 59, 59, 999), // the JSON path's last readable year (10-digit seconds)
      },
    };
    return [allNull, extreme];
  }

  it('the column types the header declares are the table\'s after every migration', async () => {
    db ??= await openEmbedded({ path: chPath(), database: uniqueName('rowsrb') });
    await migrate(db, loadMigrations(schemaPath('ddl')));
    const cols = await db.query<{ name: string; type: string }>(`SELECT name, type FROM system.columns WHERE database = '${db.database}' AND table = 'cdrs'`);
    const actual = Object.fromEntries(cols.filter((c) => CDR_INSERT_COLUMNS.includes(c.name)).map((c) => [c.name, c.type]));
    expect(Object.keys(CDR_COLUMN_TYPES).sort()).toEqual([...CDR_INSERT_COLUMNS].sort());
    expect(actual).toEqual(CDR_COLUMN_TYPES);
  });

  it('stores exactly what JSONCompactEachRow stores: rated, unrated, every Nullable null, extreme Decimals, non-ASCII', async () => {
    db ??= await openEmbedded({ path: chPath(), database: uniqueName('rowsrb') });
    await migrate(db, loadMigrations(schemaPath('ddl')));
    const r = ratedCdrs();
    const unrated = r.slice(0, 40).map((u) => ({ ...u, rated: undefined, cdr: { ...u.cdr, recordId: `${u.cdr.recordId}-u` }, partition: 5 }));
    const all = r.concat(unrated, edgeRows(r.find((x) => x.rated?.rating_status === 'RATED')!));
    await db.command('CREATE TABLE cdrs_json AS cdrs');
    await db.insert('cdrs_json', all.map(cdrRowCompact).join(''), {}, { format: 'JSONCompactEachRow', columns: CDR_INSERT_COLUMNS });
    const enc = new CdrRowBinaryEncoder();
    const rows: Buffer[] = [];
    for (let i = 0; i < all.length; i += 1000) rows.push(...enc.encode(all.slice(i, i + 1000)));
    await db.insert('cdrs', Buffer.concat([CDR_ROWBINARY_HEADER, ...rows]), {}, { format: 'RowBinaryWithNamesAndTypes', columns: CDR_INSERT_COLUMNS });
    const dump = async (t: string) => (await db!.query<Record<string, unknown>>(`SELECT * EXCEPT _ingested_at FROM ${t} ORDER BY _partition, _offset, record_id`)).map((x) => JSON.stringify(x));
    const bin = await dump('cdrs');
    expect(bin).toHaveLength(all.length);
    expect(bin).toEqual(await dump('cdrs_json'));
    // The edge rows as stored, read back exactly.
    const [nulls] = await db.query<Record<string, unknown>>("SELECT * EXCEPT _ingested_at FROM cdrs WHERE record_id = 'edge-null'");
    expect(nulls).toMatchObject({ _offset: '9007199254740993', served_imsi: null, answer_time: null, cell_id: null, rated_at: null, rating_status: 'NOT_RATED', cost_total: '0', account_id: '', rating_note: null, extensions: {} });
    const [x] = await db.query<Record<string, unknown>>("SELECT * EXCEPT _ingested_at FROM cdrs WHERE record_id = 'edge-ü-日本-😀'");
    expect(x).toMatchObject({
      _topic: 'tópico-ü', _partition: 4294967295, _offset: '18446744073709551615', recording_entity: 'MSC-Zürich', calling_number: 'ñ'.repeat(70) + 'x'.repeat(100),
      cost_total: '999999999999.999999', cost_connect_fee: '-999999999999.999999', cost_usage: '0.000001', cost_adjustment: '-0.000001', cost_surcharge: '7',
      duration_ms: String(Number.MAX_SAFE_INTEGER), rating_note: 'tarifa nocturna — ñ', account_id: 'ACC-Ω', extensions: { clé: 'valeur ñ', ['k'.repeat(130)]: '' },
    });
    // Money is exact: the sums of the Decimal columns equal the sums of the micro-units in JavaScript.
    const micros = (v: unknown) => (typeof v === 'string' ? BigInt(v.replace('.', '').replace(/^(-?)0+(?=\d)/, '$1')) : BigInt(v as number) * 1_000_000n);
    const want = all.reduce((s, sc) => s + (sc.rated?.cost_total == null ? 0n : micros(sc.rated.cost_total)), 0n);
    const [sum] = await db.query<{ s: string }>('SELECT toString(sum(toInt128(toDecimal128(cost_total, 6) * 1000000))) AS s FROM cdrs');
    expect(sum!.s).toBe(String(want));
  });

  it('refuses what a column cannot hold, naming the column (never a subscriber value), and keeps encoding after it', () => {
    const base = ratedCdrs()[0]!;
    const enc = new CdrRowBinaryEncoder();
    const bad = (patch: Partial<SourcedCdr['cdr']>, rated?: Record<string, string | number | null>) => () => enc.encode([{ ...base, cdr: { ...base.cdr, ...patch }, rated: rated ? { ...base.rated!, ...rated } : base.rated }]);
    expect(bad({ durationMs: -1 })).toThrow(new RowRefusedError('column duration_ms: -1 is not a UInt64'));
    expect(bad({ durationMs: 1.5 })).toThrow(RowRefusedError);
    expect(bad({ redirectionCounter: 256 })).toThrow(/redirection_counter/);
    expect(bad({ disposition: 'LOST' as never })).toThrow(/column disposition: unknown Enum8 symbol/);
    expect(bad({ seizureTime: 1e16 })).toThrow(/seizure_time/);
    expect(bad({}, { cost_total: '0.0000001' })).toThrow(/cost_total: a decimal with more than 6 decimals/);
    expect(bad({}, { cost_total: '1000000000000.000000' })).toThrow(/cost_total/);
    expect(bad({}, { cost_total: '1e3' })).toThrow(/cost_total/);
    expect(bad({}, { cost_total: 0.5 })).toThrow(/cost_total/);
    expect(bad({ servedMsisdn: '447700900123' }, { rating_status: 'MAYBE' })).toThrow(/^column rating_status: unknown Enum8 symbol$/);
    expect(() => enc.encode([{ ...base, offset: '-1' }])).toThrow(/_offset/);
    // A refused row leaves nothing behind: the next call encodes exactly as a fresh encoder does.
    expect(enc.encode([base])[0]).toEqual(new CdrRowBinaryEncoder().encode([base])[0]);
  });
});
