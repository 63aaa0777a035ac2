-- Storage of the CDRs (issue #17 item 5; docs/BENCHMARKS.md "Storage", with the command that measured it).
-- 1. Codecs chosen by measurement: tools/bench/bench-storage.ts --codec-study stored ~0.93M generated, rated CDRs
--    once per candidate codec and column, in the table's order, and kept the smallest (ties: the cheaper codec):
--    - times (seizure, release, rated): T64 + ZSTD(1), 43% under LZ4 (Delta and DoubleDelta lost: a part is in
--      subscriber order, so consecutive times are not close); answer_time and _ingested_at: ZSTD(3);
--    - counters and measures (durations, usage, causes, rating group, partition): T64 + ZSTD(1); the Kafka
--      offset: Delta + ZSTD(1); byte volumes: ZSTD(3);
--    - identities and keys sorted together (served MSISDN/IMSI/IMEI, account, record id): ZSTD(3), 4-10x under
--      LZ4 (long repeats ZSTD(1) misses); other numbers and strings: ZSTD(1); low-cardinality and enum columns:
--      ZSTD(1) (dictionary codes compress alike at any level);
--    - money (Decimal): ZSTD(3) on the two dense ones (cost_total, cost_usage), ZSTD(1) elsewhere.
--    A codec change is metadata only: parts are recompressed as they merge (OPTIMIZE TABLE cdrs FINAL forces it).
-- 2. Nullable only where null means something. Kept Nullable: the switch's own fields (null = the switch did not
--    send it, and `cdr-pipeline rerate` rebuilds CDRs from them: '' is not absent), answer_time (never answered),
--    q850_cause, lac/tac/cell_id, redirection_reason, rated_at (not rated), rating_segments and rating_note
--    (read with IS NOT NULL), priced_number_category, other_party_category and other_party_e164 (read with
--    ifNull/coalesce fall-backs where '' would win). Converted: the rating and enrichment columns below, where
--    null and '' say the same (no account, no tariff, no region) and every reader already uses ifNull(x, '').
--    MODIFY COLUMN ... DEFAULT '' turns the stored NULLs into '' (a mutation; mutations_sync waits for it) and
--    an insert that sends null stores '' (input_format_null_as_default).
ALTER TABLE cdrs
    MODIFY COLUMN unrated_reason        LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN account_id            String DEFAULT '' CODEC(ZSTD(3)),
    MODIFY COLUMN tariff_id             LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN tariff_version        LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN rate_id               LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN destination_id        LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN matched_prefix        String DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN band                  LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN bands                 LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN rounding              LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN roaming_zone          LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN surcharge_rate_id     LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN priced_number         String DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN priced_number_country LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN line_status           LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN plan                  LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN account_class         LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN serving_region        LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN serving_country       LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN home_country          LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN visited_plmn          LowCardinality(String) DEFAULT '' CODEC(ZSTD(1)),
    MODIFY COLUMN other_party_country   LowCardinality(String) DEFAULT '' CODEC(ZSTD(1))
SETTINGS mutations_sync = 2;

