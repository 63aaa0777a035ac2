/**
 * Scoring fraud alerts against the traffic generator's labels: per scenario,
 * entity-level recall and precision, time to detect from the attack's start (traffic time) and the rated
 * cost of the attack's records released before the first alert (exposure before detection); and the
 * false alerts on clean traffic. Used by `cdr-pipeline eval fraud` and the tests.
 */
import type { FraudAlert } from '../../schemas/index.js';
import type { FraudLabel } from '../../schemas/labels.js';
import type { LineRecord } from '../../schemas/reference.js';

/** Which scenarios each rule is meant to catch (an alert of the rule on an unlabelled entity is a false alert). */
export const RULE_SCENARIOS: Record<string, string[]> = {
  'forwarding.high_risk_spike': ['cf-hijack', 'cf-chain', 'cf-b2bua'],
  'forwarding.chain': ['cf-chain', 'cf-b2bua'],
  'forwarding.self_call': ['a-calls-a'],
  'forwarding.shared_destination': ['cf-hijack', 'a-calls-a', 'cf-chain', 'cf-b2bua'],
  'wangiri.burst': ['wangiri'],
  'irsf.high_risk': ['irsf', 'premium-rate', 'roaming-high-usage', 'pbx-hack'],
  'simbox.profile': ['simbox', 'a-calls-a'],
  'simbox.behaviour': ['simbox'],
  'simbox.device': ['simbox'],
  'simbox.rotation': ['simbox'],
  'forwarding.loop': ['cf-chain', 'cf-b2bua'],
  'forwarding.relay': ['cf-chain', 'cf-b2bua'],
  'forwarding.chain_target': ['cf-chain', 'cf-b2bua'],
  'pbx.out_of_hours': ['pbx-hack'],
  'pbx.destination_spike': ['pbx-hack'],
  'pbx.probing': ['pbx-hack'],
  'irsf.destination_spike': ['irsf', 'roaming-high-usage', 'pbx-hack', 'subscription'],
  'cloning.overlap': ['sim-clone'],
  'roaming.high_usage': ['roaming-high-usage'],
  'velocity.generic': [],
  'wangiri.slow': ['wangiri'],
  'wangiri.callback': ['wangiri'],
  'sms.pumping_sender': ['sms-pumping'],
  'sms.pumping_prefix': ['sms-pumping'],
  'subscription.bust_out': ['subscription', 'irsf', 'premium-rate'],
};

export interface ScenarioScore {
  scenario: string;
  entities: number;
  detected: number;
  recall: number;
  /** Alerts of the scenario's rules: matching one of its entities, or matching no label at all. */
  alerts: number;
  falseAlerts: number;
  precision: number;
  /** Minutes of traffic time from the attack's first record to the first alert, per detected entity. */
  ttdMinutes: number[];
  medianTtdMinutes: number | null;
  /** Rated cost of the attack's records released before the first alert, micro-units (sum over entities). */
  exposureBeforeMicros: number;
  /** Rated cost of all the attack's records. */
  exposureTotalMicros: number;
  missed: string[];
}

export interface FraudScore {
  scenarios: ScenarioScore[];
  alerts: number;
  truePositives: number;
  falseAlerts: FraudAlert[];
  /** False alerts per 1,000 subscribers per day of traffic. */
  falseAlertRate: number;
  /** False alerts per 10,000 subscribers per day of traffic (the issue #13 target: at most 1). */
  falseAlertsPer10kPerDay: number;
}

