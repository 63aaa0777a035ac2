/**
 * `cdr-pipeline rerate`: prices stored CDRs again with the current tariff book and reference data — the
 * ones not rated (NOT_RATED, UNRATED), or every CDR of a period — without duplicating them: the new row has
 * the same ReplacingMergeTree key and a newer _ingested_at, so it replaces the old one (queries read FINAL).
 * The CDR is rebuilt from its stored columns; its source coordinates are kept.
 *
 * Rows priced under earlier pricing rules or CDR contracts (v1 and v2 records read as complete records of one
 * SMS segment: record_sequence_number 0, sms_segments 1) keep their price unless asked: `all` re-prices a
 * period, `outdated` the RATED rows whose rating_version is not the current stage's (another book, other
 * reference data or other pricing rules, schemas/tariff.ts RATING_SEMANTICS). Partial records are re-priced
 * part by part; each part carries what its price needs (its offset in the call), so a page boundary between
 * the parts of a call changes nothing.
 */
import type { Cdr, Log, SourcedCdr } from '../schemas/index.js';
import { sqlString, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { cdrRowJson, epochMsToCh } from '../sinks/clickhouse/rows.js';
import type { RatingBatchStage } from '../enrich/rate/stage.js';

export interface RerateOptions {
  /** Re-price only CDRs that are not RATED (default), or all CDRs of the period. */
  all: boolean;
  /** Also re-price RATED CDRs whose rating_version is not the stage's (priced under other rules or data). */
  outdated?: boolean;
  fromMs: number | undefined;
  toMs: number | undefined;
  batchRows: number;
  log: Log;
}

/** Column -> Cdr field, times as epoch ms (the inverse of sinks/clickhouse/rows.ts cdrRowJson). */
const SELECT = `recording_entity AS recordingEntity, record_id AS recordId, toString(event_type) AS eventType,
  served_imsi AS servedImsi, served_imei AS servedImei, served_msisdn AS servedMsisdn, calling_number AS callingNumber,
  called_number AS calledNumber, connected_number AS connectedNumber, translated_number AS translatedNumber,
  original_called_number AS originalCalledNumber, redirecting_number AS redirectingNumber,
  toString(redirection_reason) AS redirectionReason, redirection_counter AS redirectionCounter,
  toUnixTimestamp64Milli(seizure_time) AS seizureTime, toUnixTimestamp64Milli(answer_time) AS answerTime,
  toUnixTimestamp64Milli(release_time) AS releaseTime, utc_offset_minutes AS utcOffsetMinutes, duration_ms AS durationMs,
  billable_ms AS billableMs, cause_for_term AS causeForTerm, q850_cause AS q850Cause, toString(disposition) AS disposition,
  serving_plmn AS servingPlmn, home_plmn AS homePlmn, lac, tac, cell_id AS cellId, in_trunk_group AS inTrunkGroup,
  out_trunk_group AS outTrunkGroup, sms_centre AS smsCentre, sms_result AS smsResult, apn, rating_group AS ratingGroup,
  uplink_bytes AS uplinkBytes, downlink_bytes AS downlinkBytes, extensions,
  if(record_sequence_number = 0, NULL, record_sequence_number) AS recordSequenceNumber, record_sequence_number AS _seq,
  local_record_sequence_number AS localRecordSequenceNumber, sms_segments AS smsSegments, charging_id AS chargingId,
  rat_type AS ratType, _topic, _partition, _offset`;

const NUMERIC: (keyof Cdr)[] = ['redirectionCounter', 'seizureTime', 'answerTime', 'releaseTime', 'utcOffsetMinutes', 'durationMs', 'billableMs', 'causeForTerm', 'q850Cause', 'lac', 'tac', 'cellId', 'smsResult', 'ratingGroup', 'uplinkBytes', 'downlinkBytes', 'recordSequenceNumber', 'localRecordSequenceNumber', 'smsSegments', 'chargingId', 'ratType'];

export async function rerate(conn: ClickHouseConnection, stage: RatingBatchStage, o: RerateOptions): Promise<{ rerated: number; outcomes: Record<string, number> }> {
  const where: string[] = [];
  if (!o.all) where.push(o.outdated === true ? `(rating_status != 'RATED' OR rating_version != ${sqlString(stage.version)})` : `rating_status != 'RATED'`);
  if (o.fromMs !== undefined) where.push(`seizure_time >= toDateTime64(${epochMsToCh(o.fromMs)}, 3, 'UTC')`);
  if (o.toMs !== undefined) where.push(`seizure_time < toDateTime64(${epochMsToCh(o.toMs)}, 3, 'UTC')`);
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const outcomes: Record<string, number> = {};
  let rerated = 0;
  // Keyset pagination on the sorting key keeps every page a bounded, independent query.
  let after = '';
  for (;;) {
    const page = await conn.query<Record<string, unknown>>(
      `SELECT ${SELECT}
       FROM cdrs FINAL ${filter}${after ? `${filter ? ' AND' : ' WHERE'} (served_msisdn, seizure_time, recording_entity, record_id, record_sequence_number) > (${after})` : ''}
       ORDER BY served_msisdn, seizure_time, recording_entity, record_id, record_sequence_number LIMIT ${o.batchRows}`,
    );
    if (page.length === 0) break;
    const batch: SourcedCdr[] = page.map((r) => {
      const cdr = { ...r } as Record<string, unknown>;
      for (const k of NUMERIC) cdr[k] = cdr[k] === null ? null : Number(cdr[k]);
      for (const k of ['redirectionReason'] as const) if (cdr[k] === '' || cdr[k] === null) cdr[k] = null;
      const sc: SourcedCdr = { cdr: cdr as unknown as Cdr, topic: String(r._topic), partition: Number(r._partition), offset: String(r._offset) };
      delete cdr._topic;
      delete cdr._partition;
      delete cdr._offset;
      delete cdr._seq;
      return sc;
    });
    const counts = stage.rateBatch(batch);
    for (const [k, v] of Object.entries(counts)) outcomes[k] = (outcomes[k] ?? 0) + v;
    await conn.insert('cdrs', batch.map(cdrRowJson).join(''));
    rerated += batch.length;
    const last = page[page.length - 1]!;
    after = `${sqlString(last.servedMsisdn)}, toDateTime64(${epochMsToCh(Number(last.seizureTime))}, 3, 'UTC'), ${sqlString(last.recordingEntity)}, ${sqlString(last.recordId)}, ${Number(last._seq)}`;
    o.log.info({ rerated, outcomes }, 'rerate progress');
    if (page.length < o.batchRows) break;
  }
  return { rerated, outcomes };
}
