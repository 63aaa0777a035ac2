-- What a customer service record (CSR) holds (issue #16; docs/REFERENCE-DATA.md): the service address and the
-- hashed account PIN of an account (never the PIN: schemas/pin.ts), the CSR line type and DDI block of a line,
-- how a feature is charged (recurring or one-off), and the directory listings. The columns are Nullable: a
-- snapshot imported from files without them reads null (the files' formats keep them optional).
ALTER TABLE ref_accounts ADD COLUMN IF NOT EXISTS service_address_line Nullable(String);
ALTER TABLE ref_accounts ADD COLUMN IF NOT EXISTS service_city Nullable(String);
ALTER TABLE ref_accounts ADD COLUMN IF NOT EXISTS service_postcode Nullable(String);
ALTER TABLE ref_accounts ADD COLUMN IF NOT EXISTS pin_hash Nullable(String);
ALTER TABLE ref_lines ADD COLUMN IF NOT EXISTS service_type Nullable(String);
ALTER TABLE ref_lines ADD COLUMN IF NOT EXISTS ddi_block Nullable(String);
ALTER TABLE ref_feature_catalogue ADD COLUMN IF NOT EXISTS charge_kind Nullable(String);

CREATE TABLE IF NOT EXISTS ref_directory_listings
(
    version String,
    msisdn String,
    account_id String,
    listing_type Nullable(String),
    listed_name Nullable(String),
    listed_address Nullable(String),
    category Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, account_id, msisdn);
