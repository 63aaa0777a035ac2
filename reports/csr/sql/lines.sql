-- CSR "Lines" with line verification (issue #16): every line of the account in the snapshot in force, its CSR
-- type (ref_lines.service_type; derived from line_type and trunk_group for snapshots without it), status, plan
-- and recurring charge (the plan's monthly fee), and what the CDRs say about it: records and rated amount in
-- the period, the last day of use up to the period's end (agg_usage_daily), and the verification:
--   active         used within the last {unused_days} days of the period
--   idle N days    last used N days before the period's end (N >= {unused_days}: the unused-line audit's)
--   never used     no CDR at all
-- Parameters: {account:String}, {period:String}, {unused_days:UInt32}.
WITH (SELECT version FROM ref_current_version) AS ref_version,
     toDate(concat({period:String}, '-01')) AS period_start, addMonths(period_start, 1) AS period_end
SELECT
    l.msisdn AS msisdn,
    coalesce(l.service_type, multiIf(l.line_type = 'mobile', 'mobile', ifNull(l.trunk_group, '') != '', 'pbx-ddi', 'fixed')) AS line_type,
    ifNull(l.status, '') AS status,
    ifNull(l.plan, '') AS plan,
    ifNull(p.plan_name, '') AS plan_name,
    CAST(ifNull(p.monthly_fee, 0) AS Decimal(18, 6)) AS recurring_charge,
    ifNull(l.install_date, '') AS installed,
    ifNull(l.ddi_block, '') AS ddi_block,
    u.period_records AS records,
    CAST(u.period_rated AS Decimal(18, 6)) AS rated_amount,
    if(u.last_use = toDate(0), '', toString(u.last_use)) AS last_use,
    multiIf(u.last_use = toDate(0), 'never used',
            dateDiff('day', u.last_use, period_end) <= {unused_days:UInt32}, 'active',
            concat('idle ', toString(dateDiff('day', u.last_use, period_end)), ' days')) AS verification
FROM
(
    SELECT msisdn, line_type, trunk_group, service_type, status, plan, install_date, ddi_block
    FROM ref_lines
    WHERE version = ref_version AND account_id = {account:String}
) AS l
LEFT JOIN
(
    SELECT plan, name AS plan_name, monthly_fee FROM ref_plans WHERE version = ref_version
) AS p ON ifNull(l.plan, '') = p.plan
LEFT JOIN
(
    SELECT msisdn,
           sumIf(records, day >= period_start) AS period_records,
           sumIf(rated_amount, day >= period_start) AS period_rated,
           maxIf(day, records > 0) AS last_use
    FROM agg_usage_daily
    WHERE day < period_end
      AND msisdn IN (SELECT msisdn FROM ref_lines WHERE version = ref_version AND account_id = {account:String})
    GROUP BY msisdn
) AS u ON l.msisdn = u.msisdn
ORDER BY line_type, msisdn
