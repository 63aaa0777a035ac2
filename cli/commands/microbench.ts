/** `cdr-pipeline microbench`: its options, help and action. */
import { common, out, recordsToDoc, UsageError, intArg, type Command } from '../command.js';

export const microbench: Command = {
  summary: 'decode microbenchmarks: records/s per core for bare Avro, Confluent, v2->v1 resolution, baselines',
  usage: 'cdr-pipeline microbench [--only decode|rating] [--records N] [--runs N] [--batch N] [--record]',
  options: { ...common, only: { type: 'string' }, records: { type: 'string' }, runs: { type: 'string' }, batch: { type: 'string' }, record: { type: 'boolean' }, 'no-doc': { type: 'boolean' } },
  help: `Measures, in one process on the same generated CDRs, records per CPU-second (one core) and per second of:
bare Avro decode (alone and with validation), Confluent decode with the writer schema equal to the reader's,
Confluent decode of v2 records resolved to v1 (cached resolver), the anti-pattern of a resolver rebuilt per
record, and JSON.parse of the same CDR. Medians of several runs after a warm-up. Needs no Kafka, registry
or ClickHouse. Prints a table; with --record also appends it, with the machine described, to docs/BENCHMARKS.md.

    --records N       distinct CDRs per run (default 50000; the rebuilt-resolver baseline uses N/20)
    --runs N          measured runs per scenario (default 7)
    --batch N         records per decoder batch (default 1000)
    --record          also write the result into docs/BENCHMARKS.md (a tracked file: off by default)
    --only rating     instead: the rating microbenchmarks (tools/bench/microbench-rating.ts): CDRs rated per
                      second with a 100k-prefix tariff, with a 1M-line inventory, band splits, baselines,
                      and the memory of both ("Rating" section of docs/BENCHMARKS.md); --records default 200000`,
  async run(values) {
    if (values.only !== undefined && values.only !== 'decode' && values.only !== 'rating') throw new UsageError('--only expects decode or rating');
    if (values.only === 'rating') {
      const { runRatingMicrobench } = await import('../../tools/bench/microbench-rating.js');
      const runs = intArg(values.runs, 7, 'runs');
      const records = intArg(values.records, 200_000, 'records');
      if (runs < 1 || records < 1) throw new UsageError('--records and --runs must be at least 1');
      await runRatingMicrobench({ records, runs, prefixes: 100_000, lines: 1_000_000, doc: recordsToDoc(values) }, out);
      return 0;
    }
    const { runMicrobench } = await import('../../tools/bench/microbench.js');
    const runs = intArg(values.runs, 7, 'runs');
    const records = intArg(values.records, 50_000, 'records');
    const batch = intArg(values.batch, 1000, 'batch');
    if (runs < 1 || records < 1 || batch < 1) throw new UsageError('--records, --runs and --batch must be at least 1');
    await runMicrobench({ records, runs, batch, doc: recordsToDoc(values) }, out);
    return 0;
  },
};
