-- Billing reconciliation, usage (docs/RECONCILIATION.md): per account, service and currency of the period, the
-- rated amount (pre-aggregate agg_usage_daily, from the deduplicated CDRs) against the billed amount (usage and
-- surcharge lines of invoice_lines), less what care adjustments credited on those lines (care_adjustments,
-- applied), the difference (billed - adjusted - rated) and a flag beyond the tolerance:
-- over-billed (the customer paid more than the CDRs are worth) or under-billed (revenue not invoiced).
-- Accounts: those of the customer inventory in force (ref_current_version); wholesale (inbound roamer) accounts
-- are settled outside the retail bill. The aggregate is read without FINAL: each day is swapped in whole by
-- `cdr-pipeline aggregate`, so it holds one row per group (schemas/ddl/0008_aggregates.sql).
-- Parameters: {period:String} 'YYYY-MM' (UTC calendar month of the CDRs' seizure time, as the invoices),
--             {tolerance:Decimal(18, 6)} absolute, in the currency.
-- clickhouse-client --param_period=2026-10 --param_tolerance=0.01 --queries-file usage.sql
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
    SELECT account_id, service, currency, CAST(sum(rated_amount) AS Decimal(18, 6)) AS rated_amount, sum(records) AS rated_records
    FROM agg_usage_daily
    WHERE day >= period_start AND day < period_end
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
