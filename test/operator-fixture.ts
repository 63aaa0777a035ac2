/** The home operator the rating and normalisation tests share: UK numbering, one London MSC, visited networks. */
import type { OperatorRecord } from '../schemas/reference.js';

export function testOperator(visitedPlmns: string[]): OperatorRecord {
  return {
    name: 'Test Telecom',
    plmn: '23499',
    mcc: '234',
    mnc: '99',
    country: 'GB',
    countryCode: '44',
    nationalPrefix: '0',
    internationalPrefix: '00',
    timezone: 'Europe/London',
    currency: 'GBP',
    voicemailNumber: '447900000121',
    smsCentre: '447900000001',
    switches: [{ id: 'MSC-LON1', kind: 'msc', location: 'London' }, ...visitedPlmns.map((p) => ({ id: `VPMN-${p}`, kind: 'visited-network' as const, location: p }))],
  };
}
