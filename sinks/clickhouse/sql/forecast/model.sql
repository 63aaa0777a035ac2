-- Traffic forecast, one row per series and future hour (docs/FORECASTING.md; `cdr-pipeline report forecast`).
-- Model "seasonal-trend": forecast = daily_level x seasonal_index x holiday_factor, per series
-- (destination_class, region, metric, currency), where
--   daily_level     level and trend: a line through the series' daily totals of the history, with the slope
--                   common to the seven weekday lines (least squares), extended to the forecast day;
--   seasonal_index  the hour-of-week profile: the history's volume in that hour of the week divided by the
--                   daily level of those days (weekly and daily seasonality in one multiplicative index);
--   holiday_factor  1 on ordinary days. A public holiday is forecast with the Sunday profile, times the ratio
--                   actual / Sunday-like forecast observed on the holidays of the history (1 if none).
-- Holidays (the parameter list plus ref_holidays of the current reference snapshot, home country) are left
-- out of the level, trend and profile fit, so one Easter Monday does not bend a Monday profile.
-- Prediction band: 10% and 90% quantiles of the series' in-sample residuals, standardised by sqrt(fitted)
-- (count-like data: variance grows with the mean), widened by sqrt((n + 1) / (n - 1)) for n history weeks
-- (a profile averaged over n weeks fits its own history better than it predicts a new week).
-- Series: every (destination_class, region) and their totals: destination_class '*' = all classes,
-- region '*' = all regions. Metrics: calls, minutes (billable_seconds / 60), revenue (per currency; summed as
-- Decimal, the model's arithmetic is Float64 - a forecast is an estimate - and the result is rounded to
-- micro-units when stored).
-- Parameters:
--   {origin:DateTime('UTC')}     first forecast hour (the history is the weeks before it)
--   {horizon_hours:UInt32}       hours to forecast
--   {history_weeks:UInt32}       weeks of history to fit (at least 2)
--   {tz:String}                  time zone of the hour-of-week and of holiday dates (e.g. Europe/London)
--   {holidays:Array(Date)}       extra holiday dates (ref_holidays are added)
WITH
hol AS
(
    SELECT arrayDistinct(arrayConcat({holidays:Array(Date)},
        (SELECT groupArray(toDate(date)) FROM ref_holidays
         WHERE version = (SELECT version FROM ref_current_version)
           AND country = (SELECT JSONExtractString(any(operator_json), 'country') FROM ref_operator WHERE version = (SELECT version FROM ref_current_version))))) AS days
),
rolled AS
(
    -- The history summed per hour for each series and its totals (money summed as Decimal).
    SELECT hour, dc, rg, currency, sum(calls) AS calls, sum(billable_seconds) AS seconds, sum(revenue) AS revenue
    FROM agg_traffic_hourly FINAL
    ARRAY JOIN [toString(destination_class), toString(destination_class), '*', '*'] AS dc, [toString(region), '*', toString(region), '*'] AS rg
    WHERE hour >= {origin:DateTime('UTC')} - toIntervalWeek({history_weeks:UInt32}) AND hour < {origin:DateTime('UTC')}
    GROUP BY hour, dc, rg, currency
),
hist AS
(
    SELECT hour, dc, rg, metric, if(metric = 'revenue', currency, '') AS cur, sum(v) AS value
    FROM rolled
    ARRAY JOIN ['calls', 'minutes', 'revenue'] AS metric, [toFloat64(calls), seconds / 60, toFloat64(revenue)] AS v
    WHERE metric != 'revenue' OR currency != ''
    GROUP BY hour, dc, rg, metric, cur
),
series AS
(
    SELECT dc, rg, metric, cur FROM hist GROUP BY dc, rg, metric, cur HAVING sum(value) > 0
),
known AS
(
    -- The history starts at the origin minus the weeks asked for, or where the aggregate starts if later: hours
    -- before the first aggregated hour are unknown, not hours without traffic.
    SELECT greatest({origin:DateTime('UTC')} - toIntervalWeek({history_weeks:UInt32}),
                    (SELECT min(hour) FROM agg_traffic_hourly WHERE hour < {origin:DateTime('UTC')})) AS first_hour
),
hours AS
(
    -- Every hour of the history: local day, day of week, hour of day, hour of the week (0 = Monday 00:00),
    -- x = days from the origin's day, holiday, and fit_day: a whole ordinary day inside the history.
    SELECT hour, day, dow, hod, (dow - 1) * 24 + hod AS how, toFloat64(day - toDate({origin:DateTime('UTC')}, {tz:String})) AS x,
           has((SELECT days FROM hol), day) AS holiday,
           NOT holiday
             AND toDateTime(day, {tz:String}) >= (SELECT first_hour FROM known)
             AND toDateTime(day + 1, {tz:String}) <= {origin:DateTime('UTC')} AS fit_day
    FROM
    (
        SELECT {origin:DateTime('UTC')} - toIntervalHour(number + 1) AS hour, toDate(hour, {tz:String}) AS day,
               toDayOfWeek(hour, 0, {tz:String}) AS dow, toHour(toTimeZone(hour, {tz:String})) AS hod
        FROM numbers(toUInt64({history_weeks:UInt32}) * 168)
    )
    WHERE hour >= (SELECT first_hour FROM known)
),
grid AS
(
    -- Series x history hours, 0 where the aggregate has no row (no traffic that hour).
    SELECT s.dc AS dc, s.rg AS rg, s.metric AS metric, s.cur AS cur, hr.*, h.value AS value
    FROM series AS s
    CROSS JOIN hours AS hr
    LEFT JOIN hist AS h ON h.dc = s.dc AND h.rg = s.rg AND h.metric = s.metric AND h.cur = s.cur AND h.hour = hr.hour
),
-- Each step below adds columns to the hourly rows (window functions, so every step runs once).
daily AS
(
    SELECT *, sum(value) OVER (PARTITION BY dc, rg, metric, cur, day) AS day_total FROM grid
),
centred AS
(
    -- Means over the whole ordinary days of the history: per weekday (x and daily total), and over all of them.
    SELECT *,
           avgIf(x, fit_day) OVER (PARTITION BY dc, rg, metric, cur, dow) AS x_dow,
           avgIf(day_total, fit_day) OVER (PARTITION BY dc, rg, metric, cur, dow) AS total_dow,
           avgIf(x, fit_day) OVER (PARTITION BY dc, rg, metric, cur) AS x_all,
           avgIf(day_total, fit_day) OVER (PARTITION BY dc, rg, metric, cur) AS total_all
    FROM daily
),
trended AS
(
    -- Trend: the least-squares slope common to the seven weekday lines (each day compared with the same weekday
    -- only, so the weekly pattern cannot leak into the trend; 0 with one week of history). Each day's hours
    -- carry the same point, so this is the fit of the daily points.
    SELECT *, if(sumIf((x - x_dow) * (x - x_dow), fit_day) OVER s > 0,
                 sumIf((x - x_dow) * (day_total - total_dow), fit_day) OVER s / sumIf((x - x_dow) * (x - x_dow), fit_day) OVER s,
                 0) AS slope
    FROM centred
    WINDOW s AS (PARTITION BY dc, rg, metric, cur)
),
leveled AS
(
    -- Daily level: the trend line through the mean daily total, as (slope per day, level at the origin's day).
    SELECT *, (slope, total_all - slope * x_all) AS line, greatest(tupleElement(line, 2) + slope * x, 0) AS level FROM trended
),
indexed AS
(
    -- Hour-of-week index: that hour of the week's volume over the daily level of its days (holidays left out).
    SELECT *, if(sumIf(level, NOT holiday) OVER w > 0, sumIf(value, NOT holiday) OVER w / sumIf(level, NOT holiday) OVER w, 0) AS idx
    FROM leveled
    WINDOW w AS (PARTITION BY dc, rg, metric, cur, how)
),
fitted AS
(
    -- In-sample fit of every history hour; a holiday with the Sunday index of the same hour of day.
    SELECT *, level * if(holiday, anyIf(idx, dow = 7) OVER (PARTITION BY dc, rg, metric, cur, hod), idx) AS fit FROM indexed
),
params AS
(
    -- Per series and hour of the week: the trend line, the index, the holiday factor (actual over Sunday-like
    -- fit on the history's holidays; 1 without any) and the residual quantiles of the band.
    SELECT dc, rg, metric, cur, how, any(line) AS line, any(idx) AS idx, any(hf) AS holiday_factor, any(q) AS q
    FROM
    (
        SELECT dc, rg, metric, cur, how, line, idx,
               if(sumIf(fit, holiday) OVER s > 0, sumIf(value, holiday) OVER s / sumIf(fit, holiday) OVER s, 1) AS hf,
               quantilesExactIf(0.1, 0.9)((value - fit) / sqrt(fit), NOT holiday AND fit > 0) OVER s AS q
        FROM fitted
        WINDOW s AS (PARTITION BY dc, rg, metric, cur)
    )
    GROUP BY dc, rg, metric, cur, how
    -- A series without a trend line (no whole ordinary day in the history) is not forecast.
    HAVING isFinite(tupleElement(line, 1)) AND isFinite(tupleElement(line, 2))
),
future AS
(
    -- The forecast hours; a holiday takes the Sunday index of its hour of day.
    SELECT hour, day, holiday, if(holiday, 144 + hod, (dow - 1) * 24 + hod) AS how
    FROM
    (
        SELECT {origin:DateTime('UTC')} + toIntervalHour(number) AS hour, toDate(hour, {tz:String}) AS day,
               toDayOfWeek(hour, 0, {tz:String}) AS dow, toHour(toTimeZone(hour, {tz:String})) AS hod,
               has((SELECT days FROM hol), day) AS holiday
        FROM numbers(toUInt64({horizon_hours:UInt32}))
    )
)
SELECT
    f.hour AS target_hour,
    p.dc AS destination_class,
    p.rg AS region,
    p.metric AS metric,
    p.cur AS currency,
    greatest(tupleElement(p.line, 2) + tupleElement(p.line, 1) * toFloat64(f.day - toDate({origin:DateTime('UTC')}, {tz:String})), 0) AS daily_level,
    p.idx AS seasonal_index,
    if(f.holiday, p.holiday_factor, 1) AS holiday_factor,
    daily_level * seasonal_index * holiday_factor AS point,
    -- Band: residual quantiles (10%, 90%; standardised by sqrt(fit)) widened by sqrt((n + 1) / (n - 1)).
    sqrt(({history_weeks:UInt32} + 1) / greatest({history_weeks:UInt32} - 1, 1)) AS widen,
    greatest(point + least(ifNotFinite(p.q[1], 0), 0) * widen * sqrt(point), 0) AS lower,
    point + greatest(ifNotFinite(p.q[2], 0), 0) * widen * sqrt(point) AS upper,
    f.holiday AS holiday,
    tupleElement(p.line, 1) AS trend_per_day
FROM future AS f
INNER JOIN params AS p ON p.how = f.how
ORDER BY metric, destination_class, region, currency, target_hour
