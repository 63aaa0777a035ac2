/**
 * The per-record rating function: a CDR and its rating subject (account, tariff chain, contracted rates)
 * in, a Rating (schemas/tariff.ts) out: the price in exact micro-units with its explanation, or UNRATED with
 * a reason code. Pure: no I/O, no clock, no state that changes the answer (day plans are a cache).
 *
 * Semantics (docs/TARIFFS.md):
 * - Rating instant: answer time, else seizure time. It chooses the tariff version (a version applies to
 *   every call that starts at or after its effectiveFrom) and the band at the start of the call.
 * - Destination: the longest prefix of the priced number that the effective version prices for the service
 *   (a shorter prefix is tried when a longer one has no rate in the band at the rating instant), then "*";
 *   then the next tariff of the chain (fallbacks).
 * - Voice usage is billed in blocks laid from the start of the call: each block costs price × block / per
 *   of the rate group in force at the block's offset, and the band in force at the block's start instant.
 *   A call whose blocks fall in bands with different rates is split into segments; each segment's usage
 *   charge is rounded to its rate's decimals (so the segments on an explanation add up to the total).
 *   Blocks never overlap and the billed usage is the real usage rounded up to the last block.
 * - SMS and data are priced at the band of their start; data by volume (uplink + downlink bytes).
 * - Connect fee, free-below, minimum and maximum charge and rounding are those of the rate at the start.
 *   Free-below: usage strictly below the threshold costs nothing (no connect fee, no minimum, no
 *   surcharge). Minimum and maximum apply to connect fee + usage charge, before roaming surcharges.
 * - Roaming: when the serving network is not ours, the surcharge rate of the visited country's zone for
 *   the service is applied to the same usage, with its own connect fee and rounding.
 */
