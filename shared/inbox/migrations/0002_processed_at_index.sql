-- The retention deletes the oldest dedupe rows, a batch at a time (shared/inbox/retention.py):
-- this index finds them without reading the table, and finds none at once when none is old.
CREATE INDEX IF NOT EXISTS processed_events_processed_at ON processed_events (processed_at);
