-- Port-out validation (issue #16; porting/README.md): every answer the losing carrier gave to a port request,
-- for audit. One row per answer: a duplicate (code 200) is an answer too. The PIN is never stored, not even
-- hashed: only whether the one supplied matched (pin_supplied, pin_matched). Money-free; times in UTC.
-- Keyed by (request_id, answered_at): ReplacingMergeTree so a batch inserted twice (retry after a timeout)
-- collapses on the same answer (the insert carries a deduplication token as well).
CREATE TABLE IF NOT EXISTS port_responses
(
    request_id          String,
    answered_at         DateTime64(3, 'UTC'),
    received_at         DateTime64(3, 'UTC'),
    due_at              DateTime64(3, 'UTC'),
    outcome             Enum8('accepted' = 1, 'rejected' = 2),
    codes               Array(LowCardinality(String)),
    reason              String,
    account_id          String,
    telephone_numbers   Array(String),
    requesting_company  String,
    contact_name        String,
    loa                 Bool,
    pin_supplied        Bool,
    pin_matched         Bool,
    source              String
)
ENGINE = ReplacingMergeTree
ORDER BY (request_id, answered_at);
