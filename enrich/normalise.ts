/**
 * Party-number normalisation (issue #4): any number as a switch wrote it (as dialled: "07911 123456",
 * "+44 7911...", "0044...", "011 44..." from a NANP network, short codes "999", "118118"; or as presented:
 * E.164 digits without "+") to E.164 digits, classified with the numbering plan (schemas/reference.ts
 * NumberRangeRecord, numbering-plan.csv): local, national, mobile, international, premium, toll-free,
 * shared-cost, emergency, short code, voicemail, network; with its country and high-risk flag.
 *
 * Dialling rules are those of the country of the switch that wrote the number (ITU-T E.164 and E.123: a
 * national trunk prefix such as "0" and international prefixes such as "00" or "011"): home switches use the
 * operator's (operator.json), a visited network's pseudo-switch (VPMN-<plmn>) those of the network's country
 * (networks.csv, countries.csv), with the national and international prefixes of the built-in table below
 * (ITU Operational Bulletin "national numbering plan" notifications; extend it with `dialling`).
 *
 * Everything is compiled at construction: the numbering plan into two digit tries (E.164 ranges, and
 * national short codes "as dialled": ranges of at most 6 digits), switch contexts into a map. The
 * per-record path is string slicing and one or two trie walks.
 */
import type { CountryRecord, NetworkRecord, NumberClass, NumberRangeRecord, OperatorRecord } from '../schemas/reference.js';
import type { NumberCategory } from '../schemas/tariff.js';
import { DigitTrie } from './rate/trie.js';

/** National (trunk) prefix and international prefixes of a country. */
export interface DiallingRules {
  trunk: string;
  international: string[];
}

/**
 * Built-in dialling rules of the countries our roamers visit (ITU-T E.164 national numbering plans as
 * notified to the ITU): trunk prefix "" where the national number is dialled without one (Spain, Italy,
 * Poland, Portugal, Greece, Latvia; Italian numbers keep their leading 0 inside E.164).
 */
export const DIALLING: Record<string, DiallingRules> = {
  GB: { trunk: '0', international: ['00'] },
  IE: { trunk: '0', international: ['00'] },
  FR: { trunk: '0', international: ['00'] },
  DE: { trunk: '0', international: ['00'] },
  ES: { trunk: '', international: ['00'] },
  IT: { trunk: '', international: ['00'] },
  PL: { trunk: '', international: ['00'] },
  RO: { trunk: '0', international: ['00'] },
  PT: { trunk: '', international: ['00'] },
  GR: { trunk: '', international: ['00'] },
  LV: { trunk: '', international: ['00'] },
  TR: { trunk: '0', international: ['00'] },
  US: { trunk: '1', international: ['011'] },
  CA: { trunk: '1', international: ['011'] },
  IN: { trunk: '0', international: ['00'] },
  PK: { trunk: '0', international: ['00'] },
  NG: { trunk: '0', international: ['009'] },
  AU: { trunk: '0', international: ['0011'] },
  CN: { trunk: '0', international: ['00'] },
  PH: { trunk: '0', international: ['00'] },
  AE: { trunk: '0', international: ['00'] },
  BD: { trunk: '0', international: ['00'] },
};

const DEFAULT_RULES: DiallingRules = { trunk: '0', international: ['00'] };

/** How numbers written by one switch are read. */
export interface DialContext {
  country: string;
  countryCode: string;
  trunk: string;
  /** Longest first. */
  international: string[];
}

export interface NormalisedNumber {
  /** E.164 digits without "+"; a national short code stays as dialled (see `shortCode`). */
  e164: string;
  shortCode: boolean;
  category: NumberCategory;
  numberClass: NumberClass | null;
  country: string | null;
  countryCode: string | null;
  highRisk: boolean;
  /** The numbering-plan prefix that classified the number. */
  matchedPrefix: string | null;
}

export interface NormaliserInput {
  operator: OperatorRecord;
  numberingPlan: Iterable<NumberRangeRecord>;
  networks?: Iterable<NetworkRecord>;
  countries?: Iterable<CountryRecord>;
  /** Extra or overriding dialling rules by ISO country. */
  dialling?: Record<string, DiallingRules>;
}

const MAX_DEPTH = 32;

export class Normaliser {
  readonly home: DialContext;
  readonly homeCountry: string;
  private readonly contexts = new Map<string, DialContext>();
  private readonly countryOfPlmn = new Map<string, string>();
  private readonly trie = new DigitTrie(1024);
  private readonly shortTrie = new DigitTrie(64);
  private readonly rows: NumberRangeRecord[] = [];
  /** Category of each row, computed once. */
  private readonly rowCategory: NumberCategory[] = [];
  /** Next row with the same prefix (several length ranges per prefix), -1 at the end. */
  private readonly rowNext: number[] = [];
  private readonly payloads = new Int32Array(MAX_DEPTH);
  private readonly depths = new Int32Array(MAX_DEPTH);
  private readonly dialling: Record<string, DiallingRules>;
  private readonly ccOf = new Map<string, string>();

