/**
 * `cdr-pipeline report <name>`: the analyst reports, read from ClickHouse. Each capability has its folder
 * under reports/ (its code, its SQL, its card) and registers its reports here; the CLI only parses the
 * options and dispatches. The shared types live in report.ts so no report imports this registry.
 */
export { ReportUsageError, type Report, type ReportContext, type ReportValues } from './report.js';
import type { Report } from './report.js';

/** Lazily imported so `report --help` does not load ClickHouse. */
export const REPORTS: Record<string, () => Promise<Report>> = {};

/** Help of every report, or of the one named (when it exists). */
export async function reportHelp(only?: string): Promise<string> {
  const parts: string[] = [];
  for (const [name, load] of Object.entries(REPORTS)) {
    if (only !== undefined && only in REPORTS && name !== only) continue;
    const r = await load();
    parts.push(`  ${name}: ${r.summary}\n${r.help}`);
  }
  return parts.join('\n\n');
}

// Billing reconciliation and the service-record audit (issue #5 item 3; docs/RECONCILIATION.md).
REPORTS.reconcile = async () => (await import('./reconciliation/reconcile.js')).reconcileReport;
// Forecasting and the dispute look-up (issue #5 items 4 and 5; docs/FORECASTING.md).
REPORTS.forecast = async () => (await import('./forecasting/forecast.js')).forecastReport;
REPORTS.backtest = async () => (await import('./forecasting/forecast.js')).backtestReport;
REPORTS.subscriber = async () => (await import('./subscriber/subscriber.js')).subscriberReport;
// The customer service record of an account (issue #16; reports/csr/README.md).
REPORTS.csr = async () => (await import('./csr/csr.js')).csrReport;
