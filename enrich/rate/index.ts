/**
 * Rating (issue #4): the public surface of enrich/rate/.
 *
 * At start-up (or when reference data reloads):
 *
 *   const rating = createRating({ book: loadTariffBook(defaultTariffPath()), operator, numberingPlan,
 *                                 networks, countries, holidays, lines, contractedRates });
 *
 * per record:
 *
 *   const r: Rating = rating.rate(cdr);        // resolves the served account, normalises, prices
 *
 * Lower levels for tests and re-pricing: `compileTariffs`, `Subscribers.build`, `new Rater(...)` and
 * `rater.rate(cdr, subject)` with an explicit subject.
 */
import { readFileSync } from 'node:fs';
import { schemaPath } from '../../schemas/index.js';
import type { ContractedRateRecord, CountryRecord, HolidayRecord, LineRecord, NetworkRecord, NumberRangeRecord, OperatorRecord } from '../../schemas/reference.js';
import type { Rating, TariffBookFile } from '../../schemas/tariff.js';
import type { Cdr } from '../../schemas/index.js';
import { Normaliser, type DiallingRules } from '../normalise.js';
import { compileTariffs, TariffError, type CompiledTariffs } from './compile.js';
import { Rater } from './engine.js';
import { Subscribers } from './subscribers.js';

export { compileTariffs, TariffError, versionAt, parseQuantity, type CompiledTariffs, type CompileOptions } from './compile.js';
export { Rater, serviceOf, type RatingSubject, type ContractSet } from './engine.js';
export { Subscribers } from './subscribers.js';
export { Normaliser } from '../normalise.js';

/** The tariff book bundled with the package (prices every number class the traffic generator produces). */
export function defaultTariffPath(): string {
  return schemaPath('tariffs', 'default.json');
}

/** Reads a tariff book (JSON); syntax errors name the file. Validation happens in compileTariffs. */
export function loadTariffBook(path: string): TariffBookFile {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text) as TariffBookFile;
  } catch (e) {
    throw new TariffError([`${path}: not JSON: ${(e as Error).message}`]);
  }
}

export interface RatingInput {
  book: TariffBookFile;
  operator: OperatorRecord;
  numberingPlan: Iterable<NumberRangeRecord>;
  networks?: Iterable<NetworkRecord>;
  countries?: Iterable<CountryRecord>;
  holidays?: Iterable<HolidayRecord>;
  lines: Iterable<LineRecord>;
  contractedRates?: Iterable<ContractedRateRecord>;
  dialling?: Record<string, DiallingRules>;
  /** Sizes the subscriber table up front. */
  expectedLines?: number;
}

export interface RatingStage {
  readonly tariffs: CompiledTariffs;
  readonly normaliser: Normaliser;
  readonly subscribers: Subscribers;
  readonly rater: Rater;
  /**
   * Rates one CDR: the served party's account (or inbound roamer's network), the price, the explanation.
   * `smsSegments`: segments of an SMS (default: the CDR's smsSegments, 1 for records of contracts before v3).
   */
  rate(cdr: Cdr, smsSegments?: number): Rating;
}

/** Compiles everything rating needs; throws TariffError listing every problem of the book and contracts. */
export function createRating(input: RatingInput): RatingStage {
  const tariffs = compileTariffs(input.book, { holidays: input.holidays });
  const normaliser = new Normaliser({ operator: input.operator, numberingPlan: input.numberingPlan, networks: input.networks, countries: input.countries, dialling: input.dialling });
  const subscribers = Subscribers.build(tariffs, { operator: input.operator, lines: input.lines, contractedRates: input.contractedRates }, input.expectedLines);
  const rater = new Rater(tariffs, normaliser, { homePlmn: input.operator.plmn, contractRates: subscribers.contractRates });
  return { tariffs, normaliser, subscribers, rater, rate: (cdr, smsSegments) => rater.rate(cdr, subscribers.resolve(cdr), smsSegments) };
}
