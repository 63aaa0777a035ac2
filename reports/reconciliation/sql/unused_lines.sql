-- Unused lines (service-record audit): active lines of the inventory in force, installed before the window, not in
-- use (calls made or received, messages, data) in the {unused_days} days before the end of the period. "In use"
-- is the convention of the view lines_in_use_daily (schemas/ddl/0050; docs/RECONCILIATION.md "Lines in use"): the
-- served party of a CDR, or a PBX extension (DDI) a switch wrote as calling/called number beside its trunk's pilot.
-- amount = everything the period's invoices charge for the line (plan fee, features, ...).
-- Parameters: {period:String}, {unused_days:UInt32}.
WITH toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end,
     subtractDays(period_end, {unused_days:UInt32}) AS window_start
SELECT
    'unused-line' AS kind,
    l.account_id AS account_id,
    msisdn,
    '' AS record_id,
    '' AS service,
    '' AS feature_code,
    CAST(ifNull(b.amount, 0) AS Decimal(18, 6)) AS amount,
    concat('plan ', l.plan, ', installed ', l.install_date, ', last use ', if(u.last_use = toDate(0), 'never', toString(u.last_use))) AS detail
FROM
(
    SELECT msisdn, ifNull(account_id, '') AS account_id, ifNull(plan, '') AS plan, ifNull(install_date, '') AS install_date
    FROM ref_lines
    WHERE version = (SELECT version FROM ref_current_version) AND status = 'active'
      AND toDate(ifNull(install_date, '1970-01-01')) < window_start
) AS l
LEFT JOIN
(
    SELECT msisdn, max(day) AS last_use FROM lines_in_use_daily WHERE day < period_end AND records > 0 GROUP BY msisdn
) AS u USING (msisdn)
LEFT JOIN
(
    SELECT msisdn, sum(amount) AS amount FROM invoice_lines FINAL WHERE period = {period:String} AND msisdn != '' GROUP BY msisdn
) AS b USING (msisdn)
WHERE u.last_use < window_start
ORDER BY account_id, msisdn
