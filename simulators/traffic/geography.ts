/**
 * Where traffic happens: the home country's regions and radio cells, the foreign networks our roamers
 * visit (and our visitors come from) with a few cells in their main cities, and great-circle distance so
 * that impossible travel is computable from the reference data alone.
 *
 * The home country is UK-like (fictional operator, real geography): region centres are real city
 * coordinates, area codes follow Ofcom's National Telephone Numbering Plan. Cells are synthetic.
 */
import { hash3, unit } from './random.js';
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

export const REGIONS: readonly Region[] = [
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

export const COUNTRIES: readonly Country[] = [
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

export function countryByIso(iso: string): Country {
  const c = COUNTRIES.find((x) => x.iso === iso);
  if (!c) throw new RangeError(`unknown country ${iso}`);
  return c;
}

/** Switch (recordingEntity) serving a home cell: one MSC per region, two in London (by cell index). */
export function mscFor(region: number, cell: number): string {
  const r = REGIONS[region] as Region;
  return r.name === 'London' ? `MSC-LON${1 + (cell % 2)}` : `MSC-${r.msc}1`;
}

/** Great-circle distance in km (haversine, mean Earth radius 6371 km). */
export function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const dLat = (lat2 - lat1) * r;
  const dLon = (lon2 - lon1) * r;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(a)));
}

/**
 * All cells: the home network's (per region, count scaled to the population) and a few per foreign city.
 * Struct of arrays, indexed by cell index; the cell identity written to CDRs is `cellId[idx]` (an
 * E-UTRAN cell identity: eNodeB id × 256 + sector, 3GPP TS 36.413) and the location area `lac[idx]`.
 */
export class Cells {
  readonly count: number;
  readonly cellId: Int32Array;
  readonly lac: Int32Array;
  readonly lat: Float64Array;
  readonly lon: Float64Array;
  /** Region index for home cells, -1 abroad. */
  readonly region: Int16Array;
  /** Country index (into COUNTRIES) for foreign cells, -1 at home. */
  readonly country: Int16Array;
  /** Network index within the country for foreign cells. */
  readonly network: Int16Array;
  readonly cityName: string[];
  /** First home cell and count per region. */
  readonly regionStart: Int32Array;
  readonly regionCount: Int32Array;
  /** First foreign cell and count per country (count 0 if we have no roaming partner there). */
  readonly countryStart: Int32Array;
  readonly countryCount: Int32Array;

  constructor(seed: number, homeCells: number) {
    const perRegion = REGIONS.map((r) => Math.max(3, Math.round(homeCells * r.weight)));
    const perCountry = COUNTRIES.map((c) => c.cities.length * c.networks.length * 3);
    const total = perRegion.reduce((a, b) => a + b, 0) + perCountry.reduce((a, b) => a + b, 0);
    this.count = total;
    this.cellId = new Int32Array(total);
    this.lac = new Int32Array(total);
    this.lat = new Float64Array(total);
    this.lon = new Float64Array(total);
    this.region = new Int16Array(total).fill(-1);
    this.country = new Int16Array(total).fill(-1);
    this.network = new Int16Array(total);
    this.cityName = new Array<string>(total);
    this.regionStart = new Int32Array(REGIONS.length);
    this.regionCount = new Int32Array(REGIONS.length);
    this.countryStart = new Int32Array(COUNTRIES.length);
    this.countryCount = new Int32Array(COUNTRIES.length);
    let idx = 0;
    let enb = 20_000;
    REGIONS.forEach((r, ri) => {
      this.regionStart[ri] = idx;
      this.regionCount[ri] = perRegion[ri] as number;
      let site = { lat: r.lat, lon: r.lon };
      for (let k = 0; k < (perRegion[ri] as number); k++, idx++) {
        const sector = k % 3;
        if (sector === 0) {
          // Sites scattered uniformly over a disc around the city centre.
          const h1 = unit(hash3(seed, 0xce11, enb));
          const h2 = unit(hash3(seed, 0xce12, enb));
          site = offset(r.lat, r.lon, r.radiusKm * Math.sqrt(h1), 2 * Math.PI * h2);
          enb++;
        }
        this.cellId[idx] = (enb - 1) * 256 + sector + 1;
        this.lac[idx] = 1000 + ri * 20 + Math.floor(k / 60);
        this.lat[idx] = site.lat;
        this.lon[idx] = site.lon;
        this.region[idx] = ri;
        this.cityName[idx] = r.name;
      }
    });
    let fenb = 900_000;
    COUNTRIES.forEach((c, ci) => {
      this.countryStart[ci] = idx;
      this.countryCount[ci] = perCountry[ci] as number;
      c.cities.forEach((city, cityIdx) => {
        c.networks.forEach((_, ni) => {
          for (let k = 0; k < 3; k++, idx++) {
            const p = offset(city.lat, city.lon, 6 * unit(hash3(seed, fenb, k)), 2 * Math.PI * unit(hash3(seed, fenb, k + 7)));
            this.cellId[idx] = fenb * 256 + 1;
            fenb++;
            this.lac[idx] = 5000 + ci * 10 + cityIdx;
            this.lat[idx] = p.lat;
            this.lon[idx] = p.lon;
            this.country[idx] = ci;
            this.network[idx] = ni;
            this.cityName[idx] = city.name;
          }
        });
      });
    });
  }

  distanceKm(a: number, b: number): number {
    return distanceKm(this.lat[a] as number, this.lon[a] as number, this.lat[b] as number, this.lon[b] as number);
  }
}

/** A point at distance km and bearing (radians) from (lat, lon), on a local flat approximation. */
function offset(lat: number, lon: number, km: number, bearing: number): { lat: number; lon: number } {
  const dLat = (km * Math.cos(bearing)) / 111.32;
  const dLon = (km * Math.sin(bearing)) / (111.32 * Math.cos((lat * Math.PI) / 180));
  return { lat: round6(lat + dLat), lon: round6(lon + dLon) };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
