/**
 * Kafka source: a kafkajs consumer in a consumer group, batch at a time, offsets committed by the runner
 * only after the sink acknowledged (autoCommit off; STYLE.md §5). kafkajs is imported here and in
 * sinks/kafka.ts only.
 *
 * kafkajs facts this relies on (tulios/kafkajs docs/Consuming.md):
 * - a batch always comes from one partition;
 * - with eachBatchAutoResolve=false, resolveOffset() only moves the local fetch position; nothing is
 *   committed unless commitOffsets() is called;
 * - after a rebalance the group resumes from committed offsets, so records resolved but not yet committed
 *   are fetched again by whoever owns the partition next (the runner drops its unflushed buffers then).
 */
import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type LogEntry } from 'kafkajs';
import type { BatchHandler, Log, Source, SourceEvents, SourceRecord } from '../schemas/index.js';
import { asKafkaConnection, kafkaClientSecurity, type KafkaConnection, type KafkaSecurity } from '../schemas/security.js';

export interface KafkaSourceOptions {
  brokers: string[];
  /** TLS and SASL (kafka.ssl*, kafka.sasl*); absent = plaintext. */
  security?: KafkaSecurity | undefined;
  clientId: string;
  groupId: string;
  topics: string[];
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxBytesPerPartition: number;
  maxWaitTimeMs: number;
  minBytes: number;
  log: Log;
}

export class KafkaSource implements Source {
  private readonly consumer: Consumer;
  private readonly kafka: Kafka;

