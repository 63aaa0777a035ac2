/** `cdr-pipeline migrate`: its options, help and action. */
import { common, configFrom, loggerFor, out, type Command } from '../command.js';

export const migrate: Command = {
  summary: 'apply the ClickHouse schema migrations',
  usage: 'cdr-pipeline migrate [--config FILE] | migrate --cluster NAME | migrate --roles [--config FILE]',
  options: { ...common, cluster: { type: 'string' }, roles: { type: 'boolean' } },
  help: `Applies schemas/ddl/NNNN_*.sql in order to the configured ClickHouse (embedded or server), recording each in
schema_migrations, then sets each table's TTL to the configured retention (retention.*; a TTL already
right is left alone). Idempotent: running it twice changes nothing.

    --cluster NAME    print the cluster variant of the whole schema instead (ON CLUSTER, Replicated* engines,
                      Distributed <table>_all over cdrs and dead letters sharded by subscriber), to apply
                      with clickhouse-client --multiquery
    --roles           print the roles (pipeline writer, Grafana reader, billing analyst, fraud analyst, care
                      agent) and their grants for clickhouse.database (schemas/ddl/roles/roles.sql), to apply
                      as an administrator after migrating: migrate --roles | clickhouse-client --multiquery`,
  async run(values) {
    if (typeof values.cluster === 'string') {
      const { loadMigrations } = await import('../../sinks/clickhouse/migrate.js');
      const { clusterStatements } = await import('../../sinks/clickhouse/cluster.js');
      const { schemaPath } = await import('../../schemas/index.js');
      out(clusterStatements(loadMigrations(schemaPath('ddl')), values.cluster).map((st) => st + ';').join('\n\n'));
      return 0;
    }
    const cfg = configFrom(values);
    if (values.roles === true) {
      const { roleStatements } = await import('../../sinks/clickhouse/migrate.js');
      const { schemaPath } = await import('../../schemas/index.js');
      out(roleStatements(schemaPath('ddl'), cfg.clickhouse.database).map((st) => st + ';').join('\n'));
      return 0;
    }
    const log = loggerFor(cfg);
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const conn = await connectClickHouse(cfg);
    try {
      const r = await applyMigrations(conn, log, cfg.retention);
      out(`applied: ${r.applied.length ? r.applied.join(', ') : '(none)'}; already applied: ${r.skipped.length}`);
    } finally {
      await conn.close();
    }
    return 0;
  },
};
