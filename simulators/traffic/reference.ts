/**
 * The reference data a generated population implies, as the records of schemas/reference.ts, and a writer
 * for the files (docs/REFERENCE-DATA.md): CSV with a header row (RFC 4180), JSON for operator.json.
 * Large tables (accounts, lines, features, contracted rates) are iterables, written in chunks, so a million
 * lines never sit in memory as objects. Money is computed in integer minor units and written as exact
 * decimal strings.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type {
  AccountRecord,
  CellRecord,
  ContractedRateRecord,
  CountryRecord,
  DirectoryListingRecord,
  FeatureCatalogueRecord,
  FeatureRecord,
  HolidayRecord,
  LineRecord,
  NetworkRecord,
  NumberRangeRecord,
  OperatorRecord,
  PlanRecord,
} from '../../schemas/reference.js';
import { COLUMNS, FILES } from '../../schemas/reference.js';
import { csvLine } from '../../schemas/csv.js';
import { hash2, hash3, unit } from './random.js';
import { BUSINESS_HOURS, isoDate, type Holiday } from './calendar.js';
import { COUNTRIES, REGIONS, mscFor } from './geography.js';
import { HOME, RISK_RANGES, numberingPlan } from './numbering.js';
import { PLAN } from './home.js';
import { AccountClass, CLASS_NAMES, F, HOME_ZONE, LineKind, LineStatus, SEGMENT_NAMES, accountAddress, accountName, accountPin, directoryCategory, pinSalt, serviceAddress, type Population } from './population.js';
import { hashPin, pinKeyFromEnv } from '../../schemas/pin.js';

export interface ReferenceTables {
  operator: OperatorRecord;
  accounts: () => Iterable<AccountRecord>;
  lines: () => Iterable<LineRecord>;
  features: () => Iterable<FeatureRecord>;
  featureCatalogue: FeatureCatalogueRecord[];
  plans: PlanRecord[];
  contractedRates: () => Iterable<ContractedRateRecord>;
  numberingPlan: NumberRangeRecord[];
  cells: CellRecord[];
  networks: NetworkRecord[];
  countries: CountryRecord[];
  holidays: HolidayRecord[];
  directoryListings: () => Iterable<DirectoryListingRecord>;
}

/** Plans by the index lines carry (Population.plan). includedMinutes/Sms -1 = unlimited. */
export const PLANS: readonly PlanRecord[] = [
  { plan: 'PAYG', name: 'Pay as you go', lineType: 'mobile', paymentType: 'prepaid', monthlyFee: '0.00', includedMinutes: 0, includedSms: 0, includedDataMb: 0 },
  { plan: 'SIMO-5', name: 'SIM only 5 GB', lineType: 'mobile', paymentType: 'postpaid', monthlyFee: '8.00', includedMinutes: -1, includedSms: -1, includedDataMb: 5120 },
  { plan: 'SIMO-30', name: 'SIM only 30 GB', lineType: 'mobile', paymentType: 'postpaid', monthlyFee: '15.00', includedMinutes: -1, includedSms: -1, includedDataMb: 30720 },
  { plan: 'HAND-24', name: 'Handset 24 months, 100 GB', lineType: 'mobile', paymentType: 'postpaid', monthlyFee: '35.99', includedMinutes: -1, includedSms: -1, includedDataMb: 102400 },
  { plan: 'BIZ-MOB', name: 'Business mobile 20 GB', lineType: 'mobile', paymentType: 'postpaid', monthlyFee: '14.50', includedMinutes: -1, includedSms: -1, includedDataMb: 20480 },
  { plan: 'BIZ-MOB-PLUS', name: 'Business mobile 100 GB, EU roaming', lineType: 'mobile', paymentType: 'postpaid', monthlyFee: '22.00', includedMinutes: -1, includedSms: -1, includedDataMb: 102400 },
  { plan: 'SIP-DDI', name: 'SIP trunk DDI line', lineType: 'fixed', paymentType: 'postpaid', monthlyFee: '3.50', includedMinutes: 0, includedSms: 0, includedDataMb: 0 },
];

