/**
 * Security (issue 11, "What to build" 6):
 * - a second real Apache Kafka broker with a SASL_SSL listener (TLS with a test CA made here with openssl,
 *   client certificates required, SCRAM-SHA-512 and PLAIN users) carries a whole `run`: CDRs produced through
 *   it, stored in embedded ClickHouse, dead letters published to its dead-letter topic, fraud events and
 *   alerts through it; a wrong password, plaintext, no client certificate and an unknown CA are refused;
 * - ClickHouse over HTTPS with the CA and a client certificate (a TLS front of the test endpoint that
 *   requires client certificates);
 * - secrets from files, never echoed; credentials stripped from URLs in problems and logs;
 * - subscriber identities masked by value in every log line: unit cases, and a log scan of a demo-like run
 *   at debug level against the population's actual numbers;
 * - file ingest refuses symlinks: a link to a secret file never reaches dead_letters.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cdrCodec, type Log } from '../schemas/index.js';
import { redactUrlsIn, type KafkaSecurity } from '../schemas/security.js';
import { writeContainerFile } from '../schemas/container.js';
import { ensureTopic, topicEndOffsets, waitForBroker } from '../ingest/kafka.js';
import { FileSource } from '../ingest/files.js';
import { generateCdrs } from '../simulators/synthetic.js';
import { createTraffic } from '../simulators/traffic/index.js';
import { openEmbedded, openServer } from '../sinks/clickhouse/connection.js';
import { startLocalBroker, type LocalBroker } from '../tools/local/broker.js';
import { ConfigError, kafkaSecurity, loadConfig, type Config } from '../pipeline/config.js';
import { startPipeline } from '../pipeline/app.js';
import { readAlerts } from '../pipeline/fraud.js';
import { produceCdrs, produceTraffic } from '../simulators/produce.js';
import { createLogger } from '../pipeline/telemetry.js';
import { maskIdentities, redactLogLine } from '../pipeline/redact.js';
import { startClickHouseEndpoint } from './clickhouse-endpoint.js';
import { chPath, quietLog, uniqueName, waitFor } from './helpers.js';

const brokers = inject('kafkaBrokers');

/** A log that keeps every line pino writes (after redaction), for scanning. */
function capturingLog(level: 'debug' | 'warn' = 'debug'): { log: Log; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger(level, {}, stream), text: () => chunks.join('') };
}

// ---------------------------------------------------------------------------------------------------------
// Test PKI: a CA, a broker/server certificate for 127.0.0.1 and localhost, a client certificate, and a
// second CA nobody trusts. openssl 3 writes unencrypted keys as PKCS#8 ("BEGIN PRIVATE KEY"), which is
// what Kafka's PEM key store reads (KIP-651).
// ---------------------------------------------------------------------------------------------------------
interface Pki {
  dir: string;
  ca: string;
  otherCa: string;
  serverKey: string;
  serverCert: string;
  /** key + certificate chain in one file (Kafka ssl.keystore.type=PEM). */
  serverKeystore: string;
  clientKey: string;
  clientCert: string;
}

