-- Usage notifications (issue #16 item 5; enrich/notify/README.md): one row per threshold a subscriber's rated
-- usage crossed in a billing period (data roaming spend, international minutes, total spend; e.g. 80% and 100%
-- of a cap). notification_id is derived from subscriber, period, measure and threshold, so the same crossing is
-- one row whoever finds it, however often (replays, restarts). The row is written before the notification is
-- published (state 1, the outbox) and again once the topic acknowledged it (state 2):
-- ReplacingMergeTree(state) keeps the newest state; read with FINAL. Money and usage are exact Decimals.
-- The outbox row carries the deduplication token `notify:<id>:1`: of two detectors that found the same crossing
-- (two `run` instances, or a restart racing a late flush), ClickHouse keeps the first row; each reads it back and
-- only the one whose `owner` nonce is stored publishes.
CREATE TABLE IF NOT EXISTS usage_notifications
(
    notification_id  String,
    state            UInt8,
    owner            String,
    msisdn           String,
    account_id       String,
    period           LowCardinality(String),
    measure          LowCardinality(String),
    threshold_pct    UInt16,
    cap              Decimal(18, 6),
    threshold        Decimal(18, 6),
    value            Decimal(18, 6),
    unit             LowCardinality(String),
    crossed_at       DateTime64(3, 'UTC'),
    record_id        String,
    detected_at      DateTime64(3, 'UTC'),
    published_at     Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplacingMergeTree(state)
PARTITION BY period
ORDER BY notification_id
SETTINGS non_replicated_deduplication_window = 10000;
