/**
 * A test stand-in for a ClickHouse server (no modern ClickHouse server can run on the
 * project's machines). It speaks the part of ClickHouse's HTTP interface (docs: interfaces/http) that
 * @clickhouse/client 1.23 uses and runs every statement on chDB, the ClickHouse engine in-process, so SQL,
 * settings, error codes and insert deduplication have the real engine's semantics. It can inject the faults
 * a server and a network produce: an HTTP 500 carrying a ClickHouse error code, a connection reset (before,
 * or after the statement ran: "the insert happened, the acknowledgement was lost"), a stall.
 *
 * What @clickhouse/client sends (read from client-common/dist/utils/url.js and
 * client/dist/connection/node_base_connection.js):
 * - ping():    GET /ping, expects 200 (a real server answers "Ok.\n");
 * - query():   POST /?query_id=..&<settings>&database=.., body `<sql> \nFORMAT <fmt>` (the client appends FORMAT);
 * - command(): POST, same URL, body `<sql>` (trailing `;` removed by the client);
 * - exec() with values / insert(): POST /?..&query=INSERT INTO t FORMAT JSONEachRow, body = the data (chunked);
 * - `database` is omitted when it is "default"; settings travel as URL parameters; auth as basic auth or
 *   X-ClickHouse-User/Key headers (anything is accepted here); with compression on, the body is gzip
 *   (Content-Encoding) and `enable_http_compression=1` asks for a compressed answer.
 * It reads back: the status (non-2xx is an error), the error body `Code: N. DB::Exception: ... (NAME)`
 * (parsed into ClickHouseError{code: "N"}), X-ClickHouse-Summary, X-ClickHouse-Query-Id.
 *
 * Not supported (the project does not use them): sessions (session_id is ignored), query parameters
 * (param_*), ClickHouse-native compressed bodies (decompress=1), progress headers, streamed results
 * (results are buffered, as a server does with wait_end_of_query=1).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, gzip, inflate } from 'node:zlib';
import { Session } from 'chdb';

export type FaultKind = 'http500' | 'reset' | 'stall';

export interface FaultOptions {
  /** Only INSERT statements. */
  insertsOnly?: boolean;
  /** Only statements whose text names this table (a whole word; backticks allowed). */
  table?: string;
  /** http500: the ClickHouse error sent (default 252 TOO_MANY_PARTS, a transient overload). */
  code?: number;
  name?: string;
  message?: string;
  /** http500: the HTTP status (default 500). */
  status?: number;
  /** reset: run the statement first, then cut the connection without answering (the ack is lost). */
  afterExecute?: boolean;
  /** stall: hold the request this long, then run it normally; default: until the client goes away. */
  ms?: number;
}

export interface ClickHouseEndpointStats {
  /** HTTP requests, pings included. */
  requests: number;
  /** Statements other than INSERT ... FORMAT run on chDB. */
  queries: number;
  /** INSERT ... FORMAT statements run on chDB (including refused and deduplicated ones). */
  inserts: number;
  /** Statements chDB refused. */
  errors: number;
  faultsInjected: number;
}

export interface InjectedFault {
  kind: FaultKind;
  /** The statement it hit (for an insert, the INSERT header without the data). */
  sql: string;
}

export interface ClickHouseEndpoint {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly stats: ClickHouseEndpointStats;
  readonly injected: readonly InjectedFault[];
  /** Arm a fault for the next `count` matching statements (pings never match). Faults fire in arming order. */
  failNext(kind: FaultKind, count?: number, opts?: FaultOptions): void;
  clearFaults(): void;
  /** Armed faults not injected yet (a test that expected its fault to fire can check this is 0). */
  pendingFaults(): number;
  close(): Promise<void>;
}

interface ArmedFault {
  kind: FaultKind;
  remaining: number;
  opts: FaultOptions;
  tableRe: RegExp | undefined;
}

interface Statement {
  /** For an insert, the header `INSERT INTO t FORMAT f`; otherwise the SQL without its trailing FORMAT. */
  sql: string;
  insert: { table: string; columns: string[] | undefined; format: string; data: Buffer } | undefined;
  /** Output format: a trailing FORMAT clause, else default_format, else TabSeparated (the server's default). */
  format: string;
  settings: Record<string, string>;
}

