/**
 * One benchmark scenario in a process of its own (spawned by tools/bench/bench.ts with an IPC channel, never
 * imported): every pipeline is measured alone, from a fresh consumer group, with its whole-process CPU.
 *
 * Scenarios (all read the same topic of Confluent-framed Avro CDRs):
 * - pipeline:     `cdr-pipeline run` as startPipeline() builds it (decode, rating, fraud keying, the fraud
 *                 detector, ClickHouse embedded or over HTTP). The window runs from the first consumed record
 *                 until every record is stored (or dead-lettered), every offset committed, and the detector has
 *                 read the fraud-events topic to its end.
 * - naive:        kafkajs eachBatch + avsc + JSONEachRow of the decoded columns into chDB, no rating, no fraud;
 *                 offsets committed after each insert.
 * - kafka-engine: ClickHouse's own Kafka engine in chDB (AvroConfluent with the schema registry) and a
 *                 materialized view into a MergeTree of the same columns as the naive table.
 * - latency:      the pipeline on an empty topic; the parent produces at a steady rate and the child reports
 *                 produce-to-queryable (ClickHouse _ingested_at minus the send time).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import avro from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../../pipeline/config.js';
import { startPipeline } from '../../pipeline/app.js';
import { createLogger, createMetrics, type LogLevel } from '../../pipeline/telemetry.js';
import { topicEndOffsets } from '../../ingest/kafka.js';
import { openEmbedded } from '../../sinks/clickhouse/connection.js';
import { epochMsToCh } from '../../sinks/clickhouse/rows.js';
import { avroSchemaText, CDR_SCHEMA_FILE, type Cdr, type Log } from '../../schemas/index.js';
import { peakRssMb, WindowMeter, type MeterReading } from './meter.js';

export interface ChildTask {
  kind: 'pipeline' | 'naive' | 'kafka-engine' | 'latency';
  label: string;
  cfg: Config;
  records: number;
  /** Processes whose CPU is measured over the same window (the broker, a ClickHouse endpoint). */
  watch: Record<string, number | undefined>;
  /** kafka-engine: the registry's Confluent-compatible base URL. */
  registryUrl?: string;
}

export interface ChildResult {
  label: string;
  kind: ChildTask['kind'];
  records: number;
  stored: number;
  reading: MeterReading;
  peakRssMb: number;
  loadavg1m: number;
  /** Main-thread seconds inside each pipeline stage (metrics of the runner): decode, rate, sink (wall), fraud detect. */
  stages?: Record<string, number>;
  latency?: { p50: number; p99: number; max: number; samples: number };
  /** Seconds from the first consumed record to everything stored (before commits and the detector caught up). */
  storedAfter?: number;
}

type Msg = { type: 'task'; task: ChildTask } | { type: 'expect'; count: number; sentFile: string };

const send = (m: unknown) => process.send?.(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stageSums(metrics: ReturnType<typeof createMetrics>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [h, prefix] of [
    [metrics.stageDuration, ''],
    [metrics.sinkInsertDuration, 'insert:'],
  ] as const) {
    const got = await h.get();
    for (const v of got.values) {
      const l = v.labels as Record<string, string | number | undefined>;
      if (v.metricName?.endsWith('_sum')) out[prefix + String(l.stage ?? l.table ?? '')] = v.value;
    }
  }
  const fd = await metrics.fraudDetectDuration.get();
  for (const v of fd.values) if (v.metricName?.endsWith('_sum')) out['fraud detect'] = v.value;
  return out;
}

