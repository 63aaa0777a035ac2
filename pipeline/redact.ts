/**
 * Redaction of subscriber identities by value. Field-name redaction (pino `redact`, telemetry.ts) only masks
 * fields it knows; an MSISDN inside an alert's `entity`, an error message or a kafkajs log object would pass.
 * This runs on every serialised log line (pino's `hooks.streamWrite`), so it sees the message, bindings,
 * nested objects and arrays, and error stacks alike, whichever component wrote them.
 *
 * The rule (documented in docs/components/telemetry.md):
 * - Inside JSON strings (values, keys, the message, stacks): masked is any run of 7 or more digits (national
 *   MSISDNs are 7-11 digits, E.164 up to 15, IMSIs 14-15, IMEIs 15, IMEISVs 16), ASCII or full-width
 *   (U+FF10-U+FF19), with an optional leading `+` or `(` and up to two separators between digit groups
 *   among space, no-break space, `-`, `.`, `*`, `#`, `(`, `)`, `/`: `600123456`, `+44 7700 900123`,
 *   `(0)7700 900123`, `34.600.123.456`, `+44#7700#900#777`, `tel:+44(20)79460018`, `３４６００１２３４５６`.
 *   Digits glued to letters are masked too (`imsi234150000000001`). Kept: ISO dates and times
 *   (`2026-12-04T23:53:06.089Z`, `2026-12-04 23:53:06`), valid IPv4 addresses, and plain decimals whose
 *   integer part has fewer than 7 digits (`18.098400`, an exposure). Masking too much is preferred.
 * - Bare JSON numbers: integers of 7 or more digits are masked unless their field is a known counter,
 *   position or time. The field's LAST name segment decides (`lastOffset` -> Offset, `shutdown_timeout_ms`
 *   -> ms): offset, watermark, lag, bytes, rows, records, count, total, size, ms, seconds, time, timestamp,
 *   at, start, end, pid, ... (so `format` or `report` are not exempt by their ending), and a name that
 *   mentions an identity (msisdn, imsi, imei, number, party, subscriber, phone, entity) is never exempt. Such
 *   a field also keeps a string that is nothing but ASCII digits (offsets travel as strings); a number written
 *   with `+`, separators or full-width digits is masked there too. A field named ...id, ...hash, ...digest
 *   or ...version keeps a value that is pure lowercase hex of 16 or more characters with at least one letter
 *   (alert ids, hashes).
 * Cost: one regex test per line (ISO dates do not trigger it); lines with no candidate (nearly all) are
 * returned as they are. Lines with a candidate are scanned once (logs are per batch, never per record).
 * Measured in docs/components/telemetry.md.
 */

export const REDACTED = '[redacted]';

/** Fewest digits masked: national MSISDNs have 7 or more (a 9-digit Spanish `600123456` was logged in clear). */
const MIN_DIGITS = 7;
// Digits: ASCII and full-width. Separators between digit groups (at most two in a row).
const D = '[0-9\\uFF10-\\uFF19]';
const SEP = '[ \\u00A0\\-.*#()/]';
/**
 * Cheap pre-test: 7 digits with at most two separators between any two, not starting inside a digit run or
 * at an ISO date (every pino line has one in `time`, which must not make every line a candidate).
 */
const CANDIDATE = new RegExp(`(?<!${D})(?!\\d{4}-\\d\\d-\\d\\d)[+(]?${D}(?:${SEP}{0,2}${D}){${MIN_DIGITS - 1}}`);
/** Identity-shaped text inside a string (group 1: an ISO date-time, kept); the callback checks the rest. */
const IN_STRING = new RegExp(`(?<!\\\\u[0-9a-fA-F]{0,3})(?<!${D})(?:(\\d{4}-\\d\\d-\\d\\d(?:[T ]\\d\\d:\\d\\d(?::\\d\\d(?:\\.\\d+)?)?)?)|[+(]?${D}+(?:${SEP}{1,2}${D}+)*)`, 'g');
/** Last segments of field names whose numbers (and all-digit strings) are counters, positions or times. */
const NUMERIC_SEGMENT = new Set(['offset', 'offsets', 'watermark', 'lag', 'bytes', 'rows', 'records', 'count', 'counts', 'total', 'size', 'ms', 'seconds', 'time', 'timestamp', 'at', 'since', 'until', 'start', 'end', 'first', 'last', 'pid', 'port', 'version', 'epoch', 'heap', 'rss', 'micros', 'millis', 'nanos', 'used', 'consumed', 'stored', 'flushes', 'commits', 'pauses', 'cdrs', 'lines', 'events', 'alerts', 'retries', 'attempt', 'attempts', 'letters', 'ns', 'us']);
/** A field name that mentions an identity is never exempt, whatever it ends with (`msisdnCount`). */
const IDENTITY_NAME = /msisdn|imsi|imei|number|party|subscriber|phone|entity|calling|called/i;
const numericFields = new Map<string, boolean>();

