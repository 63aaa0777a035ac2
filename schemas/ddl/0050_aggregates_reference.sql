-- Aggregates that follow reference data (issue #18; docs/RECONCILIATION.md "Pre-aggregates", "Lines in use").
-- 1. agg_refreshes.reference_version: the reference snapshot (ref_current_version) in force when a day was
--    recomputed. The aggregates read reference data (ref_networks: is a subscriber an inbound roamer; ref_lines:
--    the trunk of a PBX line), so a day built with an older snapshot, or before any, is stale like a day whose
--    CDRs changed: refreshes recompute it, and reports that read it as it is warn (and fail with --strict).
--    Days refreshed before this migration read '' and are recomputed once when a snapshot exists.
ALTER TABLE agg_refreshes ADD COLUMN IF NOT EXISTS reference_version String DEFAULT '' AFTER max_ingested_at;

-- 2. agg_line_use_daily: every number of ours seen in use per UTC day, by role (reports/aggregates/sql/
--    line_use_daily.sql, refreshed with the other aggregates): 'served' (the served party of a CDR) and
--    'pbx-extension' (the calling number of an outgoing, or the called number of an incoming record whose served
--    party is a PBX trunk line of the inventory: switches that write the trunk's pilot number as the served party
--    and the extension (DDI) as calling or called number), with the trunk group of the served line.
CREATE TABLE IF NOT EXISTS agg_line_use_daily
(
    day               Date,
    msisdn            String,
    role              LowCardinality(String),
    trunk_group       LowCardinality(String),
    records           UInt64,
    refreshed_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
-- By month like the other aggregates since 0021 (reports/aggregates/aggregates.ts swaps the recomputed days).
PARTITION BY toYYYYMM(day)
ORDER BY (day, msisdn, role, trunk_group);

-- 3. The convention "a line is in use" in one place, for every report that asks it (the unused-line audit, the
--    CSR audit, analysts): a line of the inventory in force is in use on a day when it was the served party of a
--    CDR, or the extension (calling/called number) of a CDR served by a line of ITS OWN trunk group (a number on
--    another trunk, or no trunk, does not count through someone else's pilot).
CREATE VIEW IF NOT EXISTS lines_in_use_daily AS
SELECT day, msisdn, sum(records) AS records, max(role = 'pbx-extension') AS via_pbx
FROM agg_line_use_daily
WHERE role = 'served'
   OR (role = 'pbx-extension'
       AND (msisdn, trunk_group) IN (SELECT msisdn, assumeNotNull(trunk_group) FROM ref_lines
                                     WHERE version = (SELECT version FROM ref_current_version) AND trunk_group IS NOT NULL))
GROUP BY day, msisdn;