async function runPipeline(task: ChildTask, log: Log, latency: boolean): Promise<ChildResult> {
  const metrics = createMetrics();
  const meter = new WindowMeter(task.watch);
  // The meter starts at the first record the runner counts (before decode), not when startPipeline() returns:
  // that waits for the fraud detector's group join while the runner already consumes.
  const inc = metrics.sourceRecords.inc.bind(metrics.sourceRecords);
  metrics.sourceRecords.inc = ((...args: Parameters<typeof inc>) => {
    meter.start();
    return inc(...args);
  }) as typeof inc;
  const p = await startPipeline(task.cfg, log, metrics);
  let expect = task.records;
  let sentFile = '';
  if (latency) {
    while (!p.runner.ready) await sleep(50);
    // startPipeline() returned after the detector joined its group; a second for the runner's fetches to settle.
    await sleep(1000);
    const got = new Promise<void>((res) =>
      process.on('message', (m: Msg) => {
        if (m.type === 'expect') {
          expect = m.count;
          sentFile = m.sentFile;
          res();
        }
      }),
    );
    send({ type: 'ready' });
    await got;
  }
  let storedAfter = 0;
  try {
    const through = () => p.runner.stats.stored + p.runner.stats.deadLetters >= expect && p.runner.pending.rows === 0;
    while (!through()) await Promise.race([sleep(10), p.done]);
    storedAfter = meter.elapsed();
    if (p.fraud) {
      // Every fraud event was published before its batch's commit: the topic's end offsets are final now.
      const ends = await topicEndOffsets(task.cfg.kafka.brokers, task.cfg.fraud.eventsTopic, log);
      const caughtUp = () => [...ends].every(([part, end]) => end === 0n || (p.fraud!.positions.get(part) ?? 0n) >= end);
      while (!caughtUp()) await Promise.race([sleep(10), p.done]);
    }
    const reading = meter.read();
    const stages = await stageSums(metrics);
    let lat: ChildResult['latency'];
    if (latency) {
      const sent = new Map<string, number>(JSON.parse(readFileSync(sentFile, 'utf8')) as [string, number][]);
      const rows = await p.conn.query<{ id: string; t: string }>(`SELECT record_id AS id, toUnixTimestamp64Milli(_ingested_at) AS t FROM cdrs`);
      const lats = rows.map((r) => Number(r.t) - (sent.get(r.id) ?? NaN)).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
      const q = (f: number) => lats[Math.min(lats.length - 1, Math.floor(f * lats.length))] ?? NaN;
      lat = { p50: q(0.5), p99: q(0.99), max: lats[lats.length - 1] ?? NaN, samples: lats.length };
    }
    return { label: task.label, kind: task.kind, records: expect, stored: p.runner.stats.stored, reading, peakRssMb: peakRssMb(), loadavg1m: loadavg()[0] ?? 0, stages, ...(lat ? { latency: lat } : {}), ...(storedAfter ? { storedAfter } : {}) };
  } finally {
    await p.stop();
  }
}

/** The decoded columns of a CDR (what the naive pipeline and the Kafka engine store). */
const NAIVE_COLUMNS = `
    recording_entity LowCardinality(String), record_id String,
    event_type Enum8('VOICE_MO' = 1, 'VOICE_MT' = 2, 'VOICE_FWD' = 3, 'SMS_MO' = 4, 'SMS_MT' = 5, 'DATA' = 6),
    served_imsi Nullable(String), served_imei Nullable(String), served_msisdn String,
    calling_number Nullable(String), called_number Nullable(String), connected_number Nullable(String),
    translated_number Nullable(String), original_called_number Nullable(String), redirecting_number Nullable(String),
    redirection_reason Nullable(Enum8('CFU' = 1, 'CFB' = 2, 'CFNRY' = 3, 'CFNRC' = 4, 'DEFLECTION' = 5, 'OTHER' = 6)),
    redirection_counter UInt8, seizure_time DateTime64(3, 'UTC'), answer_time Nullable(DateTime64(3, 'UTC')),
    release_time DateTime64(3, 'UTC'), utc_offset_minutes Int16, duration_ms UInt64, billable_ms UInt64,
    cause_for_term UInt16, q850_cause Nullable(UInt16),
    disposition Enum8('ANSWERED' = 1, 'NO_ANSWER' = 2, 'BUSY' = 3, 'FAILED' = 4, 'CONGESTION' = 5, 'REJECTED' = 6),
    serving_plmn LowCardinality(Nullable(String)), home_plmn LowCardinality(Nullable(String)),
    lac Nullable(UInt32), tac Nullable(UInt32), cell_id Nullable(UInt64),
    in_trunk_group LowCardinality(Nullable(String)), out_trunk_group LowCardinality(Nullable(String)),
    sms_centre Nullable(String), sms_result Nullable(UInt16), apn LowCardinality(Nullable(String)),
    rating_group Nullable(UInt32), uplink_bytes UInt64, downlink_bytes UInt64, extensions Map(String, String),
    record_sequence_number UInt32, local_record_sequence_number Nullable(UInt32), sms_segments UInt8,
    charging_id Nullable(UInt32), rat_type Nullable(UInt8),
    _topic LowCardinality(String), _partition UInt32, _offset UInt64, _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)`;
const NAIVE_TABLE = `CREATE TABLE IF NOT EXISTS naive (${NAIVE_COLUMNS}) ENGINE = MergeTree PARTITION BY toYYYYMM(seizure_time) ORDER BY (served_msisdn, seizure_time)`;

