-- Views for readers that need no subscriber identity (issue #17 item 5, "Access"; roles in
-- schemas/ddl/roles/roles.sql). Each is SQL SECURITY DEFINER: it runs with the rights of the user that ran the
-- migration, so a role granted SELECT on the view reads it without any grant on the table behind it, and never
-- sees the columns the view leaves out. Grafana's dashboards read these (dashboards/*.json).

-- Voice and SMS legs for network-quality KPIs (dashboards/network-quality.json): no MSISDN, IMSI, IMEI or
-- party number. Deduplicated by GROUP BY (seizure time, switch, record id) rather than FINAL, so a time filter
-- on seizure_time is pushed into the GROUP BY and served by the projection p_network (0022): a 6-hour panel
-- reads 6 hours, not the month. A CDR stored twice (switch resend, replay, re-rating) counts once, as with
-- FINAL; the parts of a long call (partial records, 0040) count as one seizure, as network KPIs count calls.
CREATE VIEW IF NOT EXISTS network_calls
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    seizure_time,
    recording_entity AS switch,
    any(event_type) AS event_type,
    any(disposition) AS disposition,
    max(cause_for_term) AS cause_for_term,
    any(q850_cause) AS q850_cause,
    any(duration_ms) AS duration_ms,
    any(serving_region) AS region,
    any(lac) AS lac,
    any(cell_id) AS cell_id
FROM cdrs
GROUP BY seizure_time, recording_entity, record_id;

-- The daily usage pre-aggregate without the line (msisdn): per account, service, destination class, currency.
-- For dashboards and roles that need totals only (billing overview, revenue panels).
CREATE VIEW IF NOT EXISTS agg_usage_daily_masked
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    day, account_id, service, destination_class, currency, inbound_roamer, records, answered_records, billable_seconds,
    billed_usage, volume_bytes, rated_amount, surcharge_amount, roaming_records, forwarded_records, unrated_records
FROM agg_usage_daily;

-- Fraud alerts at their latest version (FINAL) with subscriber identities masked: MSISDN, IMSI and NUMBER
-- entities keep their first 4 and last 2 digits (enough to tell alerts apart on a wall screen, not to dial
-- or look up a subscriber); RANGE (a number range) and ACCOUNT entities are shown. The evidence record ids stay
-- (they identify CDRs, not people; the fraud analyst role reads them in cdrs).
CREATE VIEW IF NOT EXISTS fraud_alerts_masked
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    alert_id, version, rule, fraud_type, entity_kind,
    if(entity_kind IN ('MSISDN', 'IMSI', 'IMEI', 'NUMBER'),
       concat(left(entity, 4), repeat('*', greatest(length(entity) - 6, 0)), right(entity, 2)), entity) AS entity,
    severity, score, status, first_seen, last_seen, detected_at, window_start, window_end, exposure, currency,
    record_ids, counts
FROM fraud_alerts FINAL;

-- Dead letters without their payload (the original bytes carry the identities of the record): what the
-- overview dashboard and operators' screens show. Latest copy per coordinate (FINAL). Digit runs of 6 or more
-- in the message (a number quoted by a validation message) read [redacted], as in the pipeline's logs
-- (pipeline/redact.ts).
CREATE VIEW IF NOT EXISTS dead_letters_masked
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    code, replaceRegexpAll(message, '\\d{6,}', '[redacted]') AS message, topic, partition, offset, record_timestamp, dead_at,
    length(base64Decode(ifNull(value_base64, ''))) AS value_bytes
FROM dead_letters FINAL;

-- Rated CDRs for the billing and revenue-assurance dashboard (dashboards/billing-assurance.json): account,
-- service, money and the record id invoices refer to, deduplicated (FINAL: the newest rating of each CDR), and
-- no subscriber identity. A time filter on seizure_time reaches the table (partition pruning by month).
CREATE VIEW IF NOT EXISTS cdrs_billing
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT
    seizure_time, record_id, recording_entity AS switch, event_type, account_id, rating_status, rating_service AS service,
    currency, cost_total, cost_surcharge, roaming, visited_plmn
FROM cdrs FINAL;
