/**
 * Row serialisation for ClickHouse (JSONEachRow). Column names are those of schemas/ddl. Times go as
 * `seconds.millis` strings, which every ClickHouse version parses exactly into DateTime64(3); money, when it
 * arrives, goes as decimal strings. The JSON text is built once per row and reused on every retry.
 */
import type { DeadLetter, SourcedCdr } from '../../schemas/index.js';

export function epochMsToCh(epochMs: number): string {
  const ms = Math.floor(epochMs);
  const s = Math.floor(ms / 1000);
  const frac = ms - s * 1000;
  // Ten digits: ClickHouse reads a shorter number ("1.000", "999999.123") as a date in another format and
  // refuses it, so a record timestamp before 2001-09-09 (a producer that sets 0) would be refused.
  return `${s >= 0 && s < 1e9 ? String(s).padStart(10, '0') : s}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/** The cdrs table's columns a decoded CDR fills, in the order cdrValues() returns them (schemas/ddl/0001, 0040). */
export const CDR_COLUMNS = [
  'recording_entity',
  'record_id',
  'event_type',
  'served_imsi',
  'served_imei',
  'served_msisdn',
  'calling_number',
  'called_number',
  'connected_number',
  'translated_number',
  'original_called_number',
  'redirecting_number',
  'redirection_reason',
  'redirection_counter',
  'seizure_time',
  'answer_time',
  'release_time',
  'utc_offset_minutes',
  'duration_ms',
  'billable_ms',
  'cause_for_term',
  'q850_cause',
  'disposition',
  'serving_plmn',
  'home_plmn',
  'lac',
  'tac',
  'cell_id',
  'in_trunk_group',
  'out_trunk_group',
  'sms_centre',
  'sms_result',
  'apn',
  'rating_group',
  'uplink_bytes',
  'downlink_bytes',
  'extensions',
  // Contract v3 (schemas/ddl/0040): record_sequence_number 0 = a complete record (part of the dedupe key).
  'record_sequence_number',
  'local_record_sequence_number',
  'sms_segments',
  'charging_id',
  'rat_type',
  '_topic',
  '_partition',
  '_offset',
] as const;

/**
 * The rating and enrichment columns (schemas/ddl/0003, 0004) in insert order: the keys of schemas/tariff.ts
 * ratingColumns(), rating_version, and enrich/enrich.ts's columns. A rated CDR carrying a key not listed
 * here is a bug that test/rows.test.ts catches.
 */
export const RATED_COLUMNS = [
  'rating_status', 'unrated_reason', 'rating_service', 'account_id', 'currency', 'cost_total', 'cost_connect_fee', 'cost_usage',
  'cost_adjustment', 'cost_surcharge', 'usage_amount', 'billed_usage', 'usage_unit', 'rated_at', 'tariff_id', 'tariff_version',
  'rate_id', 'destination_id', 'matched_prefix', 'band', 'bands', 'rating_segments', 'rating_note', 'rounding', 'roaming_zone',
  'surcharge_rate_id', 'priced_number', 'priced_number_category', 'priced_number_country', 'rating_version',
  'line_status', 'plan', 'account_class', 'serving_region', 'serving_country', 'home_country', 'roaming', 'visited_plmn',
  'other_party_e164', 'other_party_category', 'other_party_country', 'other_party_high_risk',
] as const;

/** Every column the sink inserts into cdrs, for the positional (JSONCompactEachRow) insert. */
export const CDR_INSERT_COLUMNS: readonly string[] = [...CDR_COLUMNS, ...RATED_COLUMNS];

/** A CDR's values in CDR_COLUMNS order. */
export function cdrValues(sc: SourcedCdr): unknown[] {
  const c = sc.cdr;
  return [
    c.recordingEntity,
    c.recordId,
    c.eventType,
    c.servedImsi,
    c.servedImei,
    c.servedMsisdn,
    c.callingNumber,
    c.calledNumber,
    c.connectedNumber,
    c.translatedNumber,
    c.originalCalledNumber,
    c.redirectingNumber,
    c.redirectionReason,
    c.redirectionCounter,
    epochMsToCh(c.seizureTime),
    c.answerTime === null ? null : epochMsToCh(c.answerTime),
    epochMsToCh(c.releaseTime),
    c.utcOffsetMinutes,
    c.durationMs,
    c.billableMs,
    c.causeForTerm,
    c.q850Cause,
    c.disposition,
    c.servingPlmn,
    c.homePlmn,
    c.lac,
    c.tac,
    c.cellId,
    c.inTrunkGroup,
    c.outTrunkGroup,
    c.smsCentre,
    c.smsResult,
    c.apn,
    c.ratingGroup,
    c.uplinkBytes,
    c.downlinkBytes,
    c.extensions,
    c.recordSequenceNumber ?? 0,
    c.localRecordSequenceNumber,
    c.smsSegments,
    c.chargingId,
    c.ratType,
    sc.topic,
    sc.partition,
    sc.offset,
  ];
}

const NO_RATING: readonly null[] = RATED_COLUMNS.map(() => null);

/**
 * One row for `INSERT INTO cdrs (CDR_INSERT_COLUMNS) FORMAT JSONCompactEachRow`: positional, so the ~70
 * column names are not repeated per row (a third of the bytes, about a third less engine CPU than
 * JSONEachRow for the rated row: docs/BENCHMARKS.md). A CDR without rating sends nulls, which ClickHouse
 * reads as the columns' defaults (input_format_null_as_default), e.g. rating_status NOT_RATED.
 */
export function cdrRowCompact(sc: SourcedCdr): string {
  const values = cdrValues(sc);
  const rated = sc.rated;
  if (rated === undefined) return JSON.stringify(values.concat(NO_RATING)) + '\n';
  for (const k of RATED_COLUMNS) values.push(k === 'rated_at' && typeof rated[k] === 'number' ? epochMsToCh(rated[k]) : (rated[k] ?? null));
  return JSON.stringify(values) + '\n';
}

/** The same row as a JSONEachRow object (rerate, tests, ad-hoc inserts). */
export function cdrRowJson(sc: SourcedCdr): string {
  const values = cdrValues(sc);
  const row: Record<string, unknown> = {};
  for (let i = 0; i < CDR_COLUMNS.length; i++) row[CDR_COLUMNS[i]!] = values[i];
  const base = JSON.stringify(row);
  if (sc.rated === undefined) return base + '\n';
  const rated = { ...sc.rated };
  if (typeof rated.rated_at === 'number') rated.rated_at = epochMsToCh(rated.rated_at);
  return base.slice(0, -1) + ',' + JSON.stringify(rated).slice(1) + '\n';
}

/** What DateTime64(3) stores: 1900-01-01T00:00:00.000Z .. 2299-12-31T23:59:59.999Z (ClickHouse docs, DateTime64). */
export const DATETIME64_MIN_MS = -2_208_988_800_000;
export const DATETIME64_MAX_MS = 10_413_791_999_999;

/** A time clamped into DateTime64(3)'s range (NaN and ±Infinity too): for times that describe, never key, a row. */
export function clampDateTime64Ms(ms: number): number {
  if (!(ms >= DATETIME64_MIN_MS)) return Number.isNaN(ms) ? 0 : DATETIME64_MIN_MS;
  return ms > DATETIME64_MAX_MS ? DATETIME64_MAX_MS : ms;
}

/**
 * DateTime64(3) text for any time in its range. `seconds.millis` is read only for 0 <= seconds < 10^10
 * (ClickHouse reads a negative or 11-digit number as another format and refuses it: a file mtime of 1960 or
 * 2290 did); outside that, `YYYY-MM-DD hh:mm:ss.fff` (UTC), which ClickHouse reads for the whole range.
 */
export function dateTime64Text(ms: number): string {
  if (ms >= 0 && ms < 1e13) return epochMsToCh(ms);
  return new Date(Math.floor(ms)).toISOString().replace('T', ' ').slice(0, 23);
}

/**
 * A dead letter's row. record_timestamp is the source's timestamp (a Kafka record time, a file's mtime),
 * which may be anything a producer or a `touch -d 1960` says: it is clamped to DateTime64(3)'s range, since a
 * dead-letter row ClickHouse refuses would stop the pipeline (the original value stays in the dead-letter
 * topic message).
 */
export function deadLetterRowJson(d: DeadLetter): string {
  return (
    JSON.stringify({
      code: d.code,
      message: d.message,
      topic: d.topic,
      partition: d.partition,
      offset: d.offset,
      record_timestamp: dateTime64Text(clampDateTime64Ms(d.timestamp)),
      key_base64: d.key === null ? null : d.key.toString('base64'),
      value_base64: d.value === null ? null : d.value.toString('base64'),
    }) + '\n'
  );
}

/**
 * The last-resort form of a dead-letter row ClickHouse refused (sinks/clickhouse/sink.ts): the coordinates,
 * code and bytes as they are (base64 and numbers always parse), the message and topic reduced to printable
 * ASCII, the time clamped. Whatever made the first form fail, the record is stored, not lost and not fatal.
 */
export function deadLetterRowSanitised(d: DeadLetter, refusal: string): string {
  const ascii = (s: string, max: number) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
  return deadLetterRowJson({
    ...d,
    message: ascii(`${d.message} [row first refused by ClickHouse: ${refusal}]`, 1000),
    topic: ascii(d.topic, 255),
    timestamp: Number.isFinite(d.timestamp) ? d.timestamp : 0,
  });
}
