/**
 * Redaction of subscriber identities by value. Field-name redaction (pino `redact`, telemetry.ts) only masks
 * fields it knows; an MSISDN inside an alert's `entity`, an error message or a kafkajs log object would pass.
 * This runs on every serialised log line (pino's `hooks.streamWrite`), so it sees the message, bindings,
 * nested objects and arrays, and error stacks alike, whichever component wrote them.
 *
 * The rule (documented in docs/components/telemetry.md):
 * - Inside JSON strings (values, keys, the message, stacks): masked are digit runs of 10 or more digits,
 *   with or without a leading `+` (E.164 MSISDNs are up to 15 digits, national forms 10-11, IMSIs 14-15,
 *   IMEIs 15, IMEISVs 16; longer runs may be several identities glued together), `+`-prefixed numbers
 *   written in groups (`+44 7700 900123`, `+44-20-7946-0018`) of 10 or more digits, and national numbers
 *   written in groups of 3 or more digits after the first (`07700 900123`), 10 or more digits in all. Digits
 *   glued to letters are masked too (`tel:447700900123`, `imsi234150000000001`). Shorter runs stay, so ISO
 *   times, dates, ports and small counts read normally. Masking too much in a string is preferred to too little.
 * - Bare JSON numbers: integers of 10 or more digits are masked unless their field is a known counter or
 *   time (names ending in offset, watermark, lag, bytes, rows, records, count, total, size, ms, seconds,
 *   time, timestamp, at, start, end, pid, ...): Kafka offsets and epoch milliseconds stay readable. A
 *   string field with one of those names keeps its value only if it is nothing but digits (offsets travel as
 *   strings). A field named ...id, ...hash, ...digest or ...version keeps a value that is pure lowercase hex
 *   of 16 or more characters with at least one letter (alert ids, hashes), whatever digit runs it holds.
 * Cost: one regex test per line; lines with no candidate (nearly all) are returned as they are. Lines with a
 * candidate are scanned once, character by character (logs are per batch, never per record).
 */

export const REDACTED = '[redacted]';

/** Cheap pre-test: could this line hold an identity at all? */
const CANDIDATE = /\d{10}|\+\d|\d[ -]\d{3}/;
/** Identity-shaped text inside a string; the callback checks the digit count. */
const IN_STRING = /(?<!\\u[0-9a-fA-F]{0,3})(?:\+\d+(?:[ -]\d+)*|\d+(?:[ -]\d{3,})*)/g;
/** Fields whose numbers (and all-digit strings) are counters, positions or times, never identities. */
const NUMERIC_FIELD = /(?:offset|offsets|watermark|lag|bytes|rows|records|count|counts|total|size|ms|seconds|time|timestamp|at|since|until|start|end|first|last|pid|port|version|epoch|heap|rss|micros|millis|nanos)$/i;

function countDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/** Masks identity-shaped digit runs in free text (a message, a stack, a non-JSON stderr line). */
export function maskIdentities(text: string): string {
  if (!CANDIDATE.test(text)) return text;
  return text.replace(IN_STRING, (m) => (countDigits(m) >= 10 ? REDACTED : m));
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
      const keep = !isKey && key !== undefined && ((NUMERIC_FIELD.test(key) && ALL_DIGITS.test(lit)) || (ID_FIELD.test(key) && HEX_ID.test(lit)));
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
      if (integral && intDigits >= 10 && !(key !== undefined && NUMERIC_FIELD.test(key))) {
        out += line.slice(last, start) + `"${REDACTED}"`;
        last = j;
      }
      i = j;
    } else i++;
  }
  return last === 0 ? line : out + line.slice(last);
}
