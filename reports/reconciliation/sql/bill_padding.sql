-- Bill padding (issue #16; service-record audit): recurring, feature and one-off charges of the period with no
-- provisioned service, feature or contract behind them, e.g. a "technical support" or "inside wire
-- maintenance" fee nobody ordered. Per account, line, charge type and code:
--   a line's feature, recurring or one-off charge with a code that is not provisioned on that line (ref_features);
--   an account-level charge (no line) with a code no line of the account has, or with no code at all;
--   a line's plan fee (recurring, no code) when the line is ceased.
-- Lines missing from the inventory are left to missing-from-inventory (their charges are all reported there).
-- Usage and surcharge lines are the usage comparison's. amount = the charges. Parameters: {period:String}.
WITH (SELECT version FROM ref_current_version) AS ref_version
SELECT
    'bill-padding' AS kind,
    b.account_id AS account_id,
    b.msisdn AS msisdn,
    '' AS record_id,
    '' AS service,
    b.feature_code AS feature_code,
    b.charged AS amount,
    concat(b.charge_type, ' charge ', if(b.feature_code != '', b.feature_code, '(no code)'), ' "', b.description, '", ', toString(b.lines), ' line(s), ',
           multiIf(b.feature_code = '' AND b.msisdn != '' AND b.charge_type = 'recurring', 'plan fee of a ceased line',
                   b.feature_code = '', 'no service behind it',
                   b.msisdn = '', 'no line of the account has the feature',
                   'the feature is not provisioned on the line')) AS detail
FROM
(
    -- Less what care adjustments credited on the lines (care/README.md): a charge credited in full is not reported.
    SELECT il.account_id AS account_id, il.msisdn AS msisdn, toString(il.charge_type) AS charge_type, toString(il.feature_code) AS feature_code,
           CAST(sum(il.amount) - sum(a.adjusted) AS Decimal(18, 6)) AS charged, count() AS lines, any(il.description) AS description
    FROM invoice_lines AS il FINAL
    LEFT JOIN (
        SELECT account_id, invoice_id, line_no, sum(amount) AS adjusted
        FROM care_adjustments FINAL
        WHERE period = {period:String} AND status = 'applied'
        GROUP BY account_id, invoice_id, line_no
    ) AS a ON il.account_id = a.account_id AND il.invoice_id = a.invoice_id AND il.line_no = a.line_no
    WHERE il.period = {period:String} AND il.charge_type IN ('recurring', 'feature', 'one-off') AND il.amount > 0
    GROUP BY account_id, msisdn, charge_type, feature_code
    HAVING charged > 0
) AS b
LEFT JOIN
(
    SELECT msisdn, 1 AS known, ifNull(status, '') AS status FROM ref_lines WHERE version = ref_version
) AS l ON b.msisdn = l.msisdn
WHERE (b.msisdn = '' OR l.known = 1)
  AND multiIf(
        b.feature_code = '' AND b.msisdn != '' AND b.charge_type = 'recurring', l.status = 'ceased',
        b.feature_code = '', 1,
        b.msisdn != '', (b.msisdn, b.feature_code) NOT IN (SELECT msisdn, code FROM ref_features WHERE version = ref_version),
        (b.account_id, b.feature_code) NOT IN (
            SELECT ifNull(rl.account_id, ''), rf.code
            FROM ref_features AS rf
            INNER JOIN (SELECT msisdn, account_id FROM ref_lines WHERE version = ref_version) AS rl ON rf.msisdn = rl.msisdn
            WHERE rf.version = ref_version))
ORDER BY account_id, msisdn, feature_code
