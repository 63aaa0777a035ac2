/**
 * Issue #13: the detector on a HELD-OUT configuration (tools/eval/configs.ts, never tuned on), at the CI
 * size, plain and evasive. Asserts the per-scenario targets the detector meets there; the misses are listed
 * in docs/FRAUD.md ("Against the issue #13 targets") and in MISSES below, not asserted away: a miss that
 * starts to pass fails the test too, so the list and the docs must be updated.
 */
import { describe, expect, it } from 'vitest';
import { runOfflineEval } from '../tools/eval/fraud-offline.js';
import { CI_SIZE, evalConfig } from '../tools/eval/configs.js';
import type { ScenarioScore } from '../tools/eval/fraud-score.js';

const conf = evalConfig('held-out-a');
const run = (variant: 'plain' | 'evasive') => runOfflineEval({ seed: conf.seed, startMs: Date.parse(conf.start), subscribers: CI_SIZE.subscribers, days: CI_SIZE.days, scenarios: 'all', variant });

/** Scenario -> what misses its recall/precision target on this configuration (docs/FRAUD.md); none at the CI size now. */
const MISSES: Record<'plain' | 'evasive', Record<string, string>> = { plain: {}, evasive: {} };
/** Median time to detect, plain traffic: <= 5 min for these (the bursts)... */
const FAST = ['irsf', 'wangiri', 'sms-pumping', 'premium-rate', 'a-calls-a', 'roaming-high-usage'];
/** ... and <= 30 min for these. */
const SLOW = ['simbox', 'pbx-hack'];
/** Over their time-to-detect target on this configuration, and why (docs/FRAUD.md): asserted to miss, so a fix updates both. */
const TTD_MISSES: Record<string, { target: number; why: string }> = {
  'cf-hijack': { target: 5, why: 'a forwarded leg exists at its first 5-minute partial record: 5.3 min' },
  'cf-chain': { target: 5, why: 'the same: 5.01 min' },
  'sim-clone': { target: 30, why: "the original handset's next record after the clone's first call: 135.7 min" },
  subscription: { target: 30, why: 'two answered calls must reach 30.00: 31.7 min' },
};

describe(`held-out configuration ${conf.name} (seed ${conf.seed}, ${CI_SIZE.subscribers} subscribers x ${CI_SIZE.days} days)`, () => {
  for (const variant of ['plain', 'evasive'] as const) {
    it(`${variant}: per-scenario targets met except the listed misses; at most 1 false alert per 10,000 subscribers per day`, () => {
      const r = run(variant);
      expect(r.score.falseAlertsPer10kPerDay).toBeLessThanOrEqual(1);
      const [minRecall, minPrecision] = variant === 'plain' ? [0.95, 0.95] : [0.85, 0.9];
      const scenarios = new Map<string, ScenarioScore>(r.score.scenarios.map((s) => [s.scenario, s]));
      expect(scenarios.size).toBe(13);
      for (const [name, s] of scenarios) {
        const meets = s.recall >= minRecall && s.precision >= minPrecision;
        expect(meets, `${variant} ${name}: recall ${s.recall.toFixed(2)} precision ${s.precision.toFixed(2)} (${MISSES[variant][name] ?? 'expected to meet the target'})`).toBe(!(name in MISSES[variant]));
        if (variant !== 'plain') continue;
        if (FAST.includes(name)) expect(s.medianTtdMinutes!, `${name} median time to detect`).toBeLessThanOrEqual(5);
        if (SLOW.includes(name)) expect(s.medianTtdMinutes!, `${name} median time to detect`).toBeLessThanOrEqual(30);
        const miss = TTD_MISSES[name];
        if (miss) expect(s.medianTtdMinutes!, `${name} median time to detect (listed as a miss: ${miss.why})`).toBeGreaterThan(miss.target);
      }
    }, 240_000);
  }
});
