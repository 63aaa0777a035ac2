/**
 * The per-record rating function: a CDR and its rating subject (account, tariff chain, contracted rates)
 * in, a Rating (schemas/tariff.ts) out: the price in exact micro-units with its explanation, or UNRATED with
 * a reason code. Pure: no I/O, no clock, no state that changes the answer (day plans are a cache).
 *
 * Semantics (docs/TARIFFS.md "How a CDR is priced"; the engine-neutral rules it implements are numbered
 * there, R1-R7):
 * - Answered (R3): a voice call is answered when it has an answer time, whatever its billable time says.
 *   An unanswered call costs 0 (note UNANSWERED, or UNANSWERED_BILLABLE for a record that claims billable
 *   time without an answer time). An answered call of 0 s pays its connect fee and minimum charge.
 * - Rating instant: the answer time (the seizure time for unanswered calls, SMS and data). It chooses the
 *   tariff version for the whole event (R1: a call that runs past the next version's start is not split)
 *   and the band at its start.
 * - Destination (R2): the longest prefix of the priced number that the effective version prices for the
 *   service (a shorter prefix is tried when a longer one has no rate in the band at the rating instant), then
 *   "*"; then the next tariff of the chain (fallbacks). Data is priced by the serving network: the longest
 *   MCC-MNC prefix among destinations' `networks`, then "*".
 * - Voice usage (R3) is billed in increments laid from the answer instant: each takes the rate group in
 *   force at its offset and the band in force at its start instant. A call whose increments fall in bands
 *   with different rates is explained as segments; nothing is rounded per segment.
 * - SMS (R5): price × segments; data (R6): whole increments of bytes (1 MB = 10^6 B).
 * - Connect fee, free-below, minimum and maximum charge and rounding are those of the rate at the start.
 *   Free-below: usage strictly below the threshold costs nothing (no connect fee, no minimum, no
 *   surcharge). Minimum and maximum apply to the exact connect fee + usage charge, before roaming surcharges.
 * - Roaming: when the serving network is not ours, the surcharge rate of the visited country's zone for
 *   the service is priced over the same usage (its own connect fee, minimum, maximum) and added exactly.
 * - Rounding (R7): the exact event total (a sum of fractions of micro-units) is rounded once, with the
 *   method and decimals of the rate at the start.
 */
import type { Cdr } from '../../schemas/index.js';
import { UnratedReason, type Rating, type RatedSegment, type Service } from '../../schemas/tariff.js';
import { blankNumber, type Normaliser, type NormalisedNumber } from '../normalise.js';
import { SERVICE_INDEX, UNIT_BYTE, UNIT_MS, UNIT_MSG, UNIT_NAMES, versionAt, type CompiledTariffs, type CompiledVersion, type PriceEntry, type RateTable } from './compile.js';
import { RationalSum, ROUND_HALF_UP } from './money.js';
import { DAY_MS, MAX_INSTANT_MS, segmentAt, type DayPlan, type DayPlans, type Partition } from './time.js';
import type { DigitTrie } from './trie.js';

/** Contracted rates of one account (contracted-rates.csv), longest prefix first, latest validFrom first. */
export interface ContractSet {
  tariffId: string;
  prefixes: string[];
  validFrom: Float64Array;
  validFromLabel: string[];
  descriptions: string[];
  /** Rate index in the contract rate table. */
  rate: Int32Array;
}

/** Who pays and how: resolved from the served subscriber before rating (Subscribers.resolve). */
export interface RatingSubject {
  accountId: string;
  /** Tariff chain index (CompiledTariffs.chains), -1 when the account's plan maps to no tariff. */
  chain: number;
  contract: ContractSet | null;
}

export interface RaterOptions {
  /** PLMN of our own network (operator.json plmn): any other serving network is roaming. */
  homePlmn: string;
  /** Rates of contracted-rates.csv (built with the subscribers). */
  contractRates?: RateTable | null;
}

const MAX_DEPTH = 32;

/** Rater.partyState: the last record's other party was not normalised (data), was a number, had none. */
export const PARTY_NONE = 0;
export const PARTY_NUMBER = 1;
export const PARTY_MISSING = 2;