/** Orderable features: USOC-style codes of our own catalogue (not Telcordia USOCs). */
export const FEATURE_CATALOGUE: readonly FeatureCatalogueRecord[] = [
  { code: 'VMB01', name: 'Voicemail', description: 'Voicemail box; busy/no reply/not reachable divert to the voicemail platform', monthlyCharge: '0.00', chargeKind: 'recurring' },
  { code: 'CFU01', name: 'Call forwarding unconditional', description: 'All calls forwarded to the target (forwarded legs charged to the line)', monthlyCharge: '0.00', chargeKind: 'recurring' },
  { code: 'CFB01', name: 'Call forwarding on busy', description: 'Calls forwarded when the line is busy', monthlyCharge: '0.00', chargeKind: 'recurring' },
  { code: 'CFN01', name: 'Call forwarding on no reply / not reachable', description: 'Calls forwarded after the no-reply timer or when unreachable', monthlyCharge: '0.00', chargeKind: 'recurring' },
  { code: 'CFI01', name: 'International call forwarding', description: 'Allows forwarding targets abroad', monthlyCharge: '2.50', chargeKind: 'recurring' },
  { code: 'IDB01', name: 'International call barring', description: 'Outgoing international calls barred', monthlyCharge: '0.00', chargeKind: 'recurring' },
  { code: 'PRB01', name: 'Premium-rate barring', description: 'Calls to 09 and 118 numbers barred', monthlyCharge: '0.00', chargeKind: 'recurring' },
  { code: 'ROM01', name: 'Roaming', description: 'Use on partner networks abroad', monthlyCharge: '0.00', chargeKind: 'recurring' },
  { code: 'SIPCH', name: 'SIP trunk channels', description: 'Concurrent call channels of a SIP trunk, charged per channel (on the pilot line)', monthlyCharge: '8.50', chargeKind: 'recurring' },
  { code: 'DDI10', name: 'DDI number blocks', description: 'Direct-dial-in numbers, charged per block of 10 (on the pilot line)', monthlyCharge: '5.00', chargeKind: 'recurring' },
  // Services without a trace in the CDRs (issue #16): what bill padding invents when nobody ordered them.
  { code: 'IWM01', name: 'Inside wire maintenance', description: 'Maintenance of the customer-side wiring of a PBX site (on the pilot line)', monthlyCharge: '3.00', chargeKind: 'recurring' },
  { code: 'TSP01', name: 'Technical support call-out', description: 'An engineer visit or remote support session, charged per order', monthlyCharge: '45.00', chargeKind: 'one-off' },
];

/** Base contracted per-minute rates by destination, in 1/10000 of the currency unit [proposal]. */
const BASE_RATES: Record<string, number> = { GB: 350, IE: 300, FR: 350, DE: 350, ES: 350, IT: 400, PL: 450, RO: 600, PT: 400, GR: 500, TR: 900, US: 200, IN: 550, PK: 1200, NG: 1500, AU: 450, CN: 500, PH: 1400, AE: 1800, BD: 900 };

/** Time zones of the countries only present as high-risk ranges. */
const RISK_TZ: Record<string, string> = {
  XN: '',
  XP: '',
  AI: 'America/Anguilla',
  AG: 'America/Antigua',
  BB: 'America/Barbados',
  VG: 'America/Tortola',
  DM: 'America/Dominica',
  GD: 'America/Grenada',
  MS: 'America/Montserrat',
  TC: 'America/Grand_Turk',
  LV: 'Europe/Riga',
  CU: 'America/Havana',
  SO: 'Africa/Mogadishu',
  SL: 'Africa/Freetown',
  GN: 'Africa/Conakry',
};

