/**
 * The rating stage of the pipeline: reference data and tariff book loaded and compiled once, then a batch
 * function that rates every CDR (pure, synchronous) and records the rating version on it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SourcedCdr } from '../../schemas/index.js';
import { ratingColumns } from '../../schemas/tariff.js';
import { loadReferenceDir, type ReferenceData } from '../reference.js';
import { createRating, defaultTariffPath, loadTariffBook, type RatingStage } from './index.js';
import { createEnricher } from '../enrich.js';

export interface RatingBatchStage {
  /** Hash of the tariff book and the reference data: stored as rating_version on every rated CDR. */
  readonly version: string;
  readonly reference: ReferenceData;
  readonly rating: RatingStage;
  readonly warnings: string[];
  /** Rates every CDR of the batch in place; returns counts per outcome (`rated`, `unrated:<REASON>`). */
  rateBatch(cdrs: SourcedCdr[]): Record<string, number>;
}

export function createRatingStage(referenceDir: string, tariffFile: string): RatingBatchStage {
  const reference = loadReferenceDir(referenceDir);
  const bookPath = tariffFile || defaultTariffPath();
  const book = loadTariffBook(bookPath);
  const version = createHash('sha256').update(readFileSync(bookPath)).update(reference.version).digest('hex').slice(0, 16);
  const rating = createRating({
    book,
    operator: reference.operator,
    numberingPlan: reference.numberingPlan,
    networks: reference.networks,
    countries: reference.countries,
    holidays: reference.holidays,
    lines: reference.lines,
    contractedRates: reference.contractedRates,
    expectedLines: reference.lines.length,
  });
  const enrich = createEnricher(reference, rating.normaliser);
  return {
    version,
    reference,
    rating,
    warnings: [...rating.tariffs.warnings],
    rateBatch(cdrs) {
      const counts: Record<string, number> = {};
      for (const sc of cdrs) {
        const r = rating.rate(sc.cdr);
        const cols = ratingColumns(r);
        cols.rating_version = version;
        Object.assign(cols, enrich(sc.cdr));
        sc.rated = cols;
        const key = r.status === 'RATED' ? 'rated' : `unrated:${r.reason}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    },
  };
}