function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'cdr-test-pki-'));
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  for (const ca of ['ca', 'other-ca']) ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`), '-days', '2', '-subj', `/CN=cdr-test-${ca}`);
  const issue = (name: string, cn: string, ext: string) => {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(f(`${name}.ext`), ext);
    ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  issue('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue('client', 'cdr-pipeline', 'extendedKeyUsage=clientAuth\n');
  writeFileSync(f('server.keystore.pem'), readFileSync(f('server.key'), 'utf8') + readFileSync(f('server.pem'), 'utf8') + readFileSync(f('ca.pem'), 'utf8'));
  return { dir, ca: f('ca.pem'), otherCa: f('other-ca.pem'), serverKey: f('server.key'), serverCert: f('server.pem'), serverKeystore: f('server.keystore.pem'), clientKey: f('client.key'), clientCert: f('client.pem') };
}

let pki: Pki;
let secure: LocalBroker | undefined;
const SCRAM_PASSWORD = 'alice-Scram-512-secret';
const PLAIN_PASSWORD = 'bob-plain-secret';

beforeAll(async () => {
  pki = makePki();
  secure = await startLocalBroker({
    dir: mkdtempSync(join(tmpdir(), 'cdr-test-kafka-sasl-')),
    log: quietLog,
    heapMb: 384,
    startTimeoutMs: 120_000,
    saslSsl: {
      keystorePem: pki.serverKeystore,
      truststorePem: pki.ca,
      clientAuth: true,
      scram: [{ mechanism: 'SCRAM-SHA-512', username: 'alice', password: SCRAM_PASSWORD }],
      plain: [{ username: 'bob', password: PLAIN_PASSWORD }],
    },
  });
}, 150_000);

afterAll(async () => {
  await secure?.stop();
});

/** The configuration a user writes for the secure cluster: environment variables and a password file. */
function secureEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const pw = join(pki.dir, 'sasl-password');
  writeFileSync(pw, `${SCRAM_PASSWORD}\n`);
  return {
    CDR_KAFKA_BROKERS: secure!.saslSslBrokers!.join(','),
    CDR_KAFKA_SSL: 'true',
    CDR_KAFKA_SSL_CA_FILE: pki.ca,
    CDR_KAFKA_SSL_CERT_FILE: pki.clientCert,
    CDR_KAFKA_SSL_KEY_FILE: pki.clientKey,
    CDR_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    CDR_KAFKA_SASL_USERNAME: 'alice',
    CDR_KAFKA_SASL_PASSWORD_FILE: pw,
    ...overrides,
  };
}

describe('Kafka over SASL_SSL (real broker, SCRAM-SHA-512 and PLAIN, client certificates required)', () => {
  it('runs the pipeline end to end through it: CDRs produced, stored, dead letters and fraud events published', async () => {
    const name = uniqueName('sasl');
    const base = loadConfig({ env: secureEnv() });
    const security = kafkaSecurity(base);
    expect(security.saslPassword).toBe(SCRAM_PASSWORD); // read from the file, trailing newline dropped
    const conn = { brokers: base.kafka.brokers, security };
    await ensureTopic(conn, name, 2, quietLog);
    const refDir = mkdtempSync(join(tmpdir(), 'cdr-test-ref-'));
    const startMs = Date.UTC(2026, 9, 5, 23);
    const produced = await produceTraffic({ brokers: conn.brokers, security, topic: name, records: 3000, corrupt: 20, seed: 11, subscribers: 300, startMs, endMs: startMs + 86_400_000, scenarios: 'all', referenceDir: refDir, log: quietLog });
    expect(produced.corrupt).toBe(20);
    const cfg: Config = {
      ...base,
      kafka: { ...base.kafka, topic: name, groupId: name, partitions: 2, deadLetterTopic: `${name}.dead`, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
      rating: { ...base.rating, referenceDir: refDir, reloadIntervalMs: 0 },
      fraud: { ...base.fraud, enabled: true, eventsTopic: `${name}.events`, alertsTopic: `${name}.alerts` },
      clickhouse: { ...base.clickhouse, path: chPath(), database: name },
      sink: { ...base.sink, flushIntervalMs: 200 },
      aggregates: { refreshIntervalMs: 0 },
      telemetry: { ...base.telemetry, metricsPort: -1 },
    };
    const p = await startPipeline(cfg, quietLog);
    try {
      expect(p.fraud, 'fraud clients run through the secure listener too').toBeTruthy();
      await waitFor('every CDR and dead letter stored', async () => {
        const [r] = await p.conn.query<{ c: string; d: string }>('SELECT (SELECT count() FROM cdrs FINAL) AS c, (SELECT count() FROM dead_letters FINAL) AS d');
        return Number(r!.c) === produced.produced && Number(r!.d) === produced.corrupt;
      }, 60_000);
      // Dead letters went out on the dead-letter topic, fraud events on the events topic, both on the secure cluster.
      await waitFor('dead letters published', async () => [...(await topicEndOffsets(conn, `${name}.dead`, quietLog)).values()].reduce((a, b) => a + b, 0n) === BigInt(produced.corrupt), 20_000);
      const events = [...(await topicEndOffsets(conn, `${name}.events`, quietLog)).values()].reduce((a, b) => a + b, 0n);
      expect(events).toBeGreaterThan(0n);
      await waitFor('the fraud detector to read the events', () => p.fraud!.caughtUp(), 30_000);
    } finally {
      await p.stop();
    }
  });

  it('refuses a wrong password with a non-retriable error that does not echo it', async () => {
    const wrong = 'not-alices-password';
    const base = loadConfig({ env: secureEnv({ CDR_KAFKA_SASL_PASSWORD_FILE: '', CDR_KAFKA_SASL_PASSWORD: wrong }) });
    const t0 = Date.now();
    const err = (await waitForBroker({ brokers: base.kafka.brokers, security: kafkaSecurity(base) }, 30_000, quietLog).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/refused the credentials.*SASL SCRAM SHA512 authentication failed/i);
    expect(err.message).not.toContain(wrong);
    expect(Date.now() - t0, 'fails at once, not after the timeout').toBeLessThan(10_000);
    // The pipeline itself stops at start-up with the same non-retriable kafkajs error.
    const name = uniqueName('saslbad');
    const cfg: Config = { ...base, kafka: { ...base.kafka, topic: name, groupId: name }, clickhouse: { ...base.clickhouse, path: chPath(), database: name }, telemetry: { ...base.telemetry, metricsPort: -1 } };
    const perr = (await startPipeline(cfg, quietLog).then(
      async (p) => {
        await p.stop();
        return undefined;
      },
      (e: unknown) => e,
    )) as { name?: string; retriable?: boolean; message?: string } | undefined;
    expect(perr?.name).toBe('KafkaJSSASLAuthenticationError');
    expect(perr?.retriable).toBe(false);
    expect(perr?.message).not.toContain(wrong);
  });

  it('refuses plaintext, TLS without a client certificate, and a server certificate from an unknown CA', async () => {
    const base = kafkaSecurity(loadConfig({ env: secureEnv() }));
    const to = secure!.saslSslBrokers!;
    const fails = async (security: KafkaSecurity) => (await waitForBroker({ brokers: to, security }, 2_000, quietLog).then(() => 'connected', () => 'refused'));
    expect(await fails({ ...base, ssl: false }), 'SASL without TLS').toBe('refused');
    expect(await fails({ ...base, ssl: false, saslMechanism: 'none' }), 'plaintext').toBe('refused');
    expect(await fails({ ...base, sslCertFile: '', sslKeyFile: '' }), 'no client certificate').toBe('refused');
    expect(await fails({ ...base, sslCaFile: pki.otherCa }), 'server certificate verified by default').toBe('refused');
    expect(await fails({ ...base, sslServername: 'not-the-broker.example' }), 'host name checked').toBe('refused');
    expect(await fails(base), 'the right settings connect').toBe('connected');
  });

  it('PLAIN over TLS works with the same settings and another mechanism', async () => {
    const name = uniqueName('plain');
    const base = loadConfig({ env: secureEnv({ CDR_KAFKA_SASL_MECHANISM: 'plain', CDR_KAFKA_SASL_USERNAME: 'bob', CDR_KAFKA_SASL_PASSWORD_FILE: '', CDR_KAFKA_SASL_PASSWORD: PLAIN_PASSWORD }) });
    const conn = { brokers: base.kafka.brokers, security: kafkaSecurity(base) };
    await ensureTopic(conn, name, 1, quietLog);
    const r = await produceCdrs({ ...conn, topic: name, records: 200, corrupt: 0, generator: { seed: 1, subscribers: 50, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 1 }, log: quietLog });
    expect(r.produced).toBe(200);
    expect([...(await topicEndOffsets(conn, name, quietLog)).values()]).toEqual([200n]);
  });
});

describe('secrets and URLs', () => {
  it('reads passwords from files, refuses a password set twice, and never echoes secrets or URL credentials', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdr-test-secrets-'));
    writeFileSync(join(dir, 'ch'), 'ch-secret\n');
    writeFileSync(join(dir, 'reg'), 'reg-secret');
    const cfg = loadConfig({ env: { CDR_CLICKHOUSE_PASSWORD_FILE: join(dir, 'ch'), CDR_DECODE_REGISTRY_PASSWORD_FILE: join(dir, 'reg') } });
    expect(cfg.clickhouse.password).toBe('ch-secret');
    expect(cfg.decode.registryPassword).toBe('reg-secret');

    const problems = (env: Record<string, string>, file?: string): string => {
      try {
        loadConfig({ env, file });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    // Both a password and its file; a mechanism without a password; a secret of the wrong type in a file.
    const m1 = problems({ CDR_KAFKA_SASL_PASSWORD: 'pw-in-env-1', CDR_KAFKA_SASL_PASSWORD_FILE: join(dir, 'ch'), CDR_KAFKA_SASL_MECHANISM: 'scram-sha-256', CDR_KAFKA_SASL_USERNAME: 'u' });
    expect(m1).toMatch(/kafka.saslPassword and kafka.saslPasswordFile are both set/);
    expect(m1).not.toContain('pw-in-env-1');
    expect(problems({ CDR_KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toMatch(/saslUsername.*must be set[\s\S]*set kafka.saslPasswordFile/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ clickhouse: { password: 12345678 } }));
    const m2 = problems({}, join(dir, 'bad.json'));
    expect(m2).toMatch(/clickhouse.password: expected a string, got a number \(value not shown\)/);
    expect(m2).not.toContain('12345678');
    // URLs with credentials in problems: stripped.
    const m3 = problems({ CDR_CLICKHOUSE_URL: 'ftp://admin:hunter2@db:8123', CDR_DECODE_REGISTRY_URL: 'https://reg-user:reg-pass@registry.example/ x' });
    expect(m3).toContain('ftp://***@db:8123');
    expect(m3).not.toMatch(/hunter2|reg-pass|reg-user/);
    // A syntax error in the config file does not quote the file (it may hold a password).
    writeFileSync(join(dir, 'broken.json'), '{"clickhouse": {"password": "file-secret-xyz" ');
    expect(problems({}, join(dir, 'broken.json'))).not.toContain('file-secret-xyz');
    // TLS files need TLS.
    expect(problems({ CDR_KAFKA_SSL_CA_FILE: join(dir, 'ch') })).toMatch(/kafka.sslCaFile is set but kafka.ssl is false/);
    expect(problems({ CDR_CLICKHOUSE_MODE: 'server', CDR_CLICKHOUSE_CA_FILE: join(dir, 'ch') })).toMatch(/clickhouse.url must start with https/);
  });

  it('strips credentials from URLs in free text', () => {
    expect(redactUrlsIn('GET https://user:p@ss@registry:8081/subjects failed')).toBe('GET https://***@registry:8081/subjects failed');
    expect(redactUrlsIn('http://host:8123/?user=x&password=secret&q=1')).toBe('http://host:8123/?user=x&password=***&q=1');
    expect(redactUrlsIn('no url here')).toBe('no url here');
  });

  it('logs a schema registry URL with credentials without them, and uses them as basic auth', async () => {
    const { SchemaRegistryClient } = await import('../schemas/registry.js');
    let auth: string | undefined;
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      auth = req.headers.authorization;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error_code":50001,"message":"down"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const cap = capturingLog('debug');
    try {
      const reg = new SchemaRegistryClient({ url: `http://reg-user:reg-pass@127.0.0.1:${port}/apis/ccompat/v7`, retryMaxMs: 10, retryInitialMs: 5, log: cap.log });
      const down = await reg.probe();
      expect(reg.url).toBe(`http://127.0.0.1:${port}/apis/ccompat/v7`);
      expect(auth).toBe(`Basic ${Buffer.from('reg-user:reg-pass').toString('base64')}`);
      expect(String(down?.message ?? '')).not.toContain('reg-pass');
    } finally {
      server.close();
    }
    expect(cap.text()).not.toContain('reg-pass');
  });
});

