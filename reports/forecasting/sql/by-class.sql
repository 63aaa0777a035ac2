-- A stored forecast run per destination class over the whole horizon (all regions; '*' = all classes): the
-- expected calls, minutes and revenue (Decimal sums of the hourly expected values, rounded for reading: calls
-- and minutes to 0.1, revenue to 0.01), the class's share of all calls and its revenue per minute.
-- `cdr-pipeline report forecast` prints it. Parameters: {run_id:String}
SELECT
    toString(destination_class) AS destination_class,
    round(sumIf(expected, metric = 'calls'), 1) AS calls,
    round(sumIf(expected, metric = 'minutes'), 1) AS minutes,
    round(sumIf(expected, metric = 'revenue'), 2) AS revenue,
    anyIf(toString(currency), metric = 'revenue') AS currency,
    round(100 * toFloat64(calls) / nullIf((SELECT sum(toFloat64(expected)) FROM traffic_forecast FINAL
                                           WHERE run_id = {run_id:String} AND metric = 'calls' AND destination_class = '*' AND region = '*'), 0), 2) AS calls_pct,
    round(toFloat64(revenue) / nullIf(toFloat64(minutes), 0), 4) AS revenue_per_minute
FROM traffic_forecast FINAL
WHERE run_id = {run_id:String} AND region = '*'
GROUP BY destination_class
ORDER BY destination_class = '*' DESC, calls DESC
