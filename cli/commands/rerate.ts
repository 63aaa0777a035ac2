/** `cdr-pipeline rerate`: its options, help and action. */
import { common, configFrom, loggerFor, out, isoArg, intArg, type Command } from '../command.js';
import { ConfigError } from '../../pipeline/config.js';

export const rerate: Command = {
  summary: 'price stored CDRs again (the unrated ones, or a period) after reference data was fixed',
  usage: 'cdr-pipeline rerate [--all | --outdated] [--from ISO] [--to ISO] [--batch N]',
  options: { ...common, all: { type: 'boolean' }, outdated: { type: 'boolean' }, from: { type: 'string' }, to: { type: 'string' }, batch: { type: 'string' } },
  help: `Rates stored CDRs again with the current tariff book (rating.tariffFile) and reference data
(rating.referenceDir): by default those stored NOT_RATED or UNRATED, with --all every CDR of the period.
The re-priced row replaces the old one (same ReplacingMergeTree key, newer _ingested_at): no CDR is
duplicated in what billing queries read (FINAL). Each row records the rating_version used.

    --all             re-price every CDR of the period, not only the unrated ones
    --outdated        also re-price RATED CDRs priced with another rating version (another tariff book,
                      other reference data or earlier pricing rules, e.g. v1/v2 rows priced before the
                      rules of issue #14); without it they keep the price they were billed at
    --from ISO        seizure time from (inclusive), e.g. 2026-10-01T00:00:00Z
    --to ISO          seizure time to (exclusive)
    --batch N         CDRs per page (default 20000)`,
  async run(values) {
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    if (cfg.rating.referenceSource === 'files' && cfg.rating.referenceDir === '') throw new ConfigError(['rerate needs reference data: set rating.referenceDir (CDR_RATING_REFERENCE_DIR) or rating.referenceSource=clickhouse']);
    const { createRatingStage, createRatingStageFrom } = await import('../../enrich/rate/stage.js');
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const { rerate } = await import('../../operations/rerate.js');
    const { loadReferenceFromClickHouse } = await import('../../pipeline/reference-store.js');
    const conn = await connectClickHouse(cfg);
    try {
      await applyMigrations(conn, log);
      const stage = cfg.rating.referenceSource === 'clickhouse' ? createRatingStageFrom(await loadReferenceFromClickHouse(conn), cfg.rating.tariffFile) : createRatingStage(cfg.rating.referenceDir, cfg.rating.tariffFile);
      const r = await rerate(conn, stage, { all: values.all === true, outdated: values.outdated === true, fromMs: isoArg(values.from, 'from'), toMs: isoArg(values.to, 'to'), batchRows: intArg(values.batch, 20_000, 'batch'), log });
      out(`re-priced ${r.rerated} CDRs with rating version ${stage.version}: ${Object.entries(r.outcomes).map(([k, v]) => `${v} ${k}`).join(', ') || 'nothing to do'}`);
    } finally {
      await conn.close();
    }
    return 0;
  },
};
