/**
 * Schema registry client: the subset of Confluent Schema Registry's REST API the pipeline needs, over Node's
 * fetch (no dependency). Works with Confluent Schema Registry, Karapace and Apicurio Registry's
 * Confluent-compatible API (`/apis/ccompat/v7`).
 *
 *   GET  /schemas/ids/{id}                 writer schema by id (Confluent error 40403 when there is none)
 *   POST /subjects/{subject}/versions      register; returns the id (the same id again for a known schema)
 *   GET  /subjects/{subject}/versions/latest
 *
 * Schema ids are immutable, so a schema fetched by id is cached for the life of the process. Errors are
 * classified before anything is retried (STYLE.md §4): a registry that is down, times out or answers 5xx/429
 * is `transient` and retried with capped exponential backoff until it answers or the caller aborts (records
 * wait, they are never dropped for it); "no schema with this id" is an answer (`schemaById` returns
 * undefined, the decoder dead-letters the record as UNKNOWN_SCHEMA_ID); anything else (401/403, a 404 that
 * is not Confluent's 40403 because the URL lacks its base path, a body that is not the API's JSON) is
 * `fatal`: a configuration error, thrown at once.
 *
 * Also here: the Confluent wire format: byte 0 magic 0, bytes 1-4 the schema id
 * as a big-endian int32, then the Avro binary datum.
 */
import type { Log } from './index.js';

export const CONFLUENT_MAGIC_BYTE = 0;
export const CONFLUENT_HEADER_BYTES = 5;

/** Frames an Avro datum in the Confluent wire format. */
export function confluentFrame(schemaId: number, avroDatum: Buffer): Buffer {
  const out = Buffer.allocUnsafe(CONFLUENT_HEADER_BYTES + avroDatum.length);
  out[0] = CONFLUENT_MAGIC_BYTE;
  out.writeInt32BE(schemaId, 1);
  avroDatum.copy(out, CONFLUENT_HEADER_BYTES);
  return out;
}

export type RegistryErrorClass = 'transient' | 'fatal';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    readonly errorClass: RegistryErrorClass,
    message: string,
    readonly status?: number,
    /** Confluent's error_code (40401 subject not found, 40403 schema not found, 42201 invalid schema, ...). */
    readonly errorCode?: number,
  ) {
    super(message);
  }
}

export interface RegistryOptions {
  /** Base URL, e.g. http://registry:8081 or http://apicurio:8080/apis/ccompat/v7. */
  url: string;
  /** HTTP basic auth (Confluent Cloud: API key and secret); sent only when username is non-empty. */
  username?: string;
  password?: string;
  /** Per request. */
  requestTimeoutMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  log?: Log;
}

export interface RegisteredSchema {
  subject: string;
  version: number;
  id: number;
  schema: string;
}

/** A writer schema as the registry holds it: the schema text and its type (AVRO, PROTOBUF or JSON). */
export interface WriterSchema {
  schema: string;
  schemaType: string;
}

