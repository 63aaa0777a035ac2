-- Rates billed above the contracted or the benchmark rate (service-record audit, the rate audit): usage lines of
-- the period with a unit price, voice per minute (or per second: x 60) for billed seconds and data per MB (or
-- per KB, per byte: x 1000, x 10^6) for billed bytes. Each line is mapped to what it is checked against by its
-- number and its destination_class (docs/RECONCILIATION.md "The rate audit"), first match wins:
--   1. voice, a contracted rate of the account for the number: the longest matching prefix of
--      ref_contracted_rates valid at the call's local date (national short codes, at most 6 digits, are never
--      priced by contract, as in rating)                                              -> rate-above-contract;
--   2. voice, destination_class = the description of a contracted rate of the account (the contract's name for
--      the destination, as rating's explanation and the billing system print it), the row valid at the call's
--      local date                                                                     -> rate-above-contract;
--   3. a benchmark of (service, destination_class, per minute | per MB) in rate_benchmarks: a tariff destination
--      id (UK_MOBILE), a roaming zone (EU), for data a network destination of the tariff book (UK_NETWORKS) or
--      `*` (any other network, as the pipeline stores it)                           -> rate-above-benchmark.
-- Lines that map to none of these are not checked: rate_audit_unmapped.sql lists them, and the report counts them.
-- amount = (billed rate - reference rate) x billed seconds / 60 (voice) or x billed bytes / 10^6 (data),
-- truncated to micro-units. Parameters: {period:String}.
WITH (SELECT version FROM ref_current_version) AS ref_version,
     (SELECT JSONExtractString(operator_json, 'timezone') FROM ref_operator WHERE version = ref_version LIMIT 1) AS tz
SELECT
    multiIf(c.has_contract = 1 OR d.has_contract = 1, 'rate-above-contract', 'rate-above-benchmark') AS kind,
    l.account_id AS account_id,
    l.msisdn AS msisdn,
    l.record_id AS record_id,
    l.service AS service,
    '' AS feature_code,
    CAST(toDecimal128(l.rate - reference, 6) * toDecimal128(l.quantity, 6) / if(l.service = 'voice', 60, 1000000) AS Decimal(18, 6)) AS amount,
    concat('billed ', toString(l.rate), '/', l.audit_unit, ' for ', toString(l.quantity), if(l.service = 'voice', ' s to ', ' bytes on '),
           if(l.number != '', concat(l.number, ' '), ''), '(', l.destination_class, '); ',
           multiIf(c.has_contract = 1, concat('contracted ', toString(c.contract_rate), ' for prefix ', c.contract_prefix),
                   d.has_contract = 1, concat('contracted ', toString(d.contract_rate), ' for ', l.destination_class, ' (prefix ', d.contract_prefix, ')'),
                   concat('benchmark ', toString(bm.rate)))) AS detail,
    multiIf(c.has_contract = 1, c.contract_rate, d.has_contract = 1, d.contract_rate, bm.rate) AS reference
FROM
(
    SELECT invoice_id, line_no, account_id, msisdn, record_id, toString(service) AS service, toString(destination_class) AS destination_class, number, quantity, event_time,
           if(service = 'voice', 'minute', 'MB') AS audit_unit,
           CAST(multiIf(price_unit IN ('minute', 'MB'), assumeNotNull(unit_price), price_unit = 'second', assumeNotNull(unit_price) * 60,
                        price_unit = 'KB', assumeNotNull(unit_price) * 1000, assumeNotNull(unit_price) * 1000000) AS Decimal(18, 6)) AS rate
    FROM invoice_lines FINAL
    WHERE period = {period:String} AND charge_type = 'usage' AND unit_price IS NOT NULL
      AND ((service = 'voice' AND unit = 'second' AND price_unit IN ('minute', 'second'))
           OR (service = 'data' AND unit = 'byte' AND price_unit IN ('MB', 'KB', 'byte')))
) AS l
LEFT JOIN
(
    SELECT invoice_id, line_no, 1 AS has_contract,
           argMax(cr.rate_per_minute, (length(cr.prefix), ifNull(cr.valid_from, ''))) AS contract_rate,
           argMax(cr.prefix, (length(cr.prefix), ifNull(cr.valid_from, ''))) AS contract_prefix
    FROM invoice_lines AS il FINAL
    INNER JOIN (SELECT account_id, prefix, rate_per_minute, valid_from FROM ref_contracted_rates WHERE version = ref_version) AS cr ON il.account_id = cr.account_id
    WHERE il.period = {period:String} AND il.charge_type = 'usage' AND il.service = 'voice'
      AND length(il.number) >= 7 AND startsWith(il.number, cr.prefix)
      AND (cr.valid_from IS NULL OR toDate(ifNull(il.event_time, toDateTime64(0, 3, 'UTC')), tz) >= toDate(cr.valid_from))
    GROUP BY invoice_id, line_no
) AS c USING (invoice_id, line_no)
LEFT JOIN
(
    SELECT invoice_id, line_no, 1 AS has_contract,
           argMax(cr.rate_per_minute, (ifNull(cr.valid_from, ''), cr.prefix)) AS contract_rate,
           argMax(cr.prefix, (ifNull(cr.valid_from, ''), cr.prefix)) AS contract_prefix
    FROM invoice_lines AS il FINAL
    INNER JOIN (SELECT account_id, assumeNotNull(description) AS description, prefix, rate_per_minute, valid_from FROM ref_contracted_rates WHERE version = ref_version AND description IS NOT NULL) AS cr
        ON il.account_id = cr.account_id AND toString(il.destination_class) = cr.description
    WHERE il.period = {period:String} AND il.charge_type = 'usage' AND il.service = 'voice'
      AND (cr.valid_from IS NULL OR toDate(ifNull(il.event_time, toDateTime64(0, 3, 'UTC')), tz) >= toDate(cr.valid_from))
    GROUP BY invoice_id, line_no
) AS d USING (invoice_id, line_no)
LEFT JOIN
(
    SELECT toString(service) AS service, toString(destination_class) AS destination_class, toString(price_unit) AS audit_unit, rate, 1 AS has_benchmark FROM rate_benchmarks FINAL
) AS bm ON l.service = bm.service AND l.destination_class = bm.destination_class AND l.audit_unit = bm.audit_unit
WHERE (c.has_contract = 1 AND l.rate > c.contract_rate)
   OR (c.has_contract = 0 AND d.has_contract = 1 AND l.rate > d.contract_rate)
   OR (c.has_contract = 0 AND d.has_contract = 0 AND bm.has_benchmark = 1 AND l.rate > bm.rate)
ORDER BY account_id, record_id
