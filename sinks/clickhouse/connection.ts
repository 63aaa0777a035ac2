/**
 * One interface to ClickHouse, two connections:
 * - embedded: chDB, the ClickHouse engine in-process, data in a local directory (the default);
 * - server:   @clickhouse/client over HTTP to a ClickHouse server.
 * The same DDL, queries and insert settings run on both. chdb and @clickhouse/client are imported here only.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { Session } from 'chdb';

export type Settings = Record<string, string | number | boolean>;

/**
 * A positional insert of `columns`, in order: each row a JSON array (JSONCompactEachRow), or binary rows after a
 * header of names and types (RowBinaryWithNamesAndTypes: sinks/clickhouse/rowbinary.ts).
 */
export interface InsertShape {
  format: 'JSONCompactEachRow' | 'RowBinaryWithNamesAndTypes';
  columns: readonly string[];
}

export interface ClickHouseConnection {
  readonly kind: 'embedded' | 'server';
  readonly database: string;
  /** DDL and statements without a result. Unqualified table names resolve in `database`. */
  command(sql: string, settings?: Settings): Promise<void>;
  /** A SELECT; rows come back as JSON objects with 64-bit integers and decimals quoted as strings. */
  query<T = Record<string, unknown>>(sql: string, settings?: Settings): Promise<T[]>;
  /**
   * Insert a payload into `table` (unqualified: `database` is used): JSONEachRow by default, or positional
   * JSONCompactEachRow rows for the given columns.
   */
  insert(table: string, body: string | Buffer, settings?: Settings, shape?: InsertShape): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Error classes decide what happens next (STYLE.md: classify before retrying):
 * - transient: retry with backoff (network, timeouts, overload, too many parts, HTTP 5xx without a code);
 * - data: the payload was rejected (parse or type errors): isolate the bad rows;
 * - fatal: configuration or code error (unknown table, syntax, auth): stop loudly, commit nothing.
 */
export type ClickHouseErrorClass = 'transient' | 'data' | 'fatal';

export class ClickHouseError extends Error {
  constructor(
    message: string,
    readonly errorClass: ClickHouseErrorClass,
    /** ClickHouse's numeric error code (src/Common/ErrorCodes.cpp), when the server sent one. */
    readonly code: number | undefined,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'ClickHouseError';
  }
}

// Codes from ClickHouse src/Common/ErrorCodes.cpp.
const DATA_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  32, // ATTEMPT_TO_READ_AFTER_EOF (truncated row)
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  131, // TOO_LARGE_STRING_SIZE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  407, // DECIMAL_OVERFLOW
  441, // CANNOT_PARSE_UUID
  625, // (invalid UTF-8 etc. in newer versions; treated as data)
  691, // UNKNOWN_ELEMENT_OF_ENUM (a symbol the table's Enum does not know yet: dead-letter, replay after migrating)
]);
const TRANSIENT_CODES = new Set([
  3, // UNEXPECTED_END_OF_FILE (connection cut mid-response)
  159, // TIMEOUT_EXCEEDED
  164, // READONLY (replica temporarily read-only)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  225, // NO_ZOOKEEPER
  236, // ABORTED
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  319, // UNKNOWN_STATUS_OF_INSERT
  394, // QUERY_WAS_CANCELLED
  425, // SYSTEM_ERROR
  999, // KEEPER_EXCEPTION
]);
const TRANSIENT_NODE_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

export function classifyClickHouseError(err: unknown): ClickHouseError {
  if (err instanceof ClickHouseError) return err;
  const e = err as { message?: string; code?: unknown; clickhouseCode?: unknown };
  const message = e?.message ?? String(err);
  let code: number | undefined;
  if (typeof e?.clickhouseCode === 'number') code = e.clickhouseCode;
  else if (typeof e?.code === 'string' && /^\d+$/.test(e.code)) code = Number(e.code);
  else {
    const m = /Code: (\d+)\./.exec(message);
    if (m?.[1]) code = Number(m[1]);
  }
  if (code !== undefined) {
    const cls: ClickHouseErrorClass = DATA_CODES.has(code) ? 'data' : TRANSIENT_CODES.has(code) ? 'transient' : 'fatal';
    return new ClickHouseError(message, cls, code, err);
  }
  const nodeCode = typeof e?.code === 'string' ? e.code : undefined;
  if (
    (nodeCode && TRANSIENT_NODE_ERRORS.has(nodeCode)) ||
    /socket hang up|Timeout error|timed out|ECONNRESET|ECONNREFUSED|EPIPE|other side closed|502|503|504|500|Internal Server Error/i.test(message)
  ) {
    return new ClickHouseError(message, 'transient', undefined, err);
  }
  return new ClickHouseError(message, 'fatal', undefined, err);
}

