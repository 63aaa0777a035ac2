/** `cdr-pipeline port validate FILE`: port-out validation of a request file (issue #16; porting/README.md). */
import { readFileSync } from 'node:fs';
import { common, configFrom, loggerFor, out, UsageError, type Command } from '../command.js';

export const port: Command = {
  summary: 'port-out validation (losing carrier): answer a file of port requests with accepted + CSR extract or rejection codes',
  usage: 'cdr-pipeline port validate FILE [options]',
  options: {
    ...common,
    format: { type: 'string' },
    'reference-dir': { type: 'string' },
    'time-zone': { type: 'string' },
    'no-store': { type: 'boolean' },
    'metrics-file': { type: 'string' },
  },
  help: `Validates every request of FILE (CSV with a header, or JSON lines; columns in porting/README.md) against the
customer inventory and answers each: accepted (with the CSR extract the gaining carrier needs) or rejected
with every code that applies (001 not found, 002 not ours, 003 incomplete, 004 LOA no response, 018 does not
match the account, 052 page limit, 200 duplicate request id, 201 cancelled, 501 contact or LOA box), a
readable reason and the due time (3 business days, from the next business day after 15:00 local; holidays of
the reference data). A malformed file is reported with the line number of every problem and nothing from it
is answered or stored. Answers are stored in ClickHouse (port_responses; never the PIN).

    --format table|json|csv   output (default table; json carries the CSR extracts)
    --reference-dir DIR       inventory from files (default: rating.referenceDir, else the ClickHouse snapshot)
    --time-zone TZ            zone of the 15:00 cut-off and business days (default: the operator's)
    --no-store                answer only; store nothing (also skips the duplicate check against earlier answers)
    --metrics-file FILE       write cdr_port_responses_total{outcome,code} in Prometheus text format
                              (node_exporter textfile collector)
PIN key: CDR_PORTING_PIN_KEY or CDR_PORTING_PIN_KEY_FILE (schemas/pin.ts); without either the development
key of generated data is used, with a warning.`,
  async run(values, positionals) {
    const [sub, file] = positionals;
    if (sub !== 'validate' || file === undefined) throw new UsageError('usage: cdr-pipeline port validate FILE');
    const format = values.format ?? 'table';
    if (format !== 'table' && format !== 'json' && format !== 'csv') throw new UsageError(`--format expects table, json or csv, got ${String(format)}`);
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    const { parseRequests, RequestFileError } = await import('../../porting/requests.js');
    let requests: import('../../porting/requests.js').PortRequest[];
    try {
      requests = parseRequests(readFileSync(file), file);
    } catch (err) {
      if (err instanceof RequestFileError) {
        process.stderr.write(`cdr-pipeline port: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
    const { pinKeyFromEnv } = await import('../../schemas/pin.js');
    const key = pinKeyFromEnv();
    if (key.development) log.warn({}, 'no CDR_PORTING_PIN_KEY(_FILE): PINs are checked with the development key of generated data');
    const { inventoryOf, validateRequests } = await import('../../porting/validate.js');
    const store = values['no-store'] !== true;
    const refDir = typeof values['reference-dir'] === 'string' ? values['reference-dir'] : cfg.rating.referenceDir;
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const conn = store || refDir === '' ? await connectClickHouse(cfg) : undefined;
    let responses: import('../../porting/validate.js').PortResponse[];
    try {
      if (conn) await applyMigrations(conn, log);
      const ref = refDir !== '' ? (await import('../../enrich/reference.js')).loadReferenceDir(refDir) : await (await import('../../pipeline/reference-store.js')).loadReferenceFromClickHouse(conn!);
      const inv = inventoryOf(ref, key.key, { timezone: typeof values['time-zone'] === 'string' ? values['time-zone'] : undefined });
      const { answeredBefore, storeResponses } = await import('../../porting/store.js');
      const seen = store ? await answeredBefore(conn!, requests.map((r) => r.requestId)) : new Set<string>();
      responses = validateRequests(requests, inv, seen);
      if (store) await storeResponses(conn!, responses, Date.now(), file);
    } finally {
      await conn?.close();
    }
    if (typeof values['metrics-file'] === 'string') (await import('../../porting/store.js')).writeMetricsFile(values['metrics-file'], responses);
    const rows = responses.map((r) => ({ request_id: r.requestId, line: r.line, outcome: r.outcome, codes: r.codes.join(' '), due: new Date(r.dueMs).toISOString(), account: r.accountId, reason: r.reason }));
    if (format === 'json') out(JSON.stringify(responses.map(({ line: _l, ...r }) => ({ ...r, receivedAt: new Date(r.receivedMs).toISOString(), dueAt: new Date(r.dueMs).toISOString() })), null, 2));
    else {
      const { renderCsv, renderTable } = await import('../../reports/output.js');
      out(format === 'csv' ? renderCsv(rows) : renderTable(rows));
    }
    const accepted = responses.filter((r) => r.outcome === 'accepted').length;
    log.info({ requests: responses.length, accepted, rejected: responses.length - accepted, stored: store }, 'port requests answered');
    return 0;
  },
};