describe('ClickHouse over HTTPS with a CA and a client certificate', () => {
  it('connects with the CA and client certificate; refuses without the certificate or with another CA', async () => {
    const endpoint = await startClickHouseEndpoint({ path: chPath() });
    // A TLS front that requires a client certificate signed by the test CA, forwarding to the test endpoint.
    const front = createTlsServer({ key: readFileSync(pki.serverKey), cert: readFileSync(pki.serverCert), ca: readFileSync(pki.ca), requestCert: true, rejectUnauthorized: true }, (sock: TLSSocket) => {
      const up = createConnection(Number(new URL(endpoint.url).port), '127.0.0.1');
      sock.pipe(up).pipe(sock);
      sock.on('error', () => up.destroy());
      up.on('error', () => sock.destroy());
    });
    let clientCertsSeen = 0;
    front.on('secureConnection', (s: TLSSocket) => void (s.getPeerCertificate()?.subject?.CN === 'cdr-pipeline' && clientCertsSeen++));
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
    const url = `https://127.0.0.1:${(front.address() as { port: number }).port}`;
    const name = uniqueName('chtls');
    try {
      // Through the configuration, as a user sets it.
      const cfg = loadConfig({ env: { CDR_CLICKHOUSE_MODE: 'server', CDR_CLICKHOUSE_URL: url, CDR_CLICKHOUSE_DATABASE: name, CDR_CLICKHOUSE_CA_FILE: pki.ca, CDR_CLICKHOUSE_CERT_FILE: pki.clientCert, CDR_CLICKHOUSE_KEY_FILE: pki.clientKey } });
      const { connectClickHouse } = await import('../pipeline/app.js');
      const conn = await connectClickHouse(cfg);
      expect(await conn.query<{ x: string }>('SELECT 1 + 1 AS x')).toEqual([{ x: 2 }]);
      await conn.close();
      expect(clientCertsSeen).toBeGreaterThan(0);
      const opts = { url, username: 'default', password: '', database: name, requestTimeoutMs: 3000, createDatabase: false };
      // Without a client certificate, with only the CA: the front refuses the handshake.
      const noCert = await openServer({ ...opts, caFile: pki.ca });
      expect(await noCert.ping()).toBe(false);
      await noCert.close();
      // A server certificate from a CA we do not trust: refused by the client (verification is always on).
      const otherCa = await openServer({ ...opts, caFile: pki.otherCa, certFile: pki.clientCert, keyFile: pki.clientKey });
      await expect(otherCa.query('SELECT 1')).rejects.toThrow(/certificate/i);
      await otherCa.close();
    } finally {
      front.close();
      await endpoint.close();
    }
  });
});

