/**
 * The data of the countries the traffic generator knows: the regions of each home country it can model (real
 * city coordinates, area codes of the national numbering plan) and every foreign destination with its dialling
 * data, time zone, networks and cities. Which of them is "home" and which are "abroad" is chosen by
 * home.ts; geography.ts builds the cells.
 */
import type { Zone } from './calendar.js';

export interface Region {
  name: string;
  lat: number;
  lon: number;
  /** Share of the population living here. */
  weight: number;
  /** Geographic area code without the trunk prefix 0 (Ofcom numbering plan), e.g. "20" for London. */
  areaCode: string;
  /** Digits of a local number after the area code, so that the national number has 10 digits. */
  localDigits: number;
  /** Radius of the served area, km. */
  radiusKm: number;
  /** Switch (MSC) code. */
  msc: string;
  /** Postcode districts, for billing addresses. */
  postcodes: readonly string[];
}

/** United Kingdom: Ofcom National Telephone Numbering Plan area codes; local numbers make a 10-digit national number. */
export const GB_REGIONS: readonly Region[] = [
  { name: 'London', lat: 51.5074, lon: -0.1278, weight: 0.2, areaCode: '20', localDigits: 8, radiusKm: 25, msc: 'LON', postcodes: ['E1', 'N1', 'SE1', 'SW11', 'W2', 'NW3', 'E14', 'SW19'] },
  { name: 'Birmingham', lat: 52.4862, lon: -1.8904, weight: 0.08, areaCode: '121', localDigits: 7, radiusKm: 15, msc: 'BHM', postcodes: ['B1', 'B5', 'B13', 'B15', 'B29'] },
  { name: 'Manchester', lat: 53.4808, lon: -2.2426, weight: 0.08, areaCode: '161', localDigits: 7, radiusKm: 15, msc: 'MAN', postcodes: ['M1', 'M4', 'M14', 'M20', 'M21'] },
  { name: 'Leeds', lat: 53.8008, lon: -1.5491, weight: 0.05, areaCode: '113', localDigits: 7, radiusKm: 12, msc: 'LDS', postcodes: ['LS1', 'LS6', 'LS8', 'LS17'] },
  { name: 'Glasgow', lat: 55.8642, lon: -4.2518, weight: 0.05, areaCode: '141', localDigits: 7, radiusKm: 14, msc: 'GLA', postcodes: ['G1', 'G3', 'G12', 'G41'] },
  { name: 'Edinburgh', lat: 55.9533, lon: -3.1883, weight: 0.035, areaCode: '131', localDigits: 7, radiusKm: 10, msc: 'EDI', postcodes: ['EH1', 'EH3', 'EH9', 'EH10'] },
  { name: 'Liverpool', lat: 53.4084, lon: -2.9916, weight: 0.045, areaCode: '151', localDigits: 7, radiusKm: 12, msc: 'LIV', postcodes: ['L1', 'L8', 'L17', 'L18'] },
  { name: 'Newcastle', lat: 54.9783, lon: -1.6178, weight: 0.035, areaCode: '191', localDigits: 7, radiusKm: 12, msc: 'NCL', postcodes: ['NE1', 'NE2', 'NE4', 'NE6'] },
  { name: 'Sheffield', lat: 53.3811, lon: -1.4701, weight: 0.035, areaCode: '114', localDigits: 7, radiusKm: 10, msc: 'SHF', postcodes: ['S1', 'S7', 'S10', 'S11'] },
  { name: 'Nottingham', lat: 52.9548, lon: -1.1581, weight: 0.03, areaCode: '115', localDigits: 7, radiusKm: 10, msc: 'NOT', postcodes: ['NG1', 'NG5', 'NG7', 'NG9'] },
  { name: 'Bristol', lat: 51.4545, lon: -2.5879, weight: 0.04, areaCode: '117', localDigits: 7, radiusKm: 10, msc: 'BRS', postcodes: ['BS1', 'BS6', 'BS7', 'BS8'] },
  { name: 'Cardiff', lat: 51.4816, lon: -3.1791, weight: 0.03, areaCode: '29', localDigits: 8, radiusKm: 10, msc: 'CDF', postcodes: ['CF10', 'CF11', 'CF14', 'CF24'] },
  { name: 'Belfast', lat: 54.5973, lon: -5.9301, weight: 0.03, areaCode: '28', localDigits: 8, radiusKm: 10, msc: 'BFS', postcodes: ['BT1', 'BT7', 'BT9', 'BT15'] },
  { name: 'Southampton', lat: 50.9097, lon: -1.4044, weight: 0.03, areaCode: '23', localDigits: 8, radiusKm: 10, msc: 'SOU', postcodes: ['SO14', 'SO15', 'SO16', 'SO17'] },
  { name: 'Norwich', lat: 52.6309, lon: 1.2974, weight: 0.02, areaCode: '1603', localDigits: 6, radiusKm: 8, msc: 'NWI', postcodes: ['NR1', 'NR2', 'NR3', 'NR4'] },
  { name: 'Cambridge', lat: 52.2053, lon: 0.1218, weight: 0.02, areaCode: '1223', localDigits: 6, radiusKm: 8, msc: 'CBG', postcodes: ['CB1', 'CB2', 'CB3', 'CB4'] },
  { name: 'Plymouth', lat: 50.3755, lon: -4.1427, weight: 0.02, areaCode: '1752', localDigits: 6, radiusKm: 8, msc: 'PLY', postcodes: ['PL1', 'PL3', 'PL4', 'PL6'] },
  { name: 'Aberdeen', lat: 57.1497, lon: -2.0943, weight: 0.02, areaCode: '1224', localDigits: 6, radiusKm: 8, msc: 'ABZ', postcodes: ['AB10', 'AB11', 'AB15', 'AB24'] },
];

