/**
 * The numbering plan the population implies: the home operator (fictional, UK-like), the national number
 * ranges (Ofcom National Telephone Numbering Plan: 01/02 geographic, 03 non-geographic, 07 mobile, 080
 * freephone, 084/087 service numbers, 09 premium rate, 118 directory enquiries, 999/112 emergency),
 * international destinations by ITU-T E.164 country code, and the high-risk ranges named in
 * (published hot lists and the FBI's 2014 one-ring warning): the shared international-network code +882 and the International
 * Premium Rate Service code +979 (Neo4j demo generator), and the Caribbean NANP codes of the FBI's 2014
 * one-ring warning (Anguilla, Antigua, Barbados, British Virgin Islands, Dominica, Grenada, Montserrat,
 * Turks and Caicos).
 *
 * Numbers are generated in E.164 digits without "+" (TS 32.298 address strings with international type of
 * number), except what a subscriber *dials* (calledNumber of MO records), which keeps the dialled form:
 * national "0...", international "00..." or "+...", short codes as dialled. `toE164` undoes that.
 */
import { hash3 } from './random.js';
import { COUNTRIES, REGIONS, type Country } from './geography.js';
import type { NumberClass, NumberRangeRecord } from '../../schemas/reference.js';

export const HOME = {
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
} as const;

/** High-risk range: a prefix (E.164 digits) a hot list would carry. */
export interface RiskRange {
  prefix: string;
  iso: string;
  name: string;
  cc: string;
  /** Total E.164 length of numbers in the range. */
  length: number;
  numberClass: NumberClass;
  /** In the published lists (true), or a high-cost range such lists miss (false). */
  listed: boolean;
  source: string;
}

export const RISK_RANGES: readonly RiskRange[] = [
  { prefix: '88239', iso: 'XN', name: 'International Networks (+882)', cc: '882', length: 13, numberClass: 'network', listed: true, source: 'Neo4j demo: +882' },
  { prefix: '97912', iso: 'XP', name: 'International Premium Rate Service (+979)', cc: '979', length: 12, numberClass: 'premium', listed: true, source: 'Neo4j demo: +979' },
  { prefix: '1264', iso: 'AI', name: 'Anguilla', cc: '1', length: 11, numberClass: 'fixed', listed: true, source: 'FBI 2014' },
  { prefix: '1268', iso: 'AG', name: 'Antigua and Barbuda', cc: '1', length: 11, numberClass: 'fixed', listed: true, source: 'FBI 2014' },
  { prefix: '1246', iso: 'BB', name: 'Barbados', cc: '1', length: 11, numberClass: 'fixed', listed: true, source: 'FBI 2014' },
  { prefix: '1284', iso: 'VG', name: 'British Virgin Islands', cc: '1', length: 11, numberClass: 'fixed', listed: true, source: 'FBI 2014' },
  { prefix: '1767', iso: 'DM', name: 'Dominica', cc: '1', length: 11, numberClass: 'fixed', listed: true, source: 'FBI 2014' },
  { prefix: '1473', iso: 'GD', name: 'Grenada', cc: '1', length: 11, numberClass: 'fixed', listed: true, source: 'FBI 2014' },
  { prefix: '1664', iso: 'MS', name: 'Montserrat', cc: '1', length: 11, numberClass: 'fixed', listed: true, source: 'FBI 2014' },
  { prefix: '1649', iso: 'TC', name: 'Turks and Caicos Islands', cc: '1', length: 11, numberClass: 'fixed', listed: true, source: 'FBI 2014' },
  // High-cost destinations outside the lists above: the "dynamic destinations" evasive variant of IRSF
  // (GSMA: IRSF destinations are not static). Not flagged high-risk in the reference data [proposal].
  { prefix: '37190', iso: 'LV', name: 'Latvia', cc: '371', length: 11, numberClass: 'premium', listed: false, source: '[proposal] high-cost, not hot-listed' },
  { prefix: '5352', iso: 'CU', name: 'Cuba', cc: '53', length: 10, numberClass: 'mobile', listed: false, source: '[proposal] high-cost, not hot-listed' },
  { prefix: '25261', iso: 'SO', name: 'Somalia', cc: '252', length: 12, numberClass: 'mobile', listed: false, source: '[proposal] high-cost, not hot-listed' },
  { prefix: '23276', iso: 'SL', name: 'Sierra Leone', cc: '232', length: 11, numberClass: 'mobile', listed: false, source: '[proposal] high-cost, not hot-listed' },
  { prefix: '224655', iso: 'GN', name: 'Guinea', cc: '224', length: 12, numberClass: 'mobile', listed: false, source: '[proposal] high-cost, not hot-listed' },
];

export const LISTED_RANGES = RISK_RANGES.filter((r) => r.listed);
export const UNLISTED_RANGES = RISK_RANGES.filter((r) => !r.listed);
/** Caribbean NANP ranges (Wangiri and PBX-hacking destinations). */
export const CARIBBEAN_RANGES = RISK_RANGES.filter((r) => r.cc === '1');

