/**
 * The cdrs row in ClickHouse's RowBinary (docs: interfaces/formats/RowBinary), the insert format of issue #15
 * item 2: ClickHouse reads it without parsing text (no number or date parsing, no JSON escapes), and the row is
 * built here without an intermediate value array or JSON string.
 *
 * RowBinary carries no types, so a wrong byte layout would store wrong values instead of failing. Two guards:
 * - every insert sends the header of RowBinaryWithNamesAndTypes (column names and types, ~3 KB per insert)
 *   and ClickHouse checks it against the table (input_format_with_types_use_header, on by default), so a
 *   migration that changes a column's type fails the insert loudly (a fatal error, sinks/clickhouse/sink.ts)
 *   instead of storing shifted bytes;
 * - test/rows.test.ts compares CDR_COLUMN_TYPES with system.columns after all migrations, and stores the same
 *   CDRs in both formats and compares every column.
 *
 * Values are written as the JSON path stores them: a null for a column that is not Nullable becomes the
 * column's default (what input_format_null_as_default does for JSONCompactEachRow: '' for strings, 0 for numbers
 * and Decimals, NOT_RATED for rating_status), money goes as the exact integer of micro-units (Decimal(18, 6) is
 * an Int64 of 10^-6 units), times as Int64 milliseconds (DateTime64(3)). A value the column cannot hold (a
 * negative duration, an unknown enum symbol, a Decimal beyond 18 digits or with a non-zero 7th decimal, a string
 * with a lone UTF-16 surrogate) throws a RowRefusedError naming the column, never the value of a string: the runner dead-letters that CDR with its
 * source bytes (SINK_REJECTED), as it does for a row ClickHouse refuses.
 */
import type { SourcedCdr } from '../../schemas/index.js';
import { CDR_INSERT_COLUMNS, DATETIME64_MAX_MS, DATETIME64_MIN_MS } from './rows.js';

/** A value a column cannot hold: the row is refused before it reaches ClickHouse. */
export class RowRefusedError extends Error {
  override readonly name = 'RowRefusedError';
}

const EVENT_TYPE = "Enum8('VOICE_MO' = 1, 'VOICE_MT' = 2, 'VOICE_FWD' = 3, 'SMS_MO' = 4, 'SMS_MT' = 5, 'DATA' = 6)";
const REDIRECTION_REASON = "Nullable(Enum8('CFU' = 1, 'CFB' = 2, 'CFNRY' = 3, 'CFNRC' = 4, 'DEFLECTION' = 5, 'OTHER' = 6))";
const DISPOSITION = "Enum8('ANSWERED' = 1, 'NO_ANSWER' = 2, 'BUSY' = 3, 'FAILED' = 4, 'CONGESTION' = 5, 'REJECTED' = 6)";
const RATING_STATUS = "Enum8('NOT_RATED' = 0, 'RATED' = 1, 'UNRATED' = 2)";
const DT = "DateTime64(3, 'UTC')";
const NDT = "Nullable(DateTime64(3, 'UTC'))";
const LC = 'LowCardinality(String)';
const LCN = 'LowCardinality(Nullable(String))';
const DEC = 'Decimal(18, 6)';

/**
 * The type of every inserted column, as system.columns spells it after all migrations (schemas/ddl 0001-0040).
 * The header carries these; a migration that changes one must change it here (test/rows.test.ts fails first).
 */