describe('redaction of subscriber identities by value', () => {
  it('masks identity-shaped values anywhere in a line and keeps offsets, times and small numbers', () => {
    const line = JSON.stringify({
      level: 40,
      time: '2026-10-06T12:00:00.000Z',
      msg: 'call from +44 7700 900123 to 07700 900456 at 2026-10-06 12:00:00 (port 19092)',
      alerts: [{ rule: 'wangiri', entity: '447700900123', severity: 'HIGH' }, { entity: 'imsi:234150000000001', imei: 353456789012345 }],
      nested: { deep: [['tel:+447700900999'], 447700900888] },
      offset: '12345678901',
      lastOffset: 12345678901,
      windowStartMs: 1791234567890,
      records: 5000,
      alertId: '6de5f5489c1234567890af84',
      recordId: 'sw1-447700900777-0001',
      err: { stack: 'Error: bad number 35345678901234\n    at f (x.js:1:2)' },
    }) + '\n';
    const out = redactLogLine(line);
    const parsed = JSON.parse(out) as Record<string, unknown>;
    for (const id of ['7700 900123', '07700 900456', '447700900123', '234150000000001', '353456789012345', '447700900999', '447700900888', '35345678901234']) expect(out).not.toContain(id);
    expect(parsed.msg).toBe('call from [redacted] to [redacted] at 2026-10-06 12:00:00 (port 19092)');
    expect(parsed.offset).toBe('12345678901');
    expect(parsed.lastOffset).toBe(12345678901);
    expect(parsed.windowStartMs).toBe(1791234567890);
    expect(parsed.records).toBe(5000);
    expect(parsed.alertId).toBe('6de5f5489c1234567890af84');
    expect(parsed.recordId).toMatch(/^sw.*\[redacted\]/);
    expect(parsed.time).toBe('2026-10-06T12:00:00.000Z');
    expect((parsed.nested as { deep: unknown[] }).deep).toEqual([['tel:[redacted]'], '[redacted]']);
    // Lines without a candidate come back as the same string (the common, cheap case).
    const plain = '{"level":30,"time":"2026-10-06T12:00:00.000Z","msg":"flushed","rows":5000}\n';
    expect(redactLogLine(plain)).toBe(plain);
    // An IMEI written in its usual groups (TAC-serial-check) is masked too.
    expect(maskIdentities('IMEI 35-345678-901234-5')).not.toContain('345678-901234');
  });

  it('masks identities given to the logger in fields, bindings and messages', () => {
    const cap = capturingLog('debug');
    cap.log.child({ subscriber: '447700900123' }).warn({ alerts: [{ entity: '234150000000001' }], callingNumber: '447700900124' }, 'raised for 447700900125');
    const text = cap.text();
    for (const id of ['447700900123', '234150000000001', '447700900124', '447700900125']) expect(text).not.toContain(id);
    expect(text).toContain('[redacted]');
  });

  it('a demo-like run at debug level, fraud on, logs no MSISDN, IMSI or IMEI of the population in clear', async () => {
    const name = uniqueName('logscan');
    const refDir = mkdtempSync(join(tmpdir(), 'cdr-test-ref-'));
    const startMs = Date.UTC(2026, 9, 5, 23);
    const traffic = { seed: 7, subscribers: 500, startMs, endMs: startMs + 86_400_000, scenarios: 'all' as const };
    await ensureTopic(brokers, name, 3, quietLog);
    const records = 6000;
    const produced = await produceTraffic({ brokers, topic: name, records, corrupt: 30, ...traffic, referenceDir: refDir, log: quietLog });
    // The population's actual identities: every number of every CDR produced (the same seed regenerates them).
    const ids = new Set<string>();
    let n = 0;
    for (const c of createTraffic(traffic).records()) {
      if (n++ >= produced.produced) break;
      for (const v of [c.servedMsisdn, c.servedImsi, c.servedImei, c.callingNumber, c.calledNumber, c.connectedNumber, c.translatedNumber, c.originalCalledNumber, c.redirectingNumber]) {
        const digits = (v ?? '').replace(/\D/g, '');
        if (digits.length >= 8) ids.add(digits);
      }
    }
    expect(ids.size).toBeGreaterThan(500);
    const base = loadConfig({ env: {} });
    const cfg: Config = {
      ...base,
      kafka: { ...base.kafka, brokers, topic: name, groupId: name, partitions: 3, deadLetterTopic: `${name}.dead`, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
      rating: { ...base.rating, referenceDir: refDir, reloadIntervalMs: 0 },
      fraud: { ...base.fraud, enabled: true, eventsTopic: `${name}.events`, alertsTopic: `${name}.alerts` },
      clickhouse: { ...base.clickhouse, path: chPath(), database: name },
      sink: { ...base.sink, flushIntervalMs: 200 },
      telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'debug' },
    };
    const cap = capturingLog('debug');
    const p = await startPipeline(cfg, cap.log);
    let alerts = 0;
    try {
      await waitFor('every CDR and dead letter stored', async () => {
        const [r] = await p.conn.query<{ c: string; d: string }>('SELECT (SELECT count() FROM cdrs FINAL) AS c, (SELECT count() FROM dead_letters FINAL) AS d');
        return Number(r!.c) === produced.produced && Number(r!.d) === produced.corrupt;
      }, 60_000);
      await waitFor('fraud alerts raised', async () => (await p.fraud!.caughtUp()) && (alerts = (await readAlerts(p.conn)).length) > 0, 40_000, 500);
    } finally {
      await p.stop();
    }
    const text = cap.text();
    if (process.env.SECURITY_LOG_OUT) writeFileSync(process.env.SECURITY_LOG_OUT, text);
    const lines = text.split('\n').filter(Boolean);
    // The run logged what matters, including the alert line that used to carry identities in clear.
    expect(lines.length).toBeGreaterThan(10);
    expect(text).toContain('records sent to the dead-letter path');
    expect(lines.some((l) => l.includes('"level":20')), 'debug lines were written').toBe(true);
    expect(text).toContain('fraud alerts raised');
    expect(alerts).toBeGreaterThan(0);
    const leaks: string[] = [];
    for (const id of ids) if (text.includes(id)) leaks.push(id);
    expect(leaks, `identities in clear in the log:\n${leaks.slice(0, 5).map((id) => lines.find((l) => l.includes(id))).join('\n')}`).toEqual([]);
    // The scan has teeth: the same identities, handed to the same logger the way a component could, are masked.
    const sample = [...ids].slice(0, 50);
    cap.log.warn({ alerts: sample.map((entity) => ({ entity })) }, `e.g. ${sample[0]}`);
    const after = cap.text().slice(text.length);
    expect(sample.filter((id) => after.includes(id))).toEqual([]);
    expect(after).toContain('[redacted]');
  });
});

