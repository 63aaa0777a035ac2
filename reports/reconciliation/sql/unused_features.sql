-- Features billed but never used (service-record audit): feature lines of the period with a charge, for features
-- whose use shows in the CDRs, with no such use by the line in the period. The feature -> use mapping:
--   CFU01 unconditional forwarding      forwarded legs (VOICE_FWD) with redirection reason CFU
--   CFB01 forwarding on busy            ... reason CFB
--   CFN01 forwarding on no reply/unreachable  ... reasons CFNRY, CFNRC
--   CFI01 international call forwarding forwarded legs to an international destination
--   ROM01 roaming                       any record made abroad
-- Other features (voicemail, barring, trunk channels, DDI blocks) leave no trace per line and are not audited.
-- amount = the feature's charges in the period. Parameters: {period:String}.
WITH toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    'unused-feature' AS kind,
    f.account_id AS account_id,
    msisdn,
    '' AS record_id,
    '' AS service,
    f.feature_code AS feature_code,
    f.amount AS amount,
    concat('forwarded legs in the period: ', toString(u.fwd), ', made abroad: ', toString(u.roam)) AS detail
FROM
(
    SELECT account_id, msisdn, toString(feature_code) AS feature_code, CAST(sum(amount) AS Decimal(18, 6)) AS amount
    FROM invoice_lines FINAL
    WHERE period = {period:String} AND charge_type = 'feature' AND feature_code IN ('CFU01', 'CFB01', 'CFN01', 'CFI01', 'ROM01')
    GROUP BY account_id, msisdn, feature_code
    HAVING amount > 0
) AS f
LEFT JOIN
(
    SELECT msisdn, sum(forwarded_records) AS fwd, sum(forwarded_cfu) AS cfu, sum(forwarded_cfb) AS cfb, sum(forwarded_cfn) AS cfn,
           sumIf(forwarded_records, destination_class = 'international') AS fwd_intl, sum(roaming_records) AS roam
    FROM agg_usage_daily
    WHERE day >= period_start AND day < period_end
    GROUP BY msisdn
) AS u USING (msisdn)
WHERE multiIf(f.feature_code = 'CFU01', u.cfu, f.feature_code = 'CFB01', u.cfb, f.feature_code = 'CFN01', u.cfn,
              f.feature_code = 'CFI01', u.fwd_intl, u.roam) = 0
ORDER BY account_id, msisdn, feature_code
