/**
 * Security settings shared by every Kafka client (the source in ingest/, the topic sinks in sinks/, the
 * fraud service, the generator, admin clients) and the helper that strips credentials from URLs before they
 * reach a log line or an error message. Components meet here (STYLE.md §2): ingest/kafka.ts and
 * sinks/kafka.ts each build their kafkajs client with `kafkaClientSecurity()` and import nothing of each
 * other. kafkajs itself is not imported here: the result has the shape of its `ssl` and `sasl` options
 * (kafkajs types/index.d.ts KafkaConfig: `ssl?: tls.ConnectionOptions | boolean`, `sasl?: SASLOptions`).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** The `kafka.ssl*` and `kafka.sasl*` keys of the configuration (pipeline/config.ts), secrets resolved. */
export interface KafkaSecurity {
  /** TLS to the brokers. Server certificates are verified unless sslRejectUnauthorized is false. */
  ssl: boolean;
  /** PEM file of the CA(s) that signed the brokers' certificates; empty = Node's bundled public CAs. */
  sslCaFile: string;
  /** PEM client certificate and key, for brokers that require client authentication (ssl.client.auth). */
  sslCertFile: string;
  sslKeyFile: string;
  /** Passphrase of an encrypted client key (resolved from kafka.sslKeyPasswordFile or the environment). */
  sslKeyPassword: string;
  sslRejectUnauthorized: boolean;
  /** Name the brokers' certificates are checked against (and sent as SNI); empty = each broker's host. */
  sslServername: string;
  saslMechanism: 'none' | SaslMechanism;
  saslUsername: string;
  /** Resolved from kafka.saslPasswordFile or CDR_KAFKA_SASL_PASSWORD; never logged. */
  saslPassword: string;
}

export const NO_KAFKA_SECURITY: KafkaSecurity = {
  ssl: false,
  sslCaFile: '',
  sslCertFile: '',
  sslKeyFile: '',
  sslKeyPassword: '',
  sslRejectUnauthorized: true,
  sslServername: '',
  saslMechanism: 'none',
  saslUsername: '',
  saslPassword: '',
};

/** Where a Kafka client connects and how: what admin helpers take instead of a bare broker list. */
export interface KafkaConnection {
  brokers: string[];
  security?: KafkaSecurity | undefined;
}

/** A bare broker list (tests, plaintext clusters) or a connection with its security settings. */
export function asKafkaConnection(c: string[] | KafkaConnection): KafkaConnection {
  return Array.isArray(c) ? { brokers: c } : c;
}

export interface KafkaClientSecurity {
  ssl?: ConnectionOptions | boolean;
  sasl?: SaslCredentials<'plain'> | SaslCredentials<'scram-sha-256'> | SaslCredentials<'scram-sha-512'>;
}

/** One object type per mechanism, as kafkajs's SASLOptions union expects. */
export interface SaslCredentials<M extends SaslMechanism> {
  mechanism: M;
  username: string;
  password: string;
}

/**
 * The kafkajs `ssl` and `sasl` options for these settings. Certificate files are read here, once per client
 * (clients are built at start-up). kafkajs passes `ssl` to tls.connect after its own `{host, port,
 * servername: host}` (network/socketFactory.js), so `servername` given here overrides the per-broker name.
 */
export function kafkaClientSecurity(sec: KafkaSecurity | undefined): KafkaClientSecurity {
  if (!sec) return {};
  const out: KafkaClientSecurity = {};
  if (sec.ssl) {
    const tls: ConnectionOptions = { rejectUnauthorized: sec.sslRejectUnauthorized };
    if (sec.sslCaFile) tls.ca = readFileSync(sec.sslCaFile);
    if (sec.sslCertFile) tls.cert = readFileSync(sec.sslCertFile);
    if (sec.sslKeyFile) tls.key = readFileSync(sec.sslKeyFile);
    if (sec.sslKeyPassword) tls.passphrase = sec.sslKeyPassword;
    if (sec.sslServername) tls.servername = sec.sslServername;
    out.ssl = tls;
  }
  const who = { username: sec.saslUsername, password: sec.saslPassword };
  if (sec.saslMechanism === 'plain') out.sasl = { mechanism: 'plain', ...who };
  else if (sec.saslMechanism === 'scram-sha-256') out.sasl = { mechanism: 'scram-sha-256', ...who };
  else if (sec.saslMechanism === 'scram-sha-512') out.sasl = { mechanism: 'scram-sha-512', ...who };
  return out;
}

/** What may be logged about the settings: no password, no key material. */
export function describeKafkaSecurity(sec: KafkaSecurity | undefined): Record<string, unknown> {
  if (!sec) return { ssl: false, sasl: 'none' };
  return { ssl: sec.ssl, ...(sec.ssl ? { verify: sec.sslRejectUnauthorized, clientCertificate: sec.sslCertFile !== '' } : {}), sasl: sec.saslMechanism, ...(sec.saslMechanism !== 'none' ? { user: sec.saslUsername } : {}) };
}

/** URL-ish credentials: `scheme://user:password@` or `scheme://token@`. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]+@/gi;
/** Query parameters that carry secrets (`?password=...`, `&token=...`). */
const SECRET_PARAMS = /([?&](?:password|passwd|pass|pwd|secret|token|key|access_token|api_key|apikey|auth)=)[^&#\s]*/gi;

/**
 * A URL safe to log or put in an error message: user and password replaced by `***`, secret-looking query
 * parameters emptied. Anything not parseable as a URL is treated as free text (redactUrlsIn).
 */
export function redactUrl(url: string): string {
  return redactUrlsIn(url);
}

/** Every URL inside free text (an error message, a stack) with its credentials replaced by `***`. */
export function redactUrlsIn(text: string): string {
  if (!text.includes('@') && !text.includes('=')) return text;
  return text.replace(USERINFO, '$1***@').replace(SECRET_PARAMS, '$1***');
}