  constructor(private readonly opts: KafkaSourceOptions) {
    this.kafka = new Kafka({ clientId: opts.clientId, brokers: opts.brokers, ...kafkaClientSecurity(opts.security), logLevel: logLevel.WARN, logCreator: kafkaLogCreator(opts.log) });
    this.consumer = this.kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: opts.sessionTimeoutMs,
      heartbeatInterval: opts.heartbeatIntervalMs,
      maxBytesPerPartition: opts.maxBytesPerPartition,
      maxWaitTimeInMs: opts.maxWaitTimeMs,
      minBytes: opts.minBytes,
      // Retries of the consumer itself: kafkajs restarts the run loop on retriable errors, but never once
      // stop() was called. kafkajs 2.2.4 (src/consumer/index.js onCrash) disconnects and then, for a retriable
      // crash, schedules start() again unless restartOnFailure says no, also when the crash was caused by our
      // own disconnect (a stop during the group join fails the join with a closed connection): without this
      // the consumer rejoined after a stop and the process never exited.
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000, restartOnFailure: async () => !this.stopping },
    });
  }

  /** Set by stop(): no restart, no crash reported, start() settles. */
  private stopping = false;
  private stopRequested: (() => void) | undefined;
  private readonly stopped = new Promise<void>((r) => (this.stopRequested = r));
  /** True between a completed join and the next rebalance: a member the group knows and can leave. */
  private inGroup = false;
  /** The kafkajs disconnect, started once. */
  private disconnecting: Promise<void> | undefined;

  async start(handler: BatchHandler, events: SourceEvents = {}): Promise<void> {
    const c = this.consumer;
    c.on(c.events.REBALANCING, () => {
      this.inGroup = false;
      if (!this.stopping) events.onRebalance?.();
    });
    c.on(c.events.GROUP_JOIN, (e) => {
      if (this.stopping) return;
      this.inGroup = true;
      events.onAssigned?.(e.payload.memberAssignment);
    });
    // kafkajs restarts the consumer itself after retriable crashes (payload.restart); only a crash it
    // gives up on is ours to handle. After stop() a crash is the end of our own disconnect.
    c.on(c.events.CRASH, (e) => {
      this.inGroup = false;
      if (!e.payload.restart && !this.stopping) events.onCrash?.(e.payload.error);
    });
    if (this.stopping) return;
    await c.connect();
    for (const topic of this.opts.topics) await c.subscribe({ topic, fromBeginning: this.opts.fromBeginning });
    if (this.stopping) return;
    // kafkajs's run() settles only after the first join, which can take until a dead member's session
    // expires; a stop meanwhile settles start() at once.
    const running = c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async (p: EachBatchPayload) => {
        const { batch } = p;
        if (batch.messages.length === 0) return;
        const records: SourceRecord[] = new Array(batch.messages.length);
        for (let i = 0; i < batch.messages.length; i++) {
          const m = batch.messages[i]!;
          // Kafka's "no timestamp" is -1: stored as 0 (epoch) rather than as a time ClickHouse cannot hold.
          records[i] = { key: m.key ?? null, value: m.value ?? null, offset: m.offset, timestamp: Math.max(0, Number(m.timestamp) || 0) };
        }
        await handler(
          {
            topic: batch.topic,
            partition: batch.partition,
            firstOffset: batch.firstOffset() ?? batch.messages[0]!.offset,
            lastOffset: batch.lastOffset(),
            highWatermark: batch.highWatermark,
            records,
          },
          { heartbeat: () => p.heartbeat(), isRunning: () => p.isRunning() && !p.isStale() },
        );
        // Moves the fetch position only; the commit happens after the sink acknowledged.
        p.resolveOffset(batch.lastOffset());
      },
    });
    await Promise.race([running, this.stopped]);
  }

  /**
   * Backpressure (kafkajs consumer.pause/resume, docs/Consuming.md "Pause & Resume"): a paused partition is
   * left out of fetch requests and of the responses to fetches already in flight, while the group session,
   * heartbeats and the other partitions go on. Pauses survive rebalances (kafkajs keeps them in its
   * subscription state) until resumed. A batch kafkajs delivered before the pause is still handed over.
   */
  pause(topic: string, partition: number): void {
    this.consumer.pause([{ topic, partitions: [partition] }]);
  }

  resume(topic: string, partition: number): void {
    this.consumer.resume([{ topic, partitions: [partition] }]);
  }

  /** High watermarks of a topic's partitions (lag against committed offsets while nothing is fetched). */
  async endOffsets(topic: string): Promise<Map<number, string>> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    const offs = await this.admin.fetchTopicOffsets(topic);
    return new Map(offs.map((o) => [o.partition, o.high]));
  }
  private admin: Admin | undefined;

  /** Commit `nextOffset` (last acknowledged offset + 1) for a partition. */
  async commit(topic: string, partition: number, nextOffset: string): Promise<void> {
    await this.consumer.commitOffsets([{ topic, partition, offset: nextOffset }]);
  }

  /**
   * Stops consuming and leaves the group. A member in the group is awaited until it left (partitions move on
   * at once). A member still joining is not: kafkajs (2.2.4, network/connection.js disconnect) waits for
   * in-flight requests before closing a connection, and a JoinGroup is answered only when the rebalance
   * completes, which can be a dead member's whole session timeout away. Such a member holds no partitions
   * and has nothing to commit, so the disconnect goes on in the background (restartOnFailure stops any
   * restart) and stop() returns.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopRequested?.();
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
    const wasInGroup = this.inGroup;
    this.disconnecting ??= this.consumer.disconnect().catch((err: Error) => this.opts.log.warn({ err: err.message }, 'Kafka consumer disconnect failed'));
    if (wasInGroup) await this.disconnecting;
  }
}

/** Routes kafkajs's own logs into ours (pino), keeping its levels. */
export function kafkaLogCreator(log: Log) {
  const l = log.child({ component: 'kafkajs' });
  return () =>
    ({ level, log: entry }: LogEntry) => {
      const { message, ...rest } = entry;
      // kafkajs logs every retriable protocol response ("The group coordinator is not available", "The
      // coordinator is loading") at ERROR and then retries; those are warnings until the retries run out.
      if (level <= logLevel.ERROR && !String(message).startsWith('Response ')) l.error(rest, message);
      else if (level <= logLevel.ERROR) l.warn(rest, message);
      else if (level === logLevel.WARN) l.warn(rest, message);
      else if (level === logLevel.INFO) l.info(rest, message);
      else l.debug(rest, message);
    };
}

/** Admin helpers the CLI and tests use: create topics, read committed offsets and end offsets. */
/** An admin client for a bare broker list or a connection with TLS/SASL settings. */
function adminKafka(to: string[] | KafkaConnection, log: Log): Kafka {
  const c = asKafkaConnection(to);
  return new Kafka({ clientId: 'cdr-pipeline-admin', brokers: c.brokers, ...kafkaClientSecurity(c.security), logLevel: logLevel.WARN, logCreator: kafkaLogCreator(log) });
}