/** Off-net UK mobile prefixes (E.164), avoiding our own 447 90/91 blocks. */
const OFFNET_MOBILE = ['4471', '4473', '4474', '4475', '4477', '4478', '44792', '44795', '44797', '44798'];

/** n decimal digits from a hash, the first one in [first, 9]. */
export function digits(h: number, n: number, first = 0): string {
  let s = '';
  let x = h >>> 0;
  for (let i = 0; i < n; i++) {
    if (i === 0 && first > 0) s += String(first + (x % (10 - first)));
    else s += String(x % 10);
    x = Math.floor(x / 10);
    if (x < 10) x = hash3(h, i, n);
  }
  return s;
}

export function offnetMobile(h: number): string {
  const p = OFFNET_MOBILE[h % OFFNET_MOBILE.length] as string;
  return p + digits(hash3(h, 1, 0), 12 - p.length);
}

/** A fixed number in a region (first local digit 2 or 5-9: our PBX DDI blocks use 3 and 4). */
export function fixedNumber(region: number, h: number): string {
  const r = REGIONS[region] as (typeof REGIONS)[number];
  const first = [2, 5, 6, 7, 8, 9][h % 6] as number;
  return '44' + r.areaCode + String(first) + digits(hash3(h, 2, 0), r.localDigits - 1);
}

/** A PBX direct-dial-in number: block `block` of 100 numbers in the region, extension 0..99. */
export function ddiNumber(region: number, block: number, ext: number): string {
  const r = REGIONS[region] as (typeof REGIONS)[number];
  const local = String(block * 100 + ext).padStart(r.localDigits - 1, '0');
  if (local.length > r.localDigits - 1) throw new RangeError(`DDI block ${block} does not fit region ${r.name}`);
  return '44' + r.areaCode + (region === 0 ? '3' : '4') + local;
}

export function freephoneNumber(h: number): string {
  return (h % 4 === 0 ? '44808' : '44800') + digits(hash3(h, 3, 0), 7, 1);
}

export function sharedCostNumber(h: number): string {
  const p = ['44843', '44844', '44845', '44870', '44871', '44872'][h % 6] as string;
  return p + digits(hash3(h, 4, 0), 7, 1);
}

export function premiumNumber(h: number): string {
  return '4490' + digits(hash3(h, 5, 0), 8, 1);
}

/** A number in a foreign country (mobile or fixed). */
export function foreignNumber(c: Country, mobile: boolean, h: number): string {
  const useMobile = mobile && c.mobile.length > 0;
  const prefixes = useMobile ? c.mobile : c.fixed;
  const p = prefixes[h % prefixes.length] as string;
  const len = useMobile ? c.mobileLen : c.fixedLen;
  return c.cc + p + digits(hash3(h, 6, 0), len - p.length, 2);
}

/** A number in a high-risk range; `block` fixes the next three digits (one campaign's sub-range). */
export function riskNumber(r: RiskRange, block: number, h: number): string {
  const head = r.prefix + String(block % 1000).padStart(3, '0');
  return head + digits(hash3(h, 7, 0), r.length - head.length);
}

/** The sub-range a campaign uses: the prefix plus three digits (what a range-level label names). */
export function riskBlock(r: RiskRange, block: number): string {
  return r.prefix + String(block % 1000).padStart(3, '0');
}

/** Short codes as dialled (national only), with their class. */
export const SHORT_CODES = [
  { code: '999', numberClass: 'emergency' as NumberClass, description: 'Emergency services' },
  { code: '112', numberClass: 'emergency' as NumberClass, description: 'Emergency services (EU single number)' },
  { code: '101', numberClass: 'short' as NumberClass, description: 'Police non-emergency' },
  { code: '111', numberClass: 'short' as NumberClass, description: 'NHS non-emergency' },
  { code: '150', numberClass: 'short' as NumberClass, description: 'Albion customer care (free)' },
  { code: '121', numberClass: 'voicemail' as NumberClass, description: 'Voicemail retrieval (free)' },
] as const;

/**
 * The form a subscriber dials. At home: national numbers mostly as "0..." and sometimes "+44..." (from the
 * phone book), international as "00..." or "+..."; abroad everything in "+" form. [proposal: shares]
 */
export function dialledForm(e164: string, abroad: boolean, u: number): string {
  if (e164.length <= 6) return e164; // short codes
  if (abroad) return '+' + e164;
  if (e164.startsWith(HOME.countryCode)) return u < 0.8 ? HOME.nationalPrefix + e164.slice(2) : '+' + e164;
  return u < 0.6 ? HOME.internationalPrefix + e164 : '+' + e164;
}

