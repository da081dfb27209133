-- The transactional outbox: written in the same transaction as the change it describes, in
-- every database that has one (the same shape everywhere, so one relay publishes any).
-- `payload` holds the whole event exactly as it goes on Kafka as the record's value; the
-- other columns are what the relay (or Debezium's outbox event router) needs for the key,
-- the headers and the routing.
--
-- Every statement tolerates an outbox that exists already: databases made before the outbox
-- was a building block of its own have this very table from the order service's migrations.
CREATE TABLE IF NOT EXISTS outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    event_type     text NOT NULL,
    schema_version integer NOT NULL,
    payload        jsonb NOT NULL,
    traceparent    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);

-- The relay reads unpublished rows in id order; published rows drop out of this index.
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Wake the relay at commit time instead of waiting for its next poll.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER outbox_notify
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
