-- Replays of dead letters (`cdr-pipeline replay-dead-letters`): which dead letter was re-published where and
-- when, so the same dead letter is not replayed twice by accident (--force overrides).
CREATE TABLE IF NOT EXISTS dead_letter_replays
(
    topic         LowCardinality(String),
    partition     UInt32,
    offset        UInt64,
    code          LowCardinality(String),
    target_topic  LowCardinality(String),
    replayed_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(replayed_at)
ORDER BY (topic, partition, offset);
