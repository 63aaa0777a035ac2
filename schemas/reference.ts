/**
 * The reference-data contract: the records of the files `cdr-pipeline generate --reference-out DIR` writes
 * (the customer inventory, numbering plan, cells and networks the generated population implies) and that
 * rating and enrichment (issue #4) and fraud detection read. File formats: docs/REFERENCE-DATA.md.
 *
 * Conventions: CSV with a header row (RFC 4180 quoting), UTF-8, one record per line; an empty CSV field is
 * null. Dates are ISO `YYYY-MM-DD`, local times `HH:MM`. Money is an exact decimal string in the currency of
 * operator.json (e.g. "4.99", "0.0350"), never a binary float; parse it with `parseMoney`.
 * Numbers are E.164 digits without "+" unless a field says otherwise.
 */

/** An exact decimal amount as a string: optional "-", digits, optional "." and digits. */
export type Money = string;

export const MONEY_PATTERN = /^-?\d+(\.\d+)?$/;

/** Parses a Money string into integer minor units at the given scale (e.g. scale 4: "0.035" -> 350n). */
export function parseMoney(value: Money, scale: number): bigint {
  if (!MONEY_PATTERN.test(value)) throw new RangeError(`not an exact decimal amount: ${JSON.stringify(value)}`);
  const neg = value.startsWith('-');
  const [int = '0', frac = ''] = (neg ? value.slice(1) : value).split('.');
  if (frac.length > scale) throw new RangeError(`${value} has more than ${scale} decimals`);
  const units = BigInt(int) * 10n ** BigInt(scale) + BigInt((frac + '0'.repeat(scale)).slice(0, scale) || '0');
  return neg ? -units : units;
}

/** operator.json: who "we" are. */
export interface OperatorRecord {
  name: string;
  /** MCC-MNC of the home network (ITU-T E.212). */
  plmn: string;
  mcc: string;
  mnc: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  /** E.164 country code. */
  countryCode: string;
  /** Dialling prefixes: national trunk prefix and international prefix (numbers in calledNumber of MO records are as dialled). */
  nationalPrefix: string;
  internationalPrefix: string;
  /** IANA time zone of the home network and of every home account. */
  timezone: string;
  /** ISO 4217 currency of every Money field. */
  currency: string;
  voicemailNumber: string;
  smsCentre: string;
  /** Recording entities that appear in CDRs. */
  switches: SwitchRecord[];
}

export interface SwitchRecord {
  /** recordingEntity as written in CDRs. */
  id: string;
  kind: 'msc' | 'ims' | 'smsc' | 'pgw' | 'visited-network';
  /** Region served (home switches) or PLMN (visited-network pseudo-switches). */
  location: string;
}

export type AccountClass = 'private' | 'business' | 'pbx';
export type AccountSegment = 'consumer' | 'sme' | 'enterprise' | 'call-centre' | 'telesales';

/** accounts.csv: one billing account per row. */
export interface AccountRecord {
  accountId: string;
  name: string;
  class: AccountClass;
  segment: AccountSegment;
  addressLine: string;
  city: string;
  postcode: string;
  country: string;
  /** IANA time zone in which business hours and the bill are expressed. */
  timezone: string;
  /** ISO weekdays open (1 = Monday ... 7 = Sunday) as a range "1-5", empty for private accounts. */
  businessDays: string | null;
  /** Declared business hours, local "HH:MM", empty for private accounts. */
  businessOpen: string | null;
  businessClose: string | null;
  paymentType: 'postpaid' | 'prepaid';
  createdDate: string;
  /**
   * Service address (where the lines are installed / the site), when known; null (or absent in files written
   * before the CSR columns, issue #16) means the same as the billing address above.
   */
  serviceAddressLine?: string | null;
  serviceCity?: string | null;
  servicePostcode?: string | null;
  /**
   * The account PIN (port-out and care authentication), salted and keyed: schemas/pin.ts `hashPin`
   * (`hmac-sha256$<salt>$<hex>`). Never the PIN itself; null = no PIN on the account.
   */
  pinHash?: string | null;
}

export type LineType = 'mobile' | 'fixed';
/** What a CSR calls the line (issue #16): a mobile line, a DDI number of a PBX's SIP trunk block, or a fixed line. */
export type ServiceType = 'mobile' | 'pbx-ddi' | 'fixed';
export const SERVICE_TYPES: readonly ServiceType[] = ['mobile', 'pbx-ddi', 'fixed'];
export type LineStatus = 'active' | 'suspended' | 'ceased';

