-- Traffic forecasts (issue #5 item 4; docs/FORECASTING.md): one row per run, series and future hour, for
-- Grafana and planning. Written by `cdr-pipeline report forecast` (run_kind 'forecast') and by the backtest
-- (run_kind 'backtest', one run per held-out week). run_id is derived from the origin, history and model, so
-- running the same forecast again replaces its rows (ReplacingMergeTree on created_at; read with FINAL).
-- A series is (destination_class, region, metric, currency); '*' is the total over all classes or regions.
-- metric: calls | minutes | revenue; currency is set for revenue only. point, lower, upper: the forecast and
-- its prediction band (10% .. 90%), Decimal like all money here. The explanation of each point is kept:
-- point = daily_level x seasonal_index x holiday_factor.
CREATE TABLE IF NOT EXISTS traffic_forecast
(
    run_id            String,
    run_kind          LowCardinality(String),
    model             LowCardinality(String),
    origin            DateTime('UTC'),
    history_weeks     UInt16,
    target_hour       DateTime('UTC'),
    destination_class LowCardinality(String),
    region            LowCardinality(String),
    metric            LowCardinality(String),
    currency          LowCardinality(String),
    point             Decimal(18, 6),
    lower             Decimal(18, 6),
    upper             Decimal(18, 6),
    daily_level       Float64,
    seasonal_index    Float64,
    holiday_factor    Float64,
    trend_per_day     Float64,
    holiday           UInt8,
    created_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(origin)
ORDER BY (run_id, metric, destination_class, region, currency, target_hour);
