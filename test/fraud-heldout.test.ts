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

/** Scenario -> what misses its target on this configuration (docs/FRAUD.md). */
const MISSES: Record<'plain' | 'evasive', Record<string, string>> = {
  plain: { subscription: 'recall 0.67: one bust-out stays under 30.00 in 3 h' },
  evasive: {
    'cf-hijack': 'slow pumping to an unlisted range: recall 0',
    irsf: 'unlisted range at 1.00/min (not priced like IRSF): recall 0',
    'roaming-high-usage': 'unlisted range while roaming: recall 0',
    'premium-rate': 'existing line, one test call: recall 0.5',
    simbox: 'mimicking, moving box: recall 0.25',
    subscription: 'dormant account: recall 0.67',
  },
};
const FAST = ['irsf', 'wangiri', 'sms-pumping', 'premium-rate', 'a-calls-a'];

describe(`held-out configuration ${conf.name} (seed ${conf.seed}, ${CI_SIZE.subscribers} subscribers x ${CI_SIZE.days} days)`, () => {
  for (const variant of ['plain', 'evasive'] as const) {
    it(`${variant}: per-scenario targets met except the listed misses; at most 1 false alert per 10,000 subscribers per day`, () => {
      const r = run(variant);
      expect(r.score.falseAlertsPer10kPerDay).toBeLessThanOrEqual(1);
      const [minRecall, minPrecision] = variant === 'plain' ? [0.95, 0.95] : [0.85, 0.9];
      const scenarios = new Map<string, ScenarioScore>(r.score.scenarios.map((s) => [s.scenario, s]));
      expect(scenarios.size).toBe(12);
      for (const [name, s] of scenarios) {
        const meets = s.recall >= minRecall && s.precision >= minPrecision;
        expect(meets, `${variant} ${name}: recall ${s.recall.toFixed(2)} precision ${s.precision.toFixed(2)} (${MISSES[variant][name] ?? 'expected to meet the target'})`).toBe(!(name in MISSES[variant]));
        if (variant === 'plain' && FAST.includes(name)) expect(s.medianTtdMinutes!, `${name} median time to detect`).toBeLessThanOrEqual(5);
      }
    }, 240_000);
  }
});