/** lines.csv: one subscriber line (MSISDN, or DDI number of a PBX) per row. */
export interface LineRecord {
  msisdn: string;
  /** Empty for fixed lines (PBX DDIs reach us over a SIP trunk). */
  imsi: string | null;
  accountId: string;
  lineType: LineType;
  status: LineStatus;
  installDate: string;
  /** Plan code (plans.csv). */
  plan: string;
  /** Home region (cells.csv region names). */
  region: string;
  /** SIP trunk group of PBX lines (inTrunkGroup/outTrunkGroup in CDRs), empty for mobile lines. */
  trunkGroup: string | null;
  /** CSR line type; absent/null in older files: `serviceTypeOf` derives it (trunk group -> pbx-ddi). */
  serviceType?: ServiceType | null;
  /** DDI block of a PBX line: `first-last` E.164 numbers of the account's range; null otherwise. */
  ddiBlock?: string | null;
}

/** The CSR line type of a line, for files with or without the serviceType column. */
export function serviceTypeOf(l: Pick<LineRecord, 'lineType' | 'trunkGroup' | 'serviceType'>): ServiceType {
  if (l.serviceType) return l.serviceType;
  if (l.lineType === 'mobile') return 'mobile';
  return l.trunkGroup ? 'pbx-ddi' : 'fixed';
}

/** plans.csv: tariff plans lines are on. Prices are retail, before tax. */
export interface PlanRecord {
  plan: string;
  name: string;
  lineType: LineType;
  paymentType: 'postpaid' | 'prepaid';
  monthlyFee: Money;
  includedMinutes: number;
  includedSms: number;
  includedDataMb: number;
}

/** feature-catalogue.csv: orderable features (USOC-style codes; our own catalogue, not Telcordia USOCs). */
export interface FeatureCatalogueRecord {
  code: string;
  name: string;
  description: string;
  monthlyCharge: Money;
  /**
   * How the feature is charged: every month (`recurring`, the default when absent or null) or once per
   * order (`one-off`, monthlyCharge is then the price of one order).
   */
  chargeKind?: 'recurring' | 'one-off' | null;
}

/** features.csv: features provisioned on a line. */
export interface FeatureRecord {
  msisdn: string;
  code: string;
  monthlyCharge: Money;
  since: string;
  /** Forwarding target (E.164 digits) for call-forwarding features, empty otherwise. */
  target: string | null;
}

/** contracted-rates.csv: per-account negotiated outbound voice rates (business and PBX accounts). */
export interface ContractedRateRecord {
  accountId: string;
  /** Destination prefix (E.164 digits); longest prefix wins, as in numbering-plan.csv. */
  prefix: string;
  description: string;
  /** Price per minute. */
  ratePerMinute: Money;
  /** Charged once per answered call. */
  setupFee: Money;
  /** First billing block and later increments, seconds (e.g. 60/1, 30/6). */
  firstIncrementSeconds: number;
  incrementSeconds: number;
  validFrom: string;
}

export type NumberClass = 'fixed' | 'mobile' | 'toll-free' | 'premium' | 'shared-cost' | 'short' | 'emergency' | 'voicemail' | 'network';

/** numbering-plan.csv: number ranges; a number matches a row if it starts with prefix and its length is within bounds. */
export interface NumberRangeRecord {
  /** E.164 digits, or the dialled digits of national short codes (e.g. "999"). */
  prefix: string;
  minLength: number;
  maxLength: number;
  /** ISO 3166-1 alpha-2; XN/XP for the international network and premium codes +882/+883/+979. */
  country: string;
  countryCode: string;
  numberClass: NumberClass;
  /** On the high-risk (IRSF / hot-number) list. */
  highRisk: boolean;
  /** Operator holding the range when it is ours, else empty. */
  rangeHolder: string;
  description: string;
}

/** cells.csv: radio cells seen in CDRs (home network and roaming partners' cells our roamers used). */
export interface CellRecord {
  /** E-UTRAN cell identity as written in CDRs (cellId). */
  cellId: number;
  lac: number;
  plmn: string;
  /** Home regions, or the city for foreign cells. */
  region: string;
  country: string;
  lat: number;
  lon: number;
  /** Switch (recordingEntity) serving the cell. */
  switch: string;
}

/** networks.csv: MCC-MNC to country and operator (our own network and roaming partners). */
export interface NetworkRecord {
  plmn: string;
  mcc: string;
  mnc: string;
  country: string;
  operator: string;
  /** True for our own network. */
  home: boolean;
  timezone: string;
}

/** countries.csv: countries in the numbering plan. */
export interface CountryRecord {
  country: string;
  name: string;
  countryCode: string;
  timezone: string;
}

