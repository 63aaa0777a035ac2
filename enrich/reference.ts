/**
 * Reference data from files (docs/REFERENCE-DATA.md): operator.json and the CSV files of the customer
 * inventory, numbering plan, cells, networks, countries and holidays. Loaded once at start-up (or reload),
 * validated at the boundary: a missing file, a wrong header or a bad value is reported with file and line.
 * The version is a hash of every file's bytes (and the tariff book's), recorded on every rated CDR.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CsvEncodingError, mapHeader, parseCsvBytes, rowOf, type CsvRecord } from '../schemas/csv.js';
import { BOOLEAN_COLUMNS, COLUMNS, FILES, NUMERIC_COLUMNS, OPTIONAL_COLUMNS, type AccountRecord, type DirectoryListingRecord, type CellRecord, type ContractedRateRecord, type CountryRecord, type FeatureCatalogueRecord, type FeatureRecord, type HolidayRecord, type LineRecord, type NetworkRecord, type NumberRangeRecord, type OperatorRecord, type PlanRecord } from '../schemas/reference.js';

export class ReferenceDataError extends Error {
  constructor(readonly problems: string[]) {
    super(`reference data is invalid:\n  - ${problems.slice(0, 50).join('\n  - ')}${problems.length > 50 ? `\n  ... and ${problems.length - 50} more` : ''}`);
    this.name = 'ReferenceDataError';
  }
}

export interface ReferenceData {
  dir: string;
  /** sha256 (first 16 hex) over every file's name and bytes. */
  version: string;
  operator: OperatorRecord;
  accounts: AccountRecord[];
  lines: LineRecord[];
  plans: PlanRecord[];
  features: FeatureRecord[];
  featureCatalogue: FeatureCatalogueRecord[];
  contractedRates: ContractedRateRecord[];
  numberingPlan: NumberRangeRecord[];
  cells: CellRecord[];
  networks: NetworkRecord[];
  countries: CountryRecord[];
  holidays: HolidayRecord[];
  /** directory-listings.csv (optional file; issue #16). */
  directoryListings: DirectoryListingRecord[];
}

/** The rows of one reference CSV; `lineNumbers`, when given, receives each returned row's line in the file. */
function readTable<T>(dir: string, file: string, columns: readonly string[], problems: string[], hash: ReturnType<typeof createHash>, optional = false, lineNumbers?: number[], optionalColumns: ReadonlySet<string> = new Set()): T[] {
  const path = join(dir, file);
  if (!existsSync(path)) {
    if (!optional) problems.push(`${path}: missing`);
    return [];
  }
  const bytes = readFileSync(path);
  hash.update(file).update(bytes);
  // schemas/csv.ts: RFC 4180 with quoted fields, CRLF, a BOM; every record knows its line in the file.
  let records: CsvRecord[];
  try {
    records = parseCsvBytes(bytes);
  } catch (err) {
    if (!(err instanceof CsvEncodingError)) throw err;
    problems.push(`${path}:${err.line}: not valid UTF-8`);
    return [];
  }
  const head = records[0];
  if (!head) {
    problems.push(`${path}: empty (a header row is required)`);
    return [];
  }
  // Columns added after the format was published (OPTIONAL_COLUMNS) may be absent: they read as null.
  const { header, problems: headerProblems } = mapHeader(head, { required: columns.filter((c) => !optionalColumns.has(c)) });
  if (headerProblems.length) {
    for (const p of headerProblems) problems.push(`${path}: ${p}`);
    return [];
  }
  const out: T[] = [];
  for (let k = 1; k < records.length; k++) {
    const r = records[k]!;
    const { row, problem } = rowOf(header, r);
    if (!row) {
      problems.push(`${path}:${r.line}: ${problem}`);
      continue;
    }
    const rec: Record<string, unknown> = {};
    for (const name of columns) {
      const raw = row[name] ?? '';
      if (raw === '') rec[name] = null;
      else if (NUMERIC_COLUMNS.has(name)) {
        const n = Number(raw);
        if (!Number.isFinite(n)) problems.push(`${path}:${r.line}: ${name} is not a number: ${JSON.stringify(raw)}`);
        rec[name] = n;
      } else if (BOOLEAN_COLUMNS.has(name)) {
        if (raw !== 'true' && raw !== 'false') problems.push(`${path}:${r.line}: ${name} must be true or false, got ${JSON.stringify(raw)}`);
        rec[name] = raw === 'true';
      } else rec[name] = raw;
    }
    out.push(rec as T);
    lineNumbers?.push(r.line);
  }
  return out;
}

