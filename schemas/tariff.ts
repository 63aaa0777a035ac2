/**
 * The tariff contract (issue #4): the tariff file an operator writes by hand (docs/TARIFFS.md), and the
 * rating result every CDR carries: the price in exact integer micro-units with its explanation, or an
 * "unrated" outcome with a reason code. Rating code lives in enrich/rate/; this file holds only shapes
 * and constants, so the runner, the sink and the tests meet through it.
 *
 * Model (CGRateS legacy RALs and the engines it was compared with, simplified where they are
 * error-prone):
 *   book ── destinations (prefix lists, shared by every tariff)
 *        ── rates (connect fee, rate groups by elapsed usage, minimum/maximum charge, free-below, rounding)
 *        ── band schedules (ordered rules on weekday, time of day, holiday calendar; first match wins)
 *        ── tariffs ── versions (effective from an instant, by call start) ── prices per service:
 *                                   destination -> rate, or band -> rate; roaming surcharges per zone
 *        ── assignments (plan -> tariff, account -> tariff, default, inbound roamers)
 */
import type { Money } from './reference.js';

export type { Money };

export const TARIFF_FORMAT = 'cdr-pipeline/tariffs@1';

/**
 * The pricing rules the engine implements (docs/TARIFFS.md "How a CDR is priced"). Part of every rating
 * version (enrich/rate/stage.ts), so rows priced under earlier rules are told apart and `rerate --all`
 * prices them again only when asked. 2 = answered by answer time, SMS per segment, data per serving
 * network, one rounding per event.
 */
export const RATING_SEMANTICS = 'rating-semantics/2';

/** Fixed scale of every amount inside the engine and in the result: micro-units (1e-6) of the currency. */
export const MONEY_SCALE = 6;

/**
 * How an inexact amount becomes a multiple of 10^-decimals: `up`/`down` toward +/- infinity, `half-up`
 * (ties away from zero), `half-even` (ties to even, "banker's rounding").
 */
export type RoundingMethod = 'up' | 'down' | 'half-up' | 'half-even';
export const ROUNDING_METHODS: readonly RoundingMethod[] = ['up', 'down', 'half-up', 'half-even'];

export interface RoundingDef {
  method: RoundingMethod;
  /** 0..6 decimals of the currency unit. */
  decimals: number;
}

/**
 * What a CDR is charged as. `voice` = outgoing calls and forwarded legs (VOICE_MO, VOICE_FWD; priced by the
 * called number), `voice-in` = incoming calls (VOICE_MT; priced by the calling number), `sms` / `sms-in`
 * likewise (priced per segment), `data` = a data session (priced by volume; destination = the serving
 * network's MCC-MNC, matched against destinations' `networks`, or `*`).
 */
export type Service = 'voice' | 'voice-in' | 'sms' | 'sms-in' | 'data';
export const SERVICES: readonly Service[] = ['voice', 'voice-in', 'sms', 'sms-in', 'data'];

/**
 * A quantity of the service's unit: a number (seconds for voice, messages for SMS, bytes for data) or a
 * string with a unit: "90s", "1m", "1h"; "1msg"; "100B", "10KB", "1MB", "1GB" (decimal, 1000^n) or
 * "1KiB", "1MiB", "1GiB" (binary, 1024^n).
 */
export type Quantity = number | string;

// ---------------------------------------------------------------------------------------------------------
// The tariff file (JSON). Every field is documented with examples in docs/TARIFFS.md.

