/**
 * The care adjustment policy (issue #16 item 4; care/README.md): the catalogue of reasons an adjustment may
 * give and the limits of each agent role, per adjustment and per day. Loaded and validated once (a bad file is
 * a configuration error naming every problem); the decisions below are pure functions of the policy, the
 * request and what the store already holds, so they are tested without ClickHouse.
 *
 * Money is exact: amounts are decimal strings parsed to integer micro-units (bigint, schemas/reference.ts
 * parseMoney), never binary floats.
 */
import { readFileSync } from 'node:fs';
import { parseMoney } from '../schemas/reference.js';
import { schemaPath } from '../schemas/index.js';

export const SCALE = 6;

export interface RoleLimits {
  /** Largest single adjustment the role applies on its own authority (micro-units). */
  perAdjustment: bigint;
  /** Largest sum of the role's own adjustments applied on one UTC day (micro-units). */
  perDay: bigint;
  /** May approve adjustments queued above another agent's limits (within its own limits). */
  approve: boolean;
}

export interface CarePolicy {
  reasons: ReadonlyMap<string, string>;
  roles: ReadonlyMap<string, RoleLimits>;
  /** Where it came from (for messages). */
  source: string;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`care policy ${source}:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export const DEFAULT_POLICY_FILE = (): string => schemaPath('care', 'policy.json');

const MONEY = /^\d{1,12}(\.\d{1,6})?$/;
const CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
const ROLE = /^[a-z][a-z0-9-]{0,63}$/;

/** Validates a parsed policy document; every problem at once. */
export function parsePolicy(doc: unknown, source: string): CarePolicy {
  const problems: string[] = [];
  const reasons = new Map<string, string>();
  const roles = new Map<string, RoleLimits>();
  const o = doc as { reasons?: unknown; roles?: unknown };
  if (typeof o !== 'object' || o === null) throw new PolicyError(source, ['not a JSON object']);
  if (typeof o.reasons !== 'object' || o.reasons === null || Array.isArray(o.reasons)) problems.push('reasons: expected an object {CODE: description}');
  else
    for (const [code, text] of Object.entries(o.reasons)) {
      if (!CODE.test(code)) problems.push(`reasons.${code}: a reason code is upper case letters, digits and _`);
      else if (typeof text !== 'string' || text.trim() === '') problems.push(`reasons.${code}: expected a description`);
      else reasons.set(code, text);
    }
  if (typeof o.roles !== 'object' || o.roles === null || Array.isArray(o.roles)) problems.push('roles: expected an object {role: {perAdjustment, perDay, approve}}');
  else
    for (const [role, v] of Object.entries(o.roles)) {
      const r = v as { perAdjustment?: unknown; perDay?: unknown; approve?: unknown };
      if (!ROLE.test(role)) {
        problems.push(`roles.${role}: a role is lower case letters, digits and -`);
        continue;
      }
      const money = (k: 'perAdjustment' | 'perDay'): bigint | undefined => {
        const x = r?.[k];
        if (typeof x !== 'string' || !MONEY.test(x)) {
          problems.push(`roles.${role}.${k}: expected an amount as a string with at most 6 decimals ("25.00"), got ${JSON.stringify(x)}`);
          return undefined;
        }
        return parseMoney(x, SCALE);
      };
      const perAdjustment = money('perAdjustment');
      const perDay = money('perDay');
      if (r?.approve !== undefined && typeof r.approve !== 'boolean') problems.push(`roles.${role}.approve: expected true or false`);
      if (perAdjustment !== undefined && perDay !== undefined) {
        if (perDay < perAdjustment) problems.push(`roles.${role}: perDay is below perAdjustment`);
        roles.set(role, { perAdjustment, perDay, approve: r.approve === true });
      }
    }
  if (reasons.size === 0 && problems.length === 0) problems.push('reasons: the catalogue is empty');
  if (roles.size === 0 && problems.length === 0) problems.push('roles: no role defined');
  if (problems.length) throw new PolicyError(source, problems);
  return { reasons, roles, source };
}

/** Reads a policy file (empty path: the bundled schemas/care/policy.json). */
export function loadPolicy(path = ''): CarePolicy {
  const file = path === '' ? DEFAULT_POLICY_FILE() : path;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PolicyError(file, [(err as Error).message]);
  }
  return parsePolicy(doc, file);
}

/** Integer micro-units as an exact decimal string with 6 decimals ("12.340000"). */
export function formatMicros(v: bigint): string {
  const neg = v < 0n;
  const s = (neg ? -v : v).toString().padStart(SCALE + 1, '0');
  return `${neg ? '-' : ''}${s.slice(0, -SCALE)}.${s.slice(-SCALE)}`;
}

/** An amount as given by a person or a file: at most 6 decimals, no sign, no exponent; micro-units or a problem. */
export function parseAmount(text: string): { micros: bigint } | { problem: string } {
  const t = text.trim();
  if (!MONEY.test(t)) return { problem: `amount ${JSON.stringify(text)} is not an exact positive amount with at most 6 decimals (e.g. 12.50)` };
  const micros = parseMoney(t, SCALE);
  if (micros <= 0n) return { problem: 'amount must be above zero' };
  return { micros };
}

/** Why an adjustment is not allowed at all (a refusal), in the codes care/README.md lists. */
export type RefusalCode =
  | 'UNKNOWN_ROLE'
  | 'UNKNOWN_REASON'
  | 'NOT_FOUND'
  | 'NOT_BILLED'
  | 'AMBIGUOUS'
  | 'EXCEEDS_CHARGE'
  | 'ALREADY_CREDITED'
  | 'ID_REUSED'
  | 'NOT_PENDING'
  | 'NOT_APPROVER'
  | 'SELF_APPROVAL'
  | 'OVER_APPROVER_LIMIT';

/** Why an allowed adjustment is queued for approval instead of applied. */
export type QueueCode = 'OVER_ADJUSTMENT_LIMIT' | 'OVER_DAILY_LIMIT';

export class Refusal {
  constructor(
    readonly code: RefusalCode,
    readonly message: string,
  ) {}
}

/** The request's role and reason against the catalogue: a refusal, or the role's limits. */
export function checkRequest(policy: CarePolicy, role: string, reason: string): Refusal | RoleLimits {
  const limits = policy.roles.get(role);
  if (!limits) return new Refusal('UNKNOWN_ROLE', `role "${role}" is not in the care policy (${[...policy.roles.keys()].join(', ')})`);
  if (!policy.reasons.has(reason)) return new Refusal('UNKNOWN_REASON', `reason "${reason}" is not in the catalogue (${[...policy.reasons.keys()].join(', ')})`);
  return limits;
}

/**
 * Applied now, or queued for approval: the amount against the role's limit per adjustment, and the agent's
 * own adjustments applied today plus this one against the limit per day. Pure.
 */
export function limitDecision(limits: RoleLimits, role: string, amount: bigint, usedToday: bigint): { apply: true } | { apply: false; code: QueueCode; message: string } {
  if (amount > limits.perAdjustment) {
    return { apply: false, code: 'OVER_ADJUSTMENT_LIMIT', message: `${formatMicros(amount)} is above the ${role} limit of ${formatMicros(limits.perAdjustment)} per adjustment` };
  }
  if (usedToday + amount > limits.perDay) {
    return { apply: false, code: 'OVER_DAILY_LIMIT', message: `${formatMicros(usedToday)} already adjusted today + ${formatMicros(amount)} is above the ${role} limit of ${formatMicros(limits.perDay)} per day` };
  }
  return { apply: true };
}