  constructor(input: NormaliserInput) {
    const op = input.operator;
    this.dialling = { ...DIALLING, ...input.dialling };
    this.homeCountry = op.country;
    this.home = { country: op.country, countryCode: op.countryCode, trunk: op.nationalPrefix, international: [op.internationalPrefix, ...(this.dialling[op.country]?.international ?? [])].filter((p, i, a) => p !== '' && a.indexOf(p) === i).sort((a, b) => b.length - a.length) };
    for (const c of input.countries ?? []) this.ccOf.set(c.country, c.countryCode);
    this.ccOf.set(op.country, op.countryCode);
    for (const n of input.networks ?? []) this.countryOfPlmn.set(n.plmn, n.country);
    for (const r of input.numberingPlan) {
      const short = r.maxLength <= 6;
      const t = short ? this.shortTrie : this.trie;
      const i = this.rows.length;
      this.rows.push(r);
      this.rowCategory.push(categoryOf(r, op.country));
      this.rowNext.push(-1);
      const prev = t.set(r.prefix, i);
      if (prev >= 0) this.rowNext[i] = prev;
      if (!short && !this.ccOf.has(r.country)) this.ccOf.set(r.country, r.countryCode);
    }
    this.trie.seal();
    this.shortTrie.seal();
    for (const s of op.switches) {
      if (s.kind !== 'visited-network') continue;
      const country = this.countryOfPlmn.get(s.location);
      if (country) this.contexts.set(s.id, this.contextForCountry(country));
    }
  }

  /** Dialling context of a country (its calling code from countries.csv / the numbering plan). */
  contextForCountry(country: string): DialContext {
    if (country === this.homeCountry) return this.home;
    const rules = this.dialling[country] ?? DEFAULT_RULES;
    const cc = this.ccOf.get(country);
    if (cc === undefined) return this.home;
    return { country, countryCode: cc, trunk: rules.trunk, international: [...rules.international].sort((a, b) => b.length - a.length) };
  }

  /** Dialling context of the switch (recordingEntity) that wrote a CDR; home rules for unknown switches. */
  contextFor(recordingEntity: string | null | undefined): DialContext {
    if (!recordingEntity) return this.home;
    return this.contexts.get(recordingEntity) ?? this.home;
  }

  /** Country of a PLMN (MCC-MNC) from networks.csv, or null. */
  countryOf(plmn: string): string | null {
    return this.countryOfPlmn.get(plmn) ?? null;
  }

  /**
   * Normalises and classifies a party number. `caller` (E.164 of the other party) tells a local call from a
   * national one: both geographic numbers in the same area. Returns null for a missing or malformed number.
   */
  normalise(raw: string | null | undefined, ctx: DialContext = this.home, caller: string | null = null): NormalisedNumber | null {
    const out = blankNumber();
    return this.normaliseInto(raw, ctx, caller, out) ? out : null;
  }

  /** The same, written into `out` (no allocation for the per-record path); false when there is no number. */
  normaliseInto(raw: string | null | undefined, ctx: DialContext, caller: string | null, out: NormalisedNumber): boolean {
    if (raw === null || raw === undefined || raw.length === 0) return false;
    let s = raw;
    if (!isDialString(s)) {
      // E.123 presentation: spaces, hyphens, brackets, dots; "+44 (0)20 ..." shows the trunk prefix in brackets.
      s = s.replace('(0)', '').replace(/[\s\-().]/g, '');
      if (s.startsWith('tel:')) s = s.slice(4);
      if (!isDialString(s) || s.length === 0) return false;
    }
    let e164: string;
    // The plan row of e164 when already found (bare digits valid as they are), else -1: classify finds it.
    let row = -1;
    if (s.charCodeAt(0) === 43 /* + */) {
      e164 = s.slice(1);
      if (e164.length === 0 || e164.indexOf('+') >= 0) return false;
    } else {
      let intl = '';
      const prefixes = ctx.international;
      for (let i = 0; i < prefixes.length; i++) {
        const p = prefixes[i]!;
        if (s.length > p.length + 2 && s.startsWith(p)) {
          intl = p;
          break;
        }
      }
      if (intl !== '') e164 = s.slice(intl.length);
      else if (s.length <= 6) {
        this.shortCode(s, ctx, out);
        return true;
      } else if (ctx.trunk !== '' && s.startsWith(ctx.trunk)) e164 = ctx.countryCode + s.slice(ctx.trunk.length);
      // Bare digits: E.164 as presented (TS 32.298 international type of number) if they are a valid number,
      // else a national number dialled without a trunk prefix (Spain, Italy; NANP 10-digit dialling). The
      // plan row found for the check is the one classification needs: one trie walk, not two.
      else {
        const own = this.rowFor(s);
        if (own >= 0 && this.fits(own, s)) {
          e164 = s;
          row = own;
        } else if (this.validE164(ctx.countryCode + s)) e164 = ctx.countryCode + s;
        else {
          e164 = s;
          row = own;
        }
      }
    }
    if (row >= 0) this.classifyRow(e164, row, caller, out);
    else this.classifyInto(e164, caller, out);
    return true;
  }