export interface Network {
  plmn: string;
  operator: string;
}

export interface City {
  name: string;
  lat: number;
  lon: number;
}

/**
 * A foreign country: dialling data (ITU-T E.164 country code, national significant number lengths,
 * mobile prefixes), its time zone, networks (real MCC-MNC assignments, ITU-T E.212) and main cities.
 */
export interface Country {
  iso: string;
  name: string;
  cc: string;
  zone: Zone;
  /** National significant number length of fixed numbers. */
  fixedLen: number;
  /** Mobile prefixes after the country code, and the length of mobile national numbers. */
  mobile: readonly string[];
  mobileLen: number;
  /** Fixed-line prefixes after the country code used for generated numbers (e.g. capital area code). */
  fixed: readonly string[];
  /** Weight among clean international calls from the home country [proposal]. */
  callWeight: number;
  /** Weight as a destination of our travellers and origin of visitors [proposal]. */
  travelWeight: number;
  networks: readonly Network[];
  cities: readonly City[];
}

const eu = (name: string, std: number): Zone => ({ name, stdOffsetMinutes: std, dst: 'eu' });

/** Foreign destinations of a GB operator (ITU-T E.164 country codes, E.212 networks). */
export const GB_FOREIGN: readonly Country[] = [
  { iso: 'IE', name: 'Ireland', cc: '353', zone: eu('Europe/Dublin', 0), fixedLen: 9, mobile: ['83', '85', '86', '87', '89'], mobileLen: 9, fixed: ['1'], callWeight: 0.09, travelWeight: 0.1, networks: [{ plmn: '27201', operator: 'Vodafone Ireland' }, { plmn: '27205', operator: 'Three Ireland' }], cities: [{ name: 'Dublin', lat: 53.3498, lon: -6.2603 }] },
  { iso: 'FR', name: 'France', cc: '33', zone: eu('Europe/Paris', 60), fixedLen: 9, mobile: ['6', '7'], mobileLen: 9, fixed: ['1', '4'], callWeight: 0.07, travelWeight: 0.16, networks: [{ plmn: '20801', operator: 'Orange France' }, { plmn: '20810', operator: 'SFR' }], cities: [{ name: 'Paris', lat: 48.8566, lon: 2.3522 }, { name: 'Nice', lat: 43.7102, lon: 7.262 }] },
  { iso: 'DE', name: 'Germany', cc: '49', zone: eu('Europe/Berlin', 60), fixedLen: 10, mobile: ['151', '160', '170', '171', '176'], mobileLen: 11, fixed: ['30', '89'], callWeight: 0.06, travelWeight: 0.1, networks: [{ plmn: '26201', operator: 'Telekom Deutschland' }, { plmn: '26202', operator: 'Vodafone GmbH' }], cities: [{ name: 'Berlin', lat: 52.52, lon: 13.405 }, { name: 'Munich', lat: 48.1372, lon: 11.5755 }] },
  { iso: 'ES', name: 'Spain', cc: '34', zone: eu('Europe/Madrid', 60), fixedLen: 9, mobile: ['6', '7'], mobileLen: 9, fixed: ['91', '93'], callWeight: 0.07, travelWeight: 0.2, networks: [{ plmn: '21401', operator: 'Vodafone España' }, { plmn: '21407', operator: 'Telefónica Móviles España' }], cities: [{ name: 'Madrid', lat: 40.4168, lon: -3.7038 }, { name: 'Malaga', lat: 36.7213, lon: -4.4214 }] },
  { iso: 'IT', name: 'Italy', cc: '39', zone: eu('Europe/Rome', 60), fixedLen: 10, mobile: ['32', '33', '34', '39'], mobileLen: 10, fixed: ['06', '02'], callWeight: 0.05, travelWeight: 0.1, networks: [{ plmn: '22201', operator: 'TIM' }, { plmn: '22210', operator: 'Vodafone Italia' }], cities: [{ name: 'Rome', lat: 41.9028, lon: 12.4964 }, { name: 'Milan', lat: 45.4642, lon: 9.19 }] },
  { iso: 'PL', name: 'Poland', cc: '48', zone: eu('Europe/Warsaw', 60), fixedLen: 9, mobile: ['50', '51', '60', '66', '69', '79', '88'], mobileLen: 9, fixed: ['22', '12'], callWeight: 0.12, travelWeight: 0.05, networks: [{ plmn: '26001', operator: 'Plus' }, { plmn: '26003', operator: 'Orange Polska' }], cities: [{ name: 'Warsaw', lat: 52.2297, lon: 21.0122 }] },
  { iso: 'RO', name: 'Romania', cc: '40', zone: eu('Europe/Bucharest', 120), fixedLen: 9, mobile: ['72', '74', '75', '76'], mobileLen: 9, fixed: ['21'], callWeight: 0.06, travelWeight: 0.02, networks: [{ plmn: '22610', operator: 'Orange Romania' }], cities: [{ name: 'Bucharest', lat: 44.4268, lon: 26.1025 }] },
  { iso: 'PT', name: 'Portugal', cc: '351', zone: eu('Europe/Lisbon', 0), fixedLen: 9, mobile: ['91', '92', '93', '96'], mobileLen: 9, fixed: ['21'], callWeight: 0.02, travelWeight: 0.06, networks: [{ plmn: '26801', operator: 'Vodafone Portugal' }], cities: [{ name: 'Lisbon', lat: 38.7223, lon: -9.1393 }] },
  { iso: 'GR', name: 'Greece', cc: '30', zone: eu('Europe/Athens', 120), fixedLen: 10, mobile: ['69'], mobileLen: 10, fixed: ['21'], callWeight: 0.01, travelWeight: 0.05, networks: [{ plmn: '20201', operator: 'Cosmote' }], cities: [{ name: 'Athens', lat: 37.9838, lon: 23.7275 }] },
  { iso: 'TR', name: 'Türkiye', cc: '90', zone: { name: 'Europe/Istanbul', stdOffsetMinutes: 180, dst: 'none' }, fixedLen: 10, mobile: ['53', '54', '55'], mobileLen: 10, fixed: ['212', '216'], callWeight: 0.02, travelWeight: 0.04, networks: [{ plmn: '28601', operator: 'Turkcell' }], cities: [{ name: 'Istanbul', lat: 41.0082, lon: 28.9784 }] },
  { iso: 'US', name: 'United States', cc: '1', zone: { name: 'America/New_York', stdOffsetMinutes: -300, dst: 'us' }, fixedLen: 10, mobile: [], mobileLen: 10, fixed: ['212', '646', '310', '415', '617', '202', '305'], callWeight: 0.1, travelWeight: 0.06, networks: [{ plmn: '310260', operator: 'T-Mobile USA' }, { plmn: '310410', operator: 'AT&T Mobility' }], cities: [{ name: 'New York', lat: 40.7128, lon: -74.006 }] },
  { iso: 'IN', name: 'India', cc: '91', zone: { name: 'Asia/Kolkata', stdOffsetMinutes: 330, dst: 'none' }, fixedLen: 10, mobile: ['98', '99', '97', '90', '81', '70'], mobileLen: 10, fixed: ['11', '22'], callWeight: 0.12, travelWeight: 0.02, networks: [{ plmn: '40410', operator: 'Bharti Airtel' }], cities: [{ name: 'Delhi', lat: 28.6139, lon: 77.209 }] },
  { iso: 'PK', name: 'Pakistan', cc: '92', zone: { name: 'Asia/Karachi', stdOffsetMinutes: 300, dst: 'none' }, fixedLen: 10, mobile: ['30', '31', '32', '33', '34'], mobileLen: 10, fixed: ['21', '42'], callWeight: 0.08, travelWeight: 0, networks: [], cities: [] },
  { iso: 'NG', name: 'Nigeria', cc: '234', zone: { name: 'Africa/Lagos', stdOffsetMinutes: 60, dst: 'none' }, fixedLen: 8, mobile: ['703', '803', '805', '806', '813', '903'], mobileLen: 10, fixed: ['1'], callWeight: 0.05, travelWeight: 0, networks: [], cities: [] },
  { iso: 'AU', name: 'Australia', cc: '61', zone: { name: 'Australia/Sydney', stdOffsetMinutes: 600, dst: 'none' }, fixedLen: 9, mobile: ['4'], mobileLen: 9, fixed: ['2', '3'], callWeight: 0.03, travelWeight: 0, networks: [], cities: [] },
  { iso: 'CN', name: 'China', cc: '86', zone: { name: 'Asia/Shanghai', stdOffsetMinutes: 480, dst: 'none' }, fixedLen: 10, mobile: ['13', '15', '18'], mobileLen: 11, fixed: ['10', '21'], callWeight: 0.03, travelWeight: 0, networks: [], cities: [] },
  { iso: 'PH', name: 'Philippines', cc: '63', zone: { name: 'Asia/Manila', stdOffsetMinutes: 480, dst: 'none' }, fixedLen: 9, mobile: ['9'], mobileLen: 10, fixed: ['2'], callWeight: 0.02, travelWeight: 0, networks: [], cities: [] },
  { iso: 'AE', name: 'United Arab Emirates', cc: '971', zone: { name: 'Asia/Dubai', stdOffsetMinutes: 240, dst: 'none' }, fixedLen: 8, mobile: ['50', '52', '55', '56'], mobileLen: 9, fixed: ['4'], callWeight: 0.02, travelWeight: 0.04, networks: [{ plmn: '42402', operator: 'Etisalat' }], cities: [{ name: 'Dubai', lat: 25.2048, lon: 55.2708 }] },
  { iso: 'BD', name: 'Bangladesh', cc: '880', zone: { name: 'Asia/Dhaka', stdOffsetMinutes: 360, dst: 'none' }, fixedLen: 9, mobile: ['17', '18', '19'], mobileLen: 10, fixed: ['2'], callWeight: 0.02, travelWeight: 0, networks: [], cities: [] },
];

