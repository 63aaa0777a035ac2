/**
 * The home country of the simulated operator (issue #13): its numbering plan, time zone, public holidays,
 * regions, service and short codes, and the foreign destinations seen from it. GB (the default, Albion
 * Telecom, a fictional UK-like operator) and DE (Brocken Mobil, a fictional German one) are built in.
 *
 * The rest of the generator reads the active country through the live ESM bindings exported here (`HOME`,
 * `REGIONS`, `COUNTRIES`, `HOME_ZONE`, `PLAN`), re-exported by numbering.ts, geography.ts and population.ts.
 * A Traffic activates its country when it is built and again whenever it runs (each record it yields, its
 * reference data), so generators of different countries can be interleaved in one process; what a line is
 * (its number, its forwarding target) is fixed when its population is built.
 *
 * GB output is byte-identical to the generator before countries existed: every GB function here is the code
 * that was in numbering.ts, unchanged.
 */
import { digits, hash3 } from './random.js';
import { DE_FOREIGN, DE_REGIONS, GB_FOREIGN, GB_REGIONS, type Country, type Region } from './countries.js';
import type { Zone } from './calendar.js';
import type { NumberClass } from '../../schemas/reference.js';
import { easterSunday, ukBankHolidays, type Holiday } from '../../schemas/holidays.js';

export interface HomeOperator {
  name: string;
  mcc: string;
  mnc: string;
  plmn: string;
  country: string;
  countryCode: string;
  nationalPrefix: string;
  internationalPrefix: string;
  currency: string;
  /** Our mobile subscriber block (E.164 digits; `msisdnDigits` more digits make a number). */
  msisdnBlock: string;
  /** Our service numbers (SMS centre ...). */
  serviceBlock: string;
  /** The voicemail platform: the target of diversions to voicemail. */
  voicemailNumber: string;
  smsCentre: string;
}

export interface ShortCode {
  code: string;
  numberClass: NumberClass;
  description: string;
}

type AddRange = (prefix: string, minLength: number, maxLength: number, country: string, countryCode: string, numberClass: NumberClass, highRisk: boolean, rangeHolder: string, description: string) => void;

export interface HomePlan {
  operator: HomeOperator;
  /** Country name for countries.csv. */
  countryName: string;
  zone: Zone;
  /** `holidays` spec name of the country's public holidays (TrafficOptions.holidays). */
  holidaySpec: string;
  holidays(year: number): Holiday[];
  regions: readonly Region[];
  /** Foreign destinations (same length and order for every home: the home country's own slot holds another). */
  foreign: readonly Country[];
  /** Digits after `msisdnBlock` in our mobile numbers. */
  msisdnDigits: number;
  /** An off-net mobile number of the home country (E.164). */
  offnetMobile(h: number): string;
  /** A PBX extension's owner's mobile elsewhere (own-line forwarding target off net). */
  ownMobileElsewhere(h: number): string;
  freephone(h: number): string;
  sharedCost(h: number): string;
  premium(h: number): string;
  /** Short codes as dialled (national only), with their class. */
  shortCodes: readonly ShortCode[];
  /** Customer care and voicemail retrieval short codes (free). */
  care: string;
  voicemailCode: string;
  /** Emergency numbers: the first with probability `share`, else the second. */
  emergency: { first: string; second: string; share: number };
  directory: readonly string[];
  /**
   * The subscriber's own mailbox number (E.164), where the operator has one (German networks reach a
   * subscriber's mailbox at the mobile prefix + "33" + the subscriber number [proposal]); null otherwise.
   */
  mailbox(msisdn: string): string | null;
  /** Interconnect trunk group towards a home-country number (not ours, not a short code). */
  nationalTrunk(e164: string): string;
  /** Home-country rows of the numbering plan. */
  homeRanges(add: AddRange): void;
  /** Contracted-rate prefixes of business accounts: [prefix, description, rate in 1/10000]. */
  contractPrefixes: readonly (readonly [string, string, number])[];
  /** Address style of the reference data. */
  addressStyle: 'uk' | 'de';
}

// ---------------------------------------------------------------------------------------------------------
// GB: Albion Telecom (Ofcom National Telephone Numbering Plan)