export interface TariffBookFile {
  format: typeof TARIFF_FORMAT;
  /** ISO 4217 code of every amount in the file. */
  currency: string;
  /** Default IANA time zone of tariffs (time bands and effective dates are local to it). */
  timezone: string;
  /** Default rounding of rates without their own (default: half-up to 4 decimals). */
  rounding?: RoundingDef;
  description?: string;
  /** Holiday calendars: name -> ISO dates (YYYY-MM-DD). Reference holidays.csv rows are merged in by country. */
  calendars?: Record<string, string[]>;
  /** Named band schedules, referenced by tariff versions. */
  bandSchedules?: Record<string, BandRuleDef[]>;
  /** Destination id -> E.164 prefixes (digits), or a definition with national short codes. */
  destinations: Record<string, string[] | DestinationDef>;
  rates: Record<string, RateDef>;
  tariffs: Record<string, TariffDef>;
  /** Roaming zone -> ISO 3166 countries of the visited network; "*" = every other country. */
  roamingZones?: Record<string, string[]>;
  assignments: AssignmentsDef;
}

export interface DestinationDef {
  description?: string;
  /** E.164 prefixes without "+" (longest prefix wins across all destinations). */
  prefixes?: string[];
  /** National short codes as dialled ("999", "118"): matched only for numbers the normaliser calls short codes. */
  shortCodes?: string[];
  /**
   * Serving networks as MCC-MNC prefixes ("234" = every UK network, "20801" = Orange France): matched only
   * for data sessions, against the network that served the session (longest prefix wins).
   */
  networks?: string[];
}

export interface RateDef {
  description?: string;
  /** Charged once per answered call (also one of 0 s), message or session with usage, unless it is free. */
  connectFee?: Money;
  /** Shorthand for one price: `price` per `per`, billed in `increments` ("60/1": first 60, then 1 each). */
  price?: Money;
  per?: Quantity;
  increments?: string;
  /** Explicit rate groups by elapsed usage (exclusive with the shorthand). */
  groups?: RateGroupDef[];
  /** A priced event (answered, not free) costs at least this much (connect fee + usage, exact, before rounding). */
  minimumCharge?: Money;
  /** ... and at most this much (CGRateS MaxCost with strategy *free). */
  maximumCharge?: Money;
  /** Usage strictly below this is free (no connect fee, no minimum). */
  freeBelow?: Quantity;
  rounding?: RoundingDef;
  /** Kept by the CGRateS importer for the compatibility mode (rounding decimals beyond 6, MaxCost strategy). */
  cgrates?: { roundingMethod: string; roundingDecimals: number; maxCost: number; maxCostStrategy: string };
}

export interface RateGroupDef {
  /** Elapsed usage from which the group applies (default 0); the first group must start at 0. */
  from?: Quantity;
  price: Money;
  per: Quantity;
  /** Billing block: usage is charged in whole blocks, each at price × increment / per. */
  increment: Quantity;
}

/** One rule of a band schedule. A rule matches an instant when every field it sets matches the local time. */
export interface BandRuleDef {
  band: string;
  /** ISO weekdays, 1 = Monday ... 7 = Sunday: "1-5", "6,7", "*". */
  days?: string;
  /** Local "HH:MM" (or "HH:MM:SS"); default 00:00 to 24:00. `to` is exclusive; from < to. */
  from?: string;
  to?: string;
  /** Only on the dates of this holiday calendar (true = calendar "default"). */
  holidays?: string | boolean;
  /** 1-12, 1-31 and years as "1,3-5" lists (CGRateS Timings parity). */
  months?: string;
  monthDays?: string;
  years?: string;
}

export interface TariffDef {
  description?: string;
  /** IANA zone of this tariff's bands and effective dates (default: the book's). */
  timezone?: string;
  /** Tariffs tried, in order, when this one has no price for the destination (CGRateS FallbackSubjects). */
  fallback?: string[];
  versions: TariffVersionDef[];
}

export interface TariffVersionDef {
  version: string;
  /** "YYYY-MM-DD" (local midnight), "YYYY-MM-DDTHH:MM[:SS]" (local) or an ISO instant with Z/offset. */
  effectiveFrom: string;
  /** Copy bands, prices and roaming of this earlier version, then apply this one's entries on top. */
  basedOn?: string;
  /** A band schedule name or inline rules; default one band "ALL". */
  bands?: string | BandRuleDef[];
  prices?: Partial<Record<Service, PriceDef[]>>;
  /** Zone -> service -> rate id of the surcharge added when our subscriber uses a network abroad. */
  roaming?: Record<string, Partial<Record<Service, string>>>;
}