export interface ScoreInput {
  alerts: readonly FraudAlert[];
  labels: readonly FraudLabel[];
  lines: readonly LineRecord[];
  /** recordId -> [release time, rated cost micros] of the labelled records. */
  records: ReadonlyMap<string, readonly [number, number]>;
  subscribers: number;
  days: number;
  /** Grace after an attack's last record in which an alert still counts for it (default 6 h). */
  graceMs?: number;
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function scoreFraud(input: ScoreInput): FraudScore {
  const grace = input.graceMs ?? 6 * 3_600_000;
  const byMsisdn = new Map(input.lines.map((l) => [l.msisdn, l]));
  const byImsi = new Map(input.lines.filter((l) => l.imsi).map((l) => [l.imsi!, l]));
  const linesOfAccount = new Map<string, LineRecord[]>();
  for (const l of input.lines) linesOfAccount.set(l.accountId, [...(linesOfAccount.get(l.accountId) ?? []), l]);

  /** The alert entities (kind:value) that name a labelled entity. */
  const aliases = (l: FraudLabel): ((a: FraudAlert) => boolean) => {
    const names = new Set<string>();
    const addLine = (line: LineRecord | undefined) => {
      if (!line) return;
      names.add(`MSISDN:${line.msisdn}`);
      if (line.imsi) names.add(`IMSI:${line.imsi}`);
    };
    if (l.entityKind === 'msisdn') {
      names.add(`MSISDN:${l.entity}`);
      addLine(byMsisdn.get(l.entity));
      const acct = byMsisdn.get(l.entity)?.accountId;
      if (acct && (linesOfAccount.get(acct)?.length ?? 0) > 1) names.add(`ACCOUNT:${acct}`);
      for (const m of (l.params.members as string[] | undefined) ?? []) addLine(byMsisdn.get(m) ?? { msisdn: m, imsi: null } as LineRecord);
      // A chain's final target is one of its entities too (issue #13: every diverting line and the target).
      if (l.params.kind === 'chain' && typeof l.params.forwardedTo === 'string') names.add(`NUMBER:${l.params.forwardedTo}`);
    } else if (l.entityKind === 'imsi') {
      names.add(`IMSI:${l.entity}`);
      addLine(byImsi.get(l.entity));
    } else if (l.entityKind === 'account') {
      names.add(`ACCOUNT:${l.entity}`);
      for (const line of linesOfAccount.get(l.entity) ?? []) addLine(line);
    } else if (l.entityKind === 'number') {
      // A forwarded-to number (cf-b2bua targets): an alert on it, or on a range block that holds it.
      names.add(`NUMBER:${l.entity}`);
      names.add(`MSISDN:${l.entity}`);
      const n = l.entity;
      return (a) => names.has(`${a.entityKind}:${a.entity}`) || (a.entityKind === 'RANGE' && a.entity.length >= 6 && n.startsWith(a.entity));
    }
    if (l.entityKind === 'range') return (a) => (a.entityKind === 'RANGE' || a.entityKind === 'NUMBER') && (a.entity.startsWith(l.entity) || l.entity.startsWith(a.entity));
    return (a) => names.has(`${a.entityKind}:${a.entity}`);
  };

  // One labelled entity per (scenario, entity); its window spans every phase.
  interface Target {
    scenario: string;
    entity: string;
    start: number;
    end: number;
    match: (a: FraudAlert) => boolean;
    recordIds: string[];
  }
  const targets = new Map<string, Target>();
  for (const l of input.labels) {
    const k = `${l.scenario}\u0000${l.entityKind}\u0000${l.entity}`;
    const t = targets.get(k);
    if (t) {
      t.start = Math.min(t.start, l.attackStart);
      t.end = Math.max(t.end, l.attackEnd);
      t.recordIds.push(...l.recordIds);
    } else targets.set(k, { scenario: l.scenario, entity: `${l.entityKind}:${l.entity}`, start: l.attackStart, end: l.attackEnd, match: aliases(l), recordIds: [...l.recordIds] });
  }
  const overlaps = (a: FraudAlert, t: Target) => a.lastSeen >= t.start - 3_600_000 && a.firstSeen <= t.end + grace;
  const matched = new Map<FraudAlert, Set<string>>();
  for (const a of input.alerts) {
    const s = new Set<string>();
    for (const t of targets.values()) if (t.match(a) && overlaps(a, t)) s.add(t.scenario);
    matched.set(a, s);
  }

  const scenarios = [...new Set([...targets.values()].map((t) => t.scenario))].sort();
  const out: ScenarioScore[] = [];
  for (const sc of scenarios) {
    const ts = [...targets.values()].filter((t) => t.scenario === sc);
    const ttd: number[] = [];
    let before = 0;
    let total = 0;
    const missed: string[] = [];
    let detected = 0;
    for (const t of ts) {
      const hits = input.alerts.filter((a) => t.match(a) && overlaps(a, t));
      for (const id of t.recordIds) total += input.records.get(id)?.[1] ?? 0;
      if (hits.length === 0) {
        missed.push(t.entity);
        for (const id of t.recordIds) before += input.records.get(id)?.[1] ?? 0;
        continue;
      }
      detected++;
      const first = Math.min(...hits.map((a) => a.detectedAt));
      ttd.push(Math.max(0, first - t.start) / 60_000);
      for (const id of t.recordIds) {
        const r = input.records.get(id);
        if (r && r[0] <= first) before += r[1];
      }
    }
    const mine = input.alerts.filter((a) => (RULE_SCENARIOS[a.rule] ?? []).includes(sc));
    const relevant = mine.filter((a) => matched.get(a)!.has(sc) || matched.get(a)!.size === 0);
    const falseAlerts = relevant.filter((a) => matched.get(a)!.size === 0).length;
    out.push({
      scenario: sc,
      entities: ts.length,
      detected,
      recall: ts.length === 0 ? 1 : detected / ts.length,
      alerts: relevant.length,
      falseAlerts,
      precision: relevant.length === 0 ? (detected > 0 ? 1 : 0) : (relevant.length - falseAlerts) / relevant.length,
      ttdMinutes: ttd,
      medianTtdMinutes: median(ttd),
      exposureBeforeMicros: before,
      exposureTotalMicros: total,
      missed,
    });
  }
  const falseAlerts = input.alerts.filter((a) => matched.get(a)!.size === 0);
  return {
    scenarios: out,
    alerts: input.alerts.length,
    truePositives: input.alerts.length - falseAlerts.length,
    falseAlerts,
    falseAlertRate: (falseAlerts.length / Math.max(1, input.subscribers / 1000)) / Math.max(1e-9, input.days),
    falseAlertsPer10kPerDay: (falseAlerts.length / Math.max(1e-9, input.subscribers / 10_000)) / Math.max(1e-9, input.days),
  };
}
