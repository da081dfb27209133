-- The inbox's dedupe: an event id is recorded in the same transaction as the change it
-- caused, so an event delivered again finds its id taken and changes nothing.
--
-- IF NOT EXISTS: the inventory database has had this very table from its own first migration.
CREATE TABLE IF NOT EXISTS processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