const GB_OPERATOR: HomeOperator = {
  name: 'Albion Telecom',
  /** Fictional network code in the UK's MCC 234 (ITU-T E.212). */
  mcc: '234',
  mnc: '99',
  plmn: '23499',
  country: 'GB',
  countryCode: '44',
  nationalPrefix: '0',
  internationalPrefix: '00',
  currency: 'GBP',
  /** Our mobile subscriber block (044791 + 7 digits) and service numbers (044790...). */
  msisdnBlock: '44791',
  serviceBlock: '44790',
  voicemailNumber: '447900000121',
  smsCentre: '447900000001',
};

/** Off-net UK mobile prefixes (E.164), avoiding our own 447 90/91 blocks. */
const GB_OFFNET_MOBILE = ['4471', '4473', '4474', '4475', '4477', '4478', '44792', '44795', '44797', '44798'];

const GB_SHORT_CODES: readonly ShortCode[] = [
  { code: '999', numberClass: 'emergency', description: 'Emergency services' },
  { code: '112', numberClass: 'emergency', description: 'Emergency services (EU single number)' },
  { code: '101', numberClass: 'short', description: 'Police non-emergency' },
  { code: '111', numberClass: 'short', description: 'NHS non-emergency' },
  { code: '150', numberClass: 'short', description: 'Albion customer care (free)' },
  { code: '121', numberClass: 'voicemail', description: 'Voicemail retrieval (free)' },
];

export const GB_PLAN: HomePlan = {
  operator: GB_OPERATOR,
  countryName: 'United Kingdom',
  zone: { name: 'Europe/London', stdOffsetMinutes: 0, dst: 'eu' },
  holidaySpec: 'uk',
  holidays: ukBankHolidays,
  regions: GB_REGIONS,
  foreign: GB_FOREIGN,
  msisdnDigits: 7,
  offnetMobile(h) {
    const p = GB_OFFNET_MOBILE[h % GB_OFFNET_MOBILE.length] as string;
    return p + digits(hash3(h, 1, 0), 12 - p.length);
  },
  ownMobileElsewhere(h) {
    return '4477' + digits(h, 8);
  },
  freephone(h) {
    return (h % 4 === 0 ? '44808' : '44800') + digits(hash3(h, 3, 0), 7, 1);
  },
  sharedCost(h) {
    const p = ['44843', '44844', '44845', '44870', '44871', '44872'][h % 6] as string;
    return p + digits(hash3(h, 4, 0), 7, 1);
  },
  premium(h) {
    return '4490' + digits(hash3(h, 5, 0), 8, 1);
  },
  shortCodes: GB_SHORT_CODES,
  care: '150',
  voicemailCode: '121',
  emergency: { first: '999', second: '112', share: 0.9 },
  directory: ['118118', '118500', '118811', '118212'],
  mailbox: () => null,
  nationalTrunk(e164) {
    if (e164.startsWith('447')) return 'ICX-MOB';
    if (e164.startsWith('448') || e164.startsWith('449')) return 'ICX-SVC';
    return 'ICX-FIX';
  },
  homeRanges(add) {
    const H = GB_OPERATOR;
    add('441', 11, 12, 'GB', '44', 'fixed', false, '', 'UK geographic (01)');
    add('442', 12, 12, 'GB', '44', 'fixed', false, '', 'UK geographic (02)');
    for (const r of GB_REGIONS) add('44' + r.areaCode, 12, 12, 'GB', '44', 'fixed', false, '', `UK geographic: ${r.name} (0${r.areaCode})`);
    add('443', 12, 12, 'GB', '44', 'fixed', false, '', 'UK non-geographic, charged as geographic (03)');
    add('4470', 12, 12, 'GB', '44', 'premium', false, '', 'UK personal numbering (070)');
    add('4476', 12, 12, 'GB', '44', 'premium', false, '', 'UK radiopaging (076)');
    add('447', 12, 12, 'GB', '44', 'mobile', false, '', 'UK mobile (07), other networks');
    add(H.msisdnBlock, 12, 12, 'GB', '44', 'mobile', false, H.name, `UK mobile: ${H.name} subscribers`);
    add(H.serviceBlock, 12, 12, 'GB', '44', 'mobile', false, H.name, `UK mobile: ${H.name} service numbers`);
    add(H.voicemailNumber, 12, 12, 'GB', '44', 'voicemail', false, H.name, `${H.name} voicemail platform`);
    add('44800', 12, 12, 'GB', '44', 'toll-free', false, '', 'UK freephone (0800)');
    add('44808', 12, 12, 'GB', '44', 'toll-free', false, '', 'UK freephone (0808)');
    for (const p of ['44843', '44844', '44845']) add(p, 12, 12, 'GB', '44', 'shared-cost', false, '', `UK service number (0${p.slice(2)})`);
    for (const p of ['44870', '44871', '44872', '44873']) add(p, 12, 12, 'GB', '44', 'shared-cost', false, '', `UK service number (0${p.slice(2)})`);
    add('449', 12, 12, 'GB', '44', 'premium', false, '', 'UK premium rate (09)');
    add('118', 6, 6, 'GB', '44', 'premium', false, '', 'UK directory enquiries (118xxx, as dialled)');
    for (const s of GB_SHORT_CODES) add(s.code, 3, 3, 'GB', '44', s.numberClass, false, s.numberClass === 'voicemail' || s.code === '150' ? H.name : '', `${s.description} (as dialled)`);
    // Application-to-person SMS senders (bank codes, deliveries): 5-digit short codes 6xxxx-9xxxx.
    for (const d of ['6', '7', '8', '9']) add(d, 5, 5, 'GB', '44', 'short', false, '', 'UK SMS short code (5 digits, A2P senders)');
  },
  contractPrefixes: [
    ['441', 'UK geographic (01)', 80],
    ['442', 'UK geographic (02)', 80],
    ['443', 'UK non-geographic (03)', 80],
    ['447', 'UK mobile', 150],
  ],
  addressStyle: 'uk',
};