export interface PriceDef {
  /** Destination id, or "*" for every number (and for data). */
  destination: string;
  /** One rate for every band, or band -> rate. A band without a rate falls through to the next matching rule. */
  rate: string | Record<string, string>;
}

export interface AssignmentsDef {
  /** Plan code (lines.csv `plan`) -> tariff id. */
  plans?: Record<string, string>;
  /** Account id -> tariff id (overrides the plan). */
  accounts?: Record<string, string>;
  /** Tariff of lines whose plan is not mapped. */
  default?: string;
  /** Tariff of inbound roamers (visitors; billed to their home network), and per home PLMN. */
  inboundRoamers?: string;
  inboundRoamersByPlmn?: Record<string, string>;
  /** Rounding of contracted rates (contracted-rates.csv); default: the book's. */
  contractRounding?: RoundingDef;
}

// ---------------------------------------------------------------------------------------------------------
// The rating result

/** Why a CDR could not be rated. It is kept (never dropped, never priced at zero) with this code. */
export const UnratedReason = {
  /** The served subscriber is not in the customer inventory and is not an inbound roamer. */
  UNKNOWN_ACCOUNT: 'UNKNOWN_ACCOUNT',
  /** The account's plan maps to no tariff and there is no default tariff. */
  NO_TARIFF: 'NO_TARIFF',
  /** No version of any tariff of the account was effective at the rating instant. */
  NO_TARIFF_VERSION: 'NO_TARIFF_VERSION',
  /** No destination prefix (and no "*") of the effective version prices the number for this service. */
  NO_MATCHING_PREFIX: 'NO_MATCHING_PREFIX',
  /** The destination is priced, but in no band that covers the rating instant. */
  NO_RATE_FOR_BAND: 'NO_RATE_FOR_BAND',
  /** The priced party's number is missing or not a number. */
  NO_NUMBER: 'NO_NUMBER',
  /** Roaming on a network whose country is in no roaming zone of the version. */
  NO_ROAMING_ZONE: 'NO_ROAMING_ZONE',
} as const;
export type UnratedReason = (typeof UnratedReason)[keyof typeof UnratedReason];

/** The classes of a party number (from the numbering plan's class and country). */
export type NumberCategory =
  | 'local'
  | 'national'
  | 'mobile'
  | 'international'
  | 'premium'
  | 'toll-free'
  | 'shared-cost'
  | 'emergency'
  | 'short-code'
  | 'voicemail'
  | 'network'
  | 'unknown';

/**
 * Why a rated event costs nothing, or why its price was adjusted. `UNANSWERED`: a voice call without an
 * answer time (cost 0); `UNANSWERED_BILLABLE`: the same, but the record claims billable time (a record that
 * contradicts itself: still cost 0, the billable time is kept as measured usage and not billed).
 */
export type RatingNote = 'FREE_BELOW' | 'NO_USAGE' | 'MINIMUM_CHARGE' | 'MAXIMUM_CHARGE' | 'UNANSWERED' | 'UNANSWERED_BILLABLE';

/** A band segment of a split call: usage charged at one band's rate. */
export interface RatedSegment {
  band: string;
  rateId: string;
  /** Offset of the segment's first billing block from the start of the call, ms (voice) or units. */
  fromUsage: number;
  /** Usage billed in this segment (whole blocks). */
  billedUsage: number;
  /**
   * Usage charge of the segment to the micro-unit (the exact running sum rounded half-up at the segment's
   * end, minus the same at its start: the segments add up to usageMicros). Not rounded to the tariff's
   * decimals: the event is rounded once, as a whole.
   */
  costMicros: number;
}

