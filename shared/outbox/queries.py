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

# The backlog a polling relay has left: its unpublished rows (the partial index holds them).
PENDING = """
SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
FROM outbox
WHERE published_at IS NULL
"""

# A mark in the WAL: where it ends now, and the newest outbox row committed by then.
WAL_MARK = """
SELECT pg_current_wal_lsn()::text, COALESCE((SELECT max(id) FROM outbox), 0)
"""

# What a Debezium slot has confirmed, and the WAL it holds back; no row when it is missing.
SLOT_STATE = """
SELECT confirmed_flush_lsn::text,
       COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::float8
FROM pg_replication_slots
WHERE slot_name = %(slot)s AND database = current_database()
"""

# Rows past a mark the slot has confirmed: Debezium may not have them in Kafka yet.
PENDING_AFTER = """
SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
FROM outbox
WHERE id > %(after_id)s
"""

# Retention (`shared/outbox/retention.py`): one bounded batch. It walks the table in id order
# from `after`, `limit` rows at a time, and deletes those of the window that may go: published
# before the cutoff (polling), or confirmed by the slot and written before the cutoff
# (Debezium; `age` compares transaction ids safely across wraparound, older is larger). It
# answers how many it deleted, the last id it looked at, and whether to go on: only while the
# whole window was written before the cutoff, since every row after a younger one is younger
# too (near enough: ids are taken at insert, `created_at` at the transaction's start; a row
# left behind goes at the next sweep). Rows that must stay (not published yet, not
# confirmed) are stepped over, so they never stop the walk.
PRUNE_PUBLISHED = """
WITH scanned AS (
    SELECT id, created_at FROM outbox WHERE id > %(after)s ORDER BY id LIMIT %(limit)s
), pruned AS (
    DELETE FROM outbox
    WHERE id = ANY(ARRAY(SELECT id FROM scanned))
      AND published_at < now() - %(older_than)s::interval
    RETURNING 1
)
SELECT (SELECT count(*) FROM pruned),
       (SELECT max(id) FROM scanned),
       (SELECT count(*) FROM scanned
        WHERE created_at < now() - %(older_than)s::interval) = %(limit)s
"""

PRUNE_CONFIRMED = """
WITH scanned AS (
    SELECT id, created_at FROM outbox WHERE id > %(after)s ORDER BY id LIMIT %(limit)s
), pruned AS (
    DELETE FROM outbox
    WHERE id = ANY(ARRAY(SELECT id FROM scanned))
      AND created_at < now() - %(older_than)s::interval
      AND age(xmin) > age(%(confirmed_before)s::text::xid)
    RETURNING 1
)
SELECT (SELECT count(*) FROM pruned),
       (SELECT max(id) FROM scanned),
       (SELECT count(*) FROM scanned
        WHERE created_at < now() - %(older_than)s::interval) = %(limit)s
"""
