-- Revenue leakage: rated CDRs of the period with a price (cost_total > 0) of an account of the inventory that no
-- usage line of the period bills (matched on record_id). amount = the CDR's rated amount.
-- Reads cdrs FINAL (record-level detail), restricted to the period's partition. Parameters: {period:String}.
WITH toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    'leakage' AS kind,
    ifNull(account_id, '') AS account_id,
    served_msisdn AS msisdn,
    record_id,
    rating_service AS service,
    '' AS feature_code,
    CAST(cost_total AS Decimal(18, 6)) AS amount,
    concat(toString(event_type), ' at ', toString(seizure_time), ', rate ', ifNull(rate_id, '')) AS detail
FROM cdrs FINAL
WHERE seizure_time >= toDateTime64(period_start, 3, 'UTC') AND seizure_time < toDateTime64(period_end, 3, 'UTC')
  AND rating_status = 'RATED' AND cost_total > 0
  AND account_id IN (SELECT account_id FROM ref_accounts WHERE version = (SELECT version FROM ref_current_version))
  AND record_id NOT IN (SELECT record_id FROM invoice_lines FINAL WHERE period = {period:String} AND charge_type = 'usage' AND record_id != '')
ORDER BY account_id, seizure_time, record_id
