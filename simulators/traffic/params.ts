/**
 * Parameters of the traffic model and its scenarios, declared once with their defaults and sources: the
 * CLI's `--param scenario.name=value` parses against these declarations, and `generate --help` is printed
 * from them, so the documentation cannot drift from the code.
 */

export type ParamValue = number | string | boolean;

export interface ParamDef {
  name: string;
  kind: 'int' | 'number' | 'bool' | 'string';
  default: ParamValue;
  /** Allowed values for string parameters. */
  choices?: readonly string[];
  min?: number;
  max?: number;
  help: string;
  /** Where the default comes from: the published case or data set, or "[proposal]". */
  source: string;
}

export type ParamValues = Record<string, ParamValue>;

export class ParamError extends Error {}

/** Parses one value against its declaration. */
export function parseParam(def: ParamDef, raw: string, where: string): ParamValue {
  switch (def.kind) {
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || (def.kind === 'int' && !Number.isInteger(n))) throw new ParamError(`${where} expects ${def.kind === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
      if (def.min !== undefined && n < def.min) throw new ParamError(`${where} must be >= ${def.min}, got ${n}`);
      if (def.max !== undefined && n > def.max) throw new ParamError(`${where} must be <= ${def.max}, got ${n}`);
      return n;
    }
    case 'bool':
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no') return false;
      throw new ParamError(`${where} expects true or false, got "${raw}"`);
    case 'string':
      if (def.choices && !def.choices.includes(raw)) throw new ParamError(`${where} must be one of ${def.choices.join('|')}, got "${raw}"`);
      return raw;
  }
}

export function defaults(defs: readonly ParamDef[]): ParamValues {
  return Object.fromEntries(defs.map((d) => [d.name, d.default]));
}

/** Help lines for a parameter list, aligned. */
export function paramHelp(prefix: string, defs: readonly ParamDef[], indent = '    '): string[] {
  const keys = defs.map((d) => `${prefix}.${d.name}=${d.choices ? d.choices.join('|') : String(d.default)}`);
  const width = Math.min(46, Math.max(...keys.map((k) => k.length)));
  return defs.map((d, i) => {
    const k = keys[i] as string;
    const dflt = d.choices ? ` (default ${String(d.default)})` : '';
    const src = d.source.startsWith('[') ? d.source : `[${d.source}]`;
    return `${indent}${k.padEnd(width)}  ${d.help}${dflt} ${src}`;
  });
}

/** Parameters of the clean population and traffic (`--param clean.NAME=VALUE`). */
export const CLEAN_PARAMS: readonly ParamDef[] = [
  { name: 'businessAccountShare', kind: 'number', default: 0.04, min: 0, max: 1, help: 'share of accounts that are businesses with mobile lines', source: '5% business/PBX accounts' },
  { name: 'pbxAccountShare', kind: 'number', default: 0.01, min: 0, max: 1, help: 'share of accounts that are PBXs on SIP trunks (DDI number blocks)', source: '5% business/PBX accounts' },
  { name: 'callCentreShare', kind: 'number', default: 0.1, min: 0, max: 1, help: 'share of PBX accounts that are call centres (hard negative: many short inbound calls)', source: 'Jiang et al. [proposal: share]' },
  { name: 'telesalesShare', kind: 'number', default: 0.1, min: 0, max: 1, help: 'share of PBX accounts doing telesales (hard negative: many short outbound calls, power-law gaps)', source: 'Jiang et al. [proposal: share]' },
  { name: 'travellerShare', kind: 'number', default: 0.01, min: 0, max: 1, help: 'share of mobile lines that travel abroad (outbound roamers; 3x for business lines)', source: '[proposal] 1% frequent travellers' },
  { name: 'domesticTravellerShare', kind: 'number', default: 0.1, min: 0, max: 1, help: 'share of business mobile lines on day trips to another region (velocity-check hard negative)', source: '[proposal]' },
  { name: 'visitorShare', kind: 'number', default: 0.02, min: 0, max: 1, help: 'inbound roaming visitors, as a share of --subscribers', source: '[proposal]' },
  { name: 'heavyInternationalShare', kind: 'number', default: 0.03, min: 0, max: 1, help: 'share of private lines with family abroad (40% international calls)', source: 'hard negatives [proposal: share]' },
  { name: 'voicemailShare', kind: 'number', default: 0.35, min: 0, max: 1, help: 'share of mobile lines diverting busy/no reply/not reachable to voicemail', source: '[proposal]' },
  { name: 'forwardOwnLineShare', kind: 'number', default: 0.03, min: 0, max: 1, help: 'share of lines forwarding on no reply to their own other line', source: '[proposal] 2-5%' },
  { name: 'forwardInternationalShare', kind: 'number', default: 0.001, min: 0, max: 1, help: 'share of lines forwarding unconditionally abroad (expats)', source: '[proposal] 0.1%' },
  { name: 'onNetShare', kind: 'number', default: 0.3, min: 0, max: 1, help: 'share of mobile contacts that are our own subscribers', source: '[proposal]' },
  { name: 'callsPerDay', kind: 'number', default: 3, min: 0.01, help: 'median outgoing calls per private line on a normal weekday (per-line log-normal, sigma 0.6)', source: '[proposal]' },
  { name: 'answerPrivate', kind: 'number', default: 0.7, min: 0, max: 1, help: 'probability a call to a private line is answered', source: 'fastcdrgen call success 0.7' },
  { name: 'answerBusiness', kind: 'number', default: 0.5, min: 0, max: 1, help: 'probability a call to a business line is answered', source: 'fastcdrgen call success 0.5' },
  { name: 'durationMedianPrivateS', kind: 'number', default: 90, min: 1, help: 'median of the per-line median holding time, private (log-logistic per line)', source: 'Vaz de Melo TLAC, [proposal] median 60-120 s' },
  { name: 'durationMedianBusinessS', kind: 'number', default: 120, min: 1, help: 'median of the per-line median holding time, business', source: 'fastcdrgen 110 s private / 130 s business' },
  { name: 'mobilityShare', kind: 'number', default: 0.05, min: 0, max: 1, help: 'share of activities from a cell other than home/work', source: 'VoltDB generator, ~1 in 20 activities' },
  { name: 'trendPerWeek', kind: 'number', default: 0.005, min: -0.5, max: 0.5, help: 'multiplicative demand growth per week (slow trend for forecasting backtests)', source: '[proposal]' },
  { name: 'dailyNoise', kind: 'number', default: 0.03, min: 0, max: 1, help: 'log-sigma of a random per-day volume factor', source: '[proposal]' },
  { name: 'christmasFactor', kind: 'number', default: 1.25, min: 0, help: 'private volume on Christmas Day relative to a holiday', source: '[proposal]' },
  { name: 'suspendedShare', kind: 'number', default: 0.005, min: 0, max: 1, help: 'lines suspended (no traffic; calls to them fail)', source: '[proposal]' },
  { name: 'ceasedShare', kind: 'number', default: 0.005, min: 0, max: 1, help: 'lines ceased (kept in the inventory, no traffic)', source: '[proposal]' },
  { name: 'm2mShare', kind: 'number', default: 0.01, min: 0, max: 1, help: 'M2M/IoT SIMs on top of --subscribers, as a share of it: fleets of 3-30 at fixed cells, periodic short data sessions and small SMS to a platform number, little or no voice (hard negative)', source: '[proposal]' },
  { name: 'a2pShare', kind: 'number', default: 0.0005, min: 0, max: 0.1, help: 'A2P/OTP gateway lines on top of --subscribers, as a share of it: steady high SMS volume to many numbers in many countries, no premium or hot-listed ranges (hard negative)', source: '[proposal]' },
  { name: 'travellerForwardShare', kind: 'number', default: 0.2, min: 0, max: 1, help: 'share of travellers who forward their line to a local SIM in the visited country while abroad (hard negative)', source: '[proposal]' },
  { name: 'familyHighRiskShare', kind: 'number', default: 0.1, min: 0, max: 1, help: 'share of family-abroad lines whose family lives in a hot-listed (Caribbean) country: calls there and from there (hard negative)', source: 'issue #13 false alerts [proposal: share]' },
  { name: 'expatHighRiskShare', kind: 'number', default: 0.5, min: 0, max: 1, help: 'share of expatriates forwarding abroad whose own mobile is in a hot-listed (Caribbean) country (hard negative)', source: 'issue #13 false alerts [proposal: share]' },
  { name: 'pbxServedParty', kind: 'string', default: 'ddi', choices: ['ddi', 'pilot'], help: 'what the switch writes as served party of a PBX line\'s records: the DDI itself, or the trunk\'s pilot number with the DDI as calling (outgoing) or called (incoming) number', source: '[proposal]: both conventions exist (issue #18)' },
  { name: 'nrtrdeDelayMaxMinutes', kind: 'int', default: 0, min: 0, max: 1440, help: 'deliver outbound-roamer records up to this late (0 = in seizure order)', source: 'NRTRDE delivery within 4 h (240)' },
];

export interface CleanParams {
  businessAccountShare: number;
  pbxAccountShare: number;
  callCentreShare: number;
  telesalesShare: number;
  travellerShare: number;
  domesticTravellerShare: number;
  visitorShare: number;
  heavyInternationalShare: number;
  voicemailShare: number;
  forwardOwnLineShare: number;
  forwardInternationalShare: number;
  onNetShare: number;
  callsPerDay: number;
  answerPrivate: number;
  answerBusiness: number;
  durationMedianPrivateS: number;
  durationMedianBusinessS: number;
  mobilityShare: number;
  trendPerWeek: number;
  dailyNoise: number;
  christmasFactor: number;
  suspendedShare: number;
  ceasedShare: number;
  nrtrdeDelayMaxMinutes: number;
  pbxServedParty: 'ddi' | 'pilot';
  m2mShare: number;
  a2pShare: number;
  travellerForwardShare: number;
  familyHighRiskShare: number;
  expatHighRiskShare: number;
}

export function cleanParams(overrides: ParamValues = {}): CleanParams {
  return { ...defaults(CLEAN_PARAMS), ...overrides } as unknown as CleanParams;
}
