/**
 * The billing contract (issue #5, reconciliation; docs/RECONCILIATION.md): the invoice-line file a billing
 * system exports (`cdr-pipeline import invoices FILE`), the benchmark-rate file, the kinds of finding the
 * reconciliation reports, and the ground truth the invoice generator writes next to the invoices it makes
 * (`cdr-pipeline generate --invoices-out FILE --billing-labels-out FILE`).
 *
 * Money is an exact decimal string (at most 6 decimals), never a binary float; in ClickHouse Decimal(18, 6).
 */
import type { Money } from './reference.js';

export type ChargeType = 'usage' | 'recurring' | 'feature' | 'surcharge' | 'one-off';
export const CHARGE_TYPES: readonly ChargeType[] = ['usage', 'recurring', 'feature', 'surcharge', 'one-off'];

/** One line of an invoice, as in the CSV file (column names = the invoice_lines columns). */
export interface InvoiceLine {
  /** Invoice number; one invoice belongs to one account and one period. */
  invoice_id: string;
  account_id: string;
  /** Billing period 'YYYY-MM': the UTC calendar month of the CDRs' seizure time. */
  period: string;
  /** 1, 2, ... within the invoice. (period, account_id, invoice_id, line_no) is the line's key. */
  line_no: number;
  /** The line (E.164 digits) the charge is for; empty for account-level charges. */
  msisdn: string;
  charge_type: ChargeType;
  /** Service of usage and surcharge lines: voice, voice-in, sms, sms-in, data (the rating services). */
  service: string;
  /** The CDR a usage or surcharge line bills (recordId); empty for summary lines. */
  record_id: string;
  /** Rating instant of the CDR (answer, else seizure), ISO 8601 with zone; empty for other lines. */
  event_time: string;
  /** The billing system's destination class (the tariff destination, or the contract's description). */
  destination_class: string;
  /** The priced party (E.164 digits): called number for outgoing, calling for incoming. */
  number: string;
  /** Billed quantity in `unit` (second | message | byte | month | each). */
  quantity: Money;
  unit: string;
  /** Price per `price_unit` (minute | message | MB | month | each); empty when not a simple price. */
  unit_price: Money;
  price_unit: string;
  amount: Money;
  /** ISO 4217. */
  currency: string;
  /** Feature code of feature lines (features.csv). */
  feature_code: string;
  description: string;
}

/** Column order of the invoice CSV (header row required; every column present). */
export const INVOICE_COLUMNS: readonly (keyof InvoiceLine & string)[] = [
  'invoice_id',
  'account_id',
  'period',
  'line_no',
  'msisdn',
  'charge_type',
  'service',
  'record_id',
  'event_time',
  'destination_class',
  'number',
  'quantity',
  'unit',
  'unit_price',
  'price_unit',
  'amount',
  'currency',
  'feature_code',
  'description',
];

export const USAGE_SERVICES: readonly string[] = ['voice', 'voice-in', 'sms', 'sms-in', 'data'];
export const QUANTITY_UNITS: readonly string[] = ['second', 'message', 'byte', 'month', 'day', 'each'];
export const PRICE_UNITS: readonly string[] = ['minute', 'second', 'message', 'MB', 'KB', 'byte', 'month', 'day', 'each'];

/** benchmark-rates CSV: the ceiling a billed rate is checked against when no contracted rate applies. */
export interface BenchmarkRate {
  service: string;
  destination_class: string;
  price_unit: string;
  rate: Money;
  description: string;
}
export const BENCHMARK_COLUMNS: readonly (keyof BenchmarkRate & string)[] = ['service', 'destination_class', 'price_unit', 'rate', 'description'];

/**
 * What the reconciliation reports (`cdr-pipeline report reconcile`), by section:
 * usage   over-billed, under-billed (per account and service, beyond the tolerance)
 * records leakage (CDR never billed), phantom-charge (billed, no CDR), double-billed
 * audit   unused-line, unused-feature, missing-from-inventory, rate-above-contract, rate-above-benchmark,
 *         misapplied-surcharge, bill-padding (issue #16: a recurring, feature or one-off charge with no
 *         provisioned service, feature or contract behind it)
 */
export type FindingKind =
  | 'over-billed'
  | 'under-billed'
  | 'leakage'
  | 'phantom-charge'
  | 'double-billed'
  | 'unused-line'
  | 'unused-feature'
  | 'missing-from-inventory'
  | 'rate-above-contract'
  | 'rate-above-benchmark'
  | 'misapplied-surcharge'
  | 'bill-padding';

export const FINDING_KINDS: readonly FindingKind[] = [
  'over-billed',
  'under-billed',
  'leakage',
  'phantom-charge',
  'double-billed',
  'unused-line',
  'unused-feature',
  'missing-from-inventory',
  'rate-above-contract',
  'rate-above-benchmark',
  'misapplied-surcharge',
  'bill-padding',
];

/**
 * Ground truth of a generated billing period (one JSON object per line): every billing error the invoice
 * generator injected, and every finding the clean data implies on its own (origin 'natural': a line that
 * happens to be idle, a forwarding feature paid for and not used), so a test can demand that every label is
 * reported and nothing else.
 */
export interface BillingLabel {
  kind: FindingKind;
  origin: 'injected' | 'natural';
  period: string;
  account_id: string;
  /** The line concerned, or '' (over/under-billing is per account and service). */
  msisdn: string;
  /** The CDR concerned (leakage, phantom, double-billed, rates, surcharges), or ''. */
  record_id: string;
  service: string;
  feature_code: string;
  /** Money at stake as the finding reports it (see docs/RECONCILIATION.md for each kind). */
  amount: Money;
  /**
   * The error's effect on the usage comparison (billed minus rated, per service of the account); an account
   * and service is flagged over- or under-billed when the effects there add up beyond the tolerance.
   */
  impact: { service: string; amount: Money }[];
  note: string;
}
