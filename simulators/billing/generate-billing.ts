/**
 * `cdr-pipeline generate ... --invoices-out FILE [--billing-labels-out FILE]`: the generated traffic billed by
 * simulators/billing/billing.ts as it streams out, written as an invoice-line CSV (docs/RECONCILIATION.md) with its ground
 * truth. The reference data of --reference-out is then the customer inventory as the pipeline must see it (with
 * the injected inventory errors), so it is written after the traffic.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Cdr } from '../../schemas/index.js';
import { writeReference, type Traffic } from '../traffic/index.js';
import { BillingGenerator, periodsBetween, referenceDataOf } from './billing.js';
import { invoiceWriter } from '../../reports/reconciliation/invoices.js';

export interface BillingOutput {
  invoicesOut: string;
  labelsOut: string | null;
  /** Injected errors of each kind. */
  errorsPerKind: number;
  /** N of the unused-line audit the natural labels assume (report reconcile --unused-days). */
  unusedDays: number;
  /** Tariff book ('' = bundled): the one the pipeline rates with. */
  tariffFile: string;
}

export interface BillingRun {
  addBatch(cdrs: readonly Cdr[]): void;
  /** Writes the invoice file, the labels and the reference data (CSR view) to referenceOut. */
  finish(referenceOut: string): { lines: number; invoices: number; labels: number; injected: Record<string, number>; reference: Record<string, number>; periods: string[] };
}

export function startBilling(traffic: Traffic, o: { seed: number; startMs: number; endMs: number }, b: BillingOutput): BillingRun {
  const tables = traffic.reference();
  const periods = periodsBetween(o.startMs, o.endMs);
  const writer = invoiceWriter(b.invoicesOut);
  const gen = new BillingGenerator({ reference: referenceDataOf(tables), tariffFile: b.tariffFile, seed: o.seed, errorsPerKind: b.errorsPerKind, unusedDays: b.unusedDays, periods, emit: writer.emit });
  return {
    addBatch: (cdrs) => gen.addBatch(cdrs),
    finish(referenceOut) {
      const r = gen.finish();
      writer.close();
      const reference = writeReference(referenceOut, { ...tables, lines: () => r.csrLines, features: () => r.csrFeatures });
      if (b.labelsOut) {
        mkdirSync(dirname(b.labelsOut), { recursive: true });
        const fd = openSync(b.labelsOut, 'w');
        try {
          for (const l of r.labels) writeSync(fd, JSON.stringify(l) + '\n');
        } finally {
          closeSync(fd);
        }
      }
      return { lines: r.lines, invoices: r.invoices, labels: r.labels.length, injected: r.injected, reference, periods };
    },
  };
}
