-- The usage comparison of usage.sql computed from the raw rows (cdrs FINAL) instead of the pre-aggregate: the
-- same result, for checking the aggregates and for the benchmark (docs/BENCHMARKS.md "Reconciliation").
-- Parameters as usage.sql.
WITH toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    account_id,
    service,
    currency,
    rated_amount,
    billed_amount,
    billed_amount - rated_amount AS difference,
    multiIf(difference > {tolerance:Decimal(18, 6)}, 'over-billed', difference < -{tolerance:Decimal(18, 6)}, 'under-billed', 'ok') AS flag,
    rated_records,
    billed_lines
FROM
(
    SELECT
        ifNull(account_id, '') AS account_id,
        if(rating_service != '', rating_service,
           multiIf(event_type IN ('VOICE_MO', 'VOICE_FWD'), 'voice', event_type = 'VOICE_MT', 'voice-in',
                   event_type = 'SMS_MO', 'sms', event_type = 'SMS_MT', 'sms-in', 'data')) AS service,
        toString(currency) AS currency,
        CAST(sumIf(cost_total, rating_status = 'RATED') AS Decimal(18, 6)) AS rated_amount,
        countIf(record_sequence_number <= 1) AS rated_records -- events, not pieces (as agg_usage_daily.records)
    FROM cdrs FINAL
    WHERE seizure_time >= toDateTime64(period_start, 3, 'UTC') AND seizure_time < toDateTime64(period_end, 3, 'UTC')
      AND account_id IN (SELECT account_id FROM ref_accounts WHERE version = (SELECT version FROM ref_current_version))
    GROUP BY account_id, service, currency
) AS r
FULL OUTER JOIN
(
    SELECT account_id, service, toString(currency) AS currency, CAST(sum(amount) AS Decimal(18, 6)) AS billed_amount, count() AS billed_lines
    FROM invoice_lines FINAL
    WHERE period = {period:String} AND charge_type IN ('usage', 'surcharge')
    GROUP BY account_id, service, currency
) AS b USING (account_id, service, currency)
WHERE rated_amount != 0 OR billed_amount != 0
ORDER BY flag = 'ok', abs(difference) DESC, account_id, service
