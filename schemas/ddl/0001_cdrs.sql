-- Rated and enriched CDRs, one row per CDR (rating columns arrive in later migrations).
-- Partitioned by month of seizure; ordered for subscriber-and-period look-ups.
-- ReplacingMergeTree on (served_msisdn, seizure_time, recording_entity, record_id) collapses a CDR that
-- arrived twice (the switch re-sent it, or a replay re-inserted it); billing queries read deduplicated
-- views (FINAL or argMax), so a CDR is billed once even before the background merge ran.
-- non_replicated_deduplication_window enables insert_deduplication_token on a non-replicated table
-- (ClickHouse docs, "Deduplicating inserts on retries"): a retried or replayed block is dropped at insert.
CREATE TABLE IF NOT EXISTS cdrs
(
    recording_entity      LowCardinality(String),
    record_id             String,
    event_type            Enum8('VOICE_MO' = 1, 'VOICE_MT' = 2, 'VOICE_FWD' = 3, 'SMS_MO' = 4, 'SMS_MT' = 5, 'DATA' = 6),
    served_imsi           Nullable(String),
    served_imei           Nullable(String),
    served_msisdn         String,
    calling_number        Nullable(String),
    called_number         Nullable(String),
    connected_number      Nullable(String),
    translated_number     Nullable(String),
    original_called_number Nullable(String),
    redirecting_number    Nullable(String),
    redirection_reason    Nullable(Enum8('CFU' = 1, 'CFB' = 2, 'CFNRY' = 3, 'CFNRC' = 4, 'DEFLECTION' = 5, 'OTHER' = 6)),
    redirection_counter   UInt8,
    seizure_time          DateTime64(3, 'UTC'),
    answer_time           Nullable(DateTime64(3, 'UTC')),
    release_time          DateTime64(3, 'UTC'),
    utc_offset_minutes    Int16,
    duration_ms           UInt64,
    billable_ms           UInt64,
    cause_for_term        UInt16,
    q850_cause            Nullable(UInt16),
    disposition           Enum8('ANSWERED' = 1, 'NO_ANSWER' = 2, 'BUSY' = 3, 'FAILED' = 4, 'CONGESTION' = 5),
    serving_plmn          LowCardinality(Nullable(String)),
    home_plmn             LowCardinality(Nullable(String)),
    lac                   Nullable(UInt32),
    tac                   Nullable(UInt32),
    cell_id               Nullable(UInt64),
    in_trunk_group        LowCardinality(Nullable(String)),
    out_trunk_group       LowCardinality(Nullable(String)),
    sms_centre            Nullable(String),
    sms_result            Nullable(UInt16),
    apn                   LowCardinality(Nullable(String)),
    rating_group          Nullable(UInt32),
    uplink_bytes          UInt64,
    downlink_bytes        UInt64,
    extensions            Map(String, String),
    _topic                LowCardinality(String),
    _partition            UInt32,
    _offset               UInt64,
    _ingested_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(_ingested_at)
PARTITION BY toYYYYMM(seizure_time)
ORDER BY (served_msisdn, seizure_time, recording_entity, record_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Dead letters: every record that could not become a CDR row, with its original bytes, where it came from
-- and a coded reason (docs/ERRORS.md). Bytes are stored base64 (JSON transport cannot carry arbitrary
-- bytes); the ALIAS columns give analysts the raw bytes back.
CREATE TABLE IF NOT EXISTS dead_letters
(
    code          LowCardinality(String),
    message       String,
    topic         LowCardinality(String),
    partition     UInt32,
    offset        UInt64,
    record_timestamp DateTime64(3, 'UTC'),
    key_base64    Nullable(String),
    value_base64  Nullable(String),
    key           Nullable(String) ALIAS base64Decode(key_base64),
    value         Nullable(String) ALIAS base64Decode(value_base64),
    dead_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(dead_at)
PARTITION BY toYYYYMM(dead_at)
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 10000;