/** What the Confluent decoder needs: the writer schema for an id, or undefined if the registry has none. */
export interface WriterSchemaSource {
  schemaById(id: number, signal?: AbortSignal): Promise<WriterSchema | undefined>;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export class SchemaRegistryClient implements WriterSchemaSource {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly byId = new Map<number, WriterSchema>();
  private readonly inFlight = new Map<number, Promise<WriterSchema | undefined>>();
  private readonly timeoutMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  /** Requests answered since start, for tests and logs (cached lookups do not count). */
  requests = 0;

  constructor(private readonly opts: RegistryOptions) {
    // Credentials in the URL (https://user:password@host/...) become basic auth and leave the URL: fetch()
    // refuses URLs with credentials, and the base URL appears in logs and error messages.
    let url = opts.url;
    let username = opts.username;
    let password = opts.password;
    try {
      const u = new URL(opts.url);
      if (u.username || u.password) {
        if (!username) {
          username = decodeURIComponent(u.username);
          password = decodeURIComponent(u.password);
        }
        u.username = '';
        u.password = '';
        url = u.toString();
      }
    } catch {
      /* not a URL: the first request says so */
    }
    this.base = url.replace(/\/+$/, '');
    this.headers = { Accept: CONTENT_TYPE };
    if (username) this.headers.Authorization = `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.retryInitialMs = opts.retryInitialMs ?? 200;
    this.retryMaxMs = opts.retryMaxMs ?? 10_000;
  }

  get url(): string {
    return this.base;
  }

  /** The writer schema registered under `id`; undefined when the registry has no such id. Cached forever. */
  schemaById(id: number, signal?: AbortSignal): Promise<WriterSchema | undefined> {
    const hit = this.byId.get(id);
    if (hit !== undefined) return Promise.resolve(hit);
    let p = this.inFlight.get(id);
    if (!p) {
      p = this.request<{ schema?: unknown; schemaType?: string }>('GET', `/schemas/ids/${id}`, undefined, signal, [40403])
        .then((body) => {
          if (body === undefined) return undefined;
          if (typeof body.schema !== 'string') throw new RegistryError('fatal', `GET /schemas/ids/${id}: the answer has no schema string`);
          // Confluent omits schemaType for Avro, the original (and default) type.
          const found: WriterSchema = { schema: body.schema, schemaType: body.schemaType ?? 'AVRO' };
          this.byId.set(id, found);
          return found;
        })
        .finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, p);
    }
    return p;
  }

  /** Registers an Avro schema under `subject` (idempotent: a known schema gets its existing id back). */
  async register(subject: string, schema: string | object, signal?: AbortSignal): Promise<number> {
    const text = typeof schema === 'string' ? schema : JSON.stringify(schema);
    const body = await this.request<{ id?: unknown }>('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema: text, schemaType: 'AVRO' }, signal);
    if (typeof body?.id !== 'number') throw new RegistryError('fatal', `POST /subjects/${subject}/versions: the answer has no id`);
    this.byId.set(body.id, { schema: text, schemaType: 'AVRO' });
    return body.id;
  }

  /** The latest version registered under `subject`; undefined when the subject does not exist. */
  async latest(subject: string, signal?: AbortSignal): Promise<RegisteredSchema | undefined> {
    const body = await this.request<Partial<RegisteredSchema>>('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`, undefined, signal, [40401]);
    if (body === undefined) return undefined;
    if (typeof body.id !== 'number' || typeof body.schema !== 'string' || typeof body.version !== 'number') throw new RegistryError('fatal', `GET /subjects/${subject}/versions/latest: unexpected answer`);
    return { subject, version: body.version, id: body.id, schema: body.schema };
  }

  /**
   * One request to the API (GET /subjects), not retried, for start-up: throws a fatal RegistryError for a
   * configuration error (wrong base path, credentials); returns the transient error, if any, for the caller
   * to log (a registry that is down at start-up is waited for batch by batch, not refused).
   */
  async probe(): Promise<RegistryError | undefined> {
    try {
      await this.once('GET', '/subjects', undefined, undefined, []);
      return undefined;
    } catch (err) {
      if (err instanceof RegistryError && err.errorClass === 'transient') return err;
      throw err;
    }
  }

  /**
   * One API call, retried while the failure is transient. Resolves undefined when the registry answers 404
   * with one of `notFoundCodes` (Confluent's "no such subject/schema"); rejects with a fatal RegistryError,
   * or with the abort reason once `signal` fires.
   */
  private async request<T>(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal | undefined, notFoundCodes: number[] = []): Promise<T | undefined> {
    let delay = this.retryInitialMs;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      try {
        return await this.once<T>(method, path, body, signal, notFoundCodes);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (!(err instanceof RegistryError) || err.errorClass !== 'transient') throw err;
        this.opts.log?.warn({ registry: this.base, path, attempt, retryInMs: delay, err: err.message }, 'schema registry unavailable; retrying (records wait)');
        await sleep(delay, signal);
        delay = Math.min(delay * 2, this.retryMaxMs);
      }
    }
  }

  private async once<T>(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal | undefined, notFoundCodes: number[]): Promise<T | undefined> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: body === undefined ? this.headers : { ...this.headers, 'Content-Type': CONTENT_TYPE },
        body: body === undefined ? null : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      // Connection refused or reset, DNS, timeout: the registry is down or slow.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RegistryError('transient', `${method} ${this.base}${path}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    this.requests++;
    const text = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const errorCode = typeof (json as { error_code?: unknown } | undefined)?.error_code === 'number' ? (json as { error_code: number }).error_code : undefined;
    if (res.ok) {
      if (json === undefined || typeof json !== 'object') throw new RegistryError('fatal', `${method} ${this.base}${path}: the answer is not JSON (is this a schema registry?)`, res.status);
      return json as T;
    }
    const detail = `${method} ${this.base}${path}: HTTP ${res.status}${errorCode !== undefined ? ` error_code ${errorCode}` : ''} ${(json as { message?: string } | undefined)?.message ?? text.slice(0, 200)}`;
    if (res.status === 404 && errorCode !== undefined && notFoundCodes.includes(errorCode)) return undefined;
    if (res.status >= 500 || res.status === 429 || res.status === 408) throw new RegistryError('transient', detail, res.status, errorCode);
    if (res.status === 404 && errorCode === undefined) throw new RegistryError('fatal', `${detail} (no Confluent error code: check the registry URL and its base path, e.g. /apis/ccompat/v7 for Apicurio)`, res.status);
    throw new RegistryError('fatal', detail, res.status, errorCode);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
