-- Forecast means next to the point (docs/FORECASTING.md): since the topdown-median model, `point` is the median
-- of the hour's forecast distribution (what minimises the absolute error; 0 in hours that are mostly empty),
-- and the median of a sum is not the sum of the medians: sums over hours, classes or regions read `expected`,
-- the mean. `share` explains it: expected = daily_level x seasonal_index x holiday_factor x share (the network
-- curve times the series' expected value per expected network call). Rows of earlier runs, whose point was
-- their mean, read expected = point and share = 1.
ALTER TABLE traffic_forecast ADD COLUMN IF NOT EXISTS expected Decimal(18, 6) DEFAULT point AFTER upper;
ALTER TABLE traffic_forecast ADD COLUMN IF NOT EXISTS share Float64 DEFAULT 1 AFTER holiday_factor;
