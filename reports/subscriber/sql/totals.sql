-- Totals of a subscriber's records in a period per service and over all services ('all'): records, billed
-- usage in the service's unit and the exact price (Decimal sums of cdrs.cost_total over the deduplicated CDRs,
-- FINAL). Records not rated (yet) or unrated are counted in not_priced; they carry no price. currency lists the
-- currencies of the priced records (one for an account; 'EUR+GBP' would say the sum mixes two).
-- Parameters: as records.sql ({msisdn:String} {from:DateTime64(3, 'UTC')} {to:DateTime64(3, 'UTC')})
-- Lines in use in any role (docs/RECONCILIATION.md "Lines in use", the convention of lines_in_use_daily): the
-- line's records are those it is the served party of, and those a switch wrote with the trunk's pilot as served
-- party and the line (a PBX extension, DDI) as calling number (outgoing) or called number (incoming).
WITH
    (SELECT any(operator_json) FROM ref_operator WHERE version = (SELECT version FROM ref_current_version)) AS op,
    -- The forms a switch may write the line in as calling/called number (E.164, +E.164, international and national).
    arrayDistinct([{msisdn:String}, concat('+', {msisdn:String}),
                   concat(JSONExtractString(op, 'internationalPrefix'), {msisdn:String}),
                   if(JSONExtractString(op, 'countryCode') != '' AND startsWith({msisdn:String}, JSONExtractString(op, 'countryCode')),
                      concat(JSONExtractString(op, 'nationalPrefix'), substring({msisdn:String}, length(JSONExtractString(op, 'countryCode')) + 1)),
                      {msisdn:String})]) AS line_forms,
    -- The other lines of the line's PBX trunk (ref_lines.trunk_group of the snapshot in force): their pilot.
    (SELECT groupArray(msisdn) FROM ref_lines
     WHERE version = (SELECT version FROM ref_current_version) AND msisdn != {msisdn:String}
       AND trunk_group = (SELECT any(trunk_group) FROM ref_lines WHERE version = (SELECT version FROM ref_current_version) AND msisdn = {msisdn:String})) AS trunk_lines
SELECT
    if(grouping(svc) = 0, svc, 'all') AS service,
    if(grouping(svc) = 0, any(u), '') AS unit,
    count() AS records,
    countIf(rating_status = 'RATED') AS rated,
    countIf(rating_status != 'RATED') AS not_priced,
    if(grouping(svc) = 0, toString(sum(billed)), '') AS billed_usage,
    sum(cost_total) AS price,
    arrayStringConcat(arraySort(groupUniqArrayIf(cur, cur != '')), '+') AS currency
FROM
(
    SELECT
        -- Records stored without rating carry no rating_service: the service their event type implies.
        if(rating_service != '', toString(rating_service),
           multiIf(event_type IN ('VOICE_MO', 'VOICE_FWD'), 'voice', event_type = 'VOICE_MT', 'voice-in',
                   event_type = 'SMS_MO', 'sms', event_type = 'SMS_MT', 'sms-in', 'data')) AS svc,
        multiIf(usage_unit = 'ms', 's', usage_unit = 'byte', 'MB', usage_unit = 'message', 'msg', '') AS u,
        multiIf(usage_unit = 'ms', toDecimal128(billed_usage, 6) / 1000, usage_unit = 'byte', toDecimal128(billed_usage, 6) / 1000000, toDecimal128(billed_usage, 6)) AS billed,
        rating_status, cost_total, toString(currency) AS cur
    FROM cdrs FINAL
    WHERE (served_msisdn IN ({msisdn:String}, concat('+', {msisdn:String}))
           OR (has(trunk_lines, served_msisdn)
               AND has(line_forms, multiIf(event_type IN ('VOICE_MO', 'SMS_MO'), ifNull(calling_number, ''), event_type IN ('VOICE_MT', 'SMS_MT'), ifNull(called_number, ''), ''))))
      AND seizure_time >= {from:DateTime64(3, 'UTC')} AND seizure_time < {to:DateTime64(3, 'UTC')}
)
GROUP BY GROUPING SETS ((svc), ())
ORDER BY grouping(svc) = 1, svc