export const CDR_COLUMN_TYPES: Readonly<Record<string, string>> = {
  recording_entity: LC, record_id: 'String', event_type: EVENT_TYPE, served_imsi: 'Nullable(String)', served_imei: 'Nullable(String)',
  served_msisdn: 'String', calling_number: 'Nullable(String)', called_number: 'Nullable(String)', connected_number: 'Nullable(String)',
  translated_number: 'Nullable(String)', original_called_number: 'Nullable(String)', redirecting_number: 'Nullable(String)',
  redirection_reason: REDIRECTION_REASON, redirection_counter: 'UInt8', seizure_time: DT, answer_time: NDT, release_time: DT,
  utc_offset_minutes: 'Int16', duration_ms: 'UInt64', billable_ms: 'UInt64', cause_for_term: 'UInt16', q850_cause: 'Nullable(UInt16)',
  disposition: DISPOSITION, serving_plmn: LCN, home_plmn: LCN, lac: 'Nullable(UInt32)', tac: 'Nullable(UInt32)', cell_id: 'Nullable(UInt64)',
  in_trunk_group: LCN, out_trunk_group: LCN, sms_centre: 'Nullable(String)', sms_result: 'Nullable(UInt16)', apn: LCN,
  rating_group: 'Nullable(UInt32)', uplink_bytes: 'UInt64', downlink_bytes: 'UInt64', extensions: 'Map(String, String)',
  record_sequence_number: 'UInt32', local_record_sequence_number: 'Nullable(UInt32)', sms_segments: 'UInt8', charging_id: 'Nullable(UInt32)',
  rat_type: 'Nullable(UInt8)', _topic: LC, _partition: 'UInt32', _offset: 'UInt64',
  rating_status: RATING_STATUS, unrated_reason: LC, rating_service: LC, account_id: 'String', currency: LC, cost_total: DEC,
  cost_connect_fee: DEC, cost_usage: DEC, cost_adjustment: DEC, cost_surcharge: DEC, usage_amount: 'UInt64', billed_usage: 'UInt64',
  usage_unit: LC, rated_at: NDT, tariff_id: LC, tariff_version: LC, rate_id: LC, destination_id: LC, matched_prefix: 'String', band: LC,
  bands: LC, rating_segments: 'Nullable(String)', rating_note: LCN, rounding: LC, roaming_zone: LC, surcharge_rate_id: LC,
  priced_number: 'String', priced_number_category: LCN, priced_number_country: LC, rating_version: LC, line_status: LC, plan: LC,
  account_class: LC, serving_region: LC, serving_country: LC, home_country: LC, roaming: 'UInt8', visited_plmn: LC,
  other_party_e164: 'Nullable(String)', other_party_category: LCN, other_party_country: LC, other_party_high_risk: 'UInt8',
};

/** Enum8 symbol -> code, parsed from the type text once. */
function enumCodes(type: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of type.matchAll(/'([^']+)' = (-?\d+)/g)) m.set(x[1]!, Number(x[2]));
  return m;
}
const EVENT_TYPES = enumCodes(EVENT_TYPE);
const REDIRECTION_REASONS = enumCodes(REDIRECTION_REASON);
const DISPOSITIONS = enumCodes(DISPOSITION);
const RATING_STATUSES = enumCodes(RATING_STATUS);

/** The RowBinaryWithNamesAndTypes header for `columns`: a count, the names, the types (LEB128-prefixed strings). */
export function rowBinaryHeader(columns: readonly string[], types: Readonly<Record<string, string>>): Buffer {
  const w = new RowWriter(4096);
  w.varUInt(columns.length);
  for (const c of columns) w.str(c);
  for (const c of columns) {
    const t = types[c];
    if (t === undefined) throw new Error(`rowbinary: no type for column ${c}`);
    w.str(t);
  }
  return Buffer.from(w.take());
}

const TWO32 = 4294967296;
// String.prototype.isWellFormed (ES2024, V8 11.1: Node 20); this project's lib setting is ES2023.
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;
const MAX_DECIMAL_18 = 999_999_999_999_999_999n;

