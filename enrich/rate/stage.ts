/**
 * The rating stage of the pipeline: reference data and tariff book loaded and compiled once, then a batch
 * function that rates every CDR (pure, synchronous) and records the rating version on it.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SourcedCdr } from '../../schemas/index.js';
import { formatMicros, RATING_SEMANTICS, type RatedSegment, type Rating } from '../../schemas/tariff.js';
import { loadReferenceDir, type ReferenceData } from '../reference.js';
import { createRating, defaultTariffPath, loadTariffBook, type RatingStage } from './index.js';
import { EnrichmentLookups, type ServedContext } from '../enrich.js';
import { blankNumber, type NormalisedNumber } from '../normalise.js';
import { PARTY_NONE, PARTY_NUMBER } from './engine.js';
import { Subscribers } from './subscribers.js';

export interface RatingBatchStage {
  /** Hash of the pricing rules (RATING_SEMANTICS), the tariff book and the reference data: stored as rating_version on every rated CDR. */
  readonly version: string;
  readonly reference: ReferenceData;
  readonly rating: RatingStage;
  readonly warnings: string[];
  /** Rates every CDR of the batch in place; returns counts per outcome (`rated`, `unrated:<REASON>`). */
  rateBatch(cdrs: SourcedCdr[]): Record<string, number>;
}

export function createRatingStage(referenceDir: string, tariffFile: string): RatingBatchStage {
  return createRatingStageFrom(loadReferenceDir(referenceDir), tariffFile);
}

