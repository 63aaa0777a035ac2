/**
 * The ClickHouse-compatible HTTP endpoint of the tests (test/clickhouse-endpoint.ts: ClickHouse's HTTP interface
 * served by chDB) in a process of its own, for the benchmark's server-connection scenario: the pipeline then
 * inserts over HTTP into another process, as it does in production, and its own CPU is measured apart from
 * the engine's. Spawned by tools/bench/bench.ts with an IPC channel: sends {port}, exits on 'stop'.
 */
import { startClickHouseEndpoint } from '../../test/clickhouse-endpoint.js';

if (process.send) {
  const path = process.argv[2];
  if (!path) throw new Error('usage: bench-endpoint.js DATA_DIR');
  const ep = await startClickHouseEndpoint({ path });
  process.send({ type: 'listening', url: ep.url, pid: process.pid });
  process.on('message', (m: { type?: string }) => {
    if (m.type === 'stop') void ep.close().finally(() => process.exit(0));
  });
  process.on('disconnect', () => void ep.close().finally(() => process.exit(0)));
}