export interface Rating {
  status: 'RATED' | 'UNRATED';
  /** Set when UNRATED. */
  reason: UnratedReason | null;
  service: Service;
  accountId: string | null;
  currency: string;
  /**
   * Total = the exact event charge (connect fee + usage [+ minimum / maximum] + surcharge) rounded once to
   * the rate's decimals; micro-units. Also = connectFee + usage + adjustment + surcharge.
   */
  totalMicros: number;
  connectFeeMicros: number;
  /** Usage charge, exact sum of the increments to the micro-unit (half-up). */
  usageMicros: number;
  /**
   * Minimum-charge top-up (positive) or maximum-charge cap (negative), plus the event's rounding
   * (roundingMicros): whatever makes the parts add up to the total.
   */
  adjustmentMicros: number;
  /** The part of adjustmentMicros that is the once-per-event rounding (total − the exact charge to the micro-unit). */
  roundingMicros: number;
  /** Roaming surcharge, exact to the micro-unit (half-up); rounded with the event, not on its own. */
  surchargeMicros: number;
  /** Usage as measured: ms (voice; billable time, also when the call was not answered), segments (SMS), bytes (data). */
  usage: number;
  /** Usage billed (rounded up to whole increments), same unit. */
  billedUsage: number;
  unit: 'ms' | 'message' | 'byte';
  /** Instant that chose the tariff version and the first band (answer time; seizure time for unanswered calls, SMS and data). */
  ratedAtMs: number;
  tariffId: string | null;
  tariffVersion: string | null;
  /** Rate of the first (or only) segment. */
  rateId: string | null;
  destinationId: string | null;
  matchedPrefix: string | null;
  /** Band at the rating instant, and every band of a split call joined by "+" in order. */
  band: string | null;
  bands: string | null;
  /** Per-band detail of a call that crossed a band boundary; null otherwise. */
  segments: RatedSegment[] | null;
  note: RatingNote | null;
  /** Rounding applied once to the event total: "half-up/4". */
  rounding: string | null;
  roamingZone: string | null;
  surchargeRateId: string | null;
  /** The priced party: E.164 digits (national short codes as dialled), class and country; null for data (priced by network: matchedPrefix). */
  number: string | null;
  numberCategory: NumberCategory | null;
  numberCountry: string | null;
}

/**
 * The columns a rating adds to a `cdrs` row (proposed DDL in docs/TARIFFS.md, "Wiring"): amounts as exact
 * decimal strings for Decimal(18, 6) (STYLE.md §9: strings on any JSON wire), segments as JSON text.
 */
export function ratingColumns(r: Rating): Record<string, string | number | null> {
  return {
    rating_status: r.status,
    unrated_reason: r.reason,
    rating_service: r.service,
    account_id: r.accountId,
    currency: r.currency,
    cost_total: formatMicros(r.totalMicros),
    cost_connect_fee: formatMicros(r.connectFeeMicros),
    cost_usage: formatMicros(r.usageMicros),
    cost_adjustment: formatMicros(r.adjustmentMicros),
    cost_surcharge: formatMicros(r.surchargeMicros),
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
    rating_segments: r.segments === null ? null : JSON.stringify(r.segments.map((s) => ({ ...s, cost: formatMicros(s.costMicros) }))),
    rating_note: r.note,
    rounding: r.rounding,
    roaming_zone: r.roamingZone,
    surcharge_rate_id: r.surchargeRateId,
    priced_number: r.number,
    priced_number_category: r.numberCategory,
    priced_number_country: r.numberCountry,
  };
}

/** A micro-unit amount as an exact decimal string with 6 decimals ("0.700200"): for JSON and Decimal(18, 6). */
export function formatMicros(micros: number): string {
  const neg = micros < 0;
  const s = String(neg ? -micros : micros).padStart(MONEY_SCALE + 1, '0');
  return (neg ? '-' : '') + s.slice(0, s.length - MONEY_SCALE) + '.' + s.slice(s.length - MONEY_SCALE);
}