/**
 * Longest call the rater prices (ms): a call is laid across every local day it spans (a day plan each), so
 * usage must be bounded for rating to be. A year is far beyond any switch's call length (the decoder's
 * decode.maxDurationMs defaults to 24 h); a record beyond it is refused (thrown: RATING_FAILED), not priced.
 */
export const MAX_CALL_MS = 366 * DAY_MS;

/**
 * Refuses what no valid record carries (the decoder checks records first; this bounds the loops of rating
 * for any other input): a rating instant that is not a whole ms inside the Date range; usage that is not a
 * whole, non-negative number of units (at most MAX_CALL_MS for calls, 2^53 - 1 otherwise).
 */
function checkInput(at: number, usage: number, unit: number): void {
  if (!(Number.isInteger(at) && at >= -MAX_INSTANT_MS && at <= MAX_INSTANT_MS && Number.isInteger(usage) && usage >= 0 && usage <= (unit === UNIT_MS ? MAX_CALL_MS : Number.MAX_SAFE_INTEGER))) badInput(at, usage, unit);
}

/** Out of line, so the check above stays small enough to inline on the per-record path. */
function badInput(at: number, usage: number, unit: number): never {
  if (!(Number.isInteger(at) && at >= -MAX_INSTANT_MS && at <= MAX_INSTANT_MS)) throw new RangeError(`rating: instant ${at} is not a whole ms within ±${MAX_INSTANT_MS}`);
  throw new RangeError(`rating: usage ${usage} ${UNIT_NAMES[unit]} is not a whole number in [0, ${unit === UNIT_MS ? MAX_CALL_MS : Number.MAX_SAFE_INTEGER}]`);
}

export function serviceOf(cdr: Cdr): Service {
  switch (cdr.eventType) {
    case 'VOICE_MO':
    case 'VOICE_FWD':
      return 'voice';
    case 'VOICE_MT':
      return 'voice-in';
    case 'SMS_MO':
      return 'sms';
    case 'SMS_MT':
      return 'sms-in';
    default:
      return 'data';
  }
}

function blank(service: Service, unit: number, currency: string, ratedAtMs: number, usage: number, accountId: string | null): Rating {
  return {
    status: 'UNRATED',
    reason: null,
    service,
    accountId,
    currency,
    totalMicros: 0,
    connectFeeMicros: 0,
    usageMicros: 0,
    adjustmentMicros: 0,
    roundingMicros: 0,
    surchargeMicros: 0,
    usage,
    billedUsage: 0,
    unit: UNIT_NAMES[unit]!,
    ratedAtMs,
    tariffId: null,
    tariffVersion: null,
    rateId: null,
    destinationId: null,
    matchedPrefix: null,
    band: null,
    bands: null,
    segments: null,
    note: null,
    rounding: null,
    roamingZone: null,
    surchargeRateId: null,
    number: null,
    numberCategory: null,
    numberCountry: null,
  };
}

/** blank() over an existing Rating (the rater's scratch for the rating stage): every field, in blank()'s order. */
function reinit(r: Rating, service: Service, unit: number, currency: string, ratedAtMs: number, usage: number, accountId: string | null): Rating {
  r.status = 'UNRATED';
  r.reason = null;
  r.service = service;
  r.accountId = accountId;
  r.currency = currency;
  r.totalMicros = 0;
  r.connectFeeMicros = 0;
  r.usageMicros = 0;
  r.adjustmentMicros = 0;
  r.roundingMicros = 0;
  r.surchargeMicros = 0;
  r.usage = usage;
  r.billedUsage = 0;
  r.unit = UNIT_NAMES[unit]!;
  r.ratedAtMs = ratedAtMs;
  r.tariffId = null;
  r.tariffVersion = null;
  r.rateId = null;
  r.destinationId = null;
  r.matchedPrefix = null;
  r.band = null;
  r.bands = null;
  r.segments = null;
  r.note = null;
  r.rounding = null;
  r.roamingZone = null;
  r.surchargeRateId = null;
  r.number = null;
  r.numberCategory = null;
  r.numberCountry = null;
  return r;
}

/**
 * Finds the price entry of a number along a tariff chain at an instant: the first tariff (in chain order)
 * whose effective version prices the number's longest priced prefix (or "*") in a band active at the
 * instant. The trie is walked once per record and shared by every tariff of the chain.
 */
