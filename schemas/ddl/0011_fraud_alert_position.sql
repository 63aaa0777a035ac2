-- Where an alert version stands in the fraud-events stream (issue #6): the partition of the entity's events
-- and the offset through which the version has taken them into account. After a restart the detector
-- continues a restored episode from exactly there (events after that offset are new to it, whatever their
-- times), instead of guessing from the window's end time. Rows of earlier versions read -1 (unknown).
ALTER TABLE fraud_alerts ADD COLUMN IF NOT EXISTS events_partition Int32 DEFAULT -1 AFTER facts;
ALTER TABLE fraud_alerts ADD COLUMN IF NOT EXISTS events_offset Int64 DEFAULT -1 AFTER events_partition;
