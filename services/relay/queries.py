"""Every SQL statement of the relay (it runs against the orders database)."""

# `payload::text` is Postgres's canonical jsonb text: the very bytes Debezium would publish.
# `skipping` names the rows of a committed batch still being settled (`outbox.Settling`).
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

# Take the lease if it is free or expired, or renew it if it is ours: one statement, so two
# relays racing for it cannot both win. A row comes back only to the holder.
TAKE_LEASE = """
INSERT INTO relay_lease AS lease (name, holder, expires_at)
VALUES (%(name)s, %(holder)s, now() + %(seconds)s * interval '1 second')
ON CONFLICT (name) DO UPDATE
    SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE lease.expires_at < now() OR lease.holder = EXCLUDED.holder
RETURNING holder
"""

RELEASE_LEASE = "DELETE FROM relay_lease WHERE name = %(name)s AND holder = %(holder)s"

LISTEN_OUTBOX = "LISTEN outbox"