export class EntryLookup {
  version: CompiledVersion | undefined;
  entry: PriceEntry | undefined;
  prefix = '';
  reason: UnratedReason | null = null;
  private readonly payloads = new Int32Array(MAX_DEPTH);
  private readonly depths = new Int32Array(MAX_DEPTH);
  private matchCount = -1;

  constructor(
    private readonly book: CompiledTariffs,
    private readonly plans: DayPlans,
  ) {}

  /** Forget the trie walk of the previous record. */
  reset(): void {
    this.matchCount = -1;
  }

  /** `trie`: the book's trie of numbers, of short codes, or of networks (data), as the key is one of them. */
  find(chain: Int32Array, key: string, trie: DigitTrie, si: number, at: number): boolean {
    const book = this.book;
    let sawVersion = false;
    let bandGap = false;
    for (let c = 0; c < chain.length; c++) {
      const v = versionAt(book.tariffs[chain[c]!]!, at);
      if (v === undefined) continue;
      sawVersion = true;
      const table = v.entryOfDest[si];
      const any = v.anyEntry[si]!;
      if ((table === null || table === undefined) && any < 0) continue;
      if (table !== null && table !== undefined) {
        if (this.matchCount < 0) this.matchCount = trie.matches(key, this.payloads, this.depths);
        for (let k = this.matchCount - 1; k >= 0; k--) {
          const e = table[this.payloads[k]!]!;
          if (e < 0) continue;
          const cand = v.entries[e]!;
          if (this.activeAt(cand.partition, at)) {
            this.version = v;
            this.entry = cand;
            this.prefix = key.slice(0, this.depths[k]!);
            return true;
          }
          bandGap = true;
        }
      }
      if (any >= 0) {
        const cand = v.entries[any]!;
        if (this.activeAt(cand.partition, at)) {
          this.version = v;
          this.entry = cand;
          this.prefix = '';
          return true;
        }
        bandGap = true;
      }
    }
    this.version = undefined;
    this.entry = undefined;
    this.reason = !sawVersion ? UnratedReason.NO_TARIFF_VERSION : bandGap ? UnratedReason.NO_RATE_FOR_BAND : UnratedReason.NO_MATCHING_PREFIX;
    return false;
  }

  private activeAt(p: Partition, t: number): boolean {
    const plan = this.plans.planAt(p, t);
    return plan.classes[segmentAt(plan, t)]! >= 0;
  }
}

export class Rater {
  /** The exact charge of the record being rated (usage, then connect fee, minimum/maximum, surcharge). */
  private readonly acc = new RationalSum();
  /** Scratch of the roaming surcharge. */
  private readonly sur = new RationalSum();
  private readonly plans: DayPlans;
  private readonly homePlmn: string;
  private readonly contractRates: RateTable | null;
  private readonly lookup: EntryLookup;
  /**
   * The priced party of the last CDR rated, as normalised for pricing (a scratch reused for every record):
   * valid while `partyState` is PARTY_NUMBER. The rating stage's enrichment reads it instead of normalising
   * the same number a second time (enrich/rate/stage.ts).
   */
  readonly party: NormalisedNumber = blankNumber();
  /** rateScratch()'s results: a call (or its whole, for a later part) and the start of a later part. */
  private readonly scratch: Rating = blank('data', UNIT_BYTE, '', 0, 0, null);
  private readonly scratchBefore: Rating = blank('data', UNIT_BYTE, '', 0, 0, null);
  /** What the last rate() did with the other party: PARTY_NONE (data: not normalised), PARTY_NUMBER, PARTY_MISSING. */
  partyState = PARTY_NONE;
  /** Per record: whether acc holds a charge (false: the event costs 0), and its rounding. */
  private charged = false;
  private quantum = 1;
  private method = ROUND_HALF_UP;
  /** Per record: a later part of a data session (no connect fee, minimum or free-below). */
  private later = false;

  constructor(
    readonly book: CompiledTariffs,
    readonly normaliser: Normaliser,
    o: RaterOptions,
  ) {
    this.plans = book.plans;
    this.lookup = new EntryLookup(book, book.plans);
    this.homePlmn = o.homePlmn;
    this.contractRates = o.contractRates ?? null;
  }

