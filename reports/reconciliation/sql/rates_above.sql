-- Per-minute rates billed above the contracted or the benchmark rate (service-record audit): voice usage lines
-- of the period priced per minute. A line of an account with a contracted rate for the number (the longest
-- matching prefix of ref_contracted_rates, valid at the call's local date; national short codes, which have
-- at most 6 digits, are never priced by contract, as in rating) is checked against that rate
-- (rate-above-contract); any other line against the benchmark of its destination class (rate_benchmarks,
-- `cdr-pipeline import benchmarks`; a class without a benchmark is not checked) (rate-above-benchmark).
-- amount = (unit_price - reference rate) x billed seconds / 60, truncated to micro-units.
-- Parameters: {period:String}.
WITH (SELECT version FROM ref_current_version) AS ref_version,
     (SELECT JSONExtractString(operator_json, 'timezone') FROM ref_operator WHERE version = ref_version LIMIT 1) AS tz
SELECT
    if(c.has_contract = 1, 'rate-above-contract', 'rate-above-benchmark') AS kind,
    l.account_id AS account_id,
    l.msisdn AS msisdn,
    l.record_id AS record_id,
    l.service AS service,
    '' AS feature_code,
    CAST(toDecimal128(l.unit_price - reference, 6) * toDecimal128(l.quantity, 6) / 60 AS Decimal(18, 6)) AS amount,
    concat('billed ', toString(l.unit_price), '/min for ', toString(l.quantity), ' s to ', l.number, ' (', l.destination_class, '); ',
           if(c.has_contract = 1, concat('contracted ', toString(c.contract_rate), ' for prefix ', c.contract_prefix),
              concat('benchmark ', toString(bm.rate)))) AS detail,
    if(c.has_contract = 1, c.contract_rate, bm.rate) AS reference
FROM
(
    SELECT invoice_id, line_no, account_id, msisdn, record_id, service, destination_class, number, quantity, assumeNotNull(unit_price) AS unit_price, event_time
    FROM invoice_lines FINAL
    WHERE period = {period:String} AND charge_type = 'usage' AND service = 'voice' AND unit = 'second' AND price_unit = 'minute' AND unit_price IS NOT NULL
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
    SELECT toString(destination_class) AS destination_class, rate, 1 AS has_benchmark FROM rate_benchmarks FINAL WHERE service = 'voice' AND price_unit = 'minute'
) AS bm ON l.destination_class = bm.destination_class
WHERE (c.has_contract = 1 AND l.unit_price > c.contract_rate) OR (c.has_contract = 0 AND bm.has_benchmark = 1 AND l.unit_price > bm.rate)
ORDER BY account_id, record_id
