-- Traffic forecast, one row per series and future hour (docs/FORECASTING.md; `cdr-pipeline report forecast`).
-- Model "topdown-median": the network's expected calls per hour (level, trend, weekly profile, holidays) times
-- each series' share of it, taken as a distribution over similar hours of the history.
--   1. The network curve: expected voice calls of the whole network (all classes and regions) per hour,
--      network(t) = daily_level x seasonal_index x holiday_factor, where
--        daily_level     a line through the network's daily call totals of the history, with the slope common
--                        to the seven weekday lines (least squares), extended to the forecast day (the trend);
--        seasonal_index  day factor of the weekday (its total over the daily level) x the share of the day in
--                        that hour, pooled over the days of its type (Monday-Friday, Saturday, Sunday);
--        holiday_factor  1 on ordinary days. A public holiday is a Sunday, times actual / Sunday-like fit
--                        observed on the holidays of the history (1 if none).
--   2. Shares: for every series (destination_class, region, metric, currency) and ordinary history hour h,
--      r(h) = value(h) / network(h): calls, minutes or revenue per expected network call, 0 in an hour without
--      traffic. The forecast distribution of the series in a future hour t is network(t) x r over the window
--      of t: the history's ordinary hours of the same day type whose hour of day is t's or next to it
--      (wrapping round midnight): about 60 values for a weekday hour of 4 weeks of history, 12 at weekends.
--        point     network(t) x the median of the window (the lower one of an even count): the value that
--                  minimises the expected absolute error; 0 where most such hours had no traffic, and below the
--                  mean where a few large values (expensive calls: revenue) make the mean;
--        lower,    network(t) x the k-th smallest and the k-th largest of the n values, k = floor(0.1 (n + 1)),
--        upper     at least 1 (a distribution-free 10%..90% interval for the next value), their distance from
--                  the point widened by sqrt(1 + 1/w) for w history weeks (the network curve is estimated too);
--        expected  network(t) x share, share = the mean of the window: the mean, to sum over hours, classes or
--                  regions (the median of a sum is not the sum of the medians). The shares of the classes (or
--                  regions) add up to the total's share exactly: the expected values are coherent.
-- Holidays (the parameter list plus ref_holidays of the current reference snapshot, home country) are left
-- out of the level, trend, profile and share windows, so one Easter Monday does not bend a Monday.
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
    -- Every hour of the history: local day, day of week, hour of day, hour of the week (0 = Monday 00:00), day
    -- type (0 Monday-Friday, 1 Saturday, 2 Sunday), x = days from the origin's day, holiday, and fit_day: a
    -- whole ordinary day inside the history.
    SELECT hour, day, dow, hod, (dow - 1) * 24 + hod AS how, multiIf(dow <= 5, 0, dow = 6, 1, 2) AS dt,
           toFloat64(day - toDate({origin:DateTime('UTC')}, {tz:String})) AS x,
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
-- Step 1, the network curve: each step adds columns to the network's hourly rows (window functions).
net AS
(
    -- Network calls per history hour, 0 where the aggregate has no row (no traffic that hour).
    SELECT hr.*, h.value AS value
    FROM hours AS hr
    LEFT JOIN (SELECT hour, value FROM hist WHERE dc = '*' AND rg = '*' AND metric = 'calls') AS h ON h.hour = hr.hour
),
net_daily AS
(
    SELECT *, sum(value) OVER (PARTITION BY day) AS day_total FROM net
),
net_centred AS
(
    -- Means over the whole ordinary days of the history: per weekday (x and daily total), and over all of them.
    SELECT *,
           avgIf(x, fit_day) OVER (PARTITION BY dow) AS x_dow,
           avgIf(day_total, fit_day) OVER (PARTITION BY dow) AS total_dow,
           avgIf(x, fit_day) OVER () AS x_all,
           avgIf(day_total, fit_day) OVER () AS total_all
    FROM net_daily
),
net_trended AS
(
    -- Trend: the least-squares slope common to the seven weekday lines (each day compared with the same weekday
    -- only, so the weekly pattern cannot leak into the trend; 0 with one week of history).
    SELECT *, if(sumIf((x - x_dow) * (x - x_dow), fit_day) OVER () > 0,
                 sumIf((x - x_dow) * (day_total - total_dow), fit_day) OVER () / sumIf((x - x_dow) * (x - x_dow), fit_day) OVER (),
                 0) AS slope
    FROM net_centred
),
net_leveled AS
(
    -- Daily level: the trend line through the mean daily total, as (slope per day, level at the origin's day).
    SELECT *, (slope, total_all - slope * x_all) AS line, greatest(tupleElement(line, 2) + slope * x, 0) AS level FROM net_trended
),
net_indexed AS
(
    -- Seasonal index of an hour: the weekday's total over the daily level (day factor) x the hour's share of
    -- the day, pooled over the whole ordinary days of the same type (Monday-Friday share one daily shape).
    SELECT *, if(sumIf(level, fit_day) OVER d > 0, 24 * sumIf(value, fit_day) OVER d / sumIf(level, fit_day) OVER d, 0)
              * if(sumIf(value, fit_day) OVER t > 0, sumIf(value, fit_day) OVER th / sumIf(value, fit_day) OVER t, 0) AS idx
    FROM net_leveled
    WINDOW d AS (PARTITION BY dow), t AS (PARTITION BY dt), th AS (PARTITION BY dt, hod)
),
net_fitted AS
(
    -- The network curve over the history; a holiday with the Sunday index of the same hour of day.
    SELECT *, level * if(holiday, anyIf(idx, dow = 7) OVER (PARTITION BY hod), idx) AS fit FROM net_indexed
),
net_params AS
(
    -- The trend line and the holiday factor (actual over Sunday-like fit on the history's holidays; 1 without).
    SELECT any(line) AS line, if(sumIf(fit, holiday) > 0, sumIf(value, holiday) / sumIf(fit, holiday), 1) AS hf
    FROM net_fitted
),
net_index AS
(
    SELECT how, any(idx) AS idx FROM net_fitted GROUP BY how
),
-- Step 2, the shares: every series' history hours as ratios to the network curve, pooled per window.
ratios AS
(
    -- Each ordinary history hour of each series (0 where it had no traffic) over the network curve, counted in
    -- the windows of its own hour of day and the two next to it (same day type).
    SELECT dc, rg, metric, cur, dt, w AS hod, r
    FROM
    (
        SELECT s.dc AS dc, s.rg AS rg, s.metric AS metric, s.cur AS cur, n.dt AS dt, n.hod AS hod, h.value / n.fit AS r
        FROM series AS s
        CROSS JOIN (SELECT hour, dt, hod, fit FROM net_fitted WHERE NOT holiday AND fit > 0) AS n
        LEFT JOIN hist AS h ON h.dc = s.dc AND h.rg = s.rg AND h.metric = s.metric AND h.cur = s.cur AND h.hour = n.hour
    )
    ARRAY JOIN [(hod + 23) % 24, hod, (hod + 1) % 24] AS w
),
windows AS
(
    -- Per series, day type and hour of day: the sorted ratios of the window, their mean, (lower) median and the
    -- k-th smallest and largest (distribution-free 10%..90% interval for the next value).
    SELECT dc, rg, metric, cur, dt, hod, arraySort(groupArray(r)) AS rs, length(rs) AS n, avg(r) AS share,
           rs[intDiv(n - 1, 2) + 1] AS q50,
           greatest(toUInt64(floor(0.1 * (n + 1))), 1) AS k,
           rs[k] AS q_lo, rs[n + 1 - k] AS q_hi
    FROM ratios
    GROUP BY dc, rg, metric, cur, dt, hod
),
future AS
(
    -- The forecast hours with the network curve; a holiday is a Sunday (day type 2, Sunday index) x the factor.
    SELECT f.hour AS hour, f.holiday AS holiday, f.hod AS hod, if(f.holiday, 2, multiIf(f.dow <= 5, 0, f.dow = 6, 1, 2)) AS dt,
           greatest(tupleElement(p.line, 2) + tupleElement(p.line, 1) * toFloat64(f.day - toDate({origin:DateTime('UTC')}, {tz:String})), 0) AS daily_level,
           i.idx AS seasonal_index, if(f.holiday, p.hf, 1) AS holiday_factor, tupleElement(p.line, 1) AS trend_per_day
    FROM
    (
        SELECT {origin:DateTime('UTC')} + toIntervalHour(number) AS hour, toDate(hour, {tz:String}) AS day,
               toDayOfWeek(hour, 0, {tz:String}) AS dow, toHour(toTimeZone(hour, {tz:String})) AS hod,
               has((SELECT days FROM hol), day) AS holiday
        FROM numbers(toUInt64({horizon_hours:UInt32}))
    ) AS f
    CROSS JOIN net_params AS p
    INNER JOIN net_index AS i ON i.how = if(f.holiday, 144 + f.hod, (f.dow - 1) * 24 + f.hod)
    -- No whole ordinary day in the history: no trend line, nothing is forecast (rather than a guess).
    WHERE isFinite(tupleElement(p.line, 1)) AND isFinite(tupleElement(p.line, 2))
)
SELECT
    f.hour AS target_hour,
    s.dc AS destination_class,
    s.rg AS region,
    s.metric AS metric,
    s.cur AS currency,
    f.daily_level AS daily_level,
    f.seasonal_index AS seasonal_index,
    f.holiday_factor AS holiday_factor,
    s.share AS share,
    -- The network's expected calls in the hour; the series' mean, median and band scale with it.
    daily_level * seasonal_index * holiday_factor AS network,
    network * s.share AS expected,
    network * s.q50 AS point,
    greatest(point - (s.q50 - s.q_lo) * network * sqrt(1 + 1 / {history_weeks:UInt32}), 0) AS lower,
    point + (s.q_hi - s.q50) * network * sqrt(1 + 1 / {history_weeks:UInt32}) AS upper,
    f.holiday AS holiday,
    f.trend_per_day AS trend_per_day
FROM future AS f
INNER JOIN windows AS s ON s.dt = f.dt AND s.hod = f.hod
ORDER BY metric, destination_class, region, currency, target_hour
