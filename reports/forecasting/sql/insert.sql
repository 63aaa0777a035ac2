-- Stores a forecast run (`cdr-pipeline report forecast` and each held-out week of the backtest): the rows of
-- model.sql, which the pipeline puts in place of the {model} marker below (an analyst pastes model.sql there).
-- Point, band and expected value are rounded to micro-units through their decimal text, so no binary-float
-- digits reach the Decimal columns. The same run_id again replaces the run's rows (ReplacingMergeTree, read
-- with FINAL). Parameters: {run_id:String} {run_kind:String} {model_name:String} {origin:DateTime('UTC')}
--             {history_weeks:UInt32}, and those of model.sql
INSERT INTO traffic_forecast (run_id, run_kind, model, origin, history_weeks, target_hour, destination_class, region, metric, currency,
                              point, lower, upper, expected, daily_level, seasonal_index, holiday_factor, share, trend_per_day, holiday)
SELECT
    {run_id:String}, {run_kind:String}, {model_name:String}, {origin:DateTime('UTC')}, {history_weeks:UInt32},
    target_hour, destination_class, region, metric, currency,
    toDecimal64(toString(round(point, 6)), 6),
    toDecimal64(toString(round(lower, 6)), 6),
    toDecimal64(toString(round(upper, 6)), 6),
    toDecimal64(toString(round(expected, 6)), 6),
    daily_level, seasonal_index, holiday_factor, share, trend_per_day, holiday
FROM
(
/*model*/
)
