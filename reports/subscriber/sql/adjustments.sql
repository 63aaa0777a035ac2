-- Care adjustments on a subscriber's charges (`cdr-pipeline report subscriber`, beside the records; care/README.md):
-- every adjustment of the line in the billing periods the look-up touches, in every state (applied, queued for
-- approval, rejected), with the credited invoice line and CDR, the original and credited amounts, who, why and
-- when. Newest state of each (FINAL).
-- Parameters: as records.sql ({msisdn:String} {from:DateTime64(3, 'UTC')} {to:DateTime64(3, 'UTC')} {tz:String})
SELECT
    adjustment_id,
    toString(status) AS status,
    record_id,
    concat(invoice_id, '/', toString(line_no)) AS invoice_line,
    toString(charge_type) AS charge_type,
    original_amount,
    amount AS credited,
    toString(currency) AS currency,
    toString(reason) AS reason,
    note,
    agent,
    toString(role) AS role,
    formatDateTime(requested_at, '%Y-%m-%d %H:%i:%S', {tz:String}) AS requested,
    decided_by,
    if(decided_at IS NULL, '', formatDateTime(assumeNotNull(decided_at), '%Y-%m-%d %H:%i:%S', {tz:String})) AS decided
FROM care_adjustments FINAL
WHERE msisdn IN ({msisdn:String}, concat('+', {msisdn:String}))
  AND period >= formatDateTime({from:DateTime64(3, 'UTC')}, '%Y-%m', 'UTC')
  AND period <= formatDateTime({to:DateTime64(3, 'UTC')} - INTERVAL 1 MILLISECOND, '%Y-%m', 'UTC')
ORDER BY requested_at, adjustment_id
