-- CSR "Usage per line" (issue #16): the period's rated usage of each line of the account, per service
-- (agg_usage_daily, refreshed from the deduplicated CDRs): records, answered, billable seconds, data volume,
-- rated amount (exact Decimal). Parameters: {account:String}, {period:String}.
WITH toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    msisdn,
    service,
    sum(records) AS records,
    sum(answered_records) AS answered,
    sum(billable_seconds) AS billable_seconds,
    sum(volume_bytes) AS volume_bytes,
    CAST(sum(rated_amount) AS Decimal(18, 6)) AS rated_amount,
    any(currency) AS currency
FROM agg_usage_daily
WHERE day >= period_start AND day < period_end
  AND msisdn IN (SELECT msisdn FROM ref_lines WHERE version = (SELECT version FROM ref_current_version) AND account_id = {account:String})
GROUP BY msisdn, service
ORDER BY msisdn, service
