"""The relay's own SQL statements (the outbox's are in `shared/outbox/queries.py`)."""

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