// ---------------------------------------------------------------------------------------------------------
// DE: Brocken Mobil (Bundesnetzagentur numbering plan)

/**
 * A fictional German mobile operator: MNC 99 in Germany's MCC 262 (not assigned), subscribers in 01579
 * (E.164 491579 + 7 digits: an 11-digit national number, as 015x numbers have), service numbers in 01578,
 * mailboxes in 0157 33 (the "mobile prefix + 33" mailbox form of German networks [proposal]).
 */
const DE_OPERATOR: HomeOperator = {
  name: 'Brocken Mobil',
  mcc: '262',
  mnc: '99',
  plmn: '26299',
  country: 'DE',
  countryCode: '49',
  nationalPrefix: '0',
  internationalPrefix: '00',
  currency: 'EUR',
  msisdnBlock: '491579',
  serviceBlock: '491578',
  voicemailNumber: '49157330000000',
  smsCentre: '4915780000001',
};

/** German mobile prefixes of other networks (015x/016x/017x) with the E.164 length of their numbers. */
const DE_OFFNET_MOBILE: readonly (readonly [string, number])[] = [
  ['49151', 13], ['49152', 13], ['49159', 13], ['49160', 12], ['49162', 12], ['49163', 12], ['49170', 12], ['49171', 12],
  ['49172', 12], ['49173', 12], ['49174', 12], ['49175', 12], ['49176', 13], ['49177', 12], ['49178', 12], ['49179', 12],
];

/** German short codes as dialled (TKG/BNetzA: 110 and 112 emergency, 115 public administration, 116117 on-call doctors). */
const DE_SHORT_CODES: readonly ShortCode[] = [
  { code: '112', numberClass: 'emergency', description: 'Notruf (fire, ambulance; EU single number)' },
  { code: '110', numberClass: 'emergency', description: 'Polizei (police emergency)' },
  { code: '115', numberClass: 'short', description: 'Behördennummer (public administration)' },
  { code: '116117', numberClass: 'short', description: 'Ärztlicher Bereitschaftsdienst (on-call doctors, free)' },
  { code: '2202', numberClass: 'short', description: 'Brocken Mobil Kundenservice (free)' },
  { code: '3311', numberClass: 'voicemail', description: 'Mailbox retrieval (free)' },
];

