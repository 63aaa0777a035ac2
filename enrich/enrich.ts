/**
 * Enrichment: what analysts and fraud rules need next to every CDR, from the reference data compiled once
 * at start-up (or reload) into plain maps: the served line (status, plan, account class), the serving cell's
 * region and country, roaming with home and visited network, and the other party normalised to E.164 with
 * its class, country and high-risk flag.
 */
import type { Cdr } from '../schemas/index.js';
import type { CellRecord } from '../schemas/reference.js';
import type { ReferenceData } from './reference.js';
import type { Normaliser } from './normalise.js';

export type EnrichmentColumns = Record<string, string | number | null>;

/**
 * The enrichment of one CDR as it comes out of the compiled lookups, before the other party: the rating stage
 * (enrich/rate/stage.ts) puts these straight into the rated row, in createEnricher's column order.
 */
export interface ServedContext {
  line_status: string | null;
  plan: string | null;
  account_class: string | null;
  serving_region: string | null;
  serving_country: string | null;
  home_country: string | null;
  roaming: number;
  visited_plmn: string | null;
}

interface LineInfo {
  status: string;
  plan: string;
  accountClass: string | null;
}

/**
 * A cell key of cells.csv as the number a CDR carries: `lac`/`cellId` match when their decimal texts do
 * (createEnricher keys cells by "lac/cellId" text), so a reference value is keyed by the number whose text
 * it is, and a value no number prints as ("07", "", null) is keyed by nothing.
 */
function numberKey(v: unknown): number | undefined {
  const text = String(v);
  const n = Number(text);
  return String(n) === text ? n : undefined;
}

/**
 * createEnricher's lookups compiled for the per-record path (issue #15): cells by number in a map per
 * location area (no "lac/cellId" string built per record), the home network's country looked up once. One
 * instance is reused: `served()` overwrites and returns the same scratch object, which the caller copies.
 */
export class EnrichmentLookups {
  /** By the line's position in ref.lines (the ordinal Subscribers.lastLine reports). */
  private readonly lines: LineInfo[];
  /** Lines whose MSISDN the subscriber table cannot key (not 1-15 digits), by MSISDN, later rows winning. */
  private readonly unkeyed = new Map<string, LineInfo>();
  private readonly cells = new Map<number, Map<number, CellRecord>>();
  private readonly networkCountry: Map<string, string>;
  private readonly homePlmn: string;
  private readonly homeCountry: string | null;
  private readonly out: ServedContext = { line_status: null, plan: null, account_class: null, serving_region: null, serving_country: null, home_country: null, roaming: 0, visited_plmn: null };

  /**
   * `keyable`: whether the subscriber table that reports line ordinals (enrich/rate/subscribers.ts, built from
   * the same ref.lines in the same order) can hold an MSISDN; the lines it cannot are looked up here by text.
   */
  constructor(ref: ReferenceData, keyable: (msisdn: string) => boolean) {
    const accounts = new Map(ref.accounts.map((a) => [a.accountId, a]));
    this.lines = ref.lines.map((l) => ({ status: l.status, plan: l.plan, accountClass: accounts.get(l.accountId)?.class ?? null }));
    ref.lines.forEach((l, i) => {
      if (!keyable(l.msisdn)) this.unkeyed.set(l.msisdn, this.lines[i]!);
    });
    // Later rows win, as in the Map of createEnricher.
    for (const c of ref.cells) {
      const lac = numberKey(c.lac);
      const cell = numberKey(c.cellId);
      if (lac === undefined || cell === undefined) continue;
      let byCell = this.cells.get(lac);
      if (byCell === undefined) this.cells.set(lac, (byCell = new Map()));
      byCell.set(cell, c);
    }
    this.networkCountry = new Map(ref.networks.map((n) => [n.plmn, n.country]));
    this.homePlmn = ref.operator.plmn;
    this.homeCountry = this.networkCountry.get(this.homePlmn) ?? null;
  }

