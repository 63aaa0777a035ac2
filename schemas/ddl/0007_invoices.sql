-- Billing reconciliation inputs (issue #5; docs/RECONCILIATION.md).
-- invoice_lines: the billing system's export, imported with `cdr-pipeline import invoices FILE` (CSV, format in
-- docs/RECONCILIATION.md). One row per invoice line, keyed by (period, account_id, invoice_id, line_no). Every
-- row carries the hash of its file (source_sha): a file already stored is not inserted again, and a line
-- inserted twice (an import interrupted and repeated) collapses on the key (ReplacingMergeTree, newest import
-- wins); reconciliation reads FINAL. A corrected export replaces its invoices as a whole: lines of those
-- invoices from other files are deleted after the insert.
-- charge_type: usage (one CDR: record_id), surcharge (a roaming surcharge of one CDR), recurring (plan fee),
-- feature (feature_code), one-off. quantity is in `unit`, unit_price per `price_unit` (voice: seconds and a
-- price per minute). Money is Decimal(18, 6), never a float.
CREATE TABLE IF NOT EXISTS invoice_lines
(
    invoice_id        String,
    account_id        String,
    period            LowCardinality(String),
    line_no           UInt32,
    msisdn            String,
    charge_type       Enum8('usage' = 1, 'recurring' = 2, 'feature' = 3, 'surcharge' = 4, 'one-off' = 5),
    service           LowCardinality(String),
    record_id         String,
    event_time        Nullable(DateTime64(3, 'UTC')),
    destination_class LowCardinality(String),
    number            String,
    quantity          Decimal(18, 6),
    unit              LowCardinality(String),
    unit_price        Nullable(Decimal(18, 6)),
    price_unit        LowCardinality(String),
    amount            Decimal(18, 6),
    currency          LowCardinality(String),
    feature_code      LowCardinality(String),
    description       String,
    source_sha        String,
    imported_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(imported_at)
PARTITION BY period
ORDER BY (period, account_id, invoice_id, line_no);

-- Benchmark per-minute rates by destination class (`cdr-pipeline import benchmarks FILE|--from-tariffs`): the
-- ceiling a billed per-minute rate is checked against when no contracted rate applies. --from-tariffs derives
-- it from the tariff book (the highest list price of each destination, any tariff, band or version).
CREATE TABLE IF NOT EXISTS rate_benchmarks
(
    service           LowCardinality(String),
    destination_class LowCardinality(String),
    price_unit        LowCardinality(String),
    rate              Decimal(18, 6),
    source            String,
    imported_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(imported_at)
ORDER BY (service, destination_class, price_unit);
