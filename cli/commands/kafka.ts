/** `cdr-pipeline kafka`: its options, help and action. */
import { join } from 'node:path';
import { common, out, UsageError, intArg, type Command } from '../command.js';
import { createLogger } from '../../pipeline/telemetry.js';

export const kafka: Command = {
  summary: 'start or stop a local Apache Kafka broker (KRaft, from Maven Central)',
  usage: 'cdr-pipeline kafka start|stop [--dir DIR] [--port N]',
  options: { ...common, dir: { type: 'string' }, port: { type: 'string' }, 'keep-data': { type: 'boolean' } },
  help: `start: resolves the Apache Kafka broker jars with Maven (cached in ~/.m2), formats KRaft storage, starts a
single combined broker/controller on 127.0.0.1 in the background, waits until it serves metadata, and
prints the bootstrap address. stop: stops it (SIGTERM, then SIGKILL after 20 s), once it has checked that the
pid in DIR/broker.pid is that broker (a java kafka.Kafka process with DIR's server.properties); a stale pid
file is removed and nothing is signalled (exit 1).
Needs Java 17+ and Maven.

    --dir DIR         data and logs (default ./data/kafka)
    --port N          client port (default 9092; the controller uses a free port)
    --keep-data       keep existing data instead of starting empty`,
  async run(values, positionals) {
    const action = positionals[0];
    const dir = typeof values.dir === 'string' ? values.dir : join('data', 'kafka');
    const { startLocalBroker, stopBroker } = await import('../../tools/local/broker.js');
    if (action === 'start') {
      const log = createLogger('warn');
      const b = await startLocalBroker({ dir, port: intArg(values.port, 9092, 'port'), keepData: values['keep-data'] === true, detached: true, log });
      out(`Kafka ready at ${b.brokers.join(',')} (pid ${b.pid}, logs in ${dir}/broker.log)`);
      out(`export KAFKA_BROKERS=${b.brokers.join(',')}`);
      return 0;
    }
    if (action === 'stop') {
      const r = await stopBroker(dir);
      if (r.state === 'none') {
        process.stderr.write(`cdr-pipeline kafka: no broker pid file in ${dir}: nothing to stop\n`);
        return 1;
      }
      if (r.state === 'stale') {
        process.stderr.write(`cdr-pipeline kafka: no broker of ${dir} is running (pid ${r.pid} is gone or is another process); removed the stale pid file\n`);
        return 1;
      }
      out(`stopped broker ${r.pid}`);
      return 0;
    }
    throw new UsageError('kafka needs an action: start or stop');
  },
};
