-- Phantom charges: usage or surcharge lines of the period that name a CDR (record_id) the period's CDRs do not
-- contain. amount = the line's amount. A record billed in another month than its seizure shows here and as
-- leakage in its own month. Parameters: {period:String}.
WITH toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    'phantom-charge' AS kind,
    account_id,
    msisdn,
    record_id,
    service,
    '' AS feature_code,
    CAST(il.amount - a.adjusted AS Decimal(18, 6)) AS amount,
    concat(toString(charge_type), ' line ', invoice_id, '/', toString(line_no), if(a.adjusted != 0, concat(' (', toString(il.amount), ' less ', toString(a.adjusted), ' adjusted by care)'), '')) AS detail
FROM invoice_lines AS il FINAL
-- Care adjustments applied to the line (care/README.md): a phantom charge credited in full is settled.
LEFT JOIN (
        SELECT account_id, invoice_id, line_no, sum(amount) AS adjusted
        FROM care_adjustments FINAL
        WHERE period = {period:String} AND status = 'applied'
        GROUP BY account_id, invoice_id, line_no
    ) AS a USING (account_id, invoice_id, line_no)
WHERE period = {period:String} AND charge_type IN ('usage', 'surcharge') AND record_id != '' AND il.amount - a.adjusted > 0
  AND record_id NOT IN (
      SELECT record_id FROM cdrs
      WHERE seizure_time >= toDateTime64(period_start, 3, 'UTC') AND seizure_time < toDateTime64(period_end, 3, 'UTC'))
ORDER BY account_id, record_id, invoice_id, line_no
