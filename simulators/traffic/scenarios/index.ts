/**
 * The fraud scenario catalogue, in the order they are set up (the order is part of determinism: it fixes
 * which victims each scenario draws).
 */
import { aCallsA, cfChain, cfHijack } from './forwarding.js';
import { wangiri } from './wangiri.js';
import { irsf, premiumRate, roamingHighUsage } from './irsf.js';
import { simClone, simbox } from './sim.js';
import { pbxHack } from './pbx.js';
import type { ScenarioDef } from './common.js';

export const SCENARIOS: readonly ScenarioDef[] = [cfHijack, cfChain, aCallsA, wangiri, irsf, premiumRate, simbox, pbxHack, simClone, roamingHighUsage];

export type { ScenarioDef, SetupContext } from './common.js';