/** A growing byte buffer with the RowBinary primitives. Bounds are checked by ensure() before each write. */
export class RowWriter {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A copy of the bytes written so far, exactly sized; the writer starts again (its buffer is reused). */
  take(): Buffer {
    const out = Buffer.allocUnsafeSlow(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }

  varUInt(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  /**
   * A String: LEB128 byte length, then UTF-8. Short ASCII strings (nearly all) are copied in a loop. A string
   * with a lone surrogate (not Unicode, so it has no UTF-8 form) is refused: Buffer#write would silently store
   * U+FFFD, where the JSON path's ClickHouse parser refuses a lone high surrogate ("missing second part of
   * surrogate pair") and stores a lone low one as the invalid bytes ED B0 80.
   */
  str(s: string, col = 'String'): void {
    const n = s.length;
    this.ensure(3 * n + 10);
    const b = this.buf;
    if (n < 128) {
      const start = this.pos;
      let q = start + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[q++] = c;
      }
      if (i === n) {
        b[start] = n;
        this.pos = q;
        return;
      }
    }
    if (!isWellFormed.call(s)) throw new RowRefusedError(`column ${col}: a string with a lone UTF-16 surrogate is not UTF-8 text`);
    const len = Buffer.byteLength(s, 'utf8');
    this.varUInt(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  nstr(s: string | null, col = 'Nullable(String)'): void {
    if (s === null) {
      this.ensure(1);
      this.buf[this.pos++] = 1;
      return;
    }
    this.ensure(1);
    this.buf[this.pos++] = 0;
    this.str(s, col);
  }

  u8(v: number, col: string): void {
    if (!(Number.isInteger(v) && v >= 0 && v <= 0xff)) throw refused(col, 'UInt8', v);
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number, col: string): void {
    if (!(Number.isInteger(v) && v >= 0 && v <= 0xffff)) throw refused(col, 'UInt16', v);
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
  }

  i16(v: number, col: string): void {
    if (!(Number.isInteger(v) && v >= -0x8000 && v <= 0x7fff)) throw refused(col, 'Int16', v);
    this.ensure(2);
    this.buf.writeInt16LE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number, col: string): void {
    if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw refused(col, 'UInt32', v);
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }

  /** UInt64 from a safe integer (every count the pipeline has) or a decimal string (a Kafka offset). */
  u64(v: number | string, col: string): void {
    if (typeof v === 'string') {
      const n = v.length;
      let x = 0;
      for (let i = 0; i < n; i++) {
        const d = v.charCodeAt(i) - 48;
        if (d < 0 || d > 9) throw refused(col, 'UInt64', 'a string that is not a decimal number');
        x = x * 10 + d;
      }
      if (n === 0) throw refused(col, 'UInt64', 'an empty string');
      if (n > 15) {
        const big = BigInt(v);
        if (big > 0xffffffffffffffffn) throw refused(col, 'UInt64', v);
        this.ensure(8);
        this.buf.writeBigUInt64LE(big, this.pos);
        this.pos += 8;
        return;
      }
      v = x;
    }
    if (!(Number.isSafeInteger(v) && v >= 0)) throw refused(col, 'UInt64', v);
    this.ensure(8);
    const lo = v % TWO32;
    this.buf.writeUInt32LE(lo, this.pos);
    this.buf.writeUInt32LE((v - lo) / TWO32, this.pos + 4);
    this.pos += 8;
  }

  /** Int64 from a safe integer. */
  i64(v: number): void {
    this.ensure(8);
    if (v >= 0) {
      const lo = v % TWO32;
      this.buf.writeUInt32LE(lo, this.pos);
      this.buf.writeUInt32LE((v - lo) / TWO32, this.pos + 4);
    } else {
      this.buf.writeBigInt64LE(BigInt(v), this.pos);
    }
    this.pos += 8;
  }

  /** DateTime64(3): Int64 milliseconds (floored, as the text form epochMsToCh writes them). */
  dt64(ms: number, col: string): void {
    const v = Math.floor(ms);
    if (!(v >= DATETIME64_MIN_MS && v <= DATETIME64_MAX_MS)) throw refused(col, 'DateTime64(3)', ms);
    this.i64(v);
  }

  /**
   * Decimal(18, 6) from an exact decimal string ("-12.345600", "7") or an integer number of units: the Int64
   * of micro-units. A non-zero 7th decimal or more than 18 digits is refused, never rounded.
   */
  dec18_6(v: string | number, col: string): void {
    if (typeof v === 'number') {
      if (!(Number.isSafeInteger(v) && Math.abs(v) < 1e12)) throw refused(col, DEC, v);
      if (Math.abs(v) <= 9_007_199_254) this.i64(v * 1_000_000);
      else this.i64Big(BigInt(v) * 1_000_000n);
      return;
    }
    // "-12.345600": digits accumulate into an integer of micro-units while it is exact (< 2^53, 15 digits);
    // longer ones (up to Decimal(18, 6)'s 18 digits) go through BigInt. Every exact form the JSON path's
    // ClickHouse parse stores is stored alike: a leading '+' or '-', leading zeros, "5." and ".5", zeros beyond
    // the 6th decimal ("1.5000000"). A non-zero 7th decimal (which that parse would round away silently), an
    // exponent, spaces, an empty string or a sign alone (which it stores as 0) are refused.
    const n = v.length;
    const c0 = n > 0 ? v.charCodeAt(0) : 0;
    const i0 = c0 === 45 || c0 === 43 ? 1 : 0;
    const neg = c0 === 45;
    let x = 0;
    let digits = 0;
    let seen = 0;
    let frac = -1;
    let cut = n;
    for (let i = i0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c === 46 && frac < 0) {
        frac = 0;
        continue;
      }
      const d = c - 48;
      if (d < 0 || d > 9) throw refused(col, DEC, 'a string that is not an exact decimal');
      if (frac === 6) {
        if (d !== 0) throw refused(col, DEC, 'a decimal with more than 6 decimals');
        if (cut === n) cut = i;
        continue;
      }
      x = x * 10 + d;
      seen++;
      if (x > 0) digits++;
      if (frac >= 0) frac++;
    }
    if (seen === 0) throw refused(col, DEC, 'a string that is not an exact decimal');
    const scale = frac < 0 ? 6 : 6 - frac;
    if (digits + scale <= 15) {
      const m = x * 10 ** scale;
      this.i64(neg && m !== 0 ? -m : m);
      return;
    }
    const big = BigInt(v.slice(i0, cut).replace('.', '')) * 10n ** BigInt(scale);
    if (big > MAX_DECIMAL_18) throw refused(col, DEC, v);
    this.i64Big(neg ? -big : big);
  }

  private i64Big(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(v, this.pos);
    this.pos += 8;
  }

  enum8(codes: Map<string, number>, v: string, col: string): void {
    const c = codes.get(v);
    if (c === undefined) throw new RowRefusedError(`column ${col}: unknown Enum8 symbol`);
    this.ensure(1);
    this.buf[this.pos++] = c & 0xff;
  }

  nullFlag(isNull: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = isNull ? 1 : 0;
  }
}

/** The header of every cdrs insert (CDR_INSERT_COLUMNS with CDR_COLUMN_TYPES). */
export const CDR_ROWBINARY_HEADER = rowBinaryHeader(CDR_INSERT_COLUMNS, CDR_COLUMN_TYPES);

function refused(col: string, type: string, v: unknown): RowRefusedError {
  return new RowRefusedError(`column ${col}: ${typeof v === 'number' ? v : String(v)} is not a ${type}`);
}

/**
 * Encodes CDRs into RowBinary rows in CDR_INSERT_COLUMNS order: one buffer per call (a chunk of the runner's
 * batch), each row a view into it. Throws RowRefusedError for the first CDR a column cannot hold (the runner
 * then redoes the chunk CDR by CDR and dead-letters only that one).
 */
export class CdrRowBinaryEncoder {
  private readonly w = new RowWriter(1 << 16);

  encode(cdrs: readonly SourcedCdr[]): Buffer[] {
    const w = this.w;
    // A refused row threw out of the last call: start clean. The scratch buffer is reused, the rows are
    // views into one exactly sized copy per call.
    w.pos = 0;
    const ends: number[] = new Array(cdrs.length);
    for (let i = 0; i < cdrs.length; i++) {
      this.row(cdrs[i]!);
      ends[i] = w.pos;
    }
    const all = w.take();
    const out: Buffer[] = new Array(cdrs.length);
    let start = 0;
    for (let i = 0; i < cdrs.length; i++) {
      out[i] = all.subarray(start, ends[i]!);
      start = ends[i]!;
    }
    return out;
  }

  private row(sc: SourcedCdr): void {
    writeRow(this.w, sc);
  }
}

const NO_RATING: Readonly<Record<string, string | number | null>> = {};
/** String and LowCardinality(String) values: null -> '' (the column default), a number as its text. */
function text(v: string | number | null | undefined): string {
  return typeof v === 'string' ? v : v == null ? '' : String(v);
}

function nu16(w: RowWriter, v: number | null, col: string): void {
  w.nullFlag(v === null);
  if (v !== null) w.u16(v, col);
}
function nu32(w: RowWriter, v: number | null, col: string): void {
  w.nullFlag(v === null);
  if (v !== null) w.u32(v, col);
}

function writeRow(w: RowWriter, sc: SourcedCdr): void {
  const c = sc.cdr;
  w.str(c.recordingEntity, 'recording_entity');
  w.str(c.recordId, 'record_id');
  w.enum8(EVENT_TYPES, c.eventType, 'event_type');
  w.nstr(c.servedImsi, 'served_imsi');
  w.nstr(c.servedImei, 'served_imei');
  w.str(c.servedMsisdn, 'served_msisdn');
  w.nstr(c.callingNumber, 'calling_number');
  w.nstr(c.calledNumber, 'called_number');
  w.nstr(c.connectedNumber, 'connected_number');
  w.nstr(c.translatedNumber, 'translated_number');
  w.nstr(c.originalCalledNumber, 'original_called_number');
  w.nstr(c.redirectingNumber, 'redirecting_number');
  w.nullFlag(c.redirectionReason === null);
  if (c.redirectionReason !== null) w.enum8(REDIRECTION_REASONS, c.redirectionReason, 'redirection_reason');
  w.u8(c.redirectionCounter, 'redirection_counter');
  w.dt64(c.seizureTime, 'seizure_time');
  w.nullFlag(c.answerTime === null);
  if (c.answerTime !== null) w.dt64(c.answerTime, 'answer_time');
  w.dt64(c.releaseTime, 'release_time');
  w.i16(c.utcOffsetMinutes, 'utc_offset_minutes');
  w.u64(c.durationMs, 'duration_ms');
  w.u64(c.billableMs, 'billable_ms');
  w.u16(c.causeForTerm, 'cause_for_term');
  nu16(w, c.q850Cause, 'q850_cause');
  w.enum8(DISPOSITIONS, c.disposition, 'disposition');
  w.nstr(c.servingPlmn, 'serving_plmn');
  w.nstr(c.homePlmn, 'home_plmn');
  nu32(w, c.lac, 'lac');
  nu32(w, c.tac, 'tac');
  w.nullFlag(c.cellId === null);
  if (c.cellId !== null) w.u64(c.cellId, 'cell_id');
  w.nstr(c.inTrunkGroup, 'in_trunk_group');
  w.nstr(c.outTrunkGroup, 'out_trunk_group');
  w.nstr(c.smsCentre, 'sms_centre');
  nu16(w, c.smsResult, 'sms_result');
  w.nstr(c.apn, 'apn');
  nu32(w, c.ratingGroup, 'rating_group');
  w.u64(c.uplinkBytes, 'uplink_bytes');
  w.u64(c.downlinkBytes, 'downlink_bytes');
  const ext = c.extensions;
  const keys = Object.keys(ext);
  w.varUInt(keys.length);
  for (const k of keys) {
    w.str(k, 'extensions');
    w.str(ext[k]!, 'extensions');
  }
  w.u32(c.recordSequenceNumber ?? 0, 'record_sequence_number');
  nu32(w, c.localRecordSequenceNumber, 'local_record_sequence_number');
  w.u8(c.smsSegments, 'sms_segments');
  nu32(w, c.chargingId, 'charging_id');
  w.nullFlag(c.ratType === null);
  if (c.ratType !== null) w.u8(c.ratType, 'rat_type');
  w.str(sc.topic, '_topic');
  w.u32(sc.partition, '_partition');
  w.u64(sc.offset, '_offset');

  // The rated columns in RATED_COLUMNS order, each read by name (a monomorphic property load: the rating stage
  // builds every row's object alike); null (or absent) as the column's default, as the JSON path stores it.
  const r = sc.rated ?? NO_RATING;
  w.enum8(RATING_STATUSES, r.rating_status == null ? 'NOT_RATED' : String(r.rating_status), 'rating_status');
  w.str(text(r.unrated_reason), 'unrated_reason');
  w.str(text(r.rating_service), 'rating_service');
  w.str(text(r.account_id), 'account_id');
  w.str(text(r.currency), 'currency');
  w.dec18_6(r.cost_total ?? 0, 'cost_total');
  w.dec18_6(r.cost_connect_fee ?? 0, 'cost_connect_fee');
  w.dec18_6(r.cost_usage ?? 0, 'cost_usage');
  w.dec18_6(r.cost_adjustment ?? 0, 'cost_adjustment');
  w.dec18_6(r.cost_surcharge ?? 0, 'cost_surcharge');
  w.u64(r.usage_amount ?? 0, 'usage_amount');
  w.u64(r.billed_usage ?? 0, 'billed_usage');
  w.str(text(r.usage_unit), 'usage_unit');
  w.nullFlag(r.rated_at == null);
  if (r.rated_at != null) w.dt64(Number(r.rated_at), 'rated_at');
  w.str(text(r.tariff_id), 'tariff_id');
  w.str(text(r.tariff_version), 'tariff_version');
  w.str(text(r.rate_id), 'rate_id');
  w.str(text(r.destination_id), 'destination_id');
  w.str(text(r.matched_prefix), 'matched_prefix');
  w.str(text(r.band), 'band');
  w.str(text(r.bands), 'bands');
  w.nstr(r.rating_segments == null ? null : text(r.rating_segments), 'rating_segments');
  w.nstr(r.rating_note == null ? null : text(r.rating_note), 'rating_note');
  w.str(text(r.rounding), 'rounding');
  w.str(text(r.roaming_zone), 'roaming_zone');
  w.str(text(r.surcharge_rate_id), 'surcharge_rate_id');
  w.str(text(r.priced_number), 'priced_number');
  w.nstr(r.priced_number_category == null ? null : text(r.priced_number_category), 'priced_number_category');
  w.str(text(r.priced_number_country), 'priced_number_country');
  w.str(text(r.rating_version), 'rating_version');
  w.str(text(r.line_status), 'line_status');
  w.str(text(r.plan), 'plan');
  w.str(text(r.account_class), 'account_class');
  w.str(text(r.serving_region), 'serving_region');
  w.str(text(r.serving_country), 'serving_country');
  w.str(text(r.home_country), 'home_country');
  w.u8(Number(r.roaming ?? 0), 'roaming');
  w.str(text(r.visited_plmn), 'visited_plmn');
  w.nstr(r.other_party_e164 == null ? null : text(r.other_party_e164), 'other_party_e164');
  w.nstr(r.other_party_category == null ? null : text(r.other_party_category), 'other_party_category');
  w.str(text(r.other_party_country), 'other_party_country');
  w.u8(Number(r.other_party_high_risk ?? 0), 'other_party_high_risk');
}