/** A ClickHouse error as the server renders it; thrown inside the handler, answered by send(). */
class ServerError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    super(body);
  }
}

// URL parameters the HTTP handler consumes itself; every other parameter is a setting
// (ClickHouse src/Server/HTTPHandler.cpp, reserved_param_names).
const HTTP_PARAMS = new Set([
  'query', 'database', 'default_format', 'query_id', 'user', 'password', 'quota_key', 'compress', 'decompress',
  'stacktrace', 'role', 'buffer_size', 'wait_end_of_query', 'session_id', 'session_timeout', 'session_check',
  'close_session', 'client_protocol_version',
]);

// chDB's raw insert takes these formats (chdb index.d.ts, RawInsertFormat).
const INSERT_FORMATS = new Set(['JSONEachRow', 'JSONCompactEachRow', 'CSV', 'CSVWithNames', 'TSV', 'TabSeparated', 'TSVWithNames', 'TabSeparatedWithNames']);
type InsertFormat = 'JSONEachRow' | 'JSONCompactEachRow' | 'CSV' | 'CSVWithNames' | 'TSV' | 'TabSeparated' | 'TSVWithNames' | 'TabSeparatedWithNames';
// Binary formats go through a file and file() with the target columns' types as the structure, so the header
// is checked against the table as a server checks it (input_format_with_types_use_header).
const FILE_FORMATS = new Set(['RowBinaryWithNamesAndTypes']);

const IDENT = '(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)';
// INSERT INTO [TABLE] [db.]table [(cols)] FORMAT fmt, then (in a body) a newline and the data.
const INSERT_RE = new RegExp(`^\\s*INSERT\\s+INTO\\s+(?:TABLE\\s+)?(${IDENT}(?:\\.${IDENT})?)\\s*(?:\\(([^)]*)\\))?\\s*FORMAT\\s+(\\w+)[ \\t]*(?:\\r?\\n|$)`, 'i');
const TRAILING_FORMAT_RE = /\s+FORMAT\s+(\w+)\s*;*\s*$/i;

// ClickHouse src/Server/HTTP/exceptionCodeToHTTPStatus.cpp (abridged): parse errors are 400, unknown
// objects 404, the rest 500. The client and classifyClickHouseError read the code, not the status.
const STATUS_BY_CODE = new Map<number, number>([
  [194, 401],
  ...[192, 193, 516].map((c) => [c, 403] as [number, number]),
  ...[6, 25, 26, 27, 36, 38, 41, 53, 62, 72, 117].map((c) => [c, 400] as [number, number]),
  ...[46, 47, 50, 56, 60, 63, 73, 81, 115, 336].map((c) => [c, 404] as [number, number]),
  [48, 501],
  [159, 408],
  [209, 503],
]);

const decoders: Record<string, (b: Buffer) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};
const gzipAsync = promisify(gzip);