  /**
   * Rates one CDR for a subject (null: the served party is unknown -> UNRATED UNKNOWN_ACCOUNT).
   * `smsSegments`: the number of segments of an SMS (R5): the CDR's own (contract v3; records of earlier
   * contracts read 1) unless given.
   *
   * Partial records (TS 32.298 recordSequenceNumber > 1, docs/TARIFFS.md "Partial records"): a later part
   * of a call covers the conversation offsets [s, e) with e = releaseTime - answerTime and s = e -
   * billableMs. Its price is R(e) - R(s), where R(t) is the rounded price of the whole call had it ended at
   * offset t (connect fee, increments laid from the answer across every band, minimum and maximum, roaming
   * surcharge, one rounding). The parts of a call then add up exactly to R(end), the price of the call
   * unsplit: the connect fee and minimum fall on the part that starts at the answer, increments run on
   * across parts, and each part is rounded once (its share of the rounding is the difference carried). A
   * later part of a data session is priced on its own bytes without connect fee, minimum or free-below (the
   * record does not say how many bytes came before it).
   */
  rate(cdr: Cdr, subject: RatingSubject | null, smsSegments: number = cdr.smsSegments): Rating {
    return this.rateInto(cdr, subject, smsSegments, null, null);
  }

  /**
   * rate() into the rater's own scratch Rating, overwritten by the next call: for a caller that copies what
   * it needs at once (the rating stage turns it into the row's columns), so no Rating is allocated per record.
   */
  rateScratch(cdr: Cdr, subject: RatingSubject | null, smsSegments: number = cdr.smsSegments): Rating {
    return this.rateInto(cdr, subject, smsSegments, this.scratch, this.scratchBefore);
  }

  /** `into`, `intoBefore`: Ratings to overwrite (a call's whole and, for a later part, its start), null: new ones. */
  private rateInto(cdr: Cdr, subject: RatingSubject | null, smsSegments: number, into: Rating | null, intoBefore: Rating | null): Rating {
    const seq = cdr.recordSequenceNumber;
    if (seq === null || seq <= 1) return this.price(cdr, subject, smsSegments, -1, false, into);
    if (cdr.eventType === 'DATA') return this.price(cdr, subject, smsSegments, -1, true, into);
    if (cdr.answerTime === null) return this.price(cdr, subject, smsSegments, -1, false, into);
    const end = cdr.releaseTime - cdr.answerTime;
    const start = end - cdr.billableMs;
    // NaN here would price the whole call's billableMs as if unsplit (usageMs < 0): refuse it instead.
    if (!(Number.isInteger(start) && Number.isInteger(end))) throw new RangeError(`rating: part offsets ${start}..${end} ms are not whole ms`);
    if (start <= 0) return this.price(cdr, subject, smsSegments, -1, false, into);
    const whole = this.price(cdr, subject, smsSegments, end, false, into);
    if (whole.status !== 'RATED') {
      whole.usage = cdr.billableMs;
      return whole;
    }
    const before = this.price(cdr, subject, smsSegments, start, false, intoBefore);
    return partOf(whole, before, cdr.billableMs);
  }