/**
 * German public holidays observed nationwide (no substitute days in Germany): Neujahr, Karfreitag,
 * Ostermontag, Tag der Arbeit, Christi Himmelfahrt (Easter + 39), Pfingstmontag (Easter + 50), Tag der
 * Deutschen Einheit, 1. and 2. Weihnachtstag. Regional holidays (Epiphany, Corpus Christi ...) are left out.
 */
export function germanHolidays(year: number): Holiday[] {
  const d = (m0: number, day: number) => Date.UTC(year, m0, day) / 86_400_000;
  const e = easterSunday(year);
  return [
    { day: d(0, 1), name: 'Neujahr' },
    { day: e - 2, name: 'Karfreitag' },
    { day: e + 1, name: 'Ostermontag' },
    { day: d(4, 1), name: 'Tag der Arbeit' },
    { day: e + 39, name: 'Christi Himmelfahrt' },
    { day: e + 50, name: 'Pfingstmontag' },
    { day: d(9, 3), name: 'Tag der Deutschen Einheit' },
    { day: d(11, 25), name: '1. Weihnachtstag' },
    { day: d(11, 26), name: '2. Weihnachtstag' },
  ].sort((a, b) => a.day - b.day);
}

export const DE_PLAN: HomePlan = {
  operator: DE_OPERATOR,
  countryName: 'Germany',
  zone: { name: 'Europe/Berlin', stdOffsetMinutes: 60, dst: 'eu' },
  holidaySpec: 'de',
  holidays: germanHolidays,
  regions: DE_REGIONS,
  foreign: DE_FOREIGN,
  msisdnDigits: 7,
  offnetMobile(h) {
    const [p, len] = DE_OFFNET_MOBILE[h % DE_OFFNET_MOBILE.length] as readonly [string, number];
    return p + digits(hash3(h, 1, 0), len - p.length);
  },
  ownMobileElsewhere(h) {
    return '49170' + digits(h, 7);
  },
  freephone(h) {
    return '49800' + digits(hash3(h, 3, 0), 7, 1);
  },
  sharedCost(h) {
    // 0180x: shared-cost service numbers, 0180 + 1 digit (1-7) + 6 digits.
    return '49180' + String(1 + (h % 7)) + digits(hash3(h, 4, 0), 6);
  },
  premium(h) {
    // 0900: premium rate, 0900 + 1 digit (1 information, 3 entertainment, 5 other) + 6 digits.
    return '49900' + (['1', '3', '5'][h % 3] as string) + digits(hash3(h, 5, 0), 6);
  },
  shortCodes: DE_SHORT_CODES,
  care: '2202',
  voicemailCode: '3311',
  emergency: { first: '112', second: '110', share: 0.6 },
  directory: ['11833', '11880', '11837', '11899'],
  mailbox(msisdn) {
    return msisdn.startsWith(DE_OPERATOR.msisdnBlock) ? '4915733' + msisdn.slice(-7) : null;
  },
  nationalTrunk(e164) {
    if (e164.startsWith('4915') || e164.startsWith('4916') || e164.startsWith('4917')) return 'ICX-MOB';
    if (e164.startsWith('49800') || e164.startsWith('49180') || e164.startsWith('49900') || e164.startsWith('49700')) return 'ICX-SVC';
    return 'ICX-FIX';
  },
  homeRanges(add) {
    const H = DE_OPERATOR;
    // Geographic numbers: area codes start with 2-9 (the 01 range is mobile and services); national
    // numbers of 6 to 11 digits.
    for (const d of ['2', '3', '4', '5', '6', '7', '8', '9']) add('49' + d, 8, 13, 'DE', '49', 'fixed', false, '', `DE geographic (0${d})`);
    for (const r of DE_REGIONS) {
      const len = 2 + r.areaCode.length + r.localDigits;
      add('49' + r.areaCode, len, len, 'DE', '49', 'fixed', false, '', `DE geographic: ${r.name} (0${r.areaCode})`);
    }
    add('4932', 12, 13, 'DE', '49', 'fixed', false, '', 'DE national subscriber numbers (032), charged as geographic');
    for (const p of ['4915', '4916', '4917']) add(p, 12, 13, 'DE', '49', 'mobile', false, '', `DE mobile (0${p.slice(2)}x), other networks`);
    add(H.msisdnBlock, 13, 13, 'DE', '49', 'mobile', false, H.name, `DE mobile: ${H.name} subscribers`);
    add(H.serviceBlock, 13, 13, 'DE', '49', 'mobile', false, H.name, `DE mobile: ${H.name} service numbers`);
    add('4915733', 14, 14, 'DE', '49', 'voicemail', false, H.name, `${H.name} mailboxes (0157 33 + subscriber number) and voicemail platform`);
    add('49700', 13, 13, 'DE', '49', 'premium', false, '', 'DE personal numbers (0700)');
    add('49800', 12, 12, 'DE', '49', 'toll-free', false, '', 'DE freephone (0800)');
    add('49180', 12, 12, 'DE', '49', 'shared-cost', false, '', 'DE shared-cost service numbers (0180)');
    add('49137', 12, 12, 'DE', '49', 'premium', false, '', 'DE mass-call services (0137)');
    add('49900', 12, 12, 'DE', '49', 'premium', false, '', 'DE premium rate (0900)');
    add('118', 5, 6, 'DE', '49', 'premium', false, '', 'DE directory enquiries (118xx, as dialled)');
    for (const s of DE_SHORT_CODES) add(s.code, s.code.length, s.code.length, 'DE', '49', s.numberClass, false, s.code === '2202' || s.code === '3311' ? H.name : '', `${s.description} (as dialled)`);
    // Application-to-person SMS senders: 5-digit short codes 6xxxx-9xxxx [proposal].
    for (const d of ['6', '7', '8', '9']) add(d, 5, 5, 'DE', '49', 'short', false, '', 'DE SMS short code (5 digits, A2P senders)');
  },
  contractPrefixes: [
    ['492', 'DE geographic (02)', 70],
    ['493', 'DE geographic (03)', 70],
    ['494', 'DE geographic (04)', 70],
    ['495', 'DE geographic (05)', 70],
    ['496', 'DE geographic (06)', 70],
    ['497', 'DE geographic (07)', 70],
    ['498', 'DE geographic (08)', 70],
    ['499', 'DE geographic (09)', 70],
    ['4915', 'DE mobile (015)', 140],
    ['4916', 'DE mobile (016)', 140],
    ['4917', 'DE mobile (017)', 140],
  ],
  addressStyle: 'de',
};

