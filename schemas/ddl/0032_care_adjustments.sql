-- Care adjustments (issue #16 item 4; care/README.md): credits customer care gave on a disputed charge. One row
-- per state of an adjustment: queued for approval (state 1), then decided (state 2: applied or rejected); an
-- adjustment within the agent's limits is stored decided at once. ReplacingMergeTree(state) keeps the decision
-- (read with FINAL). Who (agent, role, decided_by), why (reason from the catalogue, note), when (requested_at,
-- decided_at) and the original amount of the credited invoice line are on every row; money is Decimal(18, 6).
-- The adjustment id is the key: a submission carries the deduplication token `adjust:<id>:submit` (a decision on
-- a queued one `adjust:<id>:decide`), so a second
-- submission of the same id, even one racing the first, is dropped by ClickHouse at insert; the submitter reads
-- the stored row back and learns from its `submission` nonce whether it was its own (care/adjustments.ts).
CREATE TABLE IF NOT EXISTS care_adjustments
(
    adjustment_id    String,
    state            UInt8,
    status           Enum8('pending-approval' = 1, 'applied' = 2, 'rejected' = 3),
    submission       String,
    period           LowCardinality(String),
    account_id       String,
    msisdn           String,
    invoice_id       String,
    line_no          UInt32,
    charge_type      LowCardinality(String),
    service          LowCardinality(String),
    record_id        String,
    original_amount  Decimal(18, 6),
    amount           Decimal(18, 6),
    currency         LowCardinality(String),
    reason           LowCardinality(String),
    note             String,
    agent            String,
    role             LowCardinality(String),
    requested_at     DateTime64(3, 'UTC'),
    queued_because   String,
    decided_by       String,
    decided_role     LowCardinality(String),
    decided_at       Nullable(DateTime64(3, 'UTC')),
    source           String
)
ENGINE = ReplacingMergeTree(state)
ORDER BY adjustment_id
SETTINGS non_replicated_deduplication_window = 100000;