export async function ensureTopic(brokers: string[] | KafkaConnection, topic: string, partitions: number, log: Log): Promise<void> {
  const kafka = adminKafka(brokers, log);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Start-up check for the topics the pipeline writes to (dead letters, fraud events): each must exist, or is
 * created here (`partitions`, the broker's replication factor). A topic that neither exists nor can be
 * created (no CreateTopics permission, auto-creation off and no admin rights) fails start-up with a message
 * that names it: a producer would otherwise retry UNKNOWN_TOPIC_OR_PARTITION for ever while the pipeline
 * looks ready (kafkajs calls that error retriable).
 */
export async function requireTopics(to: string[] | KafkaConnection, topics: { topic: string; purpose: string }[], partitions: number, log: Log): Promise<void> {
  if (topics.length === 0) return;
  const kafka = adminKafka(to, log);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    for (const { topic, purpose } of topics) {
      if (existing.has(topic)) continue;
      try {
        await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }], waitForLeaders: true });
        log.info({ topic, purpose, partitions }, 'created a missing topic');
      } catch (err) {
        if ((err as { type?: string }).type === 'TOPIC_ALREADY_EXISTS') continue;
        throw new MissingTopicError(`the ${purpose} topic "${topic}" does not exist and cannot be created (${(err as Error).message}): create it (see docker-compose.yml kafka-init) or grant CreateTopics`);
      }
    }
    const now = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !now.has(t.topic));
    if (missing.length > 0) throw new MissingTopicError(`topics missing after creation: ${missing.map((t) => `${t.topic} (${t.purpose})`).join(', ')}`);
  } finally {
    await admin.disconnect();
  }
}

export class MissingTopicError extends Error {
  override name = 'MissingTopicError';
}

export async function topicEndOffsets(brokers: string[] | KafkaConnection, topic: string, log: Log): Promise<Map<number, bigint>> {
  const kafka = adminKafka(brokers, log);
  const admin = kafka.admin();
  await admin.connect();
  try {
    // A partition whose leader just moved (or a topic just created on a loaded broker) answers ListOffsets with
    // NOT_LEADER_FOR_PARTITION, a retriable error kafkajs's admin passes on: retry it, as groupOffsets does.
    for (let attempt = 1; ; attempt++) {
      try {
        const offs = await admin.fetchTopicOffsets(topic);
        return new Map(offs.map((o) => [o.partition, BigInt(o.high)]));
      } catch (err) {
        if (!(err as { retriable?: boolean }).retriable || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

export async function groupOffsets(brokers: string[] | KafkaConnection, groupId: string, topic: string, log: Log): Promise<Map<number, bigint>> {
  const kafka = adminKafka(brokers, log);
  const admin = kafka.admin();
  await admin.connect();
  try {
    // A coordinator that is still loading answers with a retriable error that kafkajs's admin passes on.
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await admin.fetchOffsets({ groupId, topics: [topic] });
        return new Map((res[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
      } catch (err) {
        if (!(err as { retriable?: boolean }).retriable || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** Resolves when the cluster answers a metadata request (or rejects after timeoutMs with the last error). */
export async function waitForBroker(to: string[] | KafkaConnection, timeoutMs: number, log: Log): Promise<void> {
  const { brokers, security } = asKafkaConnection(to);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const kafka = new Kafka({ clientId: 'cdr-pipeline-probe', brokers, ...kafkaClientSecurity(security), logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1000 });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) return;
    } catch (err) {
      last = err;
      // Wrong credentials do not get better with waiting (kafkajs: KafkaJSSASLAuthenticationError is non-retriable).
      if ((err as Error).name === 'KafkaJSSASLAuthenticationError') {
        await admin.disconnect().catch(() => undefined);
        throw new Error(`Kafka at ${brokers.join(',')} refused the credentials of kafka.saslUsername: ${(err as Error).message}`);
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  log.debug({ err: String(last) }, 'broker not ready');
  throw new Error(`Kafka at ${brokers.join(',')} did not serve metadata within ${timeoutMs} ms: ${String(last)}`);
}
