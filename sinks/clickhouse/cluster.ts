/**
 * The cluster variant of the schema, generated from the same migrations (issue #5): for users who outgrow one
 * server. Every table is created ON CLUSTER with its Replicated* engine (ZooKeeper/Keeper path per shard and
 * table, `{shard}`/`{replica}` macros from the server config), ALTERs and views run ON CLUSTER, and the CDR and
 * dead-letter tables get a Distributed table `<name>_all` over them. CDRs are sharded by served subscriber, so
 * all records of a subscriber (and both copies of a CDR sent twice) land on one shard, where the
 * ReplacingMergeTree key collapses them. Reference tables are not sharded: import them on every shard (or
 * through a Distributed table over a one-shard-per-replica cluster).
 * Replicated tables deduplicate retried inserts by default (replicated_deduplication_window); the token scheme
 * of the sink works unchanged.
 */
import type { Migration } from './migrate.js';

const SHARDING: Record<string, string> = {
  cdrs: 'cityHash64(served_msisdn)',
  dead_letters: 'cityHash64(topic, partition)',
  dead_letter_replays: 'cityHash64(topic, partition)',
};

export function clusterStatements(migrations: Migration[], cluster: string): string[] {
  if (!/^[A-Za-z0-9_-]+$/.test(cluster)) throw new Error(`invalid cluster name ${cluster}`);
  const on = `ON CLUSTER '${cluster}'`;
  const out: string[] = [];
  for (const m of migrations) {
    for (const stmt of m.statements) {
      let s = stmt;
      // Rebuilds (0021: a copy with another partition key, filled, swapped in, the old one dropped): the copy is
      // ON CLUSTER like any table; the fill (INSERT ... SELECT between two local tables) has no ON CLUSTER form
      // and is left out: on a new cluster the old table is empty, and on a populated one the rebuilt tables are
      // pre-aggregates, recomputed per shard with `cdr-pipeline aggregate --all` (docs/RECONCILIATION.md).
      if (/^INSERT INTO \w+ SELECT \* FROM \w+$/.test(s)) continue;
      const drop = /^DROP TABLE (IF EXISTS )?(\w+)$/.exec(s);
      const exchange = /^EXCHANGE TABLES (\w+) AND (\w+)$/.exec(s);
      if (drop) {
        out.push(`DROP TABLE ${drop[1] ?? ''}${drop[2]} ${on} SYNC`);
        continue;
      }
      if (exchange) {
        out.push(`EXCHANGE TABLES ${exchange[1]} AND ${exchange[2]} ${on}`);
        continue;
      }
      s = s.replace(/^CREATE TABLE (?!IF NOT EXISTS )(\w+)/, 'CREATE TABLE IF NOT EXISTS $1');
      const create = /^CREATE TABLE IF NOT EXISTS (\w+)/.exec(s);
      const alter = /^ALTER TABLE (\w+)/.exec(s);
      const view = /^CREATE VIEW IF NOT EXISTS (\w+)/.exec(s);
      if (create) {
        const name = create[1]!;
        const path = `'/clickhouse/tables/{shard}/{database}/${name}', '{replica}'`;
        s = s.replace(/^CREATE TABLE IF NOT EXISTS (\w+)/, `CREATE TABLE IF NOT EXISTS $1 ${on}`);
        s = s.replace(/ENGINE = (\w*MergeTree)(?:\(([^)]*)\))?/, (_m, engine: string, args: string | undefined) => `ENGINE = Replicated${engine}(${path}${args ? `, ${args}` : ''})`);
        out.push(s);
        const key = SHARDING[name];
        if (key) out.push(`CREATE TABLE IF NOT EXISTS ${name}_all ${on} AS ${name} ENGINE = Distributed('${cluster}', currentDatabase(), ${name}, ${key})`);
      } else if (alter) {
        const name = alter[1]!;
        out.push(s.replace(/^ALTER TABLE (\w+)/, `ALTER TABLE $1 ${on}`));
        // A Distributed table has no sorting key: it takes the column of an ADD COLUMN ... MODIFY ORDER BY only.
        if (SHARDING[name]) out.push(s.replace(/^ALTER TABLE (\w+)/, `ALTER TABLE $1_all ${on}`).replace(/,\s*MODIFY ORDER BY \([^)]*\)/g, ''));
      } else if (view) {
        out.push(s.replace(/^CREATE VIEW IF NOT EXISTS (\w+)/, `CREATE VIEW IF NOT EXISTS $1 ${on}`));
      } else {
        throw new Error(`migration ${m.name}: no cluster form for: ${s.slice(0, 80)}`);
      }
    }
  }
  return out;
}
