"""Every SQL statement on the outbox table."""

INSERT = """
INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, schema_version,
                    payload, traceparent)
VALUES (%(event_id)s, %(aggregate_type)s, %(aggregate_id)s, %(event_type)s, %(schema_version)s,
        %(payload)s::jsonb, %(traceparent)s)
"""

# `payload::text` is Postgres's canonical jsonb text: the very bytes Debezium would publish.
# `skipping` names the rows of a committed batch still being settled (the relay's `Settling`).
SELECT_UNPUBLISHED = """
SELECT id, event_id::text, aggregate_id, event_type, payload::text, traceparent
FROM outbox
WHERE published_at IS NULL AND id <> ALL(%(skipping)s::bigint[])
ORDER BY id
LIMIT %(limit)s
"""

# Both settle statements touch nothing unless the batch's last row still carries the event id
# the checkpoint names: a checkpoint left in Kafka by another database (one dropped and
# re-created in development, say) must never mark unpublished rows of this one.
MARK_PUBLISHED = """
UPDATE outbox SET published_at = now()
WHERE id = ANY(%(ids)s::bigint[])
  AND published_at IS NULL
  AND EXISTS (SELECT 1 FROM outbox WHERE id = %(last_id)s AND event_id = %(last_event_id)s)
"""

DELETE_PUBLISHED = """
DELETE FROM outbox
WHERE id = ANY(%(ids)s::bigint[])
  AND EXISTS (SELECT 1 FROM outbox WHERE id = %(last_id)s AND event_id = %(last_event_id)s)
"""