/** The same from reference data loaded elsewhere (ClickHouse tables: pipeline/reference-store.ts). */
export function createRatingStageFrom(reference: ReferenceData, tariffFile: string): RatingBatchStage {
  const bookPath = tariffFile || defaultTariffPath();
  const book = loadTariffBook(bookPath);
  // The pricing rules are an ingredient too: rows priced under earlier rules keep another version.
  const version = createHash('sha256').update(RATING_SEMANTICS).update(readFileSync(bookPath)).update(reference.version).digest('hex').slice(0, 16);
  const rating = createRating({
    book,
    operator: reference.operator,
    numberingPlan: reference.numberingPlan,
    networks: reference.networks,
    countries: reference.countries,
    holidays: reference.holidays,
    lines: reference.lines,
    contractedRates: reference.contractedRates,
    expectedLines: reference.lines.length,
  });
  const { rater, normaliser, subscribers } = rating;
  const lookups = new EnrichmentLookups(reference, Subscribers.keyable);
  const scratch = blankNumber();
  const unratedKeys = new Map<string | null, string>();
  return {
    version,
    reference,
    rating,
    warnings: [...rating.tariffs.warnings],
    rateBatch(cdrs) {
      const counts: Record<string, number> = {};
      for (const sc of cdrs) {
        const cdr = sc.cdr;
        // rating.rate(cdr), into the rater's scratch: the row below copies what it needs.
        const r = rater.rateScratch(cdr, subscribers.resolve(cdr));
        // The other party of the enrichment is the number rating priced (the same raw number, read with the
        // same switch's rules), except for data, which rating prices by network: normalised here then.
        let other: NormalisedNumber | null = null;
        const state = rater.partyState;
        if (state === PARTY_NUMBER) other = rater.party;
        else if (state === PARTY_NONE) {
          const raw = cdr.eventType === 'VOICE_MT' || cdr.eventType === 'SMS_MT' ? cdr.callingNumber : cdr.calledNumber;
          if (raw && normaliser.normaliseInto(raw, normaliser.contextFor(cdr.recordingEntity), null, scratch)) other = scratch;
        }
        sc.rated = ratedRow(r, version, lookups.served(cdr, subscribers.lastLine), other);
        let key = 'rated';
        if (r.status !== 'RATED') {
          const k = unratedKeys.get(r.reason);
          if (k === undefined) unratedKeys.set(r.reason, (key = `unrated:${r.reason}`));
          else key = k;
        }
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    },
  };
}

/**
 * A rated CDR's columns: ratingColumns(r), rating_version and createEnricher's columns, in that order, as one
 * object literal (issue #15). Every row has the same shape, built in one allocation, where the composition
 * (three objects, then Object.assign of twelve keys onto a thirty-key object) cost more CPU than pricing the
 * CDR. test/rating-fast.test.ts checks it against the composition over generated traffic, key order included.
 * `other`: the other party normalised without a caller; a number the rater normalised with the caller reads
 * "local" where that would read "national" (the only use of the caller: enrich/normalise.ts classifyInto).
 */
export function ratedRow(r: Rating, version: string, s: ServedContext, other: NormalisedNumber | null): Record<string, string | number | null> {
  return {
    rating_status: r.status,
    unrated_reason: r.reason,
    rating_service: r.service,
    account_id: r.accountId,
    currency: r.currency,
    cost_total: moneyText(r.totalMicros),
    cost_connect_fee: moneyText(r.connectFeeMicros),
    cost_usage: moneyText(r.usageMicros),
    cost_adjustment: moneyText(r.adjustmentMicros),
    cost_surcharge: moneyText(r.surchargeMicros),
    usage_amount: r.usage,
    billed_usage: r.billedUsage,
    usage_unit: r.unit,
    rated_at: r.ratedAtMs,
    tariff_id: r.tariffId,
    tariff_version: r.tariffVersion,
    rate_id: r.rateId,
    destination_id: r.destinationId,
    matched_prefix: r.matchedPrefix,
    band: r.band,
    bands: r.bands,
    rating_segments: r.segments === null ? null : segmentsText(r.segments),
    rating_note: r.note,
    rounding: r.rounding,
    roaming_zone: r.roamingZone,
    surcharge_rate_id: r.surchargeRateId,
    priced_number: r.number,
    priced_number_category: r.numberCategory,
    priced_number_country: r.numberCountry,
    rating_version: version,
    line_status: s.line_status,
    plan: s.plan,
    account_class: s.account_class,
    serving_region: s.serving_region,
    serving_country: s.serving_country,
    home_country: s.home_country,
    roaming: s.roaming,
    visited_plmn: s.visited_plmn,
    other_party_e164: other === null ? null : other.e164,
    other_party_category: other === null ? null : other.category === 'local' ? 'national' : other.category,
    other_party_country: other === null ? null : other.country,
    other_party_high_risk: other !== null && other.highRisk ? 1 : 0,
  };
}

/** ratingColumns' rating_segments (split calls only: a few percent of records). */
function segmentsText(segments: RatedSegment[]): string {
  return JSON.stringify(segments.map((x) => ({ ...x, cost: formatMicros(x.costMicros) })));
}

const ZERO_MONEY = '0.000000';
/** "000" .. "999": the six decimals as two table reads, not padStart and slices of a fresh string. */
const PAD3: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * formatMicros (schemas/tariff.ts) for the per-record path: the same text ("0.700200", "-12.000001") for every
 * safe integer, built from the integer part and two three-digit table entries. Exact: ip = floor(a / 10^6)
 * from a float division is corrected by the integer remainder (a - ip × 10^6, exact below 2^53), so a
 * quotient rounded up across an integer is taken back. Anything not a safe integer goes to formatMicros.
 */
export function moneyText(micros: number): string {
  if (micros === 0) return ZERO_MONEY;
  const neg = micros < 0;
  const a = neg ? -micros : micros;
  if (!Number.isSafeInteger(a)) return formatMicros(micros);
  let ip = Math.floor(a / 1_000_000);
  let fp = a - ip * 1_000_000;
  if (fp < 0) {
    ip -= 1;
    fp += 1_000_000;
  } else if (fp >= 1_000_000) {
    ip += 1;
    fp -= 1_000_000;
  }
  const hi = Math.floor(fp / 1000);
  const text = ip + '.' + PAD3[hi]! + PAD3[fp - hi * 1000]!;
  return neg ? '-' + text : text;
}

export interface WatchedRatingStage {
  /** The stage in force; a batch takes it once, so a reload never splits a batch between two versions. */
  current(): RatingBatchStage;
  /** Checks the files now (the timer calls this every intervalMs). */
  check(): boolean;
  stop(): void;
}

/**
 * Reloads reference data and tariffs without a restart: every intervalMs the files' names, sizes and mtimes
 * are compared; on a change the whole stage is rebuilt off to the side and swapped in atomically. A change
 * that does not load (a bad file, a tariff error) keeps the stage in force and is reported through onError.
 */
export function watchRatingStage(referenceDir: string, tariffFile: string, intervalMs: number, events: { onReload?: (s: RatingBatchStage) => void; onError?: (err: Error) => void } = {}): WatchedRatingStage {
  const fingerprint = () => {
    const parts: string[] = [];
    for (const name of readdirSync(referenceDir).sort()) {
      const st = statSync(join(referenceDir, name));
      if (st.isFile()) parts.push(`${name}:${st.size}:${st.mtimeMs}`);
    }
    const book = tariffFile || defaultTariffPath();
    const st = statSync(book);
    parts.push(`${book}:${st.size}:${st.mtimeMs}`);
    return parts.join('|');
  };
  let seen = fingerprint();
  let stage = createRatingStage(referenceDir, tariffFile);
  const check = () => {
    let now: string;
    try {
      now = fingerprint();
    } catch (err) {
      events.onError?.(err as Error);
      return false;
    }
    if (now === seen) return false;
    seen = now;
    try {
      const next = createRatingStage(referenceDir, tariffFile);
      if (next.version === stage.version) return false;
      stage = next;
      events.onReload?.(stage);
      return true;
    } catch (err) {
      events.onError?.(err as Error);
      return false;
    }
  };
  const timer = intervalMs > 0 ? setInterval(check, intervalMs) : undefined;
  timer?.unref();
  return { current: () => stage, check, stop: () => clearInterval(timer) };
}
