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
    adjusted_amount,
    billed_amount - adjusted_amount - rated_amount AS difference,
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
    -- Care adjustments applied to the lines (care/README.md): billed - adjusted is what the customer pays.
    SELECT l.account_id AS account_id, l.service AS service, toString(l.currency) AS currency, CAST(sum(l.amount) AS Decimal(18, 6)) AS billed_amount,
           CAST(sum(a.adjusted) AS Decimal(18, 6)) AS adjusted_amount, count() AS billed_lines
    FROM invoice_lines AS l FINAL
    LEFT JOIN
    (
        SELECT account_id, invoice_id, line_no, sum(amount) AS adjusted
        FROM care_adjustments FINAL
        WHERE period = {period:String} AND status = 'applied'
        GROUP BY account_id, invoice_id, line_no
    ) AS a ON l.account_id = a.account_id AND l.invoice_id = a.invoice_id AND l.line_no = a.line_no
    WHERE l.period = {period:String} AND l.charge_type IN ('usage', 'surcharge')
    GROUP BY account_id, service, currency
) AS b USING (account_id, service, currency)
WHERE rated_amount != 0 OR billed_amount != 0 OR adjusted_amount != 0
ORDER BY flag = 'ok', abs(difference) DESC, account_id, service
