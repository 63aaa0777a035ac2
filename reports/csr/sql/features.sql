-- CSR "Features" (issue #16): every feature provisioned on the account's lines, with its order code, name,
-- how it is charged and its charge, and whether the period's CDRs used it. Features whose use shows in the
-- CDRs (as in reports/reconciliation/sql/unused_features.sql): CFU01, CFB01, CFN01 (forwarded legs by
-- redirection reason), CFI01 (forwarded legs abroad), ROM01 (records made abroad); the others leave no trace
-- per line ('no trace in CDRs').
-- Parameters: {account:String}, {period:String}.
WITH (SELECT version FROM ref_current_version) AS ref_version,
     toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    f.msisdn AS msisdn,
    f.code AS code,
    ifNull(c.feature_name, '') AS name,
    ifNull(c.charge_kind, 'recurring') AS charged,
    f.monthly_charge AS charge,
    ifNull(f.since, '') AS since,
    ifNull(f.target, '') AS target,
    multiIf(f.code NOT IN ('CFU01', 'CFB01', 'CFN01', 'CFI01', 'ROM01'), 'no trace in CDRs',
            multiIf(f.code = 'CFU01', u.cfu, f.code = 'CFB01', u.cfb, f.code = 'CFN01', u.cfn, f.code = 'CFI01', u.fwd_intl, u.roam) > 0, 'used',
            'not used') AS used_in_period
FROM
(
    SELECT msisdn, code, monthly_charge, since, target FROM ref_features
    WHERE version = ref_version AND msisdn IN (SELECT msisdn FROM ref_lines WHERE version = ref_version AND account_id = {account:String})
) AS f
LEFT JOIN
(
    SELECT code, name AS feature_name, charge_kind FROM ref_feature_catalogue WHERE version = ref_version
) AS c ON f.code = c.code
LEFT JOIN
(
    SELECT msisdn, sum(forwarded_cfu) AS cfu, sum(forwarded_cfb) AS cfb, sum(forwarded_cfn) AS cfn,
           sumIf(forwarded_records, destination_class = 'international') AS fwd_intl, sum(roaming_records) AS roam
    FROM agg_usage_daily
    WHERE day >= period_start AND day < period_end
      AND msisdn IN (SELECT msisdn FROM ref_lines WHERE version = ref_version AND account_id = {account:String})
    GROUP BY msisdn
) AS u ON f.msisdn = u.msisdn
ORDER BY msisdn, code