  /**
   * Prices one CDR. `usageMs` >= 0 replaces a call's billable time (the cumulative offset of a partial
   * record); `later`: a later part of a data session (no connect fee, minimum or free-below).
   */
  private price(cdr: Cdr, subject: RatingSubject | null, smsSegments: number, usageMs: number, later: boolean, into: Rating | null): Rating {
    const service = serviceOf(cdr);
    const si = SERVICE_INDEX[service];
    const unit = si === 4 ? UNIT_BYTE : si >= 2 ? UNIT_MSG : UNIT_MS;
    // R3: a call is answered when it has an answer time; billableMs does not decide it.
    const answered = unit !== UNIT_MS || cdr.answerTime !== null;
    const at = cdr.answerTime ?? cdr.seizureTime;
    const usage = unit === UNIT_MS ? (usageMs >= 0 ? usageMs : cdr.billableMs) : unit === UNIT_MSG ? smsSegments : cdr.uplinkBytes + cdr.downlinkBytes;
    checkInput(at, usage, unit);
    const accountId = subject === null ? null : subject.accountId;
    const r = into === null ? blank(service, unit, this.book.currency, at, usage, accountId) : reinit(into, service, unit, this.book.currency, at, usage, accountId);
    this.charged = false;
    this.later = later;

    // The priced party: called number for outgoing, calling number for incoming; none for data.
    let num: NormalisedNumber | null = null;
    this.partyState = PARTY_NONE;
    if (si !== 4) {
      const ctx = this.normaliser.contextFor(cdr.recordingEntity);
      const ok = si === 0 || si === 2 ? this.normaliser.normaliseInto(cdr.calledNumber, ctx, cdr.servedMsisdn, this.party) : this.normaliser.normaliseInto(cdr.callingNumber, ctx, null, this.party);
      this.partyState = ok ? PARTY_NUMBER : PARTY_MISSING;
      if (ok) {
        num = this.party;
        r.number = num.e164;
        r.numberCategory = num.category;
        r.numberCountry = num.country;
      }
    }
    if (subject === null) return unrated(r, UnratedReason.UNKNOWN_ACCOUNT);
    if (si !== 4 && num === null) return unrated(r, UnratedReason.NO_NUMBER);

    // Roaming zone of the serving network.
    let zone = -1;
    let roaming = false;
    const serving = cdr.servingPlmn;
    if (serving !== null && serving !== this.homePlmn) {
      roaming = true;
      const country = this.normaliser.countryOf(serving);
      // A network missing from networks.csv is "every other country" too.
      const z = country === null ? undefined : this.book.zoneOfCountry.get(country);
      zone = z === undefined ? this.book.otherZone : z;
      if (zone >= 0) r.roamingZone = this.book.zoneNames[zone]!;
    }

    // R2 key: the number, or for data the serving network (ours when the record names none).
    const short = num !== null && num.shortCode;
    const key = num !== null ? num.e164 : (serving ?? this.homePlmn);
    const trie = si === 4 ? this.book.networkTrie : short ? this.book.shortTrie : this.book.trie;
    this.lookup.reset();

    // Contracted rates (outgoing voice of business accounts) come before the plan's tariff.
    const contract = subject.contract;
    if (contract !== null && si === 0 && this.contractRates !== null && !short) {
      for (let i = 0; i < contract.prefixes.length; i++) {
        const p = contract.prefixes[i]!;
        if (contract.validFrom[i]! <= at && key.startsWith(p)) {
          const rt = this.contractRates;
          const rate = contract.rate[i]!;
          r.tariffId = contract.tariffId;
          r.tariffVersion = contract.validFromLabel[i]!;
          r.destinationId = contract.descriptions[i]!;
          r.matchedPrefix = p;
          r.band = 'ALL';
          r.bands = 'ALL';
          this.priceFlat(rt, rate, usage, answered, r);
          const v = subject.chain >= 0 ? this.firstVersion(subject.chain, at) : undefined;
          return this.finish(r, v, roaming, zone, si, usage);
        }
      }
    }

    if (subject.chain < 0) return unrated(r, UnratedReason.NO_TARIFF);
    const look = this.lookup;
    if (!look.find(this.book.chains[subject.chain]!, key, trie, si, at)) return unrated(r, look.reason!);
    const v = look.version!;
    const entry = look.entry!;
    r.tariffId = v.tariffId;
    r.tariffVersion = v.label;
    r.destinationId = entry.destId;
    r.matchedPrefix = look.prefix;
    if (!this.priceEntry(v, entry, at, usage, unit, answered, r)) return unrated(r, UnratedReason.NO_RATE_FOR_BAND);
    return this.finish(r, v, roaming, zone, si, usage);
  }