/** Settings every query and insert runs with, on both connections, so results are identical. */
const QUERY_SETTINGS: Settings = {
  // Money and 64-bit ids never travel as JSON numbers (JSON.parse silently corrupts them).
  output_format_json_quote_64bit_integers: 1,
  output_format_json_quote_decimals: 1,
  date_time_output_format: 'iso',
};

/** A ClickHouse string literal: single quotes, with backslashes and quotes escaped. */
export function sqlString(value: unknown): string {
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function settingsClause(settings: Settings): string {
  const parts = Object.entries(settings).map(([k, v]) => {
    if (!/^[a-z_0-9]+$/i.test(k)) throw new Error(`invalid setting name ${k}`);
    const value = typeof v === 'string' ? sqlString(v) : typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
    return `${k} = ${value}`;
  });
  return parts.length ? ` SETTINGS ${parts.join(', ')}` : '';
}

function quoteIdent(name: string): string {
  return '`' + name.replace(/`/g, '\\`') + '`';
}

export interface EmbeddedOptions {
  /** Data directory; created if missing. One directory per process (chDB's rule). */
  path: string;
  database: string;
}

/**
 * chDB keeps one engine per process and one data directory per process, so every embedded connection in a
 * process shares one Session; each connection names its database (USE in the same statement batch).
 * chDB runs queries on libuv's thread pool (queryAsync/insert), so the event loop and Kafka heartbeats
 * keep running during long inserts.
 */
let shared: { path: string; session: Session; users: number } | undefined;

export async function openEmbedded(opts: EmbeddedOptions): Promise<ClickHouseConnection> {
  if (shared && shared.path !== opts.path) {
    throw new ClickHouseError(`chDB allows one data directory per process: ${shared.path} is open, ${opts.path} was asked for`, 'fatal', undefined);
  }
  if (!shared) shared = { path: opts.path, session: new Session(opts.path), users: 0 };
  if (!staleSpoolsChecked) {
    // Once per process, at start-up: spools of processes killed mid-insert (each can hold a 50k-row block in
    // memory-backed /dev/shm).
    staleSpoolsChecked = true;
    removeStaleSpools(spoolParent(), (dir, err) => process.stderr.write(`cdr-pipeline: could not remove the stale insert spool ${dir}: ${err.message}\n`));
  }
  shared.users++;
  const session = shared.session;
  const db = quoteIdent(opts.database);
  const run = async (sql: string, format?: string) => {
    try {
      return await session.queryAsync(`USE ${db}; ${sql}`, format ? { format } : {});
    } catch (err) {
      throw classifyClickHouseError(err);
    }
  };
  try {
    await session.queryAsync(`CREATE DATABASE IF NOT EXISTS ${db}`);
  } catch (err) {
    throw classifyClickHouseError(err);
  }
  let closed = false;
  // chDB's raw insert takes text formats only (chdb index.d.ts RawInsertFormat): a binary block goes through a
  // file in a private directory (mkdtemp: mode 0700; memory-backed /dev/shm where there is one) and the file()
  // table function. Each file is removed when its insert returns, the directory at close(); a killed process
  // leaves at most its in-flight blocks there (they are in ClickHouse or will be re-read from Kafka), and the
  // next process to open a spool removes them (removeStaleSpools: the directory names its owner's pid).
  let spool: string | undefined;
  let spooled = 0;
  const spoolDir = () => {
    if (spool === undefined) {
      spool = mkdtempSync(join(spoolParent(), `${SPOOL_PREFIX}${pidNamespace()}-${process.pid}-`));
      openSpools.add(spool);
    }
    return spool;
  };
  return {
    kind: 'embedded',
    database: opts.database,
    async command(sql, settings = {}) {
      await run(sql + settingsClause(settings));
    },
    async query<T>(sql: string, settings: Settings = {}) {
      const res = await run(sql + settingsClause({ ...QUERY_SETTINGS, ...settings }), 'JSONEachRow');
      const text = res.text();
      return text.length === 0 ? [] : (text.trimEnd().split('\n').map((l) => JSON.parse(l)) as T[]);
    },
    async insert(table, body, settings = {}, shape) {
      if (shape?.format === 'RowBinaryWithNamesAndTypes') {
        const file = join(spoolDir(), `${++spooled}.bin`);
        try {
          // Written on libuv's pool (a 50k-row block is ~24 MB): the event loop and Kafka heartbeats go on.
          await writeFile(file, body, { mode: 0o600 }).catch((err: NodeJS.ErrnoException) => {
            // The directory removed under us (a tmp cleaner): the next attempt makes a new one.
            if (err.code === 'ENOENT' && spool !== undefined) {
              openSpools.delete(spool);
              spool = undefined;
            }
            // A full /dev/shm or too many open files passes once other inserts finish: retried; anything else stops.
            throw new ClickHouseError(`spooling an insert block to ${file}: ${err.message}`, ['ENOSPC', 'EMFILE', 'ENFILE', 'EAGAIN', 'ENOENT'].includes(err.code ?? '') ? 'transient' : 'fatal', undefined, err);
          });
          // file() takes its structure from the table it inserts into (use_structure_from_insertion_table_in_table_functions),
          // so the header is checked against the table as a server checks it; `(at row N)` counts the file's rows.
          await run(`INSERT INTO ${quoteIdent(table)} (${shape.columns.map(quoteIdent).join(', ')}) SELECT * FROM file(${sqlString(file)}, 'RowBinaryWithNamesAndTypes')${settingsClause(settings)}`);
        } finally {
          await rm(file, { force: true });
        }
        return;
      }
      try {
        await session.insert({ table: `${opts.database}.${table}`, values: typeof body === 'string' ? Buffer.from(body) : body, format: (shape?.format ?? 'JSONEachRow') as 'JSONEachRow' | 'JSONCompactEachRow', settings, ...(shape ? { columns: shape.columns } : {}) });
      } catch (err) {
        throw classifyClickHouseError(err);
      }
    },
    async ping() {
      try {
        await session.queryAsync('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (spool) {
        rmSync(spool, { recursive: true, force: true });
        openSpools.delete(spool);
      }
      if (shared && --shared.users === 0) {
        shared.session.close();
        shared = undefined;
      }
    },
  };
}

const SPOOL_PREFIX = 'cdr-pipeline-insert-';
/** Spools of this process's open connections (never stale), and whether start-up cleanup ran. */
const openSpools = new Set<string>();
let staleSpoolsChecked = false;

function spoolParent(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/**
 * Removes insert spools (`cdr-pipeline-insert-<pid namespace>-<pid>-XXXXXX`, see openEmbedded) left by processes
 * that died mid-insert (SIGKILL, OOM): a spool of this PID namespace whose pid is not running, or is this
 * process's own pid (a restarted container reuses it) but not one of its open spools. A live owner's spool is
 * never touched; neither are spools of another PID namespace (containers sharing a /dev/shm: their pids mean
 * nothing here) nor names without a pid (spools before this scheme), since their owner cannot be told. Returns
 * the directories removed. `parent` defaults to /dev/shm (else the OS temp directory).
 */
export function removeStaleSpools(parent = spoolParent(), onError?: (dir: string, err: Error) => void): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^cdr-pipeline-insert-(\d+)-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m || m[1] !== pidNamespace()) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && processAlive(pid)) continue;
    const dir = join(parent, name);
    if (openSpools.has(dir)) continue;
    try {
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch (err) {
      onError?.(dir, err as Error);
    }
  }
  return removed;
}

/** This process's PID namespace (the inode of /proc/self/ns/pid, as `pid:[4026531836]`); 0 where there is none. */
function pidNamespace(): string {
  try {
    return /(\d+)/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

/** Signal 0 checks existence: ESRCH = no such process; EPERM = it exists, owned by someone else. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ServerOptions {
  url: string;
  username: string;
  password: string;
  database: string;
  requestTimeoutMs: number;
  /** Create the database if missing (needs the right grants on a real server). */
  createDatabase: boolean;
  /**
   * https only: PEM file of the CA that signed the server's certificate (replaces the public CAs), and an
   * optional client certificate and key (mutual TLS). Read once, here.
   */
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/**
 * @clickhouse/client's `tls` option (client/dist/connection/node_https_connection.js): `ca_cert` becomes the
 * https Agent's `ca`, and with `cert`/`key` the client authenticates with its certificate as well (it then
 * also sends X-ClickHouse-SSL-Certificate-Auth: on, and the user and password as X-ClickHouse-User/Key
 * headers instead of basic auth). Server verification is always on.
 */
export function clickHouseTls(opts: Pick<ServerOptions, 'caFile' | 'certFile' | 'keyFile'>): { ca_cert: Buffer } | { ca_cert: Buffer; cert: Buffer; key: Buffer } | undefined {
  if (!opts.caFile) return undefined;
  const ca_cert = readFileSync(opts.caFile);
  if (opts.certFile && opts.keyFile) return { ca_cert, cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile) };
  return { ca_cert };
}

export async function openServer(opts: ServerOptions): Promise<ClickHouseConnection> {
  const tls = clickHouseTls(opts);
  const common = {
    url: opts.url,
    ...(tls ? { tls } : {}),
    username: opts.username,
    password: opts.password,
    request_timeout: opts.requestTimeoutMs,
    // Our own retry loop decides what is retried (sinks/clickhouse/sink.ts); the client must not replay.
    keep_alive: { enabled: true },
    compression: { request: false, response: false },
    application: 'cdr-pipeline',
    // The client would log every failed request to stderr on its own; the sink logs retries once, in pino.
    log: { level: ClickHouseLogLevel.OFF },
  };
  if (opts.createDatabase) {
    const admin = createClient(common);
    try {
      await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdent(opts.database)}` });
    } catch (err) {
      throw classifyClickHouseError(err);
    } finally {
      await admin.close();
    }
  }
  const client: ClickHouseClient = createClient({ ...common, database: opts.database });
  const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw classifyClickHouseError(err);
    }
  };
  return {
    kind: 'server',
    database: opts.database,
    command: (sql, settings = {}) => wrap(async () => void (await client.command({ query: sql, clickhouse_settings: settings as ClickHouseSettings }))),
    query: <T>(sql: string, settings: Settings = {}) =>
      wrap(async () => {
        const rs = await client.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: { ...QUERY_SETTINGS, ...settings } as ClickHouseSettings });
        return (await rs.json()) as T[];
      }),
    insert: (table, body, settings = {}, shape) =>
      wrap(async () => {
        // @clickhouse/client's insert() serialises objects itself; exec() sends our bytes unchanged, so the
        // payload (and with it the deduplication block) is identical on every retry.
        const target = shape ? `${quoteIdent(table)} (${shape.columns.map(quoteIdent).join(', ')}) FORMAT ${shape.format}` : `${quoteIdent(table)} FORMAT JSONEachRow`;
        const res = await client.exec({
          query: `INSERT INTO ${target}`,
          values: Readable.from([typeof body === 'string' ? Buffer.from(body) : body]),
          clickhouse_settings: settings as ClickHouseSettings,
        });
        // Drain the (empty) response so the socket returns to the pool.
        for await (const _ of res.stream) void _;
      }),
    async ping() {
      try {
        const r = await client.ping();
        return r.success;
      } catch {
        return false;
      }
    },
    close: () => client.close(),
  };
}

export type ClickHouseConfig =
  | ({ mode: 'embedded' } & EmbeddedOptions)
  | ({ mode: 'server' } & ServerOptions);

export function openClickHouse(cfg: ClickHouseConfig): Promise<ClickHouseConnection> {
  return cfg.mode === 'embedded' ? openEmbedded(cfg) : openServer(cfg);
}