/** Normalise a dialled or presented number to E.164 digits (home dialling rules: 0 national, 00 international). */
export function toE164(n: string): string {
  if (n.startsWith('+')) return n.slice(1);
  if (n.startsWith(HOME.internationalPrefix)) return n.slice(2);
  if (n.startsWith(HOME.nationalPrefix)) return HOME.countryCode + n.slice(1);
  return n;
}

/** Every range of the numbering plan, longest prefix wins (reference data, numbering-plan.csv). */
export function numberingPlan(): NumberRangeRecord[] {
  const rows: NumberRangeRecord[] = [];
  const add = (prefix: string, minLength: number, maxLength: number, country: string, countryCode: string, numberClass: NumberClass, highRisk: boolean, rangeHolder: string, description: string) =>
    rows.push({ prefix, minLength, maxLength, country, countryCode, numberClass, highRisk, rangeHolder, description });
  // Home country (E.164 forms).
  add('441', 11, 12, 'GB', '44', 'fixed', false, '', 'UK geographic (01)');
  add('442', 12, 12, 'GB', '44', 'fixed', false, '', 'UK geographic (02)');
  for (const r of REGIONS) add('44' + r.areaCode, 12, 12, 'GB', '44', 'fixed', false, '', `UK geographic: ${r.name} (0${r.areaCode})`);
  add('443', 12, 12, 'GB', '44', 'fixed', false, '', 'UK non-geographic, charged as geographic (03)');
  add('4470', 12, 12, 'GB', '44', 'premium', false, '', 'UK personal numbering (070)');
  add('4476', 12, 12, 'GB', '44', 'premium', false, '', 'UK radiopaging (076)');
  add('447', 12, 12, 'GB', '44', 'mobile', false, '', 'UK mobile (07), other networks');
  add(HOME.msisdnBlock, 12, 12, 'GB', '44', 'mobile', false, HOME.name, `UK mobile: ${HOME.name} subscribers`);
  add(HOME.serviceBlock, 12, 12, 'GB', '44', 'mobile', false, HOME.name, `UK mobile: ${HOME.name} service numbers`);
  add(HOME.voicemailNumber, 12, 12, 'GB', '44', 'voicemail', false, HOME.name, `${HOME.name} voicemail platform`);
  add('44800', 12, 12, 'GB', '44', 'toll-free', false, '', 'UK freephone (0800)');
  add('44808', 12, 12, 'GB', '44', 'toll-free', false, '', 'UK freephone (0808)');
  for (const p of ['44843', '44844', '44845']) add(p, 12, 12, 'GB', '44', 'shared-cost', false, '', `UK service number (0${p.slice(2)})`);
  for (const p of ['44870', '44871', '44872', '44873']) add(p, 12, 12, 'GB', '44', 'shared-cost', false, '', `UK service number (0${p.slice(2)})`);
  add('449', 12, 12, 'GB', '44', 'premium', false, '', 'UK premium rate (09)');
  add('118', 6, 6, 'GB', '44', 'premium', false, '', 'UK directory enquiries (118xxx, as dialled)');
  for (const s of SHORT_CODES) add(s.code, 3, 3, 'GB', '44', s.numberClass, false, s.numberClass === 'voicemail' || s.code === '150' ? HOME.name : '', `${s.description} (as dialled)`);
  // Application-to-person SMS senders (bank codes, deliveries): 5-digit short codes 6xxxx-9xxxx.
  for (const d of ['6', '7', '8', '9']) add(d, 5, 5, 'GB', '44', 'short', false, '', 'UK SMS short code (5 digits, A2P senders)');
  // International destinations.
  for (const c of COUNTRIES) {
    const fixedTotal = c.cc.length + c.fixedLen;
    const mobileTotal = c.cc.length + c.mobileLen;
    add(c.cc, Math.min(fixedTotal, mobileTotal), Math.max(fixedTotal, mobileTotal), c.iso, c.cc, 'fixed', false, '', c.iso === 'US' ? 'NANP: United States and Canada (fixed and mobile)' : `${c.name}`);
    for (const m of c.mobile) add(c.cc + m, mobileTotal, mobileTotal, c.iso, c.cc, 'mobile', false, '', `${c.name} mobile`);
  }
  add('883', 11, 15, 'XN', '883', 'network', false, '', 'International Networks (+883)');
  add('882', 11, 15, 'XN', '882', 'network', false, '', 'International Networks (+882)');
  add('979', 12, 12, 'XP', '979', 'premium', false, '', 'International Premium Rate Service (+979)');
  for (const r of RISK_RANGES) {
    // Whole country codes for the unlisted high-cost destinations, so that every generated number matches.
    if (!r.listed && !rows.some((x) => x.prefix === r.cc)) add(r.cc, r.length - 1, r.length + 1, r.iso, r.cc, 'fixed', false, '', r.name);
    add(r.prefix, r.length, r.length, r.iso, r.cc, r.numberClass, r.listed, '', `${r.name}${r.listed ? ' (high-risk range)' : ''}`);
  }
  return rows;
}
