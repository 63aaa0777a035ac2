-- agg_line_use_daily for the UTC days [from_day, to_day): every number of ours seen in use, per day and role,
-- from the deduplicated CDRs (FINAL). This file is the one definition of which party of a CDR is a line of ours
-- (docs/RECONCILIATION.md "Lines in use"); the view lines_in_use_daily (schemas/ddl/0050) applies the inventory:
--   served         the served party (served_msisdn, a leading '+' dropped);
--   pbx-extension  when the served party is a PBX trunk line of the inventory in force (ref_lines.trunk_group
--                  set), the extension (DDI) the switch wrote beside it: the calling number of an outgoing call
--                  or SMS, the called number of an incoming one, normalised to E.164 digits with the operator's
--                  dialling prefixes (+44..., 0044..., national 020...), when it differs from the served party.
--                  Switches that write the trunk's pilot number as the served party put the extension there;
--                  switches that write the DDI as served party make it equal to the served party (no row).
-- Parameters: from_day, to_day (Date), refreshed_at (DateTime64(3, 'UTC')), as usage_daily.sql.
SELECT
    day,
    msisdn,
    role,
    trunk_group,
    count() AS records,
    {refreshed_at:DateTime64(3, 'UTC')} AS refreshed_at
FROM
(
    SELECT toDate(c.seizure_time) AS day, c.served AS served, c.ext AS ext, t.trunk_group AS tg
    FROM
    (
        WITH (SELECT any(operator_json) FROM ref_operator WHERE version = (SELECT version FROM ref_current_version)) AS op,
             JSONExtractString(op, 'countryCode') AS cc,
             JSONExtractString(op, 'nationalPrefix') AS national,
             JSONExtractString(op, 'internationalPrefix') AS international
        SELECT
            seizure_time,
            if(startsWith(served_msisdn, '+'), substring(served_msisdn, 2), served_msisdn) AS served,
            multiIf(event_type IN ('VOICE_MO', 'SMS_MO'), ifNull(calling_number, ''), event_type IN ('VOICE_MT', 'SMS_MT'), ifNull(called_number, ''), '') AS raw,
            replaceRegexpAll(raw, '[^0-9+]', '') AS compact,
            multiIf(compact = '', '',
                    startsWith(compact, '+'), substring(compact, 2),
                    international != '' AND startsWith(compact, international), substring(compact, length(international) + 1),
                    national != '' AND startsWith(compact, national), concat(cc, substring(compact, length(national) + 1)),
                    compact) AS ext
        FROM cdrs FINAL
        WHERE seizure_time >= toDateTime64({from_day:Date}, 3, 'UTC') AND seizure_time < toDateTime64({to_day:Date}, 3, 'UTC')
    ) AS c
    LEFT JOIN
    (
        SELECT msisdn, assumeNotNull(trunk_group) AS trunk_group FROM ref_lines
        WHERE version = (SELECT version FROM ref_current_version) AND trunk_group IS NOT NULL AND trunk_group != ''
    ) AS t ON c.served = t.msisdn
)
ARRAY JOIN
    [served, if(tg != '' AND ext != '' AND ext != served, ext, '')] AS msisdn,
    ['served', 'pbx-extension'] AS role,
    ['', tg] AS trunk_group
WHERE msisdn != ''
GROUP BY day, msisdn, role, trunk_group
