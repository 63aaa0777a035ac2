-- A stored forecast run per local day, all classes and regions (the '*' total series): the expected calls,
-- minutes and revenue of the day (Decimal sums of the hourly expected values: the mean, which adds up, where the
-- hourly point is a median, which does not), rounded for reading: calls and minutes to 0.1, revenue to 0.01.
-- `cdr-pipeline report forecast` prints it. Parameters: {run_id:String} {tz:String}
SELECT
    toString(toDate(target_hour, {tz:String})) AS day,
    round(sumIf(expected, metric = 'calls'), 1) AS calls,
    round(sumIf(expected, metric = 'minutes'), 1) AS minutes,
    round(sumIf(expected, metric = 'revenue'), 2) AS revenue,
    anyIf(toString(currency), metric = 'revenue') AS currency,
    max(holiday) AS holiday
FROM traffic_forecast FINAL
WHERE run_id = {run_id:String} AND destination_class = '*' AND region = '*'
GROUP BY day
ORDER BY day
