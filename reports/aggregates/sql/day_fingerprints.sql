-- Per UTC day of [from_day, to_day): the stored row count and the newest _ingested_at of cdrs (no FINAL: any
-- insert, replay or re-rating changes one of them), beside what the last aggregate refresh of the day saw, and
-- the reference snapshot the day was built with beside the one in force (ref_current_version).
-- A day is stale when its CDRs differ, when it was never refreshed, when its CDRs are gone, or when it was built
-- with another reference snapshot than the one in force (reference_stale: `reference import` of new networks,
-- lines or holidays; the aggregates read ref_networks and ref_lines).
WITH (SELECT version FROM ref_current_version) AS current_reference
SELECT
    day,
    c.rows AS cdr_rows,
    c.newest AS max_ingested_at,
    r.rows AS refreshed_cdr_rows,
    r.newest AS refreshed_max_ingested_at,
    r.reference_version AS built_with_reference,
    current_reference AS reference_version,
    r.rows > 0 AND r.reference_version != current_reference AS reference_stale,
    c.rows != r.rows OR c.newest != r.newest OR reference_stale AS stale
FROM
(
    SELECT toDate(seizure_time) AS day, count() AS rows, max(_ingested_at) AS newest
    FROM cdrs
    WHERE seizure_time >= toDateTime64({from_day:Date}, 3, 'UTC') AND seizure_time < toDateTime64({to_day:Date}, 3, 'UTC')
    GROUP BY day
) AS c
FULL OUTER JOIN
(
    SELECT day, cdr_rows AS rows, max_ingested_at AS newest, reference_version FROM agg_refreshes FINAL
    WHERE day >= {from_day:Date} AND day < {to_day:Date} AND cdr_rows > 0
) AS r USING (day)
ORDER BY day