/** The tables of a reference snapshot, by COLUMNS key (for stores other than files). */
export const REFERENCE_TABLES = ['accounts', 'lines', 'plans', 'features', 'featureCatalogue', 'contractedRates', 'numberingPlan', 'cells', 'networks', 'countries', 'holidays', 'directoryListings'] as const;
export type ReferenceTable = (typeof REFERENCE_TABLES)[number];

export function loadReferenceDir(dir: string): ReferenceData {
  const problems: string[] = [];
  const hash = createHash('sha256');
  let operator: OperatorRecord | undefined;
  const opPath = join(dir, FILES.operator);
  try {
    const bytes = readFileSync(opPath);
    hash.update(FILES.operator).update(bytes);
    operator = JSON.parse(bytes.toString('utf8')) as OperatorRecord;
    for (const k of ['plmn', 'countryCode', 'timezone', 'currency'] as const) if (typeof operator[k] !== 'string') problems.push(`${opPath}: ${k} is missing`);
  } catch (err) {
    problems.push(`${opPath}: ${(err as Error).message}`);
  }
  const lineNumbers: number[] = [];
  const data = {
    accounts: readTable<AccountRecord>(dir, FILES.accounts, COLUMNS.accounts, problems, hash, false, undefined, OPTIONAL_COLUMNS.accounts),
    lines: readTable<LineRecord>(dir, FILES.lines, COLUMNS.lines, problems, hash, false, lineNumbers, OPTIONAL_COLUMNS.lines),
    plans: readTable<PlanRecord>(dir, FILES.plans, COLUMNS.plans, problems, hash),
    features: readTable<FeatureRecord>(dir, FILES.features, COLUMNS.features, problems, hash, true),
    featureCatalogue: readTable<FeatureCatalogueRecord>(dir, FILES.featureCatalogue, COLUMNS.featureCatalogue, problems, hash, true, undefined, OPTIONAL_COLUMNS.featureCatalogue),
    contractedRates: readTable<ContractedRateRecord>(dir, FILES.contractedRates, COLUMNS.contractedRates, problems, hash, true),
    numberingPlan: readTable<NumberRangeRecord>(dir, FILES.numberingPlan, COLUMNS.numberingPlan, problems, hash),
    cells: readTable<CellRecord>(dir, FILES.cells, COLUMNS.cells, problems, hash, true),
    networks: readTable<NetworkRecord>(dir, FILES.networks, COLUMNS.networks, problems, hash, true),
    countries: readTable<CountryRecord>(dir, FILES.countries, COLUMNS.countries, problems, hash, true),
    holidays: readTable<HolidayRecord>(dir, FILES.holidays, COLUMNS.holidays, problems, hash, true),
    directoryListings: readTable<DirectoryListingRecord>(dir, FILES.directoryListings, COLUMNS.directoryListings, problems, hash, true),
  };
  const accounts = new Set(data.accounts.map((a) => a.accountId));
  for (const [i, l] of data.lines.entries()) if (!accounts.has(l.accountId)) problems.push(`${join(dir, FILES.lines)}:${lineNumbers[i]}: account ${l.accountId} is not in ${FILES.accounts}`);
  if (problems.length || !operator) throw new ReferenceDataError(problems);
  return { dir, version: hash.digest('hex').slice(0, 16), operator, ...data };
}