ALTER TABLE cdrs
    MODIFY COLUMN recording_entity       CODEC(ZSTD(1)),
    MODIFY COLUMN record_id              CODEC(ZSTD(3)),
    MODIFY COLUMN event_type             CODEC(ZSTD(1)),
    MODIFY COLUMN served_imsi            CODEC(ZSTD(3)),
    MODIFY COLUMN served_imei            CODEC(ZSTD(3)),
    MODIFY COLUMN served_msisdn          CODEC(ZSTD(3)),
    MODIFY COLUMN calling_number         CODEC(ZSTD(1)),
    MODIFY COLUMN called_number          CODEC(ZSTD(1)),
    MODIFY COLUMN connected_number       CODEC(ZSTD(1)),
    MODIFY COLUMN translated_number      CODEC(ZSTD(1)),
    MODIFY COLUMN original_called_number CODEC(ZSTD(1)),
    MODIFY COLUMN redirecting_number     CODEC(ZSTD(1)),
    MODIFY COLUMN redirection_reason     CODEC(ZSTD(1)),
    MODIFY COLUMN redirection_counter    CODEC(ZSTD(1)),
    MODIFY COLUMN seizure_time           CODEC(T64, ZSTD(1)),
    MODIFY COLUMN answer_time            CODEC(ZSTD(3)),
    MODIFY COLUMN release_time           CODEC(T64, ZSTD(1)),
    MODIFY COLUMN utc_offset_minutes     CODEC(ZSTD(1)),
    MODIFY COLUMN duration_ms            CODEC(T64, ZSTD(1)),
    MODIFY COLUMN billable_ms            CODEC(T64, ZSTD(1)),
    MODIFY COLUMN cause_for_term         CODEC(T64, ZSTD(1)),
    MODIFY COLUMN q850_cause             CODEC(T64, ZSTD(1)),
    MODIFY COLUMN disposition            CODEC(ZSTD(1)),
    MODIFY COLUMN serving_plmn           CODEC(ZSTD(1)),
    MODIFY COLUMN home_plmn              CODEC(ZSTD(1)),
    MODIFY COLUMN lac                    CODEC(ZSTD(1)),
    MODIFY COLUMN tac                    CODEC(ZSTD(1)),
    MODIFY COLUMN cell_id                CODEC(ZSTD(3)),
    MODIFY COLUMN in_trunk_group         CODEC(ZSTD(1)),
    MODIFY COLUMN out_trunk_group        CODEC(ZSTD(1)),
    MODIFY COLUMN sms_centre             CODEC(ZSTD(1)),
    MODIFY COLUMN sms_result             CODEC(ZSTD(1)),
    MODIFY COLUMN apn                    CODEC(ZSTD(1)),
    MODIFY COLUMN rating_group           CODEC(T64, ZSTD(1)),
    MODIFY COLUMN uplink_bytes           CODEC(ZSTD(3)),
    MODIFY COLUMN downlink_bytes         CODEC(ZSTD(3)),
    MODIFY COLUMN extensions             CODEC(ZSTD(1)),
    MODIFY COLUMN _topic                 CODEC(ZSTD(1)),
    MODIFY COLUMN _partition             CODEC(T64, ZSTD(1)),
    MODIFY COLUMN _offset                CODEC(Delta, ZSTD(1)),
    MODIFY COLUMN _ingested_at           CODEC(ZSTD(3)),
    MODIFY COLUMN rating_status          CODEC(ZSTD(1)),
    MODIFY COLUMN rating_version         CODEC(ZSTD(1)),
    MODIFY COLUMN rating_service         CODEC(ZSTD(1)),
    MODIFY COLUMN currency               CODEC(ZSTD(1)),
    MODIFY COLUMN cost_total             CODEC(ZSTD(3)),
    MODIFY COLUMN cost_connect_fee       CODEC(ZSTD(1)),
    MODIFY COLUMN cost_usage             CODEC(ZSTD(3)),
    MODIFY COLUMN cost_adjustment        CODEC(ZSTD(1)),
    MODIFY COLUMN cost_surcharge         CODEC(ZSTD(1)),
    MODIFY COLUMN usage_amount           CODEC(T64, ZSTD(1)),
    MODIFY COLUMN billed_usage           CODEC(T64, ZSTD(1)),
    MODIFY COLUMN usage_unit             CODEC(ZSTD(1)),
    MODIFY COLUMN rated_at               CODEC(T64, ZSTD(1)),
    MODIFY COLUMN rating_segments        CODEC(ZSTD(1)),
    MODIFY COLUMN rating_note            CODEC(ZSTD(1)),
    MODIFY COLUMN priced_number_category CODEC(ZSTD(1)),
    MODIFY COLUMN other_party_e164       CODEC(ZSTD(1)),
    MODIFY COLUMN other_party_category   CODEC(ZSTD(1)),
    MODIFY COLUMN roaming                CODEC(ZSTD(1)),
    MODIFY COLUMN other_party_high_risk  CODEC(ZSTD(1));

-- Dead letters hold the original bytes (base64) of every bad record: ZSTD(3) on the payload and message.
ALTER TABLE dead_letters
    MODIFY COLUMN message      CODEC(ZSTD(3)),
    MODIFY COLUMN key_base64   CODEC(ZSTD(3)),
    MODIFY COLUMN value_base64 CODEC(ZSTD(3)),
    MODIFY COLUMN record_timestamp CODEC(T64, ZSTD(1)),
    MODIFY COLUMN dead_at      CODEC(T64, ZSTD(1));