describe('file ingest refuses symlinks and files outside the folder', () => {
  it('a symlink to a secret file is not read (no dead letter with its bytes); regular files still are', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drop-'));
    const outside = mkdtempSync(join(tmpdir(), 'secret-'));
    const secret = 'TOP-SECRET-KEY-MATERIAL-0123';
    writeFileSync(join(outside, 'key.avro'), secret);
    symlinkSync(join(outside, 'key.avro'), join(dir, 'evil.avro'));
    symlinkSync(outside, join(dir, 'dir-link.avro'));
    const codec = cdrCodec();
    const good = [...generateCdrs({ seed: 5, subscribers: 50, startMs: Date.UTC(2026, 9, 1), meanGapMs: 1000, switches: 1 }, 300)];
    await writeContainerFile(join(dir, 'good.avro'), codec.schema, good.map((r) => codec.encode(r)), { codec: 'null', recordsPerBlock: 100 });
    const db = uniqueName('symlink');
    const base = loadConfig({ env: {} });
    const cfg: Config = { ...base, clickhouse: { ...base.clickhouse, path: chPath(), database: db }, sink: { ...base.sink, flushIntervalMs: 100 }, telemetry: { ...base.telemetry, metricsPort: -1, logLevel: 'silent' } };
    const cap = capturingLog('warn');
    const source = new FileSource({ dir, pattern: /\.avro$/, settleMs: 0, pollIntervalMs: 50, exitWhenIdle: true, log: cap.log });
    const p = await startPipeline(cfg, quietLog, undefined, source);
    await Promise.race([source.idle, p.done]);
    await p.stop();
    await p.done;
    const conn = await openEmbedded({ path: chPath(), database: db });
    try {
      const [r] = await conn.query<{ n: string }>('SELECT count() AS n FROM cdrs FINAL');
      expect(Number(r!.n)).toBe(300);
      const dead = await conn.query<{ topic: string; v: string }>('SELECT topic, toString(value) AS v FROM dead_letters');
      expect(dead).toEqual([]);
    } finally {
      await conn.close();
    }
    const log = cap.text();
    expect(log).toMatch(/"file":"evil.avro","reason":"symbolic link".*refusing file in the drop folder/);
    expect(log).not.toContain(secret);
    // The link is left where it was (not followed, not moved); the secret is untouched.
    expect(readdirSync(dir).sort()).toEqual(['.cdr-pipeline-checkpoints.json', 'dir-link.avro', 'done', 'evil.avro', 'failed'].filter((f) => existsSync(join(dir, f))).sort());
    expect(readFileSync(join(outside, 'key.avro'), 'utf8')).toBe(secret);
  });
});
