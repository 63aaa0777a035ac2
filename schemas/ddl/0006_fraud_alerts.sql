-- Fraud alerts (issue #6): one row per alert version; ReplacingMergeTree keeps the highest version of each
-- alert (read with FINAL), so a version published twice after a restart is stored once. Evidence: up to
-- `evidenceRecordIds` record ids, rule-specific counts and facts. Exposure is exact (Decimal).
CREATE TABLE IF NOT EXISTS fraud_alerts
(
    alert_id       String,
    version        UInt32,
    rule           LowCardinality(String),
    fraud_type     LowCardinality(String),
    entity_kind    LowCardinality(String),
    entity         String,
    severity       LowCardinality(String),
    score          Float32,
    status         LowCardinality(String),
    first_seen     DateTime64(3, 'UTC'),
    last_seen      DateTime64(3, 'UTC'),
    detected_at    DateTime64(3, 'UTC'),
    window_start   DateTime64(3, 'UTC'),
    window_end     DateTime64(3, 'UTC'),
    exposure       Decimal(18, 6),
    currency       LowCardinality(String),
    record_ids     Array(String),
    counts         Map(String, Int64),
    facts          Map(String, String),
    published_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(first_seen)
ORDER BY (alert_id);
