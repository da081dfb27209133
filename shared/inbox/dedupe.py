"""Dedupe by event id, inside the transaction that applies the event."""

from __future__ import annotations

import aiopg

from shared.events import Envelope

# A concurrent duplicate waits on the primary key until the first transaction commits (then
# finds the id taken) or rolls back (then takes it).
CLAIM = """
INSERT INTO processed_events (event_id, event_type) VALUES (%(event_id)s, %(event_type)s)
ON CONFLICT (event_id) DO NOTHING
"""


async def claim(cursor: aiopg.Cursor, event: Envelope) -> bool:
    """Record that `event` is applied in `cursor`'s transaction; False if it already was.

    The caller applies the event only when this returns True, in the same transaction: both
    commit together, or neither does.
    """
    await cursor.execute(CLAIM, {"event_id": event.event_id, "event_type": event.event_type})
    return bool(cursor.rowcount == 1)
