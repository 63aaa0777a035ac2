-- Totals of a subscriber's records in a period per service and over all services ('all'): records, billed
-- usage in the service's unit and the exact price (Decimal sums of cdrs.cost_total over the deduplicated CDRs,
-- FINAL). Records not rated (yet) or unrated are counted in not_priced; they carry no price. currency lists the
-- currencies of the priced records (one for an account; 'EUR+GBP' would say the sum mixes two).
-- Parameters: as records.sql ({msisdn:String} {from:DateTime64(3, 'UTC')} {to:DateTime64(3, 'UTC')})
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
    WHERE served_msisdn IN ({msisdn:String}, concat('+', {msisdn:String}))
      AND seizure_time >= {from:DateTime64(3, 'UTC')} AND seizure_time < {to:DateTime64(3, 'UTC')}
)
GROUP BY GROUPING SETS ((svc), ())
ORDER BY grouping(svc) = 1, svc
