/** `cdr-pipeline reference`: its options, help and action. */
import { common, configFrom, loggerFor, out, UsageError, type Command } from '../command.js';

export const reference: Command = {
  summary: 'import reference data files into ClickHouse (a versioned snapshot)',
  usage: 'cdr-pipeline reference import DIR',
  options: { ...common },
  help: `import: validates the reference data files of DIR (docs/REFERENCE-DATA.md) and stores them in ClickHouse as
one snapshot (tables ref_*, version = a hash of the files; reference_versions marks it complete). Rating reads
the newest snapshot with rating.referenceSource = clickhouse and reloads when a newer one is imported;
reconciliation joins against the same tables. Importing the same files twice changes nothing.`,
  async run(values, positionals) {
    if (positionals[0] !== 'import' || !positionals[1]) throw new UsageError('usage: cdr-pipeline reference import DIR');
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const { importReference } = await import('../../pipeline/reference-store.js');
    const conn = await connectClickHouse(cfg);
    try {
      await applyMigrations(conn, log);
      const r = await importReference(conn, positionals[1], log);
      out(r.imported ? `imported reference snapshot ${r.version}: ${Object.entries(r.rows).map(([k, v]) => `${v} ${k}`).join(', ')}` : `reference snapshot ${r.version} is already imported`);
    } finally {
      await conn.close();
    }
    return 0;
  },
};
