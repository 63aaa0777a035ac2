-- agg_usage_daily for the UTC days [from_day, to_day), recomputed from the deduplicated CDRs (FINAL: a replayed,
-- duplicated or re-rated CDR counts once, with its newest rating). `cdr-pipeline aggregate` inserts this into a
-- scratch table and swaps each day in (schemas/ddl/0008_aggregates.sql). Parameters: from_day, to_day (Date),
-- refreshed_at (DateTime64(3, 'UTC')). As an analyst's query (clickhouse-client --param_from_day=2026-10-01
-- --param_to_day=2026-11-01 --param_refreshed_at='2026-11-01 00:00:00') it shows what the aggregate holds.
-- Counts are of events (calls, messages, sessions), not pieces: an event recorded in partial records
-- (record_sequence_number 1, 2, ...) counts once, by its first part; seconds, usage, volume and money are sums
-- over every part, as before.
SELECT
    toDate(seizure_time) AS day,
    ifNull(account_id, '') AS account_id,
    served_msisdn AS msisdn,
    -- NOT_RATED rows carry no rating_service: the service the event type implies.
    if(rating_service != '', rating_service,
       multiIf(event_type IN ('VOICE_MO', 'VOICE_FWD'), 'voice', event_type = 'VOICE_MT', 'voice-in',
               event_type = 'SMS_MO', 'sms', event_type = 'SMS_MT', 'sms-in', 'data')) AS service,
    if(event_type = 'DATA', 'data', ifNull(priced_number_category, ifNull(other_party_category, 'unknown'))) AS destination_class,
    currency,
    -- A visitor on our network (home network not ours): not a line of our inventory.
    max(home_plmn IS NOT NULL AND home_plmn NOT IN (SELECT plmn FROM ref_networks WHERE home)) AS inbound_roamer,
    countIf(record_sequence_number <= 1) AS records,
    countIf(disposition = 'ANSWERED' AND record_sequence_number <= 1) AS answered_records,
    sum(intDiv(billable_ms + 999, 1000)) AS billable_seconds,
    sum(billed_usage) AS billed_usage,
    sum(uplink_bytes + downlink_bytes) AS volume_bytes,
    CAST(sumIf(cost_total, rating_status = 'RATED') AS Decimal(18, 6)) AS rated_amount,
    CAST(sumIf(cost_surcharge, rating_status = 'RATED') AS Decimal(18, 6)) AS surcharge_amount,
    countIf(roaming = 1 AND record_sequence_number <= 1) AS roaming_records,
    countIf(event_type = 'VOICE_FWD' AND record_sequence_number <= 1) AS forwarded_records,
    countIf(event_type = 'VOICE_FWD' AND redirection_reason = 'CFU' AND record_sequence_number <= 1) AS forwarded_cfu,
    countIf(event_type = 'VOICE_FWD' AND redirection_reason = 'CFB' AND record_sequence_number <= 1) AS forwarded_cfb,
    countIf(event_type = 'VOICE_FWD' AND redirection_reason IN ('CFNRY', 'CFNRC') AND record_sequence_number <= 1) AS forwarded_cfn,
    countIf(rating_status != 'RATED' AND record_sequence_number <= 1) AS unrated_records,
    {refreshed_at:DateTime64(3, 'UTC')} AS refreshed_at
FROM cdrs FINAL
WHERE seizure_time >= toDateTime64({from_day:Date}, 3, 'UTC') AND seizure_time < toDateTime64({to_day:Date}, 3, 'UTC')
GROUP BY day, account_id, msisdn, service, destination_class, currency
