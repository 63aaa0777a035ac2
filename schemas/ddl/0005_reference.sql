-- Reference data in ClickHouse (issue #4: "loaded from files and from ClickHouse tables"; issue #5 joins
-- reconciliation and the service-record audit against it). One immutable snapshot per version (the hash of
-- the files, the same rating_version ingredient as when rating reads the files): `cdr-pipeline reference
-- import DIR` inserts every table, then a row in reference_versions, which marks the snapshot complete.
-- The snapshot in force is the newest complete one (ref_current_version); rating with
-- rating.referenceSource = clickhouse reads it and reloads when a newer one appears.
-- Money is Decimal(18, 6); counts are Int32 (-1 means unlimited in plans); dates and times keep their ISO
-- text. Generated once from schemas/reference.ts COLUMNS (key columns are String, the rest Nullable).
CREATE TABLE IF NOT EXISTS reference_versions
(
    version     String,
    source      String,
    row_counts  Map(String, UInt64),
    loaded_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY loaded_at;

CREATE VIEW IF NOT EXISTS ref_current_version AS
SELECT argMax(version, loaded_at) AS version FROM reference_versions;

CREATE TABLE IF NOT EXISTS ref_operator
(
    version       String,
    operator_json String
)
ENGINE = MergeTree
ORDER BY version;

CREATE TABLE IF NOT EXISTS ref_accounts
(
    version String,
    account_id String,
    name Nullable(String),
    class Nullable(String),
    segment Nullable(String),
    address_line Nullable(String),
    city Nullable(String),
    postcode Nullable(String),
    country Nullable(String),
    timezone Nullable(String),
    business_days Nullable(String),
    business_open Nullable(String),
    business_close Nullable(String),
    payment_type Nullable(String),
    created_date Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, account_id);

CREATE TABLE IF NOT EXISTS ref_lines
(
    version String,
    msisdn String,
    imsi Nullable(String),
    account_id Nullable(String),
    line_type Nullable(String),
    status Nullable(String),
    install_date Nullable(String),
    plan Nullable(String),
    region Nullable(String),
    trunk_group Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, msisdn);

CREATE TABLE IF NOT EXISTS ref_features
(
    version String,
    msisdn String,
    code String,
    monthly_charge Decimal(18, 6),
    since Nullable(String),
    target Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, msisdn, code);

CREATE TABLE IF NOT EXISTS ref_feature_catalogue
(
    version String,
    code String,
    name Nullable(String),
    description Nullable(String),
    monthly_charge Decimal(18, 6)
)
ENGINE = MergeTree
ORDER BY (version, code);

CREATE TABLE IF NOT EXISTS ref_plans
(
    version String,
    plan String,
    name Nullable(String),
    line_type Nullable(String),
    payment_type Nullable(String),
    monthly_fee Decimal(18, 6),
    included_minutes Int32,
    included_sms Int32,
    included_data_mb Int32
)
ENGINE = MergeTree
ORDER BY (version, plan);

CREATE TABLE IF NOT EXISTS ref_contracted_rates
(
    version String,
    account_id String,
    prefix String,
    description Nullable(String),
    rate_per_minute Decimal(18, 6),
    setup_fee Decimal(18, 6),
    first_increment_seconds Int32,
    increment_seconds Int32,
    valid_from Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, account_id, prefix);

CREATE TABLE IF NOT EXISTS ref_numbering_plan
(
    version String,
    prefix String,
    min_length Int32,
    max_length Int32,
    country Nullable(String),
    country_code Nullable(String),
    number_class Nullable(String),
    high_risk Bool,
    range_holder Nullable(String),
    description Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, prefix);

CREATE TABLE IF NOT EXISTS ref_cells
(
    version String,
    cell_id UInt64,
    lac Int32,
    plmn String,
    region Nullable(String),
    country Nullable(String),
    lat Float64,
    lon Float64,
    switch Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, plmn, lac, cell_id);

CREATE TABLE IF NOT EXISTS ref_networks
(
    version String,
    plmn String,
    mcc Nullable(String),
    mnc Nullable(String),
    country Nullable(String),
    operator Nullable(String),
    home Bool,
    timezone Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, plmn);

CREATE TABLE IF NOT EXISTS ref_countries
(
    version String,
    country String,
    name Nullable(String),
    country_code Nullable(String),
    timezone Nullable(String)
)
ENGINE = MergeTree
ORDER BY (version, country);

CREATE TABLE IF NOT EXISTS ref_holidays
(
    version String,
    date String,
    name Nullable(String),
    country String
)
ENGINE = MergeTree
ORDER BY (version, date, country);
