-- A stored forecast run per destination class over the whole horizon (all regions): calls, minutes and
-- revenue (Decimal sums of the hourly points, rounded for reading: calls and minutes to 0.1, revenue to 0.01),
-- and the fitted trend per week as a share of the daily level at the origin. `cdr-pipeline report forecast`
-- prints it. Parameters: {run_id:String}
SELECT
    toString(destination_class) AS destination_class,
    round(sumIf(point, metric = 'calls'), 1) AS calls,
    round(sumIf(point, metric = 'minutes'), 1) AS minutes,
    round(sumIf(point, metric = 'revenue'), 2) AS revenue,
    round(100 * 7 * anyIf(trend_per_day, metric = 'calls') / nullIf(anyIf(daily_level, metric = 'calls' AND target_hour = origin), 0), 2) AS calls_trend_pct_week,
    round(100 * 7 * anyIf(trend_per_day, metric = 'revenue') / nullIf(anyIf(daily_level, metric = 'revenue' AND target_hour = origin), 0), 2) AS revenue_trend_pct_week
FROM traffic_forecast FINAL
WHERE run_id = {run_id:String} AND region = '*'
GROUP BY destination_class
ORDER BY destination_class = '*' DESC, calls DESC
