/**
 * Party-number normalisation (issue #4): dialled and presented forms to E.164, classified with the numbering
 * plan the traffic generator publishes (numbering-plan.csv: Ofcom-like UK ranges, ITU country codes,
 * high-risk ranges). Expected values are read off the plan and the dialling rules, not off the code.
 */
import { describe, expect, it } from 'vitest';
import type { OperatorRecord } from '../schemas/reference.js';
import { Normaliser } from '../enrich/normalise.js';
import { numberingPlan } from '../simulators/traffic/numbering.js';

import { testOperator } from './operator-fixture.js';

const OPERATOR: OperatorRecord = testOperator(['310260', '21401', '26201']);

const n = new Normaliser({
  operator: OPERATOR,
  numberingPlan: numberingPlan(),
  networks: [
    { plmn: '310260', mcc: '310', mnc: '260', country: 'US', operator: 'T-Mobile USA', home: false, timezone: 'America/New_York' },
    { plmn: '21401', mcc: '214', mnc: '01', country: 'ES', operator: 'Vodafone España', home: false, timezone: 'Europe/Madrid' },
    { plmn: '26201', mcc: '262', mnc: '01', country: 'DE', operator: 'Telekom Deutschland', home: false, timezone: 'Europe/Berlin' },
  ],
  countries: [
    { country: 'US', name: 'United States', countryCode: '1', timezone: 'America/New_York' },
    { country: 'ES', name: 'Spain', countryCode: '34', timezone: 'Europe/Madrid' },
    { country: 'DE', name: 'Germany', countryCode: '49', timezone: 'Europe/Berlin' },
  ],
});

const home = n.contextFor('MSC-LON1');
const norm = (raw: string | null, sw = 'MSC-LON1', caller: string | null = null) => n.normalise(raw, n.contextFor(sw), caller);

describe('to E.164 from every dialled form at home (trunk 0, international 00)', () => {
  it.each([
    ['07911 123456', '447911123456'],
    ['07911123456', '447911123456'],
    ['+447911123456', '447911123456'],
    ['+44 (0)7911 123456', '447911123456'],
    ['00447911123456', '447911123456'],
    ['447911123456', '447911123456'], // as presented (E.164 without "+", MT calling numbers)
    ['tel:+447911123456', '447911123456'],
    ['020-7946-0000', '442079460000'],
    ['0033612345678', '33612345678'],
    ['+1 (212) 555-0100', '12125550100'],
    ['00390612345678', '390612345678'], // Italy: the leading 0 of the area code stays inside E.164
  ])('%s -> %s', (raw, e164) => {
    expect(norm(raw)?.e164).toBe(e164);
  });
});

describe('to E.164 from a visited network (the switch country dialling rules)', () => {
  it('USA: 011 is international, 1 is the trunk prefix, 10-digit dialling is national', () => {
    expect(norm('011447911123456', 'VPMN-310260')).toMatchObject({ e164: '447911123456', country: 'GB', category: 'mobile' });
    expect(norm('12125550100', 'VPMN-310260')).toMatchObject({ e164: '12125550100', country: 'US', category: 'international' });
    expect(norm('2125550100', 'VPMN-310260')).toMatchObject({ e164: '12125550100', country: 'US' });
    // 00 is not an international prefix in the USA.
    expect(norm('00447911123456', 'VPMN-310260')?.e164).not.toBe('447911123456');
  });
  it('Spain: no trunk prefix, a 9-digit national number gets the country code', () => {
    expect(norm('612345678', 'VPMN-21401')).toMatchObject({ e164: '34612345678', country: 'ES', numberClass: 'mobile', category: 'international' });
    expect(norm('0034612345678', 'VPMN-21401')?.e164).toBe('34612345678');
  });
  it('Germany: trunk 0', () => {
    expect(norm('030 1234 5678', 'VPMN-26201')).toMatchObject({ e164: '493012345678', country: 'DE' });
  });
  it('an unknown switch reads numbers with the home rules', () => {
    expect(n.contextFor('SOMETHING-NEW')).toBe(home);
    expect(norm('07911123456', 'SOMETHING-NEW')?.e164).toBe('447911123456');
  });
});

describe('classification with the numbering plan', () => {
  it.each([
    ['07911123456', 'mobile', 'mobile', 'GB', false],
    ['01612345678', 'national', 'fixed', 'GB', false],
    ['08001234567', 'toll-free', 'toll-free', 'GB', false],
    ['08081234567', 'toll-free', 'toll-free', 'GB', false],
    ['08451234567', 'shared-cost', 'shared-cost', 'GB', false],
    ['09012345678', 'premium', 'premium', 'GB', false],
    ['07012345678', 'premium', 'premium', 'GB', false], // 070 personal numbering
    ['+447900000121', 'voicemail', 'voicemail', 'GB', false],
    ['+33612345678', 'international', 'mobile', 'FR', false],
    ['+4930123456789', 'international', 'fixed', 'DE', false],
    ['+12645551234', 'international', 'fixed', 'AI', true], // Anguilla, FBI 2014 one-ring list
    ['+8823912345678', 'international', 'network', 'XN', true], // +882 international networks, hot-listed block
    ['+979123456789', 'international', 'premium', 'XP', true], // IPRS
  ] as const)('%s is %s (%s, %s, high risk %s)', (raw, category, numberClass, country, highRisk) => {
    expect(norm(raw)).toMatchObject({ category, numberClass, country, highRisk, shortCode: false });
  });

  it('local: both parties in the same geographic area', () => {
    // 0161 is Manchester in the plan (44161 row); a Manchester caller makes it local, a London one national.
    expect(norm('01612345678', 'MSC-LON1', '441619876543')?.category).toBe('local');
    expect(norm('01612345678', 'MSC-LON1', '442079460000')?.category).toBe('national');
    // A mobile caller has no area.
    expect(norm('01612345678', 'MSC-LON1', '447911123456')?.category).toBe('national');
  });

  it('national short codes as dialled', () => {
    expect(norm('999')).toMatchObject({ e164: '999', shortCode: true, category: 'emergency', country: 'GB' });
    expect(norm('112')).toMatchObject({ e164: '112', shortCode: true, category: 'emergency' });
    expect(norm('150')).toMatchObject({ shortCode: true, category: 'short-code', numberClass: 'short' });
    expect(norm('121')).toMatchObject({ shortCode: true, category: 'voicemail' });
    // 118xxx directory enquiries: a 6-digit premium short code.
    expect(norm('118118')).toMatchObject({ e164: '118118', shortCode: true, category: 'premium', matchedPrefix: '118' });
    // An application-to-person sender (5 digits) the plan does not list is still a short code.
    expect(norm('80269')).toMatchObject({ e164: '80269', shortCode: true, category: 'short-code' });
    // "121" as a short code does not swallow New York's 212 area (E.164 lengths keep them apart).
    expect(norm('+12125550100')).toMatchObject({ country: 'US', shortCode: false });
  });

  it('unknown ranges and malformed input', () => {
    expect(norm('+999123456789')).toMatchObject({ e164: '999123456789', category: 'unknown', country: null });
    expect(norm(null)).toBeNull();
    expect(norm('')).toBeNull();
    expect(norm('+')).toBeNull();
    expect(norm('07911abc456')).toBeNull();
    expect(norm('++447911123456')).toBeNull();
  });
});
