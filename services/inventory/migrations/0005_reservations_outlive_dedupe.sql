-- A reservation keeps the id of the event that made it, but no longer as a foreign key: the
-- inbox deletes dedupe rows (processed_events) older than DEDUPE_RETENTION, while a
-- reservation stays as long as its order (shared/inbox/retention.py).
ALTER TABLE reservations DROP CONSTRAINT IF EXISTS reservations_event_id_fkey;
