/**
 * Evaluation configurations of `cdr-pipeline eval fraud` (docs/FRAUD.md "Evaluation").
 *
 * HELD-OUT configurations were fixed before any threshold of this round was tuned, and rules are NEVER tuned
 * on them: tune on `development` (or any other seed), then run the held-out ones once to report. Changing
 * them after looking at their results would make them development configurations; add a new held-out one
 * instead and say so in docs/FRAUD.md.
 */
export interface EvalConfig {
  name: string;
  heldOut: boolean;
  seed: number;
  /** First instant of the window, UTC. */
  start: string;
  subscribers: number;
  days: number;
  /**
   * Home country of the operator (`createTraffic({ homeCountry })`: GB or DE): numbering plan, time zone,
   * public holidays, short codes and the reference data follow it; DE traffic is rated with the derived
   * tariff book (simulators/traffic/tariffs.ts).
   */
  homeCountry: string;
  note: string;
}

export const EVAL_CONFIGS: readonly EvalConfig[] = [
  { name: 'development', heldOut: false, seed: 7, start: '2026-10-04T23:00:00Z', subscribers: 5000, days: 7, homeCountry: 'GB', note: 'tuning: a week from Monday 5 October 2026' },
  { name: 'held-out-a', heldOut: true, seed: 424_242, start: '2027-03-15T00:00:00Z', subscribers: 12_000, days: 4, homeCountry: 'GB', note: 'held out: another season (Monday 15 March 2027, GMT before the clocks change), another population size' },
  { name: 'held-out-b', heldOut: true, seed: 90_001, start: '2026-12-21T00:00:00Z', subscribers: 8000, days: 6, homeCountry: 'GB', note: 'held out: Christmas week (bank holidays 25 and 28 December: out-of-hours everywhere)' },
  // Fixed before any tuning (issue #13, round 3), never tuned on.
  { name: 'held-out-c', heldOut: true, seed: 31_337, start: '2027-07-05T00:00:00Z', subscribers: 6000, days: 4, homeCountry: 'DE', note: 'held out: another home country (Germany: +49 numbering, CEST, German holidays), summer' },
];

/** The size the CI test runs the held-out configuration at (the same seed and start, fewer subscribers and days). */
export const CI_SIZE = { subscribers: 2500, days: 3 } as const;

export function evalConfig(name: string): EvalConfig {
  const c = EVAL_CONFIGS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown evaluation configuration "${name}" (known: ${EVAL_CONFIGS.map((x) => x.name).join(', ')})`);
  return c;
}
