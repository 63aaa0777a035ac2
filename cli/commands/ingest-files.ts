/** `cdr-pipeline ingest-files`: its options, help and action. */
import { common, configFrom, loggerFor, out, UsageError, intArg, type Command } from '../command.js';

export const ingestFiles: Command = {
  summary: 'ingest Avro container files from a folder (switch file drops)',
  usage: 'cdr-pipeline ingest-files DIR [--once] [--pattern REGEX] [--settle-ms N]',
  options: { ...common, once: { type: 'boolean' }, pattern: { type: 'string' }, 'settle-ms': { type: 'string' }, 'poll-ms': { type: 'string' } },
  help: `Reads Avro object container files (codecs null and deflate) that switches drop in DIR, decodes and validates
their records and stores CDRs and dead letters in ClickHouse, like \`run\` does for Kafka. Progress is
checkpointed per block in DIR/.cdr-pipeline-checkpoints.json after ClickHouse acknowledged, so a restart
neither skips nor repeats a record. Finished files move to DIR/done/, unreadable ones to DIR/failed/ (their
bytes become CONTAINER_CORRUPT dead letters). A file is picked up once its size and mtime are stable.
One instance per folder.

    --once            batch mode: read every file in the folder (each once it has been unchanged for
                      --settle-ms), store it, then exit 0; an empty folder ends at once
    --pattern REGEX   file names to pick up (default \.avro$)
    --settle-ms N     how long a file must be unchanged before it is read (default 2000)
    --poll-ms N       how often the folder is listed (default 1000)`,
  async run(values, positionals) {
    const dir = positionals[0];
    if (!dir) throw new UsageError('ingest-files needs a folder: cdr-pipeline ingest-files DIR');
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    const { FileSource } = await import('../../ingest/files.js');
    const { startPipeline } = await import('../../pipeline/app.js');
    let pattern: RegExp;
    try {
      pattern = new RegExp(typeof values.pattern === 'string' ? values.pattern : '\\.avro$');
    } catch (err) {
      throw new UsageError(`--pattern: ${(err as Error).message}`);
    }
    let source: InstanceType<typeof FileSource>;
    try {
      source = new FileSource({ dir, pattern, settleMs: intArg(values['settle-ms'], 2000, 'settle-ms'), pollIntervalMs: intArg(values['poll-ms'], 1000, 'poll-ms'), exitWhenIdle: values.once === true, log: log.child({ component: 'file-source' }) });
    } catch (err) {
      // A corrupt checkpoint or a done/failed link: the folder's fault, said plainly (exit 2), never a stack.
      if ((err as Error).name === 'CheckpointError') throw new UsageError((err as Error).message);
      throw err;
    }
    const p = await startPipeline(cfg, log, undefined, source);
    const stop = () => void p.stop();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (values.once === true) void source.idle.then(stop);
    try {
      await p.done;
      out(`stored ${p.runner.stats.stored} CDRs and ${p.runner.stats.deadLetters} dead letters`);
      return 0;
    } catch (err) {
      log.error({ err: (err as Error).message }, 'fatal error');
      return 1;
    }
  },
};
