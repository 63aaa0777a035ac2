/**
 * The numbering plan the population implies: the home operator and its national number ranges (home.ts:
 * for GB the Ofcom National Telephone Numbering Plan — 01/02 geographic, 03 non-geographic, 07 mobile, 080
 * freephone, 084/087 service numbers, 09 premium rate, 118 directory enquiries, 999/112 emergency; for DE
 * the Bundesnetzagentur's — variable-length geographic numbers, 015x/016x/017x mobile, 0800, 0180, 0900,
 * 118xx, 110/112),
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
import { digits, hash3 } from './random.js';
import { COUNTRIES, REGIONS, type Country } from './geography.js';
import { HOME, PLAN } from './home.js';
import type { NumberClass, NumberRangeRecord } from '../../schemas/reference.js';

export { HOME } from './home.js';
export { digits } from './random.js';

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

/** An off-net mobile number of the home country (E.164). */
export function offnetMobile(h: number): string {
  return PLAN.offnetMobile(h);
}

/** A fixed number in a region (first local digit 2 or 5-9: our PBX DDI blocks use 3 and 4). */
export function fixedNumber(region: number, h: number): string {
  const r = REGIONS[region] as (typeof REGIONS)[number];
  const first = [2, 5, 6, 7, 8, 9][h % 6] as number;
  return HOME.countryCode + r.areaCode + String(first) + digits(hash3(h, 2, 0), r.localDigits - 1);
}

/** A PBX direct-dial-in number: block `block` of 100 numbers in the region, extension 0..99. */
export function ddiNumber(region: number, block: number, ext: number): string {
  const r = REGIONS[region] as (typeof REGIONS)[number];
  const local = String(block * 100 + ext).padStart(r.localDigits - 1, '0');
  if (local.length > r.localDigits - 1) throw new RangeError(`DDI block ${block} does not fit region ${r.name}`);
  return HOME.countryCode + r.areaCode + (region === 0 ? '3' : '4') + local;
}

export function freephoneNumber(h: number): string {
  return PLAN.freephone(h);
}

export function sharedCostNumber(h: number): string {
  return PLAN.sharedCost(h);
}

export function premiumNumber(h: number): string {
  return PLAN.premium(h);
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

/**
 * The form a subscriber dials. At home: national numbers mostly as "0..." and sometimes "+44..." (from the
 * phone book), international as "00..." or "+..."; abroad everything in "+" form. [proposal: shares]
 */
export function dialledForm(e164: string, abroad: boolean, u: number): string {
  if (e164.length <= 6) return e164; // short codes
  if (abroad) return '+' + e164;
  if (e164.startsWith(HOME.countryCode)) return u < 0.8 ? HOME.nationalPrefix + e164.slice(HOME.countryCode.length) : '+' + e164;
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
  // Home country (E.164 forms, and short codes as dialled).
  PLAN.homeRanges(add);
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