  /** Classifies E.164 digits with the numbering plan. */
  classify(e164: string, caller: string | null = null): NormalisedNumber {
    const out = blankNumber();
    this.classifyInto(e164, caller, out);
    return out;
  }

  private classifyInto(e164: string, caller: string | null, out: NormalisedNumber): void {
    this.classifyRow(e164, this.rowFor(e164), caller, out);
  }

  /** classifyInto with the number's plan row (rowFor(e164)) already found. */
  private classifyRow(e164: string, row: number, caller: string | null, out: NormalisedNumber): void {
    out.e164 = e164;
    out.shortCode = false;
    if (row < 0) {
      out.category = 'unknown';
      out.numberClass = null;
      out.country = null;
      out.countryCode = null;
      out.highRisk = false;
      out.matchedPrefix = null;
      return;
    }
    const r = this.rows[row]!;
    let category = this.rowCategory[row]!;
    if (category === 'national' && caller !== null && caller.length > 6 && r.prefix.length > r.countryCode.length + 1 && this.rowFor(caller) === row) category = 'local';
    out.category = category;
    out.numberClass = r.numberClass;
    out.country = r.country;
    out.countryCode = r.countryCode;
    out.highRisk = r.highRisk;
    out.matchedPrefix = r.prefix;
  }

  private shortCode(s: string, ctx: DialContext, out: NormalisedNumber): void {
    out.e164 = s;
    out.shortCode = true;
    // National short codes are those of the switch's country; the plan only knows the home country's.
    if (ctx === this.home) {
      const n = this.shortTrie.matches(s, this.payloads, this.depths);
      for (let k = n - 1; k >= 0; k--) {
        for (let row = this.payloads[k]!; row >= 0; row = this.rowNext[row]!) {
          const r = this.rows[row]!;
          if (s.length >= r.minLength && s.length <= r.maxLength) {
            out.category = this.rowCategory[row]!;
            out.numberClass = r.numberClass;
            out.country = r.country;
            out.countryCode = r.countryCode;
            out.highRisk = r.highRisk;
            out.matchedPrefix = r.prefix;
            return;
          }
        }
      }
    }
    out.category = 'short-code';
    out.numberClass = 'short';
    out.country = ctx.country;
    out.countryCode = ctx.countryCode;
    out.highRisk = false;
    out.matchedPrefix = null;
  }

  /** True if the digits are a number of some E.164 range of the plan (prefix and length). */
  validE164(digits: string): boolean {
    const row = this.rowFor(digits);
    return row >= 0 && this.fits(row, digits);
  }

  /** Whether the digits' length is within the plan row's range. */
  private fits(row: number, digits: string): boolean {
    const r = this.rows[row]!;
    return digits.length >= r.minLength && digits.length <= r.maxLength;
  }

  /** The deepest range whose prefix and length fit, else the deepest prefix match; -1 if none. */
  private rowFor(e164: string): number {
    const n = this.trie.matches(e164, this.payloads, this.depths);
    for (let k = n - 1; k >= 0; k--) {
      for (let row = this.payloads[k]!; row >= 0; row = this.rowNext[row]!) {
        const r = this.rows[row]!;
        if (e164.length >= r.minLength && e164.length <= r.maxLength) return row;
      }
    }
    return n > 0 ? this.payloads[n - 1]! : -1;
  }
}

/** A NormalisedNumber to fill (e.g. one scratch object reused for every record). */
export function blankNumber(): NormalisedNumber {
  return { e164: '', shortCode: false, category: 'unknown', numberClass: null, country: null, countryCode: null, highRisk: false, matchedPrefix: null };
}

function isDialString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 48 || c > 57) && !(c === 43 && i === 0)) return false;
  }
  return true;
}

function categoryOf(r: NumberRangeRecord, home: string): NumberCategory {
  switch (r.numberClass) {
    case 'emergency':
      return 'emergency';
    case 'short':
      return 'short-code';
    case 'voicemail':
      return 'voicemail';
    default:
      break;
  }
  if (r.country !== home) return 'international';
  switch (r.numberClass) {
    case 'fixed':
      return 'national';
    case 'mobile':
      return 'mobile';
    case 'toll-free':
      return 'toll-free';
    case 'premium':
      return 'premium';
    case 'shared-cost':
      return 'shared-cost';
    case 'network':
      return 'network';
    default:
      return 'unknown';
  }
}