/**
 * Germany: area codes (Ortsnetzkennzahlen) of the Bundesnetzagentur's numbering plan, 2 to 5 digits, with
 * local numbers of varying length, so national numbers have 9 to 11 digits (German fixed numbers are not of
 * one length). Postcodes are five-digit Postleitzahlen of each city. Weights [proposal].
 */
export const DE_REGIONS: readonly Region[] = [
  { name: 'Berlin', lat: 52.52, lon: 13.405, weight: 0.16, areaCode: '30', localDigits: 8, radiusKm: 22, msc: 'BER', postcodes: ['10115', '10245', '10437', '10961', '12043', '13353'] },
  { name: 'Hamburg', lat: 53.5511, lon: 9.9937, weight: 0.09, areaCode: '40', localDigits: 8, radiusKm: 18, msc: 'HAM', postcodes: ['20095', '20357', '22041', '22767'] },
  { name: 'München', lat: 48.1372, lon: 11.5755, weight: 0.1, areaCode: '89', localDigits: 8, radiusKm: 16, msc: 'MUC', postcodes: ['80331', '80469', '80797', '81379'] },
  { name: 'Köln', lat: 50.9375, lon: 6.9603, weight: 0.07, areaCode: '221', localDigits: 7, radiusKm: 14, msc: 'CGN', postcodes: ['50667', '50733', '50937', '51063'] },
  { name: 'Frankfurt am Main', lat: 50.1109, lon: 8.6821, weight: 0.06, areaCode: '69', localDigits: 8, radiusKm: 12, msc: 'FRA', postcodes: ['60311', '60385', '60598', '65929'] },
  { name: 'Stuttgart', lat: 48.7758, lon: 9.1829, weight: 0.06, areaCode: '711', localDigits: 7, radiusKm: 12, msc: 'STR', postcodes: ['70173', '70190', '70372', '70569'] },
  { name: 'Düsseldorf', lat: 51.2277, lon: 6.7735, weight: 0.05, areaCode: '211', localDigits: 7, radiusKm: 10, msc: 'DUS', postcodes: ['40210', '40477', '40545', '40597'] },
  { name: 'Leipzig', lat: 51.3397, lon: 12.3731, weight: 0.05, areaCode: '341', localDigits: 7, radiusKm: 10, msc: 'LEJ', postcodes: ['04103', '04177', '04277', '04315'] },
  { name: 'Dresden', lat: 51.0504, lon: 13.7373, weight: 0.04, areaCode: '351', localDigits: 7, radiusKm: 10, msc: 'DRS', postcodes: ['01067', '01099', '01187', '01309'] },
  { name: 'Hannover', lat: 52.3759, lon: 9.732, weight: 0.04, areaCode: '511', localDigits: 7, radiusKm: 10, msc: 'HAJ', postcodes: ['30159', '30161', '30419', '30519'] },
  { name: 'Nürnberg', lat: 49.4521, lon: 11.0767, weight: 0.04, areaCode: '911', localDigits: 7, radiusKm: 10, msc: 'NUE', postcodes: ['90402', '90429', '90478', '90489'] },
  { name: 'Bremen', lat: 53.0793, lon: 8.8017, weight: 0.04, areaCode: '421', localDigits: 6, radiusKm: 10, msc: 'BRE', postcodes: ['28195', '28203', '28209', '28359'] },
  { name: 'Freiburg im Breisgau', lat: 47.999, lon: 7.8421, weight: 0.03, areaCode: '761', localDigits: 6, radiusKm: 8, msc: 'FRB', postcodes: ['79098', '79100', '79104', '79117'] },
  { name: 'Kiel', lat: 54.3233, lon: 10.1228, weight: 0.03, areaCode: '431', localDigits: 6, radiusKm: 8, msc: 'KEL', postcodes: ['24103', '24105', '24114', '24143'] },
  { name: 'Görlitz', lat: 51.1528, lon: 14.9872, weight: 0.02, areaCode: '3581', localDigits: 6, radiusKm: 6, msc: 'GRZ', postcodes: ['02826', '02827', '02828'] },
  { name: 'Kleinmachnow', lat: 52.4072, lon: 13.2266, weight: 0.02, areaCode: '33203', localDigits: 6, radiusKm: 5, msc: 'KMN', postcodes: ['14532'] },
];

/** The United Kingdom as a foreign destination (for an operator elsewhere): Ofcom numbering, two networks. */
export const GB_AS_FOREIGN: Country = {
  iso: 'GB',
  name: 'United Kingdom',
  cc: '44',
  zone: eu('Europe/London', 0),
  fixedLen: 10,
  mobile: ['74', '75', '77', '78', '79'],
  mobileLen: 10,
  fixed: ['20', '161'],
  callWeight: 0.06,
  travelWeight: 0.1,
  networks: [
    { plmn: '23415', operator: 'Vodafone UK' },
    { plmn: '23410', operator: 'O2 UK' },
  ],
  cities: [{ name: 'London', lat: 51.5074, lon: -0.1278 }],
};

/**
 * Foreign destinations of a DE operator: those of a GB operator with the United Kingdom in Germany's place
 * (same index, so per-index facts of the other countries stay where they are) [proposal: weights].
 */
export const DE_FOREIGN: readonly Country[] = GB_FOREIGN.map((c) => (c.iso === 'DE' ? GB_AS_FOREIGN : c));
