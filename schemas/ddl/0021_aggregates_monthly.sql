-- Monthly partitions for the pre-aggregates (issue #17 item 5): a partition per day meant ~730 partitions (and
-- at least as many parts) per table every year, which ClickHouse advises against ("Choosing a partitioning
-- key": months for most tables), and retention (TTL, 0022) drops whole parts. A partition key cannot be
-- altered, so each table is rebuilt: a copy with PARTITION BY month, filled from the old one, swapped in with
-- EXCHANGE TABLES (atomic), the old one dropped. Re-runnable at every point: the scratch copy is dropped
-- first, so a run interrupted before or after the EXCHANGE ends with the monthly table and every row.
-- reports/aggregates/aggregates.ts swaps a month (the recomputed days plus the other days copied as they are).
DROP TABLE IF EXISTS agg_usage_daily__monthly;

CREATE TABLE agg_usage_daily__monthly
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
PARTITION BY toYYYYMM(day)
ORDER BY (day, account_id, msisdn, service, destination_class, currency)
SETTINGS ttl_only_drop_parts = 1;

INSERT INTO agg_usage_daily__monthly SELECT * FROM agg_usage_daily;

EXCHANGE TABLES agg_usage_daily AND agg_usage_daily__monthly;

DROP TABLE agg_usage_daily__monthly;

DROP TABLE IF EXISTS agg_traffic_hourly__monthly;

CREATE TABLE agg_traffic_hourly__monthly
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
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, destination_class, region, currency)
SETTINGS ttl_only_drop_parts = 1;

INSERT INTO agg_traffic_hourly__monthly SELECT * FROM agg_traffic_hourly;

EXCHANGE TABLES agg_traffic_hourly AND agg_traffic_hourly__monthly;

DROP TABLE agg_traffic_hourly__monthly;
