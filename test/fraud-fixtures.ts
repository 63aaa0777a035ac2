/**
 * What the fraud rule tests share: time units, the calendar they run on, exact money helpers and the bundled
 * rule book's parameters (so a test states its intent as "the rule's threshold", not a copied number).
 */
import { loadRuleBook, type Params } from '../enrich/fraud/index.js';

export const SEC = 1000;
export const MIN = 60_000;
export const HOUR = 3_600_000;
/** Wednesday 2024-05-15 10:00 UTC. */
export const T0 = Date.UTC(2024, 4, 15, 10, 0, 0);

/** Exact micro-units of a decimal money string ("12.5" -> 12_500_000). */
export function micros(s: string): number {
  const [i = '0', f = ''] = s.split('.');
  return Number(i) * 1_000_000 + Number((f + '000000').slice(0, 6));
}
/** The decimal string of micro-units, 6 places (12_500_000 -> "12.500000"). */
export function dec(m: number): string {
  const s = String(m).padStart(7, '0');
  return `${s.slice(0, -6)}.${s.slice(-6)}`;
}

export const book = loadRuleBook();
/** A rule's parameters for an account class and traffic band (defaults: private, day). */
export const P = (rule: string, accountClass: string | null = 'private', band = 'day'): Params => book.params(rule, accountClass, band);
/** A numeric parameter, refusing one that is not a number (a renamed key fails loudly). */
export const num = (p: Params, k: string): number => {
  const v = p[k];
  if (typeof v !== 'number') throw new Error(`parameter ${k} is not a number: ${String(v)}`);
  return v;
};
