-- Roles of the cdr-pipeline database (issue #17 item 5, "Access"; README "Access"). Least privilege: each role
-- gets the tables (and for some, the columns) its work reads or writes, nothing on the database as a whole.
-- {database} is replaced by `cdr-pipeline migrate --roles` (default cdr). Apply with an administrator of the
-- server (access_management = 1), AFTER `cdr-pipeline migrate` (the views below are created by 0023):
--     cdr-pipeline migrate --roles | clickhouse-client --multiquery
-- then give each user its role, e.g.
--     CREATE USER grafana IDENTIFIED WITH sha256_password BY '...' DEFAULT ROLE cdr_grafana_reader SETTINGS readonly = 1;
--     GRANT cdr_grafana_reader TO grafana;
-- Statements are idempotent (IF NOT EXISTS; a GRANT given twice is one grant). Wildcard table names
-- (`agg_usage_daily__refresh_*`) need ClickHouse 24.10 or later.
-- Validated on every test run with ClickHouse's formatQuery (test/roles.test.ts): embedded ClickHouse (chDB)
-- has access management off and refuses CREATE ROLE, so the grants are not exercised against a server here.
CREATE ROLE IF NOT EXISTS cdr_pipeline_writer;
CREATE ROLE IF NOT EXISTS cdr_grafana_reader;
CREATE ROLE IF NOT EXISTS cdr_billing_analyst;
CREATE ROLE IF NOT EXISTS cdr_fraud_analyst;
CREATE ROLE IF NOT EXISTS cdr_care_agent;
CREATE ROLE IF NOT EXISTS cdr_porting_agent;

-- The main job (`cdr-pipeline run` with clickhouse.migrateOnStart = false; migrations run as an administrator):
-- stores CDRs, dead letters and alerts, reads them back (fraud alert restore, dead-letter replay, staleness of
-- the aggregates), reads the reference snapshot for rating, and refreshes the pre-aggregates: a scratch table
-- per refresh (created, filled, dropped) swapped in with REPLACE/DROP PARTITION (ALTER DELETE + INSERT on the
-- aggregate, SELECT on the scratch). With notifications.enabled the usage notifier beside the job stores and
-- reads back its outbox (usage_notifications).
GRANT SELECT, INSERT ON {database}.cdrs TO cdr_pipeline_writer;
GRANT SELECT, INSERT ON {database}.dead_letters TO cdr_pipeline_writer;
GRANT SELECT, INSERT ON {database}.dead_letter_replays TO cdr_pipeline_writer;
GRANT SELECT, INSERT ON {database}.fraud_alerts TO cdr_pipeline_writer;
GRANT SELECT, INSERT ON {database}.agg_refreshes TO cdr_pipeline_writer;
GRANT SELECT, INSERT, ALTER DELETE ON {database}.agg_usage_daily TO cdr_pipeline_writer;
GRANT SELECT, INSERT, ALTER DELETE ON {database}.agg_traffic_hourly TO cdr_pipeline_writer;
GRANT SELECT, INSERT, ALTER DELETE ON {database}.agg_line_use_daily TO cdr_pipeline_writer;
GRANT CREATE TABLE, DROP TABLE, SELECT, INSERT ON {database}.`agg_usage_daily__refresh_*` TO cdr_pipeline_writer;
GRANT CREATE TABLE, DROP TABLE, SELECT, INSERT ON {database}.`agg_traffic_hourly__refresh_*` TO cdr_pipeline_writer;
GRANT CREATE TABLE, DROP TABLE, SELECT, INSERT ON {database}.`agg_line_use_daily__refresh_*` TO cdr_pipeline_writer;
GRANT SELECT, INSERT ON {database}.usage_notifications TO cdr_pipeline_writer;
GRANT SELECT ON {database}.schema_migrations TO cdr_pipeline_writer;
GRANT SELECT ON {database}.reference_versions TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_current_version TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_operator TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_accounts TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_lines TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_features TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_feature_catalogue TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_plans TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_contracted_rates TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_numbering_plan TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_cells TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_networks TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_countries TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_holidays TO cdr_pipeline_writer;
GRANT SELECT ON {database}.ref_directory_listings TO cdr_pipeline_writer;

-- Grafana (dashboards/*.json): identity-free views (0023), the hourly traffic aggregate and forecasts, the
-- freshness of the aggregates, and for the billing dashboard the invoice lines without the subscriber's
-- number, the called number or the free-text description. Nothing on cdrs: the network panels read
-- network_calls and the billing panels cdrs_billing (both SQL SECURITY DEFINER views).
GRANT SELECT ON {database}.network_calls TO cdr_grafana_reader;
GRANT SELECT ON {database}.cdrs_billing TO cdr_grafana_reader;
GRANT SELECT ON {database}.agg_usage_daily_masked TO cdr_grafana_reader;
GRANT SELECT ON {database}.fraud_alerts_masked TO cdr_grafana_reader;
GRANT SELECT ON {database}.dead_letters_masked TO cdr_grafana_reader;
GRANT SELECT ON {database}.agg_traffic_hourly TO cdr_grafana_reader;
GRANT SELECT ON {database}.agg_refreshes TO cdr_grafana_reader;
GRANT SELECT ON {database}.traffic_forecast TO cdr_grafana_reader;
GRANT SELECT ON {database}.rate_benchmarks TO cdr_grafana_reader;
GRANT SELECT(invoice_id, account_id, period, line_no, charge_type, service, record_id, event_time, destination_class, quantity, unit, unit_price, price_unit, amount, currency, feature_code, imported_at) ON {database}.invoice_lines TO cdr_grafana_reader;
GRANT SELECT(version, account_id, class, segment, payment_type) ON {database}.ref_accounts TO cdr_grafana_reader;
GRANT SELECT ON {database}.ref_current_version TO cdr_grafana_reader;
GRANT SELECT ON {database}.reference_versions TO cdr_grafana_reader;
GRANT SELECT(adjustment_id, state, status, period, account_id, charge_type, service, original_amount, amount, currency, reason, requested_at) ON {database}.care_adjustments TO cdr_grafana_reader;
-- Port-out answers and usage notifications as counts (outcome and codes per day; notifications per measure and
-- threshold): no numbers, account, contact, request or notification id (a notification id is derived from the
-- subscriber's number), no free-text reason.
GRANT SELECT(answered_at, received_at, due_at, outcome, codes, loa, pin_supplied, pin_matched) ON {database}.port_responses TO cdr_grafana_reader;
GRANT SELECT(state, period, measure, threshold_pct, unit, crossed_at, detected_at, published_at) ON {database}.usage_notifications TO cdr_grafana_reader;

-- Billing and revenue-assurance analysts (`report reconcile`, `import invoices|benchmarks`, `reference import`,
-- ad-hoc SQL of reports/reconciliation/sql/): the record-level checks read CDRs with their subscribers; they
-- import invoices (a corrected export deletes the lines it replaces), benchmark rates and reference snapshots.
GRANT SELECT ON {database}.cdrs TO cdr_billing_analyst;
GRANT SELECT, INSERT, ALTER DELETE ON {database}.invoice_lines TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.rate_benchmarks TO cdr_billing_analyst;
GRANT SELECT ON {database}.agg_usage_daily TO cdr_billing_analyst;
GRANT SELECT ON {database}.agg_traffic_hourly TO cdr_billing_analyst;
GRANT SELECT ON {database}.agg_line_use_daily TO cdr_billing_analyst;
GRANT SELECT ON {database}.lines_in_use_daily TO cdr_billing_analyst;
GRANT SELECT ON {database}.agg_refreshes TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.reference_versions TO cdr_billing_analyst;
GRANT SELECT ON {database}.ref_current_version TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_operator TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_accounts TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_lines TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_features TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_feature_catalogue TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_plans TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_contracted_rates TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_numbering_plan TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_cells TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_networks TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_countries TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_holidays TO cdr_billing_analyst;
GRANT SELECT, INSERT ON {database}.ref_directory_listings TO cdr_billing_analyst;
GRANT SELECT ON {database}.cdrs_billing TO cdr_billing_analyst;
GRANT SELECT ON {database}.agg_usage_daily_masked TO cdr_billing_analyst;
GRANT SELECT ON {database}.care_adjustments TO cdr_billing_analyst;

-- The billing analyst reads care adjustments (the grant above: `report reconcile` compares billed - adjusted with
-- rated) but records none: only care agents do.

-- Fraud analysts: alerts with their entities and the evidence CDRs behind them, the reference data that
-- explains a number (numbering plan, lines, cells), the traffic aggregate. No invoices, no write.
GRANT SELECT ON {database}.fraud_alerts TO cdr_fraud_analyst;
GRANT SELECT ON {database}.fraud_alerts_masked TO cdr_fraud_analyst;
GRANT SELECT ON {database}.cdrs TO cdr_fraud_analyst;
GRANT SELECT ON {database}.network_calls TO cdr_fraud_analyst;
GRANT SELECT ON {database}.agg_traffic_hourly TO cdr_fraud_analyst;
GRANT SELECT ON {database}.ref_current_version TO cdr_fraud_analyst;
GRANT SELECT ON {database}.ref_numbering_plan TO cdr_fraud_analyst;
GRANT SELECT ON {database}.ref_lines TO cdr_fraud_analyst;
GRANT SELECT ON {database}.ref_cells TO cdr_fraud_analyst;
GRANT SELECT ON {database}.ref_networks TO cdr_fraud_analyst;

-- Customer care (`report subscriber`): one subscriber's records with their prices and explanations
-- (reports/subscriber/sql/*.sql read only these columns of cdrs, plus the sorting and version columns FINAL
-- reads), the operator's number formats and the line's PBX trunk, the subscriber's daily totals. ClickHouse has
-- no "one subscriber per query" privilege: what an agent looked up is in system.query_log. Agents record
-- adjustments (care_adjustments, care/) on the invoice lines they explain, and read the usage notifications a
-- subscriber received (which threshold, which record crossed it); they write none.
GRANT SELECT(served_msisdn, seizure_time, recording_entity, record_id, event_type, calling_number, called_number, other_party_e164, other_party_category, disposition, duration_ms, billed_usage, usage_amount, usage_unit, cost_total, cost_connect_fee, cost_usage, cost_adjustment, cost_surcharge, currency, rating_status, unrated_reason, tariff_id, tariff_version, rate_id, destination_id, matched_prefix, band, bands, rounding, roaming, roaming_zone, surcharge_rate_id, rating_segments, rating_note, rating_service, record_sequence_number, _ingested_at) ON {database}.cdrs TO cdr_care_agent;
GRANT SELECT ON {database}.agg_usage_daily TO cdr_care_agent;
GRANT SELECT, INSERT ON {database}.care_adjustments TO cdr_care_agent;
GRANT SELECT ON {database}.usage_notifications TO cdr_care_agent;
GRANT SELECT ON {database}.invoice_lines TO cdr_care_agent;
GRANT SELECT ON {database}.ref_current_version TO cdr_care_agent;
GRANT SELECT ON {database}.ref_operator TO cdr_care_agent;
GRANT SELECT(version, msisdn, trunk_group) ON {database}.ref_lines TO cdr_care_agent;

-- Porting desk (`cdr-pipeline port validate`, porting/): answers port-out requests against the customer
-- inventory (the reference snapshot, read like the main job does) and stores every answer for audit
-- (port_responses; earlier answers are read to flag a duplicate request id). Nothing on CDRs, invoices or
-- adjustments. The audit trail is append-only for this role: no ALTER DELETE.
GRANT SELECT, INSERT ON {database}.port_responses TO cdr_porting_agent;
GRANT SELECT ON {database}.schema_migrations TO cdr_porting_agent;
GRANT SELECT ON {database}.reference_versions TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_current_version TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_operator TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_accounts TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_lines TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_features TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_feature_catalogue TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_plans TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_contracted_rates TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_numbering_plan TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_cells TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_networks TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_countries TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_holidays TO cdr_porting_agent;
GRANT SELECT ON {database}.ref_directory_listings TO cdr_porting_agent;