/** Is `key` a counter, position or time by its last name segment (camelCase, snake_case, kebab-case)? */
function isNumericField(key: string): boolean {
  let v = numericFields.get(key);
  if (v === undefined) {
    const seg = key.replace(/^.*[_\-.\s]/, '').replace(/^.*[a-z0-9](?=[A-Z])/, '').toLowerCase();
    v = NUMERIC_SEGMENT.has(seg) && !IDENTITY_NAME.test(key);
    if (numericFields.size < 10_000) numericFields.set(key, v); // field names are few; bounded anyway
  }
  return v;
}

function countDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 0xff10 && c <= 0xff19)) n++;
  }
  return n;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const DECIMAL = /^(\d{1,6})\.\d+$/;

function maskMatch(m: string, date: string | undefined): string {
  if (date !== undefined || countDigits(m) < MIN_DIGITS) return m;
  if (DECIMAL.test(m)) return m;
  const ip = IPV4.exec(m);
  if (ip && Number(ip[1]) <= 255 && Number(ip[2]) <= 255 && Number(ip[3]) <= 255 && Number(ip[4]) <= 255) return m;
  return REDACTED;
}

/** Masks identity-shaped digit runs in free text (a message, a stack, a non-JSON stderr line). */
export function maskIdentities(text: string): string {
  if (!CANDIDATE.test(text)) return text;
  return text.replace(IN_STRING, maskMatch);
}

const ALL_DIGITS = /^-?\d+$/;
/** Ids, hashes and versions: kept when they are pure hex of 16+ characters with at least one letter. */
const ID_FIELD = /(?:id|ids|hash|digest|version)$/i;
const HEX_ID = /^(?=[0-9a-f]*[a-f])[0-9a-f]{16,}$/;

/** Masks identities in one serialised JSON log line (see the rule above); other text is left untouched. */
export function redactLogLine(line: string): string {
  if (!CANDIDATE.test(line)) return line;
  const n = line.length;
  let out = '';
  let last = 0;
  let key: string | undefined;
  const keys: (string | undefined)[] = [];
  let i = 0;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === 34) {
      // A string literal: find its closing quote (skipping escapes).
      let j = i + 1;
      while (j < n) {
        const d = line.charCodeAt(j);
        if (d === 92) j += 2;
        else if (d === 34) break;
        else j++;
      }
      const lit = line.slice(i + 1, j);
      let k = j + 1;
      while (k < n && line.charCodeAt(k) === 32) k++;
      const isKey = line.charCodeAt(k) === 58;
      const keep = !isKey && key !== undefined && ((ALL_DIGITS.test(lit) && isNumericField(key)) || (ID_FIELD.test(key) && HEX_ID.test(lit)));
      if (!keep) {
        const masked = maskIdentities(lit);
        if (masked !== lit) {
          out += line.slice(last, i + 1) + masked;
          last = j;
        }
      }
      if (isKey) key = lit;
      i = j + 1;
    } else if (c === 123 || c === 91) {
      keys.push(key);
      if (c === 123) key = undefined;
      i++;
    } else if (c === 125 || c === 93) {
      key = keys.pop();
      i++;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      // A bare number: sign, integer digits, then any fraction or exponent.
      const start = i;
      let j = c === 45 ? i + 1 : i;
      while (j < n && line.charCodeAt(j) >= 48 && line.charCodeAt(j) <= 57) j++;
      const intDigits = j - start - (c === 45 ? 1 : 0);
      let integral = true;
      while (j < n) {
        const d = line.charCodeAt(j);
        if (d === 46 || d === 101 || d === 69 || d === 43 || d === 45 || (d >= 48 && d <= 57)) {
          integral = false;
          j++;
        } else break;
      }
      if (integral && intDigits >= MIN_DIGITS && !(key !== undefined && isNumericField(key))) {
        out += line.slice(last, start) + `"${REDACTED}"`;
        last = j;
      }
      i = j;
    } else i++;
  }
  return last === 0 ? line : out + line.slice(last);
}