  /**
   * The served line, cell and networks of a CDR (createEnricher's first eight columns), in a reused scratch.
   * `line`: the served MSISDN's line as the subscriber table found it (Subscribers.lastLine after resolving
   * this CDR), -1 when it found none: the same line createEnricher's map by MSISDN finds, without hashing the
   * MSISDN's text again (the table keeps the later of a repeated MSISDN, as the map does).
   */
  served(cdr: Cdr, line: number): ServedContext {
    const o = this.out;
    const info = line >= 0 ? this.lines[line] : this.unkeyed.size > 0 ? this.unkeyed.get(cdr.servedMsisdn) : undefined;
    const lac = cdr.lac;
    const cellId = cdr.cellId;
    const cell = lac !== null && cellId !== null ? this.cells.get(lac)?.get(cellId) : undefined;
    const home = cdr.homePlmn ?? this.homePlmn;
    const serving = cdr.servingPlmn;
    const roaming = serving !== null && serving !== home;
    // The same expressions as createEnricher's (`?? null` included: a null field reads through).
    o.line_status = info?.status ?? null;
    o.plan = info?.plan ?? null;
    o.account_class = info?.accountClass ?? null;
    o.serving_region = cell?.region ?? null;
    o.serving_country = cell?.country ?? (serving ? (this.networkCountry.get(serving) ?? null) : null);
    o.home_country = home === this.homePlmn ? this.homeCountry : (this.networkCountry.get(home) ?? null);
    o.roaming = roaming ? 1 : 0;
    o.visited_plmn = roaming ? serving : null;
    return o;
  }
}

/**
 * The enrichment columns of one CDR: the plain form, which the rating stage's compiled path
 * (EnrichmentLookups and the rater's own normalisation of the other party) must equal, column for column
 * (test/rating-fast.test.ts).
 */
export function createEnricher(ref: ReferenceData, normaliser: Normaliser): (cdr: Cdr) => EnrichmentColumns {
  const accounts = new Map(ref.accounts.map((a) => [a.accountId, a]));
  const lines = new Map(ref.lines.map((l) => [l.msisdn, { status: l.status, plan: l.plan, accountClass: accounts.get(l.accountId)?.class ?? null }]));
  const cells = new Map(ref.cells.map((c) => [`${c.lac}/${c.cellId}`, c]));
  const networkCountry = new Map(ref.networks.map((n) => [n.plmn, n.country]));
  const homePlmn = ref.operator.plmn;
  return (cdr) => {
    const line = lines.get(cdr.servedMsisdn);
    const cell = cdr.lac !== null && cdr.cellId !== null ? cells.get(`${cdr.lac}/${cdr.cellId}`) : undefined;
    const home = cdr.homePlmn ?? homePlmn;
    const roaming = cdr.servingPlmn !== null && cdr.servingPlmn !== home;
    const otherRaw = cdr.eventType === 'VOICE_MT' || cdr.eventType === 'SMS_MT' ? cdr.callingNumber : cdr.calledNumber;
    const other = otherRaw ? normaliser.normalise(otherRaw, normaliser.contextFor(cdr.recordingEntity)) : null;
    return {
      line_status: line?.status ?? null,
      plan: line?.plan ?? null,
      account_class: line?.accountClass ?? null,
      serving_region: cell?.region ?? null,
      serving_country: cell?.country ?? (cdr.servingPlmn ? (networkCountry.get(cdr.servingPlmn) ?? null) : null),
      home_country: networkCountry.get(home) ?? null,
      roaming: roaming ? 1 : 0,
      visited_plmn: roaming ? cdr.servingPlmn : null,
      other_party_e164: other?.e164 ?? null,
      other_party_category: other?.category ?? null,
      other_party_country: other?.country ?? null,
      other_party_high_risk: other?.highRisk ? 1 : 0,
    };
  };
}