  /**
   * Prices usage to a number already in E.164 (or a short code; for data, a serving network's MCC-MNC) on a
   * tariff chain, without a CDR: no normalisation, account or roaming. For price quotes, re-pricing tools
   * and tests. `usage`: ms (voice), segments (SMS), bytes (data); `answered` (voice) defaults to true.
   */
  quote(q: { chain: Int32Array; number: string; shortCode?: boolean; service: Service; at: number; usage: number; answered?: boolean }): Rating {
    const si = SERVICE_INDEX[q.service];
    const unit = si === 4 ? UNIT_BYTE : si >= 2 ? UNIT_MSG : UNIT_MS;
    checkInput(q.at, q.usage, unit);
    const r = blank(q.service, unit, this.book.currency, q.at, q.usage, null);
    this.charged = false;
    this.later = false;
    if (si !== 4) r.number = q.number;
    const look = this.lookup;
    look.reset();
    const trie = si === 4 ? this.book.networkTrie : q.shortCode === true ? this.book.shortTrie : this.book.trie;
    if (!look.find(q.chain, q.number, trie, si, q.at)) return unrated(r, look.reason!);
    const v = look.version!;
    const entry = look.entry!;
    r.tariffId = v.tariffId;
    r.tariffVersion = v.label;
    r.destinationId = entry.destId;
    r.matchedPrefix = look.prefix;
    if (!this.priceEntry(v, entry, q.at, q.usage, unit, unit !== UNIT_MS || q.answered !== false, r)) return unrated(r, UnratedReason.NO_RATE_FOR_BAND);
    return this.finish(r, v, false, -1, si, q.usage);
  }

