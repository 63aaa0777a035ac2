-- The invoice lines the rate audit (rates_above.sql) does not check, so none passes unaudited without a word
-- (docs/RECONCILIATION.md "The rate audit"): voice and data usage lines of the period that map to no contracted
-- rate (by number or by description) and no benchmark (destination id, roaming zone, data network or `*`), or
-- whose unit price cannot be compared (none, or a unit the audit does not convert). One row per reason, service
-- and destination_class: lines, their amount, the first invoice line as an example.
-- Parameters: {period:String}.
WITH (SELECT version FROM ref_current_version) AS ref_version,
     (SELECT JSONExtractString(operator_json, 'timezone') FROM ref_operator WHERE version = ref_version LIMIT 1) AS tz
SELECT
    reason,
    l.service AS service,
    l.destination_class AS destination_class,
    count() AS lines,
    CAST(sum(l.amount) AS Decimal(18, 6)) AS amount,
    concat(argMin(l.invoice_id, (l.invoice_id, l.line_no)), '/', toString(argMin(l.line_no, (l.invoice_id, l.line_no)))) AS example
FROM
(
    SELECT invoice_id, line_no, account_id, toString(service) AS service, toString(destination_class) AS destination_class, number, amount,
           unit_price IS NOT NULL AND ((service = 'voice' AND unit = 'second' AND price_unit IN ('minute', 'second'))
                                       OR (service = 'data' AND unit = 'byte' AND price_unit IN ('MB', 'KB', 'byte'))) AS comparable,
           if(service = 'voice', 'minute', 'MB') AS audit_unit
    FROM invoice_lines FINAL
    WHERE period = {period:String} AND charge_type = 'usage' AND service IN ('voice', 'data')
) AS l
LEFT JOIN
(
    SELECT DISTINCT il.invoice_id AS invoice_id, il.line_no AS line_no, 1 AS has_contract
    FROM invoice_lines AS il FINAL
    INNER JOIN (SELECT account_id, prefix, ifNull(description, '') AS description, valid_from FROM ref_contracted_rates WHERE version = ref_version) AS cr ON il.account_id = cr.account_id
    WHERE il.period = {period:String} AND il.charge_type = 'usage' AND il.service = 'voice'
      AND (cr.valid_from IS NULL OR toDate(ifNull(il.event_time, toDateTime64(0, 3, 'UTC')), tz) >= toDate(cr.valid_from))
      AND ((length(il.number) >= 7 AND startsWith(il.number, cr.prefix)) OR (cr.description != '' AND toString(il.destination_class) = cr.description))
) AS c ON l.invoice_id = c.invoice_id AND l.line_no = c.line_no
LEFT JOIN
(
    SELECT toString(service) AS service, toString(destination_class) AS destination_class, toString(price_unit) AS audit_unit, 1 AS has_benchmark FROM rate_benchmarks FINAL
) AS bm ON l.service = bm.service AND l.destination_class = bm.destination_class AND l.audit_unit = bm.audit_unit
ARRAY JOIN [multiIf(NOT l.comparable, 'no comparable unit price (voice: per minute or second of billed seconds; data: per MB, KB or byte of billed bytes)',
                    c.has_contract = 0 AND bm.has_benchmark = 0, if(l.destination_class = '', 'destination_class empty: no contract for the number, nothing to map',
                                                                    'destination_class is no tariff destination, contract description, roaming zone or data network with a benchmark'),
                    '')] AS reason
WHERE reason != ''
GROUP BY reason, service, destination_class
ORDER BY lines DESC, reason, service, destination_class
