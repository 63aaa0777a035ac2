/**
 * Enrichment: what analysts and fraud rules need next to every CDR, from the reference data compiled once
 * at start-up (or reload) into plain maps: the served line (status, plan, account class), the serving cell's
 * region and country, roaming with home and visited network, and the other party normalised to E.164 with
 * its class, country and high-risk flag.
 */
import type { Cdr } from '../schemas/index.js';
import type { ReferenceData } from './reference.js';
import type { Normaliser } from './normalise.js';

export type EnrichmentColumns = Record<string, string | number | null>;

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