export const HOME_PLANS: Readonly<Record<string, HomePlan>> = { GB: GB_PLAN, DE: DE_PLAN };
export const HOME_COUNTRIES = Object.keys(HOME_PLANS);

// ---------------------------------------------------------------------------------------------------------
// The active home country (live bindings)

export let PLAN: HomePlan = GB_PLAN;
export let HOME: HomeOperator = GB_PLAN.operator;
export let REGIONS: readonly Region[] = GB_PLAN.regions;
export let COUNTRIES: readonly Country[] = GB_PLAN.foreign;
export let HOME_ZONE: Zone = GB_PLAN.zone;

export function homePlan(iso: string): HomePlan {
  const p = HOME_PLANS[iso.toUpperCase()];
  if (!p) throw new RangeError(`unknown home country "${iso}" (known: ${HOME_COUNTRIES.join(', ')})`);
  return p;
}

/** Makes a plan the active home country (cheap when it already is). */
export function activateHome(p: HomePlan): void {
  if (PLAN === p) return;
  PLAN = p;
  HOME = p.operator;
  REGIONS = p.regions;
  COUNTRIES = p.foreign;
  HOME_ZONE = p.zone;
}

/**
 * A value derived from the active country, computed once per country (module-level tables of the scenarios
 * and the clean traffic: country filters, cumulative weights).
 */
export function perHome<T>(make: () => T): () => T {
  const cache = new Map<HomePlan, T>();
  return () => {
    let v = cache.get(PLAN);
    if (v === undefined) {
      v = make();
      cache.set(PLAN, v);
    }
    return v;
  };
}