/** Integer minor units (at `scale` decimals) as an exact decimal string. */
export function money(units: number, scale: number): string {
  if (!Number.isSafeInteger(units)) throw new RangeError(`money units must be an integer, got ${units}`);
  const neg = units < 0;
  const s = String(Math.abs(units)).padStart(scale + 1, '0');
  return (neg ? '-' : '') + s.slice(0, s.length - scale) + '.' + s.slice(s.length - scale);
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

export function buildReference(pop: Population, holidays: Holiday[], startMs: number, endMs: number): ReferenceTables {
  const cells = pop.cells;
  const cellRows: CellRecord[] = [];
  for (let c = 0; c < cells.count; c++) {
    const home = (cells.region[c] as number) >= 0;
    const ctry = home ? null : (COUNTRIES[cells.country[c] as number] as (typeof COUNTRIES)[number]);
    const plmn = ctry ? (ctry.networks[cells.network[c] as number] as { plmn: string }).plmn : HOME.plmn;
    cellRows.push({
      cellId: cells.cellId[c] as number,
      lac: cells.lac[c] as number,
      plmn,
      region: cells.cityName[c] as string,
      country: ctry ? ctry.iso : HOME.country,
      lat: cells.lat[c] as number,
      lon: cells.lon[c] as number,
      switch: home ? mscFor(cells.region[c] as number, c) : `VPMN-${plmn}`,
    });
  }
  const networks: NetworkRecord[] = [{ plmn: HOME.plmn, mcc: HOME.mcc, mnc: HOME.mnc, country: HOME.country, operator: HOME.name, home: true, timezone: HOME_ZONE.name }];
  for (const c of COUNTRIES) for (const n of c.networks) networks.push({ plmn: n.plmn, mcc: n.plmn.slice(0, 3), mnc: n.plmn.slice(3), country: c.iso, operator: n.operator, home: false, timezone: c.zone.name });
  const countries: CountryRecord[] = [{ country: HOME.country, name: PLAN.countryName, countryCode: HOME.countryCode, timezone: HOME_ZONE.name }];
  for (const c of COUNTRIES) countries.push({ country: c.iso, name: c.name, countryCode: c.cc, timezone: c.zone.name });
  for (const r of RISK_RANGES) if (!countries.some((c) => c.country === r.iso)) countries.push({ country: r.iso, name: r.name, countryCode: r.cc, timezone: RISK_TZ[r.iso] ?? '' });
  const switches = new Set<string>();
  for (const row of cellRows) switches.add(row.switch);
  const operator: OperatorRecord = {
    name: HOME.name,
    plmn: HOME.plmn,
    mcc: HOME.mcc,
    mnc: HOME.mnc,
    country: HOME.country,
    countryCode: HOME.countryCode,
    nationalPrefix: HOME.nationalPrefix,
    internationalPrefix: HOME.internationalPrefix,
    timezone: HOME_ZONE.name,
    currency: HOME.currency,
    voicemailNumber: HOME.voicemailNumber,
    smsCentre: HOME.smsCentre,
    switches: [
      ...[...switches].filter((s) => s.startsWith('MSC-')).sort().map((id) => ({ id, kind: 'msc' as const, location: REGIONS.find((r) => id.startsWith(`MSC-${r.msc}`))?.name ?? '' })),
      { id: 'IMS-1', kind: 'ims', location: 'SIP trunks (PBX accounts)' },
      { id: 'PGW-1', kind: 'pgw', location: 'packet core' },
      { id: 'PGW-2', kind: 'pgw', location: 'packet core' },
      { id: 'SGW-1', kind: 'pgw', location: 'packet core (visitors, home-routed)' },
      ...networks.filter((n) => !n.home).map((n) => ({ id: `VPMN-${n.plmn}`, kind: 'visited-network' as const, location: n.plmn })),
    ],
  };
  return {
    operator,
    accounts: () => accounts(pop),
    lines: () => lines(pop),
    features: () => features(pop),
    featureCatalogue: [...FEATURE_CATALOGUE],
    plans: [...PLANS],
    contractedRates: () => contractedRates(pop),
    numberingPlan: numberingPlan(),
    cells: cellRows,
    networks,
    countries,
    holidays: holidays.filter((h) => h.day * 86_400_000 < endMs + 86_400_000 && (h.day + 1) * 86_400_000 > startMs - 86_400_000).map((h) => ({ date: isoDate(h.day), name: h.name, country: HOME.country })),
    directoryListings: () => directoryListings(pop),
  };
}

function* accounts(pop: Population): Generator<AccountRecord> {
  // The PIN hash uses this deployment's key (schemas/pin.ts; the development key when none is set).
  const { key } = pinKeyFromEnv();
  for (let a = 0; a < pop.accountCount; a++) {
    const first = pop.accFirstLine[a] as number;
    if (pop.kind[first] === LineKind.VISITOR) continue; // visitors are not our customers
    const cls = pop.accClass[a] as number;
    const bh = cls === AccountClass.PRIVATE ? undefined : BUSINESS_HOURS[pop.accProfile[a] as number];
    const addr = accountAddress(pop, a);
    yield {
      accountId: pop.accountId(a),
      name: accountName(pop, a),
      class: CLASS_NAMES[cls] as AccountRecord['class'],
      segment: SEGMENT_NAMES[pop.accSegment[a] as number] as AccountRecord['segment'],
      addressLine: addr.addressLine,
      city: addr.city,
      postcode: addr.postcode,
      country: HOME.country,
      timezone: HOME_ZONE.name,
      businessDays: bh ? bh.days : null,
      businessOpen: bh ? hhmm(bh.open) : null,
      businessClose: bh ? hhmm(bh.close) : null,
      paymentType: pop.accPrepaid[a] ? 'prepaid' : 'postpaid',
      createdDate: isoDate(pop.accCreatedDay[a] as number),
      ...(() => {
        const s = serviceAddress(pop, a);
        return { serviceAddressLine: s.addressLine, serviceCity: s.city, servicePostcode: s.postcode };
      })(),
      pinHash: hashPin(accountPin(pop, a), pinSalt(pop, a), key),
    };
  }
}

/**
 * Directory listings (issue #16): a business's first line (a PBX's pilot) is listed under its name, address and
 * trade; other business lines are unlisted; private accounts are listed 30%, unlisted 20%, ex-directory the
 * rest, on their first line [proposal]. Lines without a row are not in the directory.
 */
function* directoryListings(pop: Population): Generator<DirectoryListingRecord> {
  for (let a = 0; a < pop.accountCount; a++) {
    const first = pop.accFirstLine[a] as number;
    if (pop.kind[first] === LineKind.VISITOR || (pop.accLines[a] as number) === 0) continue;
    const accountId = pop.accountId(a);
    const name = accountName(pop, a);
    const addr = serviceAddress(pop, a);
    const shown = `${addr.addressLine}, ${addr.city} ${addr.postcode}`;
    if (pop.accClass[a] !== AccountClass.PRIVATE) {
      const pilot = (pop.accPilot[a] as number) >= 0 ? (pop.accPilot[a] as number) : first;
      if (pop.status[pilot] === LineStatus.CEASED) continue;
      yield { msisdn: pop.msisdn(pilot), accountId, listingType: 'listed', listedName: name, listedAddress: shown, category: directoryCategory(pop, a) };
      continue;
    }
    if (pop.status[first] === LineStatus.CEASED) continue;
    const u = unit(hash3(pop.seed, 0xd1e, a));
    const listingType = u < 0.3 ? 'listed' : u < 0.5 ? 'unlisted' : 'ex-directory';
    yield { msisdn: pop.msisdn(first), accountId, listingType, listedName: listingType === 'ex-directory' ? null : name, listedAddress: listingType === 'listed' ? shown : null, category: null };
  }
}

const STATUS = ['active', 'suspended', 'ceased'] as const;

function* lines(pop: Population): Generator<LineRecord> {
  for (let i = 0; i < pop.lineCount; i++) {
    if (pop.kind[i] === LineKind.VISITOR) continue;
    const fixed = pop.kind[i] === LineKind.FIXED;
    yield {
      msisdn: pop.msisdn(i),
      imsi: pop.imsi(i),
      accountId: pop.accountId(pop.account[i] as number),
      lineType: fixed ? 'fixed' : 'mobile',
      status: STATUS[pop.status[i] as number] as LineRecord['status'],
      installDate: isoDate(pop.installDay[i] as number),
      plan: (PLANS[pop.plan[i] as number] as PlanRecord).plan,
      region: (REGIONS[pop.region[i] as number] as (typeof REGIONS)[number]).name,
      trunkGroup: pop.trunkGroup(i),
      serviceType: fixed ? 'pbx-ddi' : 'mobile',
      ddiBlock: fixed ? ddiBlockOf(pop, pop.account[i] as number) : null,
    };
  }
}

/** `first-last` numbers of a PBX account's DDI range (its lines are consecutive extensions of one block). */
function ddiBlockOf(pop: Population, a: number): string {
  const first = pop.accFirstLine[a] as number;
  return `${pop.msisdn(first)}-${pop.msisdn(first + (pop.accLines[a] as number) - 1)}`;
}

function* features(pop: Population): Generator<FeatureRecord> {
  const charge = (code: string) => (FEATURE_CATALOGUE.find((f) => f.code === code) as FeatureCatalogueRecord).monthlyCharge;
  for (let i = 0; i < pop.lineCount; i++) {
    if (pop.kind[i] === LineKind.VISITOR || pop.status[i] === LineStatus.CEASED) continue;
    const msisdn = pop.msisdn(i);
    const f = pop.features[i] as number;
    const install = pop.installDay[i] as number;
    const since = isoDate(install + (hash2(pop.seed ^ 0xfea, i) % 200));
    const row = (code: string, target: string | null, when = since, monthlyCharge = charge(code)): FeatureRecord => ({ msisdn, code, monthlyCharge, since: when, target });
    if (f & F.VOICEMAIL) {
      yield row('VMB01', null, isoDate(install));
      yield row('CFB01', HOME.voicemailNumber, isoDate(install));
      yield row('CFN01', HOME.voicemailNumber, isoDate(install));
    }
    if (f & F.FWD_OWN_LINE) {
      const target = (pop.fwdLine[i] as number) >= 0 ? pop.msisdn(pop.fwdLine[i] as number) : (pop.fwdNumber.get(i) ?? null);
      if (!(f & F.VOICEMAIL)) yield row('CFB01', target);
      yield row('CFN01', target);
    }
    if (f & F.FWD_INTL_CFU) {
      yield row('CFI01', null);
      yield row('CFU01', pop.fwdNumber.get(i) ?? null);
    }
    if (f & F.BAR_INTL) yield row('IDB01', null, isoDate(install));
    if (f & F.BAR_PREMIUM) yield row('PRB01', null, isoDate(install));
    if (f & F.ROAMING) yield row('ROM01', null, isoDate(install));
    const a = pop.account[i] as number;
    if (pop.accPilot[a] === i) {
      // Trunk channels and DDI blocks are charged on the pilot line: exact arithmetic in pence.
      const n = pop.accLines[a] as number;
      yield row('SIPCH', null, isoDate(install), money(Math.ceil(n / 4) * 850, 2));
      yield row('DDI10', null, isoDate(install), money(Math.ceil(n / 10) * 500, 2));
      // Half the PBX sites pay for inside wire maintenance (issue #16: a provisioned, legitimate charge) [proposal].
      if (hash3(pop.seed, 0x1f1, a) % 2 === 0) yield row('IWM01', null, isoDate(install));
    }
  }
}

function* contractedRates(pop: Population): Generator<ContractedRateRecord> {
  for (let a = 0; a < pop.accountCount; a++) {
    if (pop.accClass[a] === AccountClass.PRIVATE) continue;
    const h = hash3(pop.seed, 0xc0de, a);
    if (unit(h) >= 0.6) continue; // 60% of business accounts have negotiated rates [proposal]
    const accountId = pop.accountId(a);
    const validFrom = isoDate(pop.accCreatedDay[a] as number);
    const pbx = pop.accClass[a] === AccountClass.PBX;
    const [first, inc] = pbx ? [30, 6] : [60, 1];
    const setupFee = money(hash2(h, 1) % 3 === 0 ? 500 : 0, 4);
    // A discount of 0-30% off the base rates, per account.
    const factor = (p: number) => Math.round((p * (100 - (hash2(h, 2) % 31))) / 100);
    const row = (prefix: string, description: string, rate: number): ContractedRateRecord => ({ accountId, prefix, description, ratePerMinute: money(factor(rate), 4), setupFee, firstIncrementSeconds: first, incrementSeconds: inc, validFrom });
    for (const [prefix, description, rate] of PLAN.contractPrefixes) yield row(prefix, description, rate);
    const picked = new Set<string>();
    for (let k = 0; k < 3; k++) {
      const c = COUNTRIES[hash2(h, 10 + k) % COUNTRIES.length] as (typeof COUNTRIES)[number];
      if (picked.has(c.iso)) continue;
      picked.add(c.iso);
      yield row(c.cc, c.name, BASE_RATES[c.iso] ?? 1000);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing

type Cell = string | number | boolean | null;

/** Writes rows as CSV with the given columns, in chunks. Returns the row count. */
export function writeCsv<T extends object>(path: string, columns: readonly (keyof T & string)[], rows: Iterable<T>): number {
  const fd = openSync(path, 'w');
  let n = 0;
  try {
    let buf = columns.join(',') + '\n';
    for (const r of rows) {
      const rec = r as Record<string, Cell>;
      buf += csvLine(columns.map((c) => rec[c])) + '\n';
      n++;
      if (buf.length > 1 << 20) {
        writeSync(fd, buf);
        buf = '';
      }
    }
    writeSync(fd, buf);
  } finally {
    closeSync(fd);
  }
  return n;
}

export { COLUMNS, FILES } from '../../schemas/reference.js';


/** Writes every reference file into dir (created if missing). Returns file name -> rows. */
export function writeReference(dir: string, t: ReferenceTables): Record<string, number> {
  mkdirSync(dir, { recursive: true });
  const out: Record<string, number> = {};
  writeFileSync(join(dir, FILES.operator), JSON.stringify(t.operator, null, 2) + '\n');
  out[FILES.operator] = 1;
  out[FILES.accounts] = writeCsv(join(dir, FILES.accounts), COLUMNS.accounts, t.accounts());
  out[FILES.lines] = writeCsv(join(dir, FILES.lines), COLUMNS.lines, t.lines());
  out[FILES.features] = writeCsv(join(dir, FILES.features), COLUMNS.features, t.features());
  out[FILES.featureCatalogue] = writeCsv(join(dir, FILES.featureCatalogue), COLUMNS.featureCatalogue, t.featureCatalogue);
  out[FILES.plans] = writeCsv(join(dir, FILES.plans), COLUMNS.plans, t.plans);
  out[FILES.contractedRates] = writeCsv(join(dir, FILES.contractedRates), COLUMNS.contractedRates, t.contractedRates());
  out[FILES.numberingPlan] = writeCsv(join(dir, FILES.numberingPlan), COLUMNS.numberingPlan, t.numberingPlan);
  out[FILES.cells] = writeCsv(join(dir, FILES.cells), COLUMNS.cells, t.cells);
  out[FILES.networks] = writeCsv(join(dir, FILES.networks), COLUMNS.networks, t.networks);
  out[FILES.countries] = writeCsv(join(dir, FILES.countries), COLUMNS.countries, t.countries);
  out[FILES.holidays] = writeCsv(join(dir, FILES.holidays), COLUMNS.holidays, t.holidays);
  out[FILES.directoryListings] = writeCsv(join(dir, FILES.directoryListings), COLUMNS.directoryListings, t.directoryListings());
  return out;
}
