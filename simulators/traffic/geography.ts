/**
 * Where traffic happens: the home country's regions and radio cells, the foreign networks our roamers
 * visit (and our visitors come from) with a few cells in their main cities, and great-circle distance so
 * that impossible travel is computable from the reference data alone.
 *
 * The home country is chosen per run (home.ts: GB by default, or DE): region centres are real city
 * coordinates, area codes follow the national numbering plan. Cells are synthetic. `REGIONS` and `COUNTRIES`
 * are the home country's regions and its foreign destinations (live bindings of home.ts).
 */
import { hash3, unit } from './random.js';
import { COUNTRIES, REGIONS } from './home.js';
import type { Country, Region } from './countries.js';

export { COUNTRIES, REGIONS } from './home.js';
export type { City, Country, Network, Region } from './countries.js';


export function countryByIso(iso: string): Country {
  const c = COUNTRIES.find((x) => x.iso === iso);
  if (!c) throw new RangeError(`unknown country ${iso}`);
  return c;
}

/** Switch (recordingEntity) serving a home cell: one MSC per region, two in the first (the capital; by cell index). */
export function mscFor(region: number, cell: number): string {
  const r = REGIONS[region] as Region;
  return region === 0 ? `MSC-${r.msc}${1 + (cell % 2)}` : `MSC-${r.msc}1`;
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
