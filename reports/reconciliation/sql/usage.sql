-- Billing reconciliation, usage (docs/RECONCILIATION.md): per account, service and currency of the period, the
-- rated amount (pre-aggregate agg_usage_daily, from the deduplicated CDRs) against the billed amount (usage and
-- surcharge lines of invoice_lines), the difference (billed - rated) and a flag beyond the tolerance:
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
    billed_amount - rated_amount AS difference,
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
    SELECT account_id, service, toString(currency) AS currency, CAST(sum(amount) AS Decimal(18, 6)) AS billed_amount, count() AS billed_lines
    FROM invoice_lines FINAL
    WHERE period = {period:String} AND charge_type IN ('usage', 'surcharge')
    GROUP BY account_id, service, currency
) AS b USING (account_id, service, currency)
WHERE rated_amount != 0 OR billed_amount != 0
ORDER BY flag = 'ok', abs(difference) DESC, account_id, service