/**
 * directory-listings.csv (issue #16): how a line appears in the directory (CSR "directory listing").
 * `listed`: name and address published; `unlisted`: known to directory enquiries, not printed;
 * `ex-directory`: not given out at all.
 */
export interface DirectoryListingRecord {
  msisdn: string;
  accountId: string;
  listingType: 'listed' | 'unlisted' | 'ex-directory';
  /** Name as listed (may differ from the account name: a trading name, a department). */
  listedName: string | null;
  /** Address line shown with the listing, empty when not shown. */
  listedAddress: string | null;
  /** Directory heading (business listings), e.g. "Solicitors". */
  category: string | null;
}

/** holidays.csv: public holidays of the home country in the generated period (rating and forecasting). */
export interface HolidayRecord {
  date: string;
  name: string;
  country: string;
}

/** Column order of every CSV file (documented in docs/REFERENCE-DATA.md). */
export const COLUMNS = {
  accounts: ['accountId', 'name', 'class', 'segment', 'addressLine', 'city', 'postcode', 'country', 'timezone', 'businessDays', 'businessOpen', 'businessClose', 'paymentType', 'createdDate', 'serviceAddressLine', 'serviceCity', 'servicePostcode', 'pinHash'] as (keyof AccountRecord & string)[],
  lines: ['msisdn', 'imsi', 'accountId', 'lineType', 'status', 'installDate', 'plan', 'region', 'trunkGroup', 'serviceType', 'ddiBlock'] as (keyof LineRecord & string)[],
  features: ['msisdn', 'code', 'monthlyCharge', 'since', 'target'] as (keyof FeatureRecord & string)[],
  featureCatalogue: ['code', 'name', 'description', 'monthlyCharge', 'chargeKind'] as (keyof FeatureCatalogueRecord & string)[],
  plans: ['plan', 'name', 'lineType', 'paymentType', 'monthlyFee', 'includedMinutes', 'includedSms', 'includedDataMb'] as (keyof PlanRecord & string)[],
  contractedRates: ['accountId', 'prefix', 'description', 'ratePerMinute', 'setupFee', 'firstIncrementSeconds', 'incrementSeconds', 'validFrom'] as (keyof ContractedRateRecord & string)[],
  numberingPlan: ['prefix', 'minLength', 'maxLength', 'country', 'countryCode', 'numberClass', 'highRisk', 'rangeHolder', 'description'] as (keyof NumberRangeRecord & string)[],
  cells: ['cellId', 'lac', 'plmn', 'region', 'country', 'lat', 'lon', 'switch'] as (keyof CellRecord & string)[],
  networks: ['plmn', 'mcc', 'mnc', 'country', 'operator', 'home', 'timezone'] as (keyof NetworkRecord & string)[],
  countries: ['country', 'name', 'countryCode', 'timezone'] as (keyof CountryRecord & string)[],
  holidays: ['date', 'name', 'country'] as (keyof HolidayRecord & string)[],
  directoryListings: ['msisdn', 'accountId', 'listingType', 'listedName', 'listedAddress', 'category'] as (keyof DirectoryListingRecord & string)[],
};

/**
 * Columns added after a file format was first published (issue #16, the CSR): a file without them still
 * loads, and each reads as null. Every other column of COLUMNS is required in the header.
 */
export const OPTIONAL_COLUMNS: Readonly<Record<string, ReadonlySet<string>>> = {
  accounts: new Set(['serviceAddressLine', 'serviceCity', 'servicePostcode', 'pinHash']),
  lines: new Set(['serviceType', 'ddiBlock']),
  featureCatalogue: new Set(['chargeKind']),
};

export const FILES = {
  operator: 'operator.json',
  accounts: 'accounts.csv',
  lines: 'lines.csv',
  features: 'features.csv',
  featureCatalogue: 'feature-catalogue.csv',
  plans: 'plans.csv',
  contractedRates: 'contracted-rates.csv',
  numberingPlan: 'numbering-plan.csv',
  cells: 'cells.csv',
  networks: 'networks.csv',
  countries: 'countries.csv',
  holidays: 'holidays.csv',
  directoryListings: 'directory-listings.csv',
} as const;

/** Columns holding numbers and booleans (every other column is a string; an empty field is null). */
export const NUMERIC_COLUMNS: ReadonlySet<string> = new Set(['includedMinutes', 'includedSms', 'includedDataMb', 'firstIncrementSeconds', 'incrementSeconds', 'minLength', 'maxLength', 'cellId', 'lac', 'lat', 'lon']);
export const BOOLEAN_COLUMNS: ReadonlySet<string> = new Set(['highRisk', 'home']);
