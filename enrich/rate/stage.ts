/**
 * The rating stage of the pipeline: reference data and tariff book loaded and compiled once, then a batch
 * function that rates every CDR (pure, synchronous) and records the rating version on it.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SourcedCdr } from '../../schemas/index.js';
import { RATING_SEMANTICS, ratingColumns } from '../../schemas/tariff.js';
import { loadReferenceDir, type ReferenceData } from '../reference.js';
import { createRating, defaultTariffPath, loadTariffBook, type RatingStage } from './index.js';
import { createEnricher } from '../enrich.js';

export interface RatingBatchStage {
  /** Hash of the pricing rules (RATING_SEMANTICS), the tariff book and the reference data: stored as rating_version on every rated CDR. */
  readonly version: string;
  readonly reference: ReferenceData;
  readonly rating: RatingStage;
  readonly warnings: string[];
  /** Rates every CDR of the batch in place; returns counts per outcome (`rated`, `unrated:<REASON>`). */
  rateBatch(cdrs: SourcedCdr[]): Record<string, number>;
}

export function createRatingStage(referenceDir: string, tariffFile: string): RatingBatchStage {
  return createRatingStageFrom(loadReferenceDir(referenceDir), tariffFile);
}

/** The same from reference data loaded elsewhere (ClickHouse tables: pipeline/reference-store.ts). */
export function createRatingStageFrom(reference: ReferenceData, tariffFile: string): RatingBatchStage {
  const bookPath = tariffFile || defaultTariffPath();
  const book = loadTariffBook(bookPath);
  // The pricing rules are an ingredient too: rows priced under earlier rules keep another version.
  const version = createHash('sha256').update(RATING_SEMANTICS).update(readFileSync(bookPath)).update(reference.version).digest('hex').slice(0, 16);
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

export interface WatchedRatingStage {
  /** The stage in force; a batch takes it once, so a reload never splits a batch between two versions. */
  current(): RatingBatchStage;
  /** Checks the files now (the timer calls this every intervalMs). */
  check(): boolean;
  stop(): void;
}

/**
 * Reloads reference data and tariffs without a restart: every intervalMs the files' names, sizes and mtimes
 * are compared; on a change the whole stage is rebuilt off to the side and swapped in atomically. A change
 * that does not load (a bad file, a tariff error) keeps the stage in force and is reported through onError.
 */
export function watchRatingStage(referenceDir: string, tariffFile: string, intervalMs: number, events: { onReload?: (s: RatingBatchStage) => void; onError?: (err: Error) => void } = {}): WatchedRatingStage {
  const fingerprint = () => {
    const parts: string[] = [];
    for (const name of readdirSync(referenceDir).sort()) {
      const st = statSync(join(referenceDir, name));
      if (st.isFile()) parts.push(`${name}:${st.size}:${st.mtimeMs}`);
    }
    const book = tariffFile || defaultTariffPath();
    const st = statSync(book);
    parts.push(`${book}:${st.size}:${st.mtimeMs}`);
    return parts.join('|');
  };
  let seen = fingerprint();
  let stage = createRatingStage(referenceDir, tariffFile);
  const check = () => {
    let now: string;
    try {
      now = fingerprint();
    } catch (err) {
      events.onError?.(err as Error);
      return false;
    }
    if (now === seen) return false;
    seen = now;
    try {
      const next = createRatingStage(referenceDir, tariffFile);
      if (next.version === stage.version) return false;
      stage = next;
      events.onReload?.(stage);
      return true;
    } catch (err) {
      events.onError?.(err as Error);
      return false;
    }
  };
  const timer = intervalMs > 0 ? setInterval(check, intervalMs) : undefined;
  timer?.unref();
  return { current: () => stage, check, stop: () => clearInterval(timer) };
}