  private firstVersion(chain: number, at: number): CompiledVersion | undefined {
    for (const t of this.book.chains[chain]!) {
      const v = versionAt(this.book.tariffs[t]!, at);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Roaming surcharge (added exactly), the one rounding of the event (R7), status. */
  private finish(r: Rating, v: CompiledVersion | undefined, roaming: boolean, zone: number, si: number, usage: number): Rating {
    if (!this.charged) {
      r.status = 'RATED';
      return r;
    }
    if (roaming && v !== undefined && v.roaming !== null) {
      if (zone < 0) return unrated(r, UnratedReason.NO_ROAMING_ZONE);
      const s = v.roaming[zone * 5 + si]!;
      if (s >= 0) {
        const rt = this.book.rates;
        r.surchargeRateId = rt.ids[s]!;
        if (this.later || usage >= rt.freeBelow[s]!) {
          const sur = this.sur;
          sur.reset();
          accumulate(rt, s, 0, usage, sur);
          if (!this.later) sur.addMicros(rt.connect[s]!);
          const min = this.later ? -1 : rt.minimum[s]!;
          const max = rt.maximum[s]!;
          if (min >= 0 && sur.cmpMicros(min) < 0) sur.setMicros(min);
          else if (max >= 0 && sur.cmpMicros(max) > 0) sur.setMicros(max);
          r.surchargeMicros = sur.round(1, ROUND_HALF_UP);
          this.acc.addSum(sur);
        }
      }
    }
    const total = this.acc.round(this.quantum, this.method);
    r.totalMicros = total;
    r.roundingMicros = total - (r.connectFeeMicros + r.usageMicros + r.adjustmentMicros + r.surchargeMicros);
    r.adjustmentMicros += r.roundingMicros;
    r.status = 'RATED';
    return r;
  }

  /**
   * Rules that make an event cost nothing (R3 unanswered, free-below; an SMS of 0 segments or a data session
   * of 0 bytes). Otherwise sets the event's rounding and returns false: the event is charged.
   */
  private free(rt: RateTable, rate: number, usage: number, unit: number, answered: boolean, r: Rating): boolean {
    r.rateId = rt.ids[rate]!;
    r.rounding = rt.roundingLabel[rate]!;
    if (!answered) {
      r.note = usage > 0 ? 'UNANSWERED_BILLABLE' : 'UNANSWERED';
      return true;
    }
    if (usage < rt.freeBelow[rate]! && !this.later) {
      r.note = 'FREE_BELOW';
      return true;
    }
    if (usage === 0 && unit !== UNIT_MS) {
      r.note = 'NO_USAGE';
      return true;
    }
    this.quantum = rt.quantum[rate]!;
    this.method = rt.method[rate]!;
    this.acc.reset();
    return false;
  }

  /** Connect fee and minimum/maximum of the rate at the start, on the exact usage charge in acc. */
  private charge(rt: RateTable, rate: number, r: Rating): void {
    const acc = this.acc;
    r.usageMicros = acc.round(1, ROUND_HALF_UP);
    const connect = this.later ? 0 : rt.connect[rate]!;
    r.connectFeeMicros = connect;
    acc.addMicros(connect);
    const min = this.later ? -1 : rt.minimum[rate]!;
    const max = rt.maximum[rate]!;
    if (min >= 0 && acc.cmpMicros(min) < 0) {
      acc.setMicros(min);
      r.adjustmentMicros = min - connect - r.usageMicros;
      r.note = 'MINIMUM_CHARGE';
    } else if (max >= 0 && acc.cmpMicros(max) > 0) {
      acc.setMicros(max);
      r.adjustmentMicros = max - connect - r.usageMicros;
      r.note = 'MAXIMUM_CHARGE';
    } else if (r.billedUsage === 0) r.note = 'NO_USAGE';
    this.charged = true;
  }

  /** Prices usage on a rate without bands (contracts): fills the parts of r. */
  private priceFlat(rt: RateTable, rate: number, usage: number, answered: boolean, r: Rating): void {
    if (this.free(rt, rate, usage, UNIT_MS, answered, r)) return;
    r.billedUsage = accumulate(rt, rate, 0, usage, this.acc);
    this.charge(rt, rate, r);
  }

  /** Prices usage on a tariff entry; false when a later part of the call falls in an unpriced band. */
  private priceEntry(v: CompiledVersion, entry: PriceEntry, at: number, usage: number, unit: number, answered: boolean, r: Rating): boolean {
    const rt = this.book.rates;
    const p = entry.partition;
    const plans = this.plans;
    let plan = plans.planAt(p, at);
    let k = segmentAt(plan, at);
    let band = plan.bands[k]!;
    let rate = entry.rateByBand[band]!;
    const names = v.schedule.bandNames;
    r.band = names[band]!;
    r.bands = r.band;
    if (this.free(rt, rate, usage, unit, answered, r)) return true;
    const acc = this.acc;
    if (unit !== UNIT_MS || usage === 0) {
      // SMS and data: one band, that of the start (R5, R6); an answered call of 0 s: connect fee and minimum.
      r.billedUsage = accumulate(rt, rate, 0, usage, acc);
      this.charge(rt, rate, r);
      return true;
    }
    const firstRate = rate;
    const horizon = at + usage;
    let cls = plan.classes[k]!;
    let end = runEnd(plans, p, plan, k, cls, horizon);
    let pos = 0;
    let segFrom = 0;
    let shown = 0;
    let segs: RatedSegment[] | null = null;
    for (;;) {
      const limit = end === Infinity || end - at >= usage ? usage : end - at;
      // R3: increments are added exactly, at the rate of the band where each starts; no rounding here.
      pos = accumulate(rt, rate, pos, limit, acc);
      if (pos >= usage) {
        if (segs !== null) segs.push({ band: names[band]!, rateId: rt.ids[rate]!, fromUsage: segFrom, billedUsage: pos - segFrom, costMicros: acc.round(1, ROUND_HALF_UP) - shown });
        break;
      }
      // The next increment starts in another rate class: close this segment of the explanation.
      segs ??= [];
      const upTo = acc.round(1, ROUND_HALF_UP);
      segs.push({ band: names[band]!, rateId: rt.ids[rate]!, fromUsage: segFrom, billedUsage: pos - segFrom, costMicros: upTo - shown });
      shown = upTo;
      const t = at + pos;
      // accumulate() stopped at or past `end` (limit = end - at); were that lost to rounding, this loop would
      // find the same run again and never advance.
      if (!(t >= end)) throw new RangeError(`rating: no progress at usage offset ${pos} (instant ${t} before the band change at ${end})`);
      plan = plans.planAt(p, t);
      k = segmentAt(plan, t);
      band = plan.bands[k]!;
      cls = plan.classes[k]!;
      if (band < 0 || cls < 0) {
        r.segments = segs;
        return false;
      }
      rate = entry.rateByBand[band]!;
      segFrom = pos;
      end = runEnd(plans, p, plan, k, cls, horizon);
    }
    r.billedUsage = pos;
    if (segs !== null) {
      r.segments = segs;
      let text = segs[0]!.band;
      for (let i = 1; i < segs.length; i++) text += '+' + segs[i]!.band;
      r.bands = text;
    }
    this.charge(rt, firstRate, r);
    return true;
  }
}

/**
 * A later part of a call: `whole` is the call priced to the part's end, `before` to its start (both RATED,
 * same version, destination and rates); the part is their difference, every amount and the billed usage.
 * Segments (split calls) are differenced per band segment: `before`'s are a prefix of `whole`'s.
 */
function partOf(whole: Rating, before: Rating, usage: number): Rating {
  const r = whole;
  r.usage = usage;
  r.totalMicros -= before.totalMicros;
  r.connectFeeMicros -= before.connectFeeMicros;
  r.usageMicros -= before.usageMicros;
  r.adjustmentMicros -= before.adjustmentMicros;
  r.roundingMicros -= before.roundingMicros;
  r.surchargeMicros -= before.surchargeMicros;
  r.billedUsage -= before.billedUsage;
  if (whole.segments !== null) {
    const ws = whole.segments;
    const bs = before.segments;
    const out: RatedSegment[] = [];
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      // `before` unsplit is one segment: the first of `whole`, cut short.
      const b = bs !== null ? bs[i] : i === 0 ? { band: w.band, rateId: w.rateId, fromUsage: 0, billedUsage: before.billedUsage, costMicros: before.usageMicros } : undefined;
      const seg = b === undefined ? w : { band: w.band, rateId: w.rateId, fromUsage: b.fromUsage + b.billedUsage, billedUsage: w.billedUsage - b.billedUsage, costMicros: w.costMicros - b.costMicros };
      if (seg.billedUsage > 0) out.push(seg);
    }
    r.segments = out.length > 1 ? out : null;
    if (out.length > 0) {
      r.band = out[0]!.band;
      let text = out[0]!.band;
      for (let i = 1; i < out.length; i++) text += '+' + out[i]!.band;
      r.bands = text;
    }
  }
  return r;
}

function unrated(r: Rating, reason: UnratedReason): Rating {
  r.status = 'UNRATED';
  r.reason = reason;
  r.totalMicros = 0;
  r.connectFeeMicros = 0;
  r.usageMicros = 0;
  r.adjustmentMicros = 0;
  r.roundingMicros = 0;
  r.surchargeMicros = 0;
  r.billedUsage = 0;
  return r;
}

/**
 * Adds the blocks of `rate` from usage offset `pos` until a block would start at or after `limit`;
 * returns the offset after the last block. Each block takes the group in force at its start.
 */
export function accumulate(rt: RateTable, rate: number, pos: number, limit: number, acc: RationalSum): number {
  const g0 = rt.gFirst[rate]!;
  const gLast = g0 + rt.gCount[rate]! - 1;
  const from = rt.gFrom;
  let g = gLast;
  while (g > g0 && from[g]! > pos) g--;
  while (pos < limit) {
    const gEnd = g < gLast ? from[g + 1]! : Infinity;
    const lim = limit < gEnd ? limit : gEnd;
    const inc = rt.gInc[g]!;
    const span = lim - pos;
    // ceil(span / inc), corrected so it is exact for any safe integers.
    let n = Math.ceil(span / inc);
    if ((n - 1) * inc >= span) n--;
    else if (n * inc < span) n++;
    acc.add(n, rt.gNum[g]!, rt.gDen[g]!);
    pos += n * inc;
    while (g < gLast && from[g + 1]! <= pos) g++;
  }
  return pos;
}

/**
 * The instant at which the rate class `cls` (holding at segment k of `plan`) gives way to another, or
 * Infinity if that is at or after `horizon`. Adjacent days with the same class are one run.
 */
function runEnd(plans: DayPlans, p: Partition, plan: DayPlan, k: number, cls: number, horizon: number): number {
  for (;;) {
    const classes = plan.classes;
    for (let j = k + 1; j < classes.length; j++) {
      if (classes[j] !== cls) return plan.times[j]! >= horizon ? Infinity : plan.times[j]!;
    }
    // `!(<)`: a NaN horizon ends the walk here instead of stepping through days for ever.
    if (!(plan.end < horizon)) return Infinity;
    const next = plans.plan(p, plan.day + 1);
    if (next.classes[0] !== cls) return next.start >= horizon ? Infinity : next.start;
    plan = next;
    k = 0;
  }
}
