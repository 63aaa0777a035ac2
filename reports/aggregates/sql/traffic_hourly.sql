-- agg_traffic_hourly for the UTC days [from_day, to_day): voice calls (VOICE_MO, VOICE_MT, VOICE_FWD) per hour,
-- destination class and serving region, from the deduplicated CDRs (FINAL). Parameters as usage_daily.sql.
-- Calls, not pieces: a call recorded in partial records (record_sequence_number 1, 2, ...) counts once, by its
-- first part; its seconds and revenue are the sums over its parts (schemas/ddl/0040_cdr_contract_v3.sql).
SELECT
    toStartOfHour(seizure_time) AS hour,
    ifNull(priced_number_category, ifNull(other_party_category, 'unknown')) AS destination_class,
    ifNull(serving_region, '') AS region,
    countIf(record_sequence_number <= 1) AS calls,
    countIf(disposition = 'ANSWERED' AND record_sequence_number <= 1) AS answered_calls,
    sum(intDiv(billable_ms + 999, 1000)) AS billable_seconds,
    CAST(sumIf(cost_total, rating_status = 'RATED') AS Decimal(18, 6)) AS revenue,
    currency,
    {refreshed_at:DateTime64(3, 'UTC')} AS refreshed_at
FROM cdrs FINAL
WHERE seizure_time >= toDateTime64({from_day:Date}, 3, 'UTC') AND seizure_time < toDateTime64({to_day:Date}, 3, 'UTC')
  AND event_type IN ('VOICE_MO', 'VOICE_MT', 'VOICE_FWD')
GROUP BY hour, destination_class, region, currency
