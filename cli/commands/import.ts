/** `cdr-pipeline import`: its options, help and action. */
import { common, configFrom, loggerFor, out, UsageError, type Command } from '../command.js';

export const importCmd: Command = {
  summary: 'import billing data into ClickHouse: invoice lines, benchmark rates',
  usage: 'cdr-pipeline import invoices FILE | cdr-pipeline import benchmarks FILE | cdr-pipeline import benchmarks --from-tariffs',
  options: { ...common, 'from-tariffs': { type: 'boolean' } },
  help: `invoices FILE: the billing system's invoice lines (CSV with a header row naming the columns, in any order;
RFC 4180 quoting, LF or CRLF, UTF-8 with or without a byte order mark; format in docs/RECONCILIATION.md)
into the invoice_lines table, for \`cdr-pipeline report reconcile\`. Every row is validated before anything is
stored: a bad file is reported with the line number of each problem and nothing is imported (exit code 2).
Importing the same file twice changes nothing; a corrected export of the same invoices replaces their lines.
Prints the lines, invoices, accounts and periods imported and the total billed, and checks destination_class of
usage and surcharge lines against the reference data (tariff destination ids, roaming zones, data networks and
\`*\`, contract descriptions, benchmark classes): unknown values are listed with their line counts (a warning:
the rate audit cannot map those lines, and the report lists them).

benchmarks FILE: benchmark per-minute rates by destination class (CSV: service, destination_class, price_unit,
rate, description) into rate_benchmarks, the ceiling the rate audit checks billed rates against where no
contracted rate applies. A newer import of the same service and class replaces the rate.

    --from-tariffs    benchmarks from the tariff book instead of a file (rating.tariffFile, default the bundled
                      book): per destination, the highest per-minute list price of any retail tariff; data per MB
                      per network destination and \`*\`; per roaming zone, voice and data`,
  async run(values, positionals) {
    const [what, file] = positionals;
    if (what !== 'invoices' && what !== 'benchmarks') throw new UsageError('import needs what to import: invoices FILE or benchmarks FILE|--from-tariffs');
    const fromTariffs = values['from-tariffs'] === true;
    if (what === 'invoices' && (!file || fromTariffs)) throw new UsageError('usage: cdr-pipeline import invoices FILE');
    if (what === 'benchmarks' && !file === !fromTariffs) throw new UsageError('usage: cdr-pipeline import benchmarks FILE, or --from-tariffs');
    if (file && !(await import('node:fs')).existsSync(file)) throw new UsageError(`${file}: no such file`);
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    const inv = await import('../../reports/reconciliation/invoices.js');
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    // A benchmark file is read and checked before ClickHouse is opened.
    let rates: Awaited<ReturnType<typeof inv.readBenchmarks>> = [];
    let source = file ?? '';
    try {
      if (what === 'benchmarks') {
        if (fromTariffs) {
          const { rateAuditBenchmarksFromTariffs } = await import('../../reports/reconciliation/benchmarks.js');
          const { defaultTariffPath, loadTariffBook } = await import('../../enrich/rate/index.js');
          source = cfg.rating.tariffFile || defaultTariffPath();
          rates = rateAuditBenchmarksFromTariffs(loadTariffBook(source));
        } else rates = await inv.readBenchmarks(file!);
      }
      const conn = await connectClickHouse(cfg);
      try {
        await applyMigrations(conn, log);
        if (what === 'benchmarks') {
          const n = await inv.importBenchmarks(conn, rates, source);
          out(`imported ${n} benchmark rates from ${source}`);
          return 0;
        }
        const r = await inv.importInvoices(conn, file!, log);
        if (r.alreadyImported) out(`${file} is already imported (${r.lines} lines, file ${r.sha.slice(0, 12)}): nothing changed`);
        else {
          out(`imported ${r.lines} invoice lines of ${r.invoices} invoices, ${r.accounts} accounts, period${r.periods.length > 1 ? 's' : ''} ${r.periods.join(', ')} from ${file}`);
          out(`  by charge type: ${Object.entries(r.byChargeType).map(([k, n]) => `${k} ${n}`).join(', ')}`);
          out(`  billed: ${Object.entries(r.amounts).map(([c, a]) => `${a} ${c}`).join(', ')}${r.replaced ? `; ${r.replaced} lines of an earlier export of these invoices replaced` : ''}`);
        }
        // destination_class checked against the reference data: what the rate audit cannot map is listed.
        const { destinationNames } = await import('../../reports/reconciliation/benchmarks.js');
        const { defaultTariffPath, loadTariffBook } = await import('../../enrich/rate/index.js');
        const unknown = await inv.unknownDestinations(conn, r.sha, destinationNames(loadTariffBook(cfg.rating.tariffFile || defaultTariffPath())));
        if (unknown.length === 0) out('  destination_class: every value names a tariff destination, roaming zone, data network, contract or benchmark');
        else {
          out(`  WARNING: ${unknown.reduce((n, u) => n + u.lines, 0)} usage/surcharge lines name a destination_class the reference data does not know (no tariff destination, roaming zone, data network, contract description or benchmark); the rate audit cannot map them (docs/RECONCILIATION.md "The rate audit"):`);
          for (const u of unknown.slice(0, 50)) out(`    ${JSON.stringify(u.destination_class)} (${u.service || 'no service'}): ${u.lines} lines`);
          if (unknown.length > 50) out(`    ... and ${unknown.length - 50} more values`);
        }
        return 0;
      } finally {
        await conn.close();
      }
    } catch (err) {
      if ((err as Error).name !== 'InvoiceFileError') throw err;
      process.stderr.write(`cdr-pipeline import: ${(err as Error).message}\n`);
      return 2;
    }
  },
};
