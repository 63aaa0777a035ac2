/** Fraud detection (issue #6): keying of rated CDRs into entity events, the rule book, the detector. */
export { createFraudKeyer, bandOf, microsOf, DEFAULT_KEYING, type FraudKeyer, type KeyingOptions } from './keying.js';
export { RULES, RuleBook, RuleBookError, loadRuleBook, defaultRulesPath, type Rule, type Finding, type Params, type RuleBookFile } from './rules.js';
export { Detector, alertIdOf, type DetectorStats, type DetectorOptions } from './detector.js';
export { SourceMerge, type MergedEvent, type SourceMergeOptions } from './merge.js';
