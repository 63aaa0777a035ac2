/**
 * The fraud scenario catalogue, in the order they are set up (the order is part of determinism: it fixes
 * which victims each scenario draws).
 */
import { aCallsA, cfChain, cfHijack } from './forwarding.js';
import { cfB2bua } from './b2bua.js';
import { wangiri } from './wangiri.js';
import { irsf, premiumRate, roamingHighUsage } from './irsf.js';
import { simClone, simbox } from './sim.js';
import { pbxHack } from './pbx.js';
import { smsPumping } from './sms.js';
import { subscriptionFraud } from './subscription.js';
import type { ScenarioDef } from './common.js';

// New scenarios go last: the order fixes which victims each scenario draws, so earlier ones keep theirs.
export const SCENARIOS: readonly ScenarioDef[] = [cfHijack, cfChain, aCallsA, wangiri, irsf, premiumRate, simbox, pbxHack, simClone, roamingHighUsage, smsPumping, subscriptionFraud, cfB2bua];

/**
 * The evasive variant of every scenario, as parameter settings (`--param scenario.name=value`): what a
 * fraudster does to stay under the plain variant's signature (docs/FRAUD.md "Evaluation").
 */
export const EVASIVE: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // Slow pumping: 1-2 legs at a time for the rest of the window, to an unlisted high-cost range.
  'cf-hijack': { slow: 'true', destination: 'unlisted' },
  // Chains to an unlisted range and loops, longer and fewer calls each.
  'cf-chain': { destination: 'unlisted', callsPerCampaign: '8', durationHours: '48' },
  // Only "A calls A" is recorded: the forwarded legs are missing (partial records).
  'a-calls-a': { partialShare: '1' },
  // Low and slow: 6 ranges (half unlisted), rings of 6-14 s, spread over two days.
  wangiri: { ranges: '6', aNumbers: '24', nightHours: '44', minCallMs: '6000', maxCallMs: '14000', victims: '300' },
  // Destinations outside any hot list (GSMA: destinations are dynamic).
  irsf: { destination: 'unlisted' },
  // An existing customer's line, fewer and shorter test calls.
  'premium-rate': { newSim: 'false', testCalls: '1' },
  'roaming-high-usage': { destination: 'unlisted' },
  // Human-behaviour mimicry (incoming calls, SMS, data) and a box moving along cells.
  simbox: { incomingPerDay: '6', moving: 'true' },
  // The attack during business hours, mixed with the PBX's normal traffic.
  'pbx-hack': { duringBusinessHours: 'true', destination: 'unlisted' },
  // The clone is used only while the original is idle: no collisions, velocity only.
  'sim-clone': { collisionShare: '0' },
  // Spread across many prefixes and countries, random numbers, slowly.
  'sms-pumping': { prefixes: '60', countries: '5', sequential: 'false', burstMinutes: '360', messages: '400', destination: 'unlisted' },
  // A dormant period of weeks before the bust-out.
  subscription: { dormantDays: '35' },
  // A B2BUA between the hops of every chain too (counter 1 everywhere), to an unlisted range, fewer calls.
  'cf-b2bua': { resetCounter: 'true', destination: 'unlisted', callsPerCampaign: '8', durationHours: '48' },
};

/** `--param` settings of the evasive variant of the named scenarios (`all`: every scenario). */
export function evasiveParams(names: readonly string[] | 'all'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of SCENARIOS) {
    if (names !== 'all' && !names.includes(s.name)) continue;
    for (const [k, v] of Object.entries(EVASIVE[s.name] ?? {})) out[`${s.name}.${k}`] = v;
  }
  return out;
}

export type { ScenarioDef, SetupContext } from './common.js';
