-- Per UTC day of [from_day, to_day): the stored row count and the newest _ingested_at of cdrs (no FINAL: any
-- insert, replay or re-rating changes one of them), beside what the last aggregate refresh of the day saw.
-- A day is stale when they differ or it was never refreshed; a refreshed day whose CDRs are gone is stale too.
SELECT
    day,
    c.rows AS cdr_rows,
    c.newest AS max_ingested_at,
    r.rows AS refreshed_cdr_rows,
    r.newest AS refreshed_max_ingested_at,
    c.rows != r.rows OR c.newest != r.newest AS stale
FROM
(
    SELECT toDate(seizure_time) AS day, count() AS rows, max(_ingested_at) AS newest
    FROM cdrs
    WHERE seizure_time >= toDateTime64({from_day:Date}, 3, 'UTC') AND seizure_time < toDateTime64({to_day:Date}, 3, 'UTC')
    GROUP BY day
) AS c
FULL OUTER JOIN
(
    SELECT day, cdr_rows AS rows, max_ingested_at AS newest FROM agg_refreshes FINAL
    WHERE day >= {from_day:Date} AND day < {to_day:Date} AND cdr_rows > 0
) AS r USING (day)
ORDER BY day