export async function startClickHouseEndpoint(opts: { path: string; port?: number }): Promise<ClickHouseEndpoint> {
  // Its own chDB connection on the same data directory as the test process's embedded connection (chDB
  // allows one directory per process, and any number of connections to it).
  const session = new Session(opts.path);
  const version = (await session.queryAsync('SELECT version()', { format: 'TSVRaw' })).text().trim();
  const stats: ClickHouseEndpointStats = { requests: 0, queries: 0, inserts: 0, errors: 0, faultsInjected: 0 };
  const injected: InjectedFault[] = [];
  let faults: ArmedFault[] = [];
  const inflight = new Set<Promise<void>>();
  const stalled = new Set<() => void>();
  let closed = false;

  const render = (code: number, name: string, message: string) => `Code: ${code}. DB::Exception: ${message}. (${name}) (version ${version})\n`;

  function takeFault(st: Statement): ArmedFault | undefined {
    const f = faults.find((x) => (!x.opts.insertsOnly || st.insert !== undefined) && (!x.tableRe || x.tableRe.test(st.sql)));
    if (!f) return undefined;
    if (--f.remaining === 0) faults = faults.filter((x) => x !== f);
    stats.faultsInjected++;
    injected.push({ kind: f.kind, sql: st.sql });
    return f;
  }

  async function run(st: Statement, database: string): Promise<{ body: Buffer; summary: Record<string, string> }> {
    const started = process.hrtime.bigint();
    try {
      if (st.insert) {
        stats.inserts++;
        const { table, columns, format, data } = st.insert;
        if (FILE_FORMATS.has(format)) return await insertViaFile(table.includes('.') ? table : `${quoteIdent(database)}.${quoteIdent(table)}`, columns, format, data, st.settings, started);
        // chDB has no per-query database; qualify the table with the request's database, as the server would.
        const r = await session.insert({
          table: table.includes('.') ? table : `${database}.${table}`,
          values: data,
          format: format as InsertFormat,
          ...(columns ? { columns } : {}),
          settings: st.settings,
        });
        return { body: Buffer.alloc(0), summary: summary({ written_rows: r.rowsWritten, written_bytes: r.bytesWritten, elapsed_ns: process.hrtime.bigint() - started }) };
      }
      stats.queries++;
      // chDB has no per-query database setting, but a statement batch `USE db; <sql>` has the same effect
      // (sinks/clickhouse/connection.ts does the same). URL settings become the query's SETTINGS clause,
      // on its own line so a trailing `-- comment` cannot swallow it.
      const r = await session.queryAsync(`USE ${quoteIdent(database)}; ${st.sql}${settingsClause(st.settings)}`, { format: st.format });
      const body = Buffer.from(r.bytes());
      return {
        body,
        summary: summary({ read_rows: r.rowsRead, read_bytes: r.bytesRead, result_bytes: body.length, elapsed_ns: process.hrtime.bigint() - started }),
      };
    } catch (err) {
      stats.errors++;
      throw engineError(err);
    }
  }

  let spool: string | undefined;
  let spooled = 0;
  async function insertViaFile(target: string, columns: string[] | undefined, format: string, data: Buffer, settings: Record<string, string>, started: bigint) {
    const [db, tbl] = target.split('.').map((x) => x.replace(/^`|`$/g, '')) as [string, string];
    const types = await session.queryAsync(`SELECT name, type FROM system.columns WHERE database = '${db}' AND table = '${tbl}' ORDER BY position`, { format: 'JSONEachRow' });
    const all = types.text().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { name: string; type: string });
    const byName = new Map(all.map((c) => [c.name, c.type]));
    const cols = columns ?? all.map((c) => c.name);
    const structure = cols.map((c) => `${quoteIdent(c)} ${byName.get(c) ?? 'String'}`).join(', ');
    spool ??= mkdtempSync(join(tmpdir(), 'ch-endpoint-'));
    const file = join(spool, `${++spooled}.bin`);
    writeFileSync(file, data);
    try {
      const quote = (x: string) => `'${x.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
      const r = await session.queryAsync(`INSERT INTO ${quoteIdent(db)}.${quoteIdent(tbl)} (${cols.map(quoteIdent).join(', ')}) SELECT * FROM file(${quote(file)}, ${quote(format)}, ${quote(structure)})${settingsClause(settings)}`);
      return { body: Buffer.alloc(0), summary: summary({ written_rows: r.rowsRead, elapsed_ns: process.hrtime.bigint() - started }) };
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** A chDB error as the server would send it: the engine's own `Code: N. DB::Exception: ...` text. */
  function engineError(err: unknown): ServerError {
    const e = err as { clickhouseCode?: unknown; message?: unknown };
    const message = typeof e?.message === 'string' ? e.message : String(err);
    const m = /Code: (\d+)\./.exec(message);
    const code = typeof e?.clickhouseCode === 'number' ? e.clickhouseCode : m?.[1] ? Number(m[1]) : undefined;
    if (code === undefined) return new ServerError(1001, render(1001, 'STD_EXCEPTION', message));
    return new ServerError(code, `${message.slice(message.indexOf('Code: '))} (version ${version})\n`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.requests++;
    const url = new URL(req.url ?? '/', 'http://endpoint');
    const params = url.searchParams;
    // /ping and a bare GET / answer "Ok.\n" (ClickHouse's ping handler and http_server_default_response).
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !params.has('query'))) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8' }).end(`There is no handle ${url.pathname}\n`);
      return;
    }
    const queryId = params.get('query_id') ?? randomUUID();
    const compressAnswer = params.get('enable_http_compression') === '1' && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    try {
      const body = await readBody(req);
      const st = parseStatement(params, body);
      const fault = takeFault(st);
      if (fault?.kind === 'http500') {
        const o = fault.opts;
        throw new ServerError(o.code ?? 252, render(o.code ?? 252, o.name ?? 'TOO_MANY_PARTS', o.message ?? 'Too many parts (3001 with average size of 1.00 KiB) in table. Merges are processing significantly slower than inserts'));
      }
      if (fault?.kind === 'reset' && !fault.opts.afterExecute) {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'stall') {
        await new Promise<void>((resolve) => {
          const timer = fault.opts.ms === undefined ? undefined : setTimeout(done, fault.opts.ms);
          function done() {
            clearTimeout(timer);
            stalled.delete(done);
            resolve();
          }
          stalled.add(done);
          res.once('close', done); // the client gave up (request_timeout destroys the socket)
        });
        // Nobody is waiting: a statement the client abandoned is not run (so a stalled insert never lands).
        if (closed || res.destroyed || req.socket.destroyed) return;
      }
      const out = await run(st, params.get('database') ?? 'default');
      if (fault?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      await send(res, 200, {
        'Content-Type': 'text/plain; charset=UTF-8',
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': st.format,
        'X-ClickHouse-Timezone': 'UTC',
        'X-ClickHouse-Summary': JSON.stringify(out.summary),
      }, out.body, compressAnswer);
    } catch (err) {
      if (res.headersSent || res.destroyed) return;
      const e = err instanceof ServerError ? err : new ServerError(1001, render(1001, 'STD_EXCEPTION', String(err)));
      await send(res, STATUS_BY_CODE.get(e.code) ?? 500, {
        'Content-Type': 'text/plain; charset=UTF-8',
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Exception-Code': String(e.code),
      }, Buffer.from(e.body), compressAnswer);
    }
  }

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
    if (!encoding || encoding === 'identity') return raw;
    const decode = decoders[encoding];
    if (!decode) throw new ServerError(638, render(638, 'UNKNOWN_COMPRESSION_METHOD', `Unknown HTTP Content-Encoding ${encoding} (the test endpoint decodes gzip, deflate, br)`));
    return decode(raw);
  }

  function parseStatement(params: URLSearchParams, body: Buffer): Statement {
    if (params.get('decompress') === '1') throw new ServerError(48, render(48, 'NOT_IMPLEMENTED', 'decompress=1 (ClickHouse-native compressed body) is not supported by the test endpoint'));
    const settings: Record<string, string> = {};
    for (const [k, v] of params) {
      if (k.startsWith('param_')) throw new ServerError(48, render(48, 'NOT_IMPLEMENTED', 'query parameters are not supported by the test endpoint'));
      if (HTTP_PARAMS.has(k)) continue;
      if (!/^\w+$/.test(k)) throw new ServerError(115, render(115, 'UNKNOWN_SETTING', `Unknown setting '${k}'`));
      settings[k] = v;
    }
    // The server reads the `query` parameter followed by the body (docs: "the query can be passed in the URL
    // and the data in the body"); an INSERT ... FORMAT ends at the line break and the rest is its data.
    const queryParam = params.get('query');
    const head = queryParam ?? body.toString('utf8');
    const ins = INSERT_RE.exec(head);
    if (ins) {
      const [, table = '', cols, format = ''] = ins;
      if (!INSERT_FORMATS.has(format) && !FILE_FORMATS.has(format)) {
        throw new ServerError(73, render(73, 'UNKNOWN_FORMAT', `Format ${format} is not supported by the test endpoint (chDB raw insert takes ${[...INSERT_FORMATS].join(', ')})`));
      }
      const data = queryParam !== null ? Buffer.concat([Buffer.from(head.slice(ins[0].length)), body]) : body.subarray(Buffer.byteLength(ins[0]));
      return {
        sql: ins[0].trim(),
        insert: { table: unquote(table), columns: cols?.split(',').map((c) => unquote(c.trim())), format, data },
        format: params.get('default_format') ?? 'TabSeparated',
        settings,
      };
    }
    let sql = (queryParam !== null && body.length > 0 ? `${queryParam}\n${body.toString('utf8')}` : head).trim().replace(/;+\s*$/, '');
    if (sql.length === 0) throw new ServerError(62, render(62, 'SYNTAX_ERROR', 'Empty query'));
    // A server runs one statement per request; chDB would run a whole batch, so refuse it as the server does.
    const extra = secondStatementAt(sql);
    if (extra >= 0) throw new ServerError(62, render(62, 'SYNTAX_ERROR', `Syntax error (Multi-statements are not allowed): failed at position ${extra + 1}`));
    let format = params.get('default_format') ?? 'TabSeparated';
    const f = TRAILING_FORMAT_RE.exec(sql);
    if (f?.[1]) {
      format = f[1];
      sql = sql.slice(0, f.index);
    }
    return { sql, insert: undefined, format, settings };
  }

  const server = createServer((req, res) => {
    const p = handle(req, res)
      .catch(() => void res.destroy())
      .finally(() => inflight.delete(p));
    inflight.add(p);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    injected,
    failNext(kind, count = 1, o = {}) {
      if (!Number.isInteger(count) || count < 1) throw new RangeError(`failNext: count must be a positive integer, got ${count}`);
      const tableRe = o.table === undefined ? undefined : new RegExp(`(^|[^\\w])${o.table.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w])`);
      faults.push({ kind, remaining: count, opts: o, tableRe });
    },
    clearFaults() {
      faults = [];
    },
    pendingFaults: () => faults.reduce((n, f) => n + f.remaining, 0),
    async close() {
      if (closed) return;
      closed = true;
      for (const release of [...stalled]) release();
      server.close();
      server.closeAllConnections();
      await Promise.allSettled([...inflight]);
      session.close();
    },
  };
}

async function send(res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer, compress: boolean): Promise<void> {
  if (res.destroyed) return;
  const payload = compress ? await gzipAsync(body) : body;
  res.writeHead(status, { ...headers, ...(compress ? { 'Content-Encoding': 'gzip' } : {}), 'Content-Length': String(payload.length) });
  res.end(payload);
}

/** X-ClickHouse-Summary: every counter as a decimal string, as the server sends it. */
function summary(v: Partial<Record<'read_rows' | 'read_bytes' | 'written_rows' | 'written_bytes' | 'result_rows' | 'result_bytes' | 'elapsed_ns', number | bigint>>): Record<string, string> {
  const keys = ['read_rows', 'read_bytes', 'written_rows', 'written_bytes', 'total_rows_to_read', 'result_rows', 'result_bytes', 'elapsed_ns'] as const;
  return Object.fromEntries(keys.map((k) => [k, String((v as Record<string, number | bigint | undefined>)[k] ?? 0)]));
}

function settingsClause(settings: Record<string, string>): string {
  const parts = Object.entries(settings).map(([k, v]) => `${k} = '${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
  // Values stay string literals: the engine converts them to each setting's type, as it does for URL values.
  return parts.length ? `\nSETTINGS ${parts.join(', ')}` : '';
}

function quoteIdent(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

function unquote(ident: string): string {
  return ident
    .split('.')
    .map((p) => (p.startsWith('`') && p.endsWith('`') ? p.slice(1, -1) : p))
    .join('.');
}

/** Index of the first character of a second statement (after a `;` outside quotes and comments), or -1. */
function secondStatementAt(sql: string): number {
  let i = 0;
  let afterSemicolon = false;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      if (afterSemicolon) return i;
      for (i++; i < sql.length && sql[i] !== c; i++) if (sql[i] === '\\') i++;
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === ';') {
      afterSemicolon = true;
      i++;
    } else {
      if (afterSemicolon && !/\s/.test(c)) return i;
      i++;
    }
  }
  return -1;
}
