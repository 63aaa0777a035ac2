-- Lines with usage but missing from the inventory in force (service-record audit): subscribers whose CDRs of
-- the period are not those of a visitor (inbound roamer) and whose number is not in ref_lines. Rating cannot
-- resolve them (UNRATED UNKNOWN_ACCOUNT), so nothing the pipeline rates pays for them. amount = what the
-- period's invoices charge for the number anyway (the billing system knows a line the inventory does not).
-- Parameters: {period:String}.
WITH toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    'missing-from-inventory' AS kind,
    if(u.account_id != '', u.account_id, ifNull(b.account_id, '')) AS account_id,
    msisdn,
    '' AS record_id,
    '' AS service,
    '' AS feature_code,
    CAST(ifNull(b.amount, 0) AS Decimal(18, 6)) AS amount,
    concat(toString(u.n), ' records from ', toString(u.first_day), ' to ', toString(u.last_day), ', ', toString(u.unrated), ' unrated') AS detail
FROM
(
    SELECT msisdn, any(account_id) AS account_id, sum(records) AS n, sum(unrated_records) AS unrated, min(day) AS first_day, max(day) AS last_day
    FROM agg_usage_daily
    WHERE day >= period_start AND day < period_end AND inbound_roamer = 0 AND records > 0
      AND msisdn NOT IN (SELECT msisdn FROM ref_lines WHERE version = (SELECT version FROM ref_current_version))
    GROUP BY msisdn
) AS u
LEFT JOIN
(
    SELECT msisdn, any(account_id) AS account_id, sum(amount) AS amount FROM invoice_lines FINAL WHERE period = {period:String} AND msisdn != '' GROUP BY msisdn
) AS b USING (msisdn)
ORDER BY account_id, msisdn
