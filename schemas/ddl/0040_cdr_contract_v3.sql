-- CDR contract v3 (issue #14; schemas/avro/cdr.v3.avsc): partial records, SMS segments, and the contract v2
-- fields the pipeline now reads.
--
-- Deduplication with partial records. The parts of one long call or data session (TS 32.298 partial
-- records) share served_msisdn, seizure_time, recording_entity and record_id; they differ in
-- recordSequenceNumber. The sorting key of this ReplacingMergeTree is its deduplication key, so it gains
-- record_sequence_number: the parts of a call are kept, while a switch's duplicate of a part (or of a
-- complete record) still collapses. 0 = a complete record (contract v1 and v2 records, and v3 records
-- without a sequence number); parts are 1, 2, ...
--
-- Why this keeps every row: ClickHouse lets MODIFY ORDER BY append a column added in the same ALTER (ClickHouse
-- docs, "Manipulating Key Expressions": only new columns, without a default expression). Existing parts read
-- the new column as 0 and stay sorted, so it is a metadata change: no copy, no merge, no row lost, and rows
-- that were one CDR before (all with sequence 0) are still one after. The primary index stays the old
-- sorting key (a prefix), which look-ups by subscriber and period already use.
ALTER TABLE cdrs
    ADD COLUMN record_sequence_number UInt32 CODEC(T64, ZSTD(1)),
    MODIFY ORDER BY (served_msisdn, seizure_time, recording_entity, record_id, record_sequence_number);

-- TS 32.298 localRecordSequenceNumber, the SMS segment count (1 for earlier rows and for records that are not
-- SMS), the v2 bearer fields, and the v2 Disposition symbol REJECTED (appending an Enum8 value is a metadata
-- change; stored values keep their codes). Codecs as 0020_cdr_storage.sql chose for columns of their kind.
ALTER TABLE cdrs
    ADD COLUMN IF NOT EXISTS local_record_sequence_number Nullable(UInt32) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sms_segments UInt8 DEFAULT 1 CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS charging_id Nullable(UInt32) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS rat_type Nullable(UInt8) CODEC(ZSTD(1)),
    MODIFY COLUMN disposition Enum8('ANSWERED' = 1, 'NO_ANSWER' = 2, 'BUSY' = 3, 'FAILED' = 4, 'CONGESTION' = 5, 'REJECTED' = 6) CODEC(ZSTD(1));
