-- Surcharges where they do not belong: surcharge lines of the period on a CDR that carries no surcharge (rated
-- cost_surcharge 0: not roaming, or roaming where the tariff adds none). amount = the surcharge billed.
-- A surcharge line naming no CDR of the period is a phantom charge instead. Parameters: {period:String}.
WITH toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    'misapplied-surcharge' AS kind,
    s.account_id AS account_id,
    s.msisdn AS msisdn,
    record_id,
    s.service AS service,
    '' AS feature_code,
    s.amount AS amount,
    concat('surcharge ', toString(s.amount), ' on a ', if(c.roaming = 1, concat('roaming record (', ifNull(c.visited_plmn, ''), ') rated without surcharge'), 'record on the home network')) AS detail
FROM
(
    SELECT account_id, msisdn, record_id, service, CAST(sum(amount) AS Decimal(18, 6)) AS amount
    FROM invoice_lines FINAL
    WHERE period = {period:String} AND charge_type = 'surcharge' AND record_id != ''
    GROUP BY account_id, msisdn, record_id, service
) AS s
INNER JOIN
(
    SELECT record_id, roaming, visited_plmn, cost_surcharge
    FROM cdrs FINAL
    WHERE seizure_time >= toDateTime64(period_start, 3, 'UTC') AND seizure_time < toDateTime64(period_end, 3, 'UTC')
      AND record_id IN (SELECT record_id FROM invoice_lines WHERE period = {period:String} AND charge_type = 'surcharge')
) AS c USING (record_id)
WHERE c.cost_surcharge = 0
ORDER BY account_id, record_id
