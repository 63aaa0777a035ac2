-- Time-range reads of the CDRs (issue #17 item 5). cdrs is ordered by subscriber first (subscriber look-ups,
-- dispute and care queries, rerate pages), so a panel over the last hours scanned its whole month: the sorting
-- key cannot serve both. A projection can: p_network keeps the columns of the network-quality KPIs again,
-- ordered by seizure time, inside each part, and ClickHouse reads it instead of the table when a query needs
-- only those columns and filters on time (docs/BENCHMARKS.md "Storage": the 6-hour panel before and after).
-- - Not a skip index: within a part the rows are in subscriber order, so every granule spans the part's whole
--   time range and a minmax index on seizure_time excludes nothing.
-- - Projections are not used with FINAL: time-range readers deduplicate with GROUP BY (seizure_time,
--   recording_entity, record_id) instead (the network_calls view, 0023), which gives FINAL's answer for these
--   columns: a CDR stored twice has the same switch fields (only rating columns differ between versions), and
--   a switch's record id names one CDR whatever the subscriber. The MSISDN is left out of the projection: in
--   time order it compresses badly (measured: it doubled the projection), and no time-range panel needs it.
-- - ReplacingMergeTree refuses projections unless told what a deduplicating merge does to them: `rebuild`
--   recomputes the projection of the merged part, so it never holds a row the table dropped.
-- The sorting key (ORDER BY) is not changed here.
ALTER TABLE cdrs MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE cdrs ADD PROJECTION IF NOT EXISTS p_network
(
    SELECT seizure_time, recording_entity, record_id, event_type, disposition, cause_for_term, q850_cause,
           duration_ms, serving_region, lac, cell_id
    ORDER BY seizure_time
);

-- Existing parts get the projection now (a mutation; new parts get it at insert).
ALTER TABLE cdrs MATERIALIZE PROJECTION p_network SETTINGS mutations_sync = 2;

-- Retention (0024 and `retention.*`, applied by migrate) drops whole parts only, never rewrites one to remove
-- some rows: parts of a partition (a month) expire together.
ALTER TABLE cdrs MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE dead_letters MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE fraud_alerts MODIFY SETTING ttl_only_drop_parts = 1;
