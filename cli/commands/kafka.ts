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
prints the bootstrap address. stop: stops it (SIGTERM, then SIGKILL after 20 s).
Needs Java 17+ and Maven.

    --dir DIR         data and logs (default ./data/kafka)
    --port N          client port (default 9092; the controller uses a free port)
    --keep-data       keep existing data instead of starting empty`,
  async run(values, positionals) {
    const action = positionals[0];
    const dir = typeof values.dir === 'string' ? values.dir : join('data', 'kafka');
    const { startLocalBroker, readPid, stopPid } = await import('../../tools/local/broker.js');
    if (action === 'start') {
      const log = createLogger('warn');
      const b = await startLocalBroker({ dir, port: intArg(values.port, 9092, 'port'), keepData: values['keep-data'] === true, detached: true, log });
      out(`Kafka ready at ${b.brokers.join(',')} (pid ${b.pid}, logs in ${dir}/broker.log)`);
      out(`export KAFKA_BROKERS=${b.brokers.join(',')}`);
      return 0;
    }
    if (action === 'stop') {
      const pid = readPid(dir);
      if (!pid) {
        out(`no broker pid in ${dir}`);
        return 1;
      }
      await stopPid(pid);
      out(`stopped broker ${pid}`);
      return 0;
    }
    throw new UsageError('kafka needs an action: start or stop');
  },
};
