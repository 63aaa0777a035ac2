/**
 * CGRateS compatibility: the 66 costs CGRateS's own tests assert (cgrates_vectors.json in CGRATES_REFERENCE_DIR),
 * replayed on tariff plans imported from the same CSVs (cgrates-tariffplans in the same folder)
 * with the float64 compatibility mode of enrich/rate/cgrates.ts.
 *
 * Substitutions (documented in docs/TARIFFS.md): "*now" answer times are evaluated at Wednesday
 * 2024-03-13T10:00:00Z (no vector depends on the date except tutorial2's NEW_YEAR timing, which a
 * mid-March date keeps inactive as the vector expects); "RatingPlanIDs=[...]" subjects rate directly against
 * the listed plans in order; the charger that sets Subject=SUPPLIER1 (vectors 30, 33, 35) is represented by
 * the vector's subject itself. Which number is asserted follows the vector's `api`: EventCost (sum of
 * increments rounded to the global decimals) for GetCost/console/GetRatingPlansCost, CallCost (after the
 * DestinationRate rounding) otherwise.
 *
 * The reference data is not part of the project (AGPL-3.0 test input kept beside it); without it these
 * tests are skipped with a message saying so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../schemas/index.js';
import type { OperatorRecord } from '../schemas/reference.js';
import { compileTariffs, Normaliser, Rater, type CompiledTariffs } from '../enrich/rate/index.js';
import { cgratesChain, cgratesPlanChain, goDurationNs, goRound, importCgrates, rateCgrates, readCgratesDir, serviceOfCategory } from '../enrich/rate/cgrates.js';

const REF = process.env.CGRATES_REFERENCE_DIR ?? join(packageRoot, '..', 'shared', 'reference');
const present = existsSync(join(REF, 'cgrates_vectors.json'));
if (!present) process.stdout.write(`[rating-cgrates] SKIPPED: no CGRateS reference data at ${REF} (set CGRATES_REFERENCE_DIR)\n`);

interface Vector {
  tariffplan_dir: string;
  tenant: string;
  category: string;
  subject: string;
  destination: string | null;
  answer_time: string;
  usage_seconds?: number | null;
  usage_units?: number;
  expected_cost: number | null;
  expected_error?: string;
  global_rounding_decimals: number;
  api: string;
  loop_index?: number;
  source_file: string;
  source_line: number;
}

const NOW = '2024-03-13T10:00:00Z';
const books = new Map<string, CompiledTariffs>();

function bookFor(v: Vector): CompiledTariffs {
  const dir = v.tariffplan_dir.startsWith('engine/') ? 'engine_embedded' : v.tariffplan_dir.split('/').pop()!;
  let b = books.get(dir);
  if (!b) {
    b = compileTariffs(importCgrates(readCgratesDir(join(REF, 'cgrates-tariffplans', dir))).book);
    books.set(dir, b);
  }
  return b;
}

describe.runIf(present)('CGRateS compatibility: the 66 asserted vectors', () => {
  const vectors = present ? (JSON.parse(readFileSync(join(REF, 'cgrates_vectors.json'), 'utf8')) as Vector[]) : [];

  it('has the 66 vectors', () => expect(vectors).toHaveLength(66));

  vectors.forEach((v, i) => {
    const usage = v.usage_seconds ?? v.usage_units ?? 0;
    const expected = v.expected_cost ?? v.expected_error;
    it(`#${i + 1} ${v.tariffplan_dir.split('/').pop()} ${v.tenant}/${v.category}/${v.subject} -> ${v.destination} ${usage} = ${expected} (${v.source_file}:${v.source_line})`, () => {
      const book = bookFor(v);
      const service = serviceOfCategory(v.category);
      const plans = /^RatingPlanIDs=\[(.*)\]$/.exec(v.subject);
      const chain = plans ? cgratesPlanChain(book, plans[1]!.split(','), service) : cgratesChain(book, v.tenant, v.category, v.subject);
      expect(chain).not.toBeNull();
      const res = rateCgrates(book, {
        chain: chain!,
        destination: v.destination ?? '',
        service,
        answerMs: Date.parse(v.answer_time === '*now' ? NOW : v.answer_time),
        usage,
        globalDecimals: v.global_rounding_decimals,
        loopIndex: v.loop_index ?? 0,
      });
      if (v.expected_cost === null) {
        expect(res).toEqual({ error: 'UNAUTHORIZED_DESTINATION' });
        expect(v.expected_error).toMatch(/UNAUTHORIZED_DESTINATION/);
        return;
      }
      expect('error' in res).toBe(false);
      if ('error' in res) return;
      const eventCost = /EventCost|APIerSv1\.GetCost|cgr-console cost|GetRatingPlansCost/.test(v.api) && !/CallCost/.test(v.api);
      expect(eventCost ? res.eventCost : res.callCost).toBeCloseTo(v.expected_cost, 9);
    });
  });
});

describe.runIf(present)('CGRateS import into our model, and exact vs compatible arithmetic', () => {
  it('imports every plan; what it cannot express is listed', () => {
    const imp = importCgrates(readCgratesDir(join(REF, 'cgrates-tariffplans', 'tutorial2')));
    expect(imp.skipped).toEqual(['destination DST_VOICEMAIL: prefix "voicemail" is not a number prefix']);
    // Prefix 20 is in DST_20 and DST_2030: one merged destination holds it.
    expect(imp.book.destinations['DST_20|DST_2030']).toEqual(['20']);
    expect(imp.book.destinations.DST_2030).toEqual(['30']);
    // Timings become bands ordered by weight, then by later start.
    const v = imp.book.tariffs['cgrates.org:call:*any']!.versions[0]!;
    expect((v.bands as { band: string }[]).map((b) => b.band)).toEqual(['NEW_YEAR@20', 'OFFPEAK_EVENING@10', 'PEAK@10', 'OFFPEAK_MORNING@10', 'OFFPEAK_WEEKEND@10', '*any@10']);
  });

  it('the same tariff priced exactly: no float drift', () => {
    // tutorial RP_1001 -> 1002 for 120 s: 0.4 connect + 0.2 first minute + 60 s × 0.1/60 = 0.70 exactly;
    // CGRateS says 0.7002 because it rounds 0.1/60 to 0.00167 per second (5 decimals) before multiplying.
    const book = compileTariffs(importCgrates(readCgratesDir(join(REF, 'cgrates-tariffplans', 'tutorial'))).book);
    const chain = cgratesChain(book, 'cgrates.org', 'call', '1001')!;
    const compat = rateCgrates(book, { chain, destination: '1002', service: 'voice', answerMs: Date.parse(NOW), usage: 120, globalDecimals: 5 });
    expect(compat).toMatchObject({ eventCost: 0.7002 });
    const op: OperatorRecord = { name: 'x', plmn: '00101', mcc: '001', mnc: '01', country: 'ZZ', countryCode: '999', nationalPrefix: '', internationalPrefix: '00', timezone: 'UTC', currency: 'XXX', voicemailNumber: '', smsCentre: '', switches: [] };
    const rater = new Rater(book, new Normaliser({ operator: op, numberingPlan: [] }), { homePlmn: '00101' });
    const exact = rater.quote({ chain, number: '1002', service: 'voice', at: Date.parse(NOW), usage: 120_000 });
    // Connect 0.40 + usage 0.30 (first 60 s block 0.20 + 60 × 0.1/60 = 0.10) = 0.70.
    expect(exact).toMatchObject({ status: 'RATED', connectFeeMicros: 400_000, usageMicros: 300_000, totalMicros: 700_000, destinationId: 'DST_1002', tariffVersion: 'RP_1001' });
  });

  it('Go semantics helpers', () => {
    expect(goDurationNs('1m30s')).toBe(90e9);
    expect(goDurationNs('1024')).toBe(1024);
    // *up with CGRateS's float tolerance: 0.64175 -> 0.6418; 1.29999 -> 1.3; *middle is half-up.
    expect(goRound(0.64175, 4, '*up')).toBe(0.6418);
    expect(goRound(1.29999, 4, '*up')).toBe(1.3);
    expect(goRound(0.30006, 4, '*middle')).toBe(0.3001);
  });
});
