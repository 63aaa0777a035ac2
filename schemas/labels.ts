/**
 * Ground truth of the traffic generator's fraud scenarios (`cdr-pipeline generate --labels-out FILE`, one
 * JSON object per line). Labels live only here, never inside CDRs: a detector sees exactly what it would
 * see in production, and evaluation joins its alerts to these labels by entity and time (entity-level
 * precision/recall, time to detect, exposure before the first alert).
 */

/** What a label points at: the key a detector would alert on. */
export type LabelEntityKind = 'msisdn' | 'imsi' | 'number' | 'range' | 'account';

export interface FraudLabel {
  /** Scenario name, e.g. "wangiri" (`cdr-pipeline generate --help` lists them). */
  scenario: string;
  /** Campaign id, unique within a run, e.g. "wangiri-1". Several labels may share one campaign (phases). */
  campaign: string;
  /** Phase within the campaign when it has several (e.g. "missed-call", "callback"), else null. */
  phase: string | null;
  entityKind: LabelEntityKind;
  /**
   * The entity: E.164 digits for msisdn and number, IMSI digits, a number prefix (E.164 digits) for range,
   * the accountId of accounts.csv for account.
   */
  entity: string;
  /** Seizure time of the campaign's first record and release time of its last, UTC epoch ms. */
  attackStart: number;
  attackEnd: number;
  /** The scenario parameters in force, and campaign facts (destination range, members, ...). */
  params: Record<string, string | number | boolean | string[]>;
  /** Records this label's activity produced (CDR recordId; unique within a run), in emission order. */
  recordIds: string[];
}
