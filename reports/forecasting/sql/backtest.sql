-- Backtest errors (docs/FORECASTING.md; `cdr-pipeline report backtest`): the forecasts of the given runs
-- (traffic_forecast, written for held-out weeks) against what happened (agg_traffic_hourly), side by side with
-- the seasonal-naive baseline: the same hour one week earlier, taken from the last week before the origin
-- (for a horizon past a week, the same hour of that last week again).
-- Per metric and level (series = destination_class x region; class = all regions; region = all classes;
-- total), per held-out week and over all of them ('all'):
--   smape  mean of 2|f - a| / (|a| + |f|) over hours (0 where both are 0), in %
--   mape   mean of |f - a| / |a| over hours with a > 0, in %
--   wape   sum |f - a| / sum |a|, in % (volume-weighted; stable on sparse series)
--   coverage share of hours whose actual lies inside the model's prediction band, in %
--   bias   (sum of forecasts - sum of actuals) / sum of actuals, in %: of the model's expected values (what sums
--          over hours, classes and regions read) and of seasonal-naive
-- sMAPE, MAPE and WAPE score the model's point forecast (the median of the hour).
-- Parameters: {run_ids:Array(String)}
WITH
fc AS
(
    SELECT origin, target_hour, toString(destination_class) AS dc, toString(region) AS rg, toString(metric) AS metric, toString(currency) AS cur,
           toFloat64(point) AS f, toFloat64(lower) AS lo, toFloat64(upper) AS hi, toFloat64(expected) AS e,
           target_hour - toIntervalHour(168 * (intDiv(dateDiff('hour', origin, target_hour), 168) + 1)) AS naive_hour
    FROM traffic_forecast FINAL
    WHERE run_id IN {run_ids:Array(String)}
),
rolled AS
(
    SELECT hour, dc, rg, currency, sum(calls) AS calls, sum(billable_seconds) AS seconds, sum(revenue) AS revenue
    FROM agg_traffic_hourly FINAL
    ARRAY JOIN [toString(destination_class), toString(destination_class), '*', '*'] AS dc, [toString(region), '*', toString(region), '*'] AS rg
    WHERE hour >= (SELECT min(naive_hour) FROM fc) AND hour <= (SELECT max(target_hour) FROM fc)
    GROUP BY hour, dc, rg, currency
),
actual AS
(
    SELECT hour, dc, rg, metric, if(metric = 'revenue', currency, '') AS cur, sum(v) AS value
    FROM rolled
    ARRAY JOIN ['calls', 'minutes', 'revenue'] AS metric, [toFloat64(calls), seconds / 60, toFloat64(revenue)] AS v
    WHERE metric != 'revenue' OR currency != ''
    GROUP BY hour, dc, rg, metric, cur
),
points AS
(
    SELECT fc.origin AS origin, fc.metric AS metric,
           multiIf(fc.dc = '*' AND fc.rg = '*', 'total', fc.rg = '*', 'class', fc.dc = '*', 'region', 'series') AS level,
           fc.f AS f, fc.lo AS lo, fc.hi AS hi, fc.e AS e, a.value AS a, n.value AS naive
    FROM fc
    LEFT JOIN actual AS a ON a.dc = fc.dc AND a.rg = fc.rg AND a.metric = fc.metric AND a.cur = fc.cur AND a.hour = fc.target_hour
    LEFT JOIN actual AS n ON n.dc = fc.dc AND n.rg = fc.rg AND n.metric = fc.metric AND n.cur = fc.cur AND n.hour = fc.naive_hour
)
SELECT
    metric,
    level,
    -- grouping(origin) is 1 on the rows summed over every held-out week (SQL-standard GROUPING).
    if(grouping(origin) = 0, formatDateTime(origin, '%Y-%m-%dT%H:%i:%SZ'), 'all') AS held_out,
    count() AS hours,
    round(100 * avg(if(a + f = 0, 0, 2 * abs(f - a) / (abs(a) + abs(f)))), 3) AS smape_model,
    round(100 * avg(if(a + naive = 0, 0, 2 * abs(naive - a) / (abs(a) + abs(naive)))), 3) AS smape_naive,
    round(100 * avgIf(abs(f - a) / a, a > 0), 3) AS mape_model,
    round(100 * avgIf(abs(naive - a) / a, a > 0), 3) AS mape_naive,
    round(100 * sum(abs(f - a)) / sum(abs(a)), 3) AS wape_model,
    round(100 * sum(abs(naive - a)) / sum(abs(a)), 3) AS wape_naive,
    round(100 * avg(a >= lo AND a <= hi), 3) AS coverage,
    round(100 * (sum(e) - sum(a)) / sum(abs(a)), 3) AS bias_expected,
    round(100 * (sum(naive) - sum(a)) / sum(abs(a)), 3) AS bias_naive
FROM points
GROUP BY GROUPING SETS ((metric, level, origin), (metric, level))
ORDER BY metric, indexOf(['total', 'class', 'region', 'series'], level), held_out = 'all', held_out