function naiveRow(c: Cdr, topic: string, partition: number, offset: string): string {
  return (
    JSON.stringify({
      recording_entity: c.recordingEntity, record_id: c.recordId, event_type: c.eventType, served_imsi: c.servedImsi, served_imei: c.servedImei,
      served_msisdn: c.servedMsisdn, calling_number: c.callingNumber, called_number: c.calledNumber, connected_number: c.connectedNumber,
      translated_number: c.translatedNumber, original_called_number: c.originalCalledNumber, redirecting_number: c.redirectingNumber,
      redirection_reason: c.redirectionReason, redirection_counter: c.redirectionCounter, seizure_time: epochMsToCh(c.seizureTime),
      answer_time: c.answerTime === null ? null : epochMsToCh(c.answerTime), release_time: epochMsToCh(c.releaseTime),
      utc_offset_minutes: c.utcOffsetMinutes, duration_ms: c.durationMs, billable_ms: c.billableMs, cause_for_term: c.causeForTerm,
      q850_cause: c.q850Cause, disposition: c.disposition, serving_plmn: c.servingPlmn, home_plmn: c.homePlmn, lac: c.lac, tac: c.tac,
      cell_id: c.cellId, in_trunk_group: c.inTrunkGroup, out_trunk_group: c.outTrunkGroup, sms_centre: c.smsCentre, sms_result: c.smsResult,
      apn: c.apn, rating_group: c.ratingGroup, uplink_bytes: c.uplinkBytes, downlink_bytes: c.downlinkBytes, extensions: c.extensions,
      record_sequence_number: c.recordSequenceNumber ?? 0, local_record_sequence_number: c.localRecordSequenceNumber, sms_segments: c.smsSegments,
      charging_id: c.chargingId, rat_type: c.ratType, _topic: topic, _partition: partition, _offset: offset,
    }) + '\n'
  );
}

/** kafkajs eachBatch + avsc + JSONEachRow into chDB: per-partition buffers flushed at maxBatchRows or flushIntervalMs. */
async function runNaive(task: ChildTask): Promise<ChildResult> {
  const { cfg } = task;
  const meter = new WindowMeter(task.watch);
  const conn = await openEmbedded({ path: cfg.clickhouse.path, database: cfg.clickhouse.database });
  await conn.command(NAIVE_TABLE);
  const type = avro.Type.forSchema(JSON.parse(avroSchemaText(CDR_SCHEMA_FILE)) as avro.Schema);
  const kafka = new Kafka({ clientId: 'bench-naive', brokers: cfg.kafka.brokers, logLevel: logLevel.ERROR });
  const consumer = kafka.consumer({ groupId: cfg.kafka.groupId, maxBytesPerPartition: cfg.kafka.maxBytesPerPartition, maxWaitTimeInMs: cfg.kafka.maxWaitTimeMs, minBytes: cfg.kafka.minBytes });
  await consumer.connect();
  await consumer.subscribe({ topic: cfg.kafka.topic, fromBeginning: true });
  const bufs = new Map<number, { lines: string[]; last: string; since: number }>();
  let stored = 0;
  let chain = Promise.resolve();
  const flush = (partition: number) => {
    const b = bufs.get(partition);
    if (!b || b.lines.length === 0) return chain;
    bufs.delete(partition);
    chain = chain.then(async () => {
      await conn.insert('naive', b.lines.join(''));
      await consumer.commitOffsets([{ topic: cfg.kafka.topic, partition, offset: (BigInt(b.last) + 1n).toString() }]);
      stored += b.lines.length;
    });
    return chain;
  };
  const timer = setInterval(() => {
    for (const [p, b] of bufs) if (Date.now() - b.since >= cfg.sink.flushIntervalMs) void flush(p);
  }, 100);
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      meter.start();
      let b = bufs.get(batch.partition);
      if (!b) bufs.set(batch.partition, (b = { lines: [], last: '', since: Date.now() }));
      for (const m of batch.messages) {
        const c = type.decode(m.value!, 5).value as Cdr;
        b.lines.push(naiveRow(c, batch.topic, batch.partition, m.offset));
        b.last = m.offset;
      }
      if (batch.messages.length > 0) resolveOffset(batch.lastOffset());
      if (b.lines.length >= cfg.sink.maxBatchRows) await flush(batch.partition);
      await heartbeat();
    },
  });
  while (stored < task.records) {
    await sleep(10);
    await chain;
  }
  const reading = meter.read();
  clearInterval(timer);
  await consumer.disconnect();
  await conn.close();
  return { label: task.label, kind: task.kind, records: task.records, stored, reading, peakRssMb: peakRssMb(), loadavg1m: loadavg()[0] ?? 0 };
}

