-- Pre-aggregates (issue #5; docs/RECONCILIATION.md "Pre-aggregates"): reports and dashboards read these, not
-- raw rows. They are NOT incremental materialized views: cdrs receives replays, switch duplicates and
-- re-ratings (same key, newer _ingested_at) that only FINAL collapses, and an insert-triggered view would
-- count each of them again. Instead `cdr-pipeline aggregate` (and `report reconcile` for its period)
-- recomputes whole UTC days from `cdrs FINAL` into a scratch table and swaps each day in with
-- ALTER TABLE ... REPLACE PARTITION (atomic per day): a refresh replaces a day, never adds to it, and a
-- group that disappeared (a re-rated CDR moved to another class) disappears. The SELECTs are in
-- reports/aggregates/sql/. agg_refreshes records, per day, the cdrs row count and newest
-- _ingested_at seen before the day was computed: a day whose numbers changed since is stale.
-- ReplacingMergeTree(refreshed_at) on the group key: reading with or without FINAL gives the same rows.

-- Per UTC day, account, line, service, destination class and currency. The line (msisdn) is in the grain
-- because the service-record audit is per line (unused lines, unused features, lines missing from the
-- inventory); a line has a handful of groups a day, so this is still ~5-10x fewer rows than CDRs, and far
-- narrower. destination_class: the priced party's class (national, mobile, international, premium, ...),
-- 'data' for data sessions. forwarded_*: VOICE_FWD legs by redirection reason (feature audit).
CREATE TABLE IF NOT EXISTS agg_usage_daily
(
    day               Date,
    account_id        String,
    msisdn            String,
    service           LowCardinality(String),
    destination_class LowCardinality(String),
    currency          LowCardinality(String),
    inbound_roamer    UInt8,
    records           UInt64,
    answered_records  UInt64,
    billable_seconds  UInt64,
    billed_usage      UInt64,
    volume_bytes      UInt64,
    rated_amount      Decimal(18, 6),
    surcharge_amount  Decimal(18, 6),
    roaming_records   UInt64,
    forwarded_records UInt64,
    forwarded_cfu     UInt64,
    forwarded_cfb     UInt64,
    forwarded_cfn     UInt64,
    unrated_records   UInt64,
    refreshed_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY toYYYYMMDD(day)
ORDER BY (day, account_id, msisdn, service, destination_class, currency);

-- Voice traffic (VOICE_MO, VOICE_MT, VOICE_FWD) per UTC hour, destination class and serving region: what
-- planning and forecasting read. revenue is the rated amount of those calls.
CREATE TABLE IF NOT EXISTS agg_traffic_hourly
(
    hour              DateTime('UTC'),
    destination_class LowCardinality(String),
    region            LowCardinality(String),
    calls             UInt64,
    answered_calls    UInt64,
    billable_seconds  UInt64,
    revenue           Decimal(18, 6),
    currency          LowCardinality(String),
    refreshed_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY toYYYYMMDD(hour)
ORDER BY (hour, destination_class, region, currency);

CREATE TABLE IF NOT EXISTS agg_refreshes
(
    day               Date,
    cdr_rows          UInt64,
    max_ingested_at   DateTime64(3, 'UTC'),
    usage_rows        UInt64,
    traffic_rows      UInt64,
    refreshed_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY day;