import type { Cdr } from '../../schemas/index.js';
import { UnratedReason, type Rating, type RatedSegment, type Service } from '../../schemas/tariff.js';
import { blankNumber, type Normaliser, type NormalisedNumber } from '../normalise.js';
import { SERVICE_INDEX, UNIT_BYTE, UNIT_MS, UNIT_MSG, UNIT_NAMES, versionAt, type CompiledTariffs, type CompiledVersion, type PriceEntry, type RateTable } from './compile.js';
import { RationalSum } from './money.js';
import { segmentAt, type DayPlan, type DayPlans, type Partition } from './time.js';

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

  find(chain: Int32Array, key: string, short: boolean, si: number, at: number): boolean {
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
        if (this.matchCount < 0) this.matchCount = (short ? book.shortTrie : book.trie).matches(key, this.payloads, this.depths);
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
  private readonly acc = new RationalSum();
  private readonly plans: DayPlans;
  private readonly homePlmn: string;
  private readonly contractRates: RateTable | null;
  private readonly lookup: EntryLookup;
  /** Scratch of the priced party's normalisation (copied into the result). */
  private readonly num: NormalisedNumber = blankNumber();

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

  /** Rates one CDR for a subject (null: the served party is unknown -> UNRATED UNKNOWN_ACCOUNT). */
  rate(cdr: Cdr, subject: RatingSubject | null): Rating {
    const service = serviceOf(cdr);
    const si = SERVICE_INDEX[service];
    const unit = si === 4 ? UNIT_BYTE : si >= 2 ? UNIT_MSG : UNIT_MS;
    const at = cdr.answerTime ?? cdr.seizureTime;
    const usage = unit === UNIT_MS ? cdr.billableMs : unit === UNIT_MSG ? 1 : cdr.uplinkBytes + cdr.downlinkBytes;
    const r = blank(service, unit, this.book.currency, at, usage, subject === null ? null : subject.accountId);

    // The priced party: called number for outgoing, calling number for incoming; none for data.
    let num: NormalisedNumber | null = null;
    if (si !== 4) {
      const ctx = this.normaliser.contextFor(cdr.recordingEntity);
      const ok = si === 0 || si === 2 ? this.normaliser.normaliseInto(cdr.calledNumber, ctx, cdr.servedMsisdn, this.num) : this.normaliser.normaliseInto(cdr.callingNumber, ctx, null, this.num);
      if (ok) {
        num = this.num;
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

    const key = num === null ? '' : num.e164;
    const short = num !== null && num.shortCode;
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
          this.priceFlat(rt, rate, usage, r);
          const v = subject.chain >= 0 ? this.firstVersion(subject.chain, at) : undefined;
          return this.finish(r, v, roaming, zone, si, usage);
        }
      }
    }

    if (subject.chain < 0) return unrated(r, UnratedReason.NO_TARIFF);
    const look = this.lookup;
    if (!look.find(this.book.chains[subject.chain]!, key, short, si, at)) return unrated(r, look.reason!);
    const v = look.version!;
    const entry = look.entry!;
    r.tariffId = v.tariffId;
    r.tariffVersion = v.label;
    r.destinationId = entry.destId;
    r.matchedPrefix = look.prefix;
    if (!this.priceEntry(v, entry, at, usage, unit, r)) return unrated(r, UnratedReason.NO_RATE_FOR_BAND);
    return this.finish(r, v, roaming, zone, si, usage);
  }

  /**
   * Prices usage to a number already in E.164 (or a short code) on a tariff chain, without a CDR: no
   * normalisation, account or roaming. For price quotes, re-pricing tools and tests.
   */
  quote(q: { chain: Int32Array; number: string; shortCode?: boolean; service: Service; at: number; usage: number }): Rating {
    const si = SERVICE_INDEX[q.service];
    const unit = si === 4 ? UNIT_BYTE : si >= 2 ? UNIT_MSG : UNIT_MS;
    const r = blank(q.service, unit, this.book.currency, q.at, q.usage, null);
    r.number = q.number;
    const look = this.lookup;
    look.reset();
    if (!look.find(q.chain, q.number, q.shortCode === true, si, q.at)) return unrated(r, look.reason!);
    const v = look.version!;
    const entry = look.entry!;
    r.tariffId = v.tariffId;
    r.tariffVersion = v.label;
    r.destinationId = entry.destId;
    r.matchedPrefix = look.prefix;
    if (!this.priceEntry(v, entry, q.at, q.usage, unit, r)) return unrated(r, UnratedReason.NO_RATE_FOR_BAND);
    return this.finish(r, v, false, -1, si, q.usage);
  }

  private firstVersion(chain: number, at: number): CompiledVersion | undefined {
    for (const t of this.book.chains[chain]!) {
      const v = versionAt(this.book.tariffs[t]!, at);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Roaming surcharge, total, status. */
  private finish(r: Rating, v: CompiledVersion | undefined, roaming: boolean, zone: number, si: number, usage: number): Rating {
    if (roaming && v !== undefined && v.roaming !== null && r.note !== 'FREE_BELOW') {
      if (zone < 0) return unrated(r, UnratedReason.NO_ROAMING_ZONE);
      const s = v.roaming[zone * 5 + si]!;
      if (s >= 0) {
        const rt = this.book.rates;
        r.surchargeRateId = rt.ids[s]!;
        if (usage > 0 && usage >= rt.freeBelow[s]!) {
          this.acc.reset();
          accumulate(rt, s, 0, usage, this.acc);
          let sur = rt.connect[s]! + this.acc.round(rt.quantum[s]!, rt.method[s]!);
          const min = rt.minimum[s]!;
          const max = rt.maximum[s]!;
          if (min >= 0 && sur < min) sur = min;
          if (max >= 0 && sur > max) sur = max;
          r.surchargeMicros = sur;
        }
      }
    }
    r.totalMicros = r.connectFeeMicros + r.usageMicros + r.adjustmentMicros + r.surchargeMicros;
    r.status = 'RATED';
    return r;
  }

  /** Prices usage on a rate without bands (contracts): fills the parts of r. */
  private priceFlat(rt: RateTable, rate: number, usage: number, r: Rating): void {
    r.rateId = rt.ids[rate]!;
    r.rounding = rt.roundingLabel[rate]!;
    if (usage < rt.freeBelow[rate]!) {
      r.note = 'FREE_BELOW';
      return;
    }
    if (usage === 0) {
      r.note = 'NO_USAGE';
      return;
    }
    this.acc.reset();
    const billed = accumulate(rt, rate, 0, usage, this.acc);
    r.billedUsage = billed;
    r.usageMicros = this.acc.round(rt.quantum[rate]!, rt.method[rate]!);
    applyCallLevel(rt, rate, r);
  }

  /** Prices usage on a tariff entry; false when a later part of the call falls in an unpriced band. */
  private priceEntry(v: CompiledVersion, entry: PriceEntry, at: number, usage: number, unit: number, r: Rating): boolean {
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
    r.rateId = rt.ids[rate]!;
    r.rounding = rt.roundingLabel[rate]!;
    if (usage < rt.freeBelow[rate]!) {
      r.note = 'FREE_BELOW';
      return true;
    }
    if (usage === 0) {
      r.note = 'NO_USAGE';
      return true;
    }
    const acc = this.acc;
    acc.reset();
    if (unit !== UNIT_MS) {
      r.billedUsage = accumulate(rt, rate, 0, usage, acc);
      r.usageMicros = acc.round(rt.quantum[rate]!, rt.method[rate]!);
      applyCallLevel(rt, rate, r);
      return true;
    }
    const firstRate = rate;
    const horizon = at + usage;
    let cls = plan.classes[k]!;
    let end = runEnd(plans, p, plan, k, cls, horizon);
    let pos = 0;
    let segFrom = 0;
    let usageMicros = 0;
    let segs: RatedSegment[] | null = null;
    for (;;) {
      const limit = end === Infinity || end - at >= usage ? usage : end - at;
      pos = accumulate(rt, rate, pos, limit, acc);
      const cost = acc.round(rt.quantum[rate]!, rt.method[rate]!);
      usageMicros += cost;
      if (pos >= usage) {
        if (segs !== null) segs.push({ band: names[band]!, rateId: rt.ids[rate]!, fromUsage: segFrom, billedUsage: pos - segFrom, costMicros: cost });
        break;
      }
      // The next block starts in another rate class: close this segment.
      segs ??= [];
      segs.push({ band: names[band]!, rateId: rt.ids[rate]!, fromUsage: segFrom, billedUsage: pos - segFrom, costMicros: cost });
      acc.reset();
      const t = at + pos;
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
    r.usageMicros = usageMicros;
    if (segs !== null) {
      r.segments = segs;
      let text = segs[0]!.band;
      for (let i = 1; i < segs.length; i++) text += '+' + segs[i]!.band;
      r.bands = text;
    }
    applyCallLevel(rt, firstRate, r);
    return true;
  }
}

function unrated(r: Rating, reason: UnratedReason): Rating {
  r.status = 'UNRATED';
  r.reason = reason;
  r.totalMicros = 0;
  r.connectFeeMicros = 0;
  r.usageMicros = 0;
  r.adjustmentMicros = 0;
  r.surchargeMicros = 0;
  r.billedUsage = 0;
  return r;
}

/** Connect fee and minimum/maximum of the rate at the start of the event. */
function applyCallLevel(rt: RateTable, rate: number, r: Rating): void {
  const connect = rt.connect[rate]!;
  r.connectFeeMicros = connect;
  const sub = connect + r.usageMicros;
  const min = rt.minimum[rate]!;
  const max = rt.maximum[rate]!;
  if (min >= 0 && sub < min) {
    r.adjustmentMicros = min - sub;
    r.note = 'MINIMUM_CHARGE';
  } else if (max >= 0 && sub > max) {
    r.adjustmentMicros = max - sub;
    r.note = 'MAXIMUM_CHARGE';
  }
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
    if (plan.end >= horizon) return Infinity;
    const next = plans.plan(p, plan.day + 1);
    if (next.classes[0] !== cls) return next.start >= horizon ? Infinity : next.start;
    plan = next;
    k = 0;
  }
}
