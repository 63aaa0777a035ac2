-- Enrichment columns (issue #4 item 4): the served line from the customer inventory, where the subscriber
-- was (region and country of the serving cell, roaming with home and visited network), and the other
-- party normalised to E.164 with its class and country. Empty/NULL on rows stored without reference data.
ALTER TABLE cdrs
    ADD COLUMN IF NOT EXISTS line_status            LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS plan                   LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS account_class          LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS serving_region         LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS serving_country        LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS home_country           LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS roaming                UInt8,
    ADD COLUMN IF NOT EXISTS visited_plmn           LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS other_party_e164       Nullable(String),
    ADD COLUMN IF NOT EXISTS other_party_category   LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS other_party_country    LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS other_party_high_risk  UInt8;
