-- Billed twice: one CDR (record_id) on more than one line of the same charge type in the period (on one invoice
-- or several). amount = what the extra lines charge (all but the first line). Parameters: {period:String}.
-- The duplicated records are found first (a count per record), the details gathered for those only.
SELECT
    'double-billed' AS kind,
    any(account_id) AS account_id,
    any(msisdn) AS msisdn,
    record_id,
    any(service) AS service,
    '' AS feature_code,
    CAST(sum(amount) - argMin(amount, (invoice_id, line_no)) - sum(a.adjusted) AS Decimal(18, 6)) AS amount,
    concat(toString(charge_type), ' billed ', toString(count()), ' times: ', arrayStringConcat(arraySort(groupArray(concat(invoice_id, '/', toString(line_no)))), ', '),
           if(sum(a.adjusted) != 0, concat('; ', toString(sum(a.adjusted)), ' adjusted by care'), '')) AS detail
FROM invoice_lines AS il FINAL
-- Care adjustments applied to the lines (care/README.md): the extra charge less what care credited.
LEFT JOIN (
        SELECT account_id, invoice_id, line_no, sum(amount) AS adjusted
        FROM care_adjustments FINAL
        WHERE period = {period:String} AND status = 'applied'
        GROUP BY account_id, invoice_id, line_no
    ) AS a USING (account_id, invoice_id, line_no)
WHERE period = {period:String} AND charge_type IN ('usage', 'surcharge') AND record_id != ''
  AND (record_id, charge_type) IN (
      SELECT record_id, charge_type FROM invoice_lines FINAL
      WHERE period = {period:String} AND charge_type IN ('usage', 'surcharge') AND record_id != ''
      GROUP BY record_id, charge_type
      HAVING count() > 1)
GROUP BY record_id, charge_type
HAVING amount > 0
ORDER BY account_id, record_id