/** Avro field -> ClickHouse type of the Kafka engine table (AvroConfluent maps by name). */
function kafkaEngineColumns(): { name: string; type: string; target: string }[] {
  const schema = JSON.parse(avroSchemaText(CDR_SCHEMA_FILE)) as { fields: { name: string; type: unknown }[] };
  const snake = (s: string) => s.replace(/[A-Z]/g, (x) => '_' + x.toLowerCase());
  const prim = (t: unknown): string => {
    if (typeof t === 'string') return ({ string: 'String', int: 'Int32', long: 'Int64', boolean: 'UInt8', double: 'Float64', float: 'Float32' } as Record<string, string>)[t] ?? 'String';
    const o = t as { type: string; logicalType?: string; symbols?: string[]; values?: unknown };
    if (o.logicalType === 'timestamp-millis') return "DateTime64(3, 'UTC')";
    if (o.type === 'enum') return `Enum8(${o.symbols!.map((s, i) => `'${s}' = ${i + 1}`).join(', ')})`;
    if (o.type === 'map') return `Map(String, ${prim(o.values)})`;
    return prim(o.type);
  };
  return schema.fields.map((f) => {
    const nullable = Array.isArray(f.type) && f.type[0] === 'null';
    const inner = nullable ? (f.type as unknown[])[1] : f.type;
    const t = prim(inner);
    return { name: f.name, type: nullable ? `Nullable(${t})` : t, target: snake(f.name) };
  });
}

async function runKafkaEngine(task: ChildTask): Promise<ChildResult> {
  const { cfg } = task;
  const meter = new WindowMeter(task.watch);
  const conn = await openEmbedded({ path: cfg.clickhouse.path, database: cfg.clickhouse.database });
  await conn.command(NAIVE_TABLE);
  const cols = kafkaEngineColumns();
  const settings = [
    `kafka_broker_list = '${cfg.kafka.brokers.join(',')}'`,
    `kafka_topic_list = '${cfg.kafka.topic}'`,
    `kafka_group_name = '${cfg.kafka.groupId}'`,
    `kafka_format = 'AvroConfluent'`,
    `format_avro_schema_registry_url = '${task.registryUrl}'`,
    // The same batching as the pipeline: a block per max rows or per flush interval.
    `kafka_max_block_size = ${cfg.sink.maxBatchRows}`,
    `kafka_flush_interval_ms = ${cfg.sink.flushIntervalMs}`,
    `kafka_num_consumers = 1`,
    `kafka_thread_per_consumer = 0`,
  ];
  await conn.command(`CREATE TABLE kq (${cols.map((c) => `\`${c.name}\` ${c.type}`).join(', ')}) ENGINE = Kafka SETTINGS ${settings.join(', ')}`);
  const select = cols
    .map((c) => (c.target === 'record_sequence_number' ? `ifNull(\`${c.name}\`, 0) AS ${c.target}` : `\`${c.name}\` AS ${c.target}`))
    .concat(['_topic', '_partition', '_offset'])
    .join(', ');
  await conn.command(`CREATE MATERIALIZED VIEW mv TO naive AS SELECT ${select} FROM kq`);
  // The engine consumes on its own threads: the window starts when its consumers report the first message read.
  const t0 = performance.now();
  for (;;) {
    const r = await conn.query<{ n: string }>('SELECT sum(num_messages_read) AS n FROM system.kafka_consumers');
    if (Number(r[0]?.n ?? 0) > 0) break;
    if (performance.now() - t0 > 120_000) throw new Error('the Kafka engine read nothing in 120 s');
    await sleep(20);
  }
  meter.start();
  let stored = 0;
  for (;;) {
    stored = Number((await conn.query<{ n: string }>('SELECT count() AS n FROM naive'))[0]?.n ?? 0);
    if (stored >= task.records) break;
    await sleep(50);
  }
  const reading = meter.read();
  await conn.command('DROP TABLE mv');
  await conn.command('DROP TABLE kq');
  await conn.close();
  return { label: task.label, kind: task.kind, records: task.records, stored, reading, peakRssMb: peakRssMb(), loadavg1m: loadavg()[0] ?? 0 };
}

async function main(task: ChildTask): Promise<void> {
  const log = createLogger((task.cfg.telemetry.logLevel as LogLevel) ?? 'error');
  let r: ChildResult;
  if (task.kind === 'pipeline' || task.kind === 'latency') r = await runPipeline(task, log, task.kind === 'latency');
  else if (task.kind === 'naive') r = await runNaive(task);
  else r = await runKafkaEngine(task);
  await new Promise<void>((res) => process.send!({ type: 'result', result: r }, () => res()));
}

if (process.send) {
  process.once('message', (m: Msg) => {
    if (m.type !== 'task') return;
    // Exits when done: a scenario's clients (kafkajs, chDB threads) must not keep the process around.
    main(m.task).then(
      () => process.exit(0),
      (err: Error) => process.send!({ type: 'error', message: err.stack ?? err.message }, () => process.exit(1)),
    );
  });
}
