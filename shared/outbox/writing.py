"""Writing an event to the outbox, inside the caller's own transaction."""

from __future__ import annotations

import aiopg

from shared.events import Envelope
from shared.outbox import queries


async def write(cursor: aiopg.Cursor, event: Envelope, traceparent: str | None) -> None:
    """Add `event` to the outbox in the transaction `cursor` is in.

    It is published only if that transaction commits, and then exactly once. `traceparent`
    (the writer's current span, usually `shared.tracing.current_traceparent()`) is where the
    event's trace continues: the relay's publish span and every consumer's are its children.
    """
    await cursor.execute(queries.INSERT, {
        "event_id": event.event_id,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": str(event.aggregate_id),
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "payload": event.model_dump_json(),
        "traceparent": traceparent,
    })
