-- Dispute look-up (`cdr-pipeline report subscriber`; docs/FORECASTING.md "Dispute look-up"): every record of
-- one subscriber in a period, deduplicated (FINAL: a CDR the switch sent twice, or a replay, shows once, with
-- its newest rating), in time order, with what customer care needs to explain a charge: the other party, the
-- duration, the billed usage, the exact price (Decimal), the tariff, rate and band, and an explanation
-- built from the rating columns (schemas/ddl/0003_rating.sql; docs/TARIFFS.md "every rated CDR explains
-- itself"): connect fee + usage + adjustment + roaming surcharge = price, the segments of a call that
-- crossed bands, and the rating note.
-- Parameters: {msisdn:String} (E.164 digits, as stored), {from:DateTime64(3, 'UTC')} (inclusive),
--             {to:DateTime64(3, 'UTC')} (exclusive), {tz:String} (time zone of the printed times)
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
       AND trunk_group = (SELECT any(trunk_group) FROM ref_lines WHERE version = (SELECT version FROM ref_current_version) AND msisdn = {msisdn:String})) AS trunk_lines,
    -- Care adjustments applied to the line's CDRs (care/README.md): the credit beside the price.
    (SELECT mapFromArrays(groupArray(record_id), groupArray(credited)) FROM
       (SELECT record_id, CAST(sum(amount) AS Decimal(18, 6)) AS credited FROM care_adjustments FINAL
        WHERE status = 'applied' AND record_id != '' AND msisdn IN ({msisdn:String}, concat('+', {msisdn:String})) GROUP BY record_id)) AS adjusted_by_record
SELECT
    formatDateTime(seizure_time, '%Y-%m-%d %H:%i:%S', {tz:String}) AS time,
    toString(event_type) AS type,
    coalesce(other_party_e164, if(event_type IN ('VOICE_MT', 'SMS_MT'), calling_number, called_number), '') AS other_party,
    ifNull(toString(other_party_category), '') AS other_party_class,
    toString(disposition) AS disposition,
    toDecimal64(duration_ms, 3) / 1000 AS duration_s,
    multiIf(usage_unit = 'ms', concat(toString(toDecimal64(billed_usage, 3) / 1000), ' s'),
            usage_unit = 'byte', concat(toString(toDecimal128(billed_usage, 6) / 1000000), ' MB'),
            usage_unit = 'message', concat(toString(billed_usage), ' msg'),
            '') AS billed,
    cost_total AS price,
    adjusted_by_record[record_id] AS adjusted,
    currency,
    toString(rating_status) AS status,
    ifNull(toString(tariff_id), '') AS tariff,
    ifNull(toString(rate_id), '') AS rate,
    ifNull(toString(bands), '') AS band,
    multiIf(
        rating_status = 'NOT_RATED', 'not rated yet: stored without reference data (cdr-pipeline rerate prices it)',
        rating_status = 'UNRATED', concat('not priced: ', ifNull(toString(unrated_reason), '?'), ' (docs/TARIFFS.md "Unrated reasons"); re-priced when the reference data or tariff is fixed'),
        concat(
            ifNull(toString(tariff_id), '?'), ' ', ifNull(toString(tariff_version), ''),
            ', rate ', ifNull(toString(rate_id), '?'),
            ' for ', ifNull(toString(destination_id), '?'),
            if(ifNull(matched_prefix, '') != '', concat(' (prefix ', matched_prefix, ')'), ''),
            ', band ', ifNull(toString(bands), '?'),
            ': ', if(usage_unit = 'ms', concat(toString(toDecimal64(usage_amount, 3) / 1000), ' s'), concat(toString(usage_amount), ' ', usage_unit)), ' used, ',
            if(usage_unit = 'ms', concat(toString(toDecimal64(billed_usage, 3) / 1000), ' s'), concat(toString(billed_usage), ' ', usage_unit)), ' billed',
            if(ifNull(rounding, '') != '', concat(' (rounding ', toString(rounding), ')'), ''),
            '; connect ', toString(cost_connect_fee), ' + usage ', toString(cost_usage),
            if(cost_adjustment != 0, concat(' + adjustment ', toString(cost_adjustment)), ''),
            if(cost_surcharge != 0, concat(' + roaming surcharge ', toString(cost_surcharge), ' (zone ', ifNull(toString(roaming_zone), '?'), ', rate ', ifNull(toString(surcharge_rate_id), '?'), ')'), ''),
            ' = ', toString(cost_total), ' ', currency,
            if(rating_segments IS NOT NULL,
               concat('; segments: ', arrayStringConcat(arrayMap(s -> concat(JSONExtractString(s, 'band'), ' ', JSONExtractString(s, 'rateId'), ' ', if(usage_unit = 'ms', concat(toString(toDecimal64(JSONExtractUInt(s, 'billedUsage'), 3) / 1000), ' s'), concat(toString(JSONExtractUInt(s, 'billedUsage')), ' ', usage_unit)), ' = ', JSONExtractString(s, 'cost')), JSONExtractArrayRaw(ifNull(rating_segments, '[]'))), ', ')),
               ''),
            multiIf(rating_note = 'FREE_BELOW', '; free: below the rate''s free threshold',
                    rating_note = 'NO_USAGE', '; no usage (not answered): nothing to charge',
                    rating_note = 'MINIMUM_CHARGE', '; raised to the rate''s minimum charge',
                    rating_note = 'MAXIMUM_CHARGE', '; capped at the rate''s maximum charge',
                    rating_note IS NOT NULL, concat('; note ', toString(rating_note)),
                    '')
        )
    ) AS explanation,
    recording_entity AS switch,
    record_id,
    if(served_msisdn IN ({msisdn:String}, concat('+', {msisdn:String})), 'served', concat('extension of pilot ', served_msisdn)) AS line_role
FROM cdrs FINAL
WHERE (served_msisdn IN ({msisdn:String}, concat('+', {msisdn:String}))
       OR (has(trunk_lines, served_msisdn)
           AND has(line_forms, multiIf(event_type IN ('VOICE_MO', 'SMS_MO'), ifNull(calling_number, ''), event_type IN ('VOICE_MT', 'SMS_MT'), ifNull(called_number, ''), ''))))
  AND seizure_time >= {from:DateTime64(3, 'UTC')} AND seizure_time < {to:DateTime64(3, 'UTC')}
ORDER BY seizure_time, recording_entity, record_id
