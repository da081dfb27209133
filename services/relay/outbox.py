"""Reading unpublished outbox rows and settling published ones (marking or deleting them)."""

from __future__ import annotations

from typing import Literal

import aiopg

from services.relay import queries
from services.relay.checkpoint import Checkpoint
from services.relay.records import OutboxRow

Retention = Literal["mark", "delete"]


async def fetch_unpublished(pool: aiopg.Pool, limit: int) -> list[OutboxRow]:
    """Up to `limit` committed, unpublished rows, oldest id first.

    Selecting `published_at IS NULL` every time, rather than resuming after the highest id
    seen, is what publishes a row whose transaction took a lower id but committed late.
    """
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(queries.SELECT_UNPUBLISHED, {"limit": limit})
        return [OutboxRow(*row) for row in await cur.fetchall()]


async def settle(pool: aiopg.Pool, checkpoint: Checkpoint, retention: Retention) -> int:
    """Mark (or delete) the rows a committed batch published; return how many changed.

    Idempotent: settling the same batch again changes nothing. One autocommitted statement,
    so all of the batch's rows are settled or none are.
    """
    statement = queries.MARK_PUBLISHED if retention == "mark" else queries.DELETE_PUBLISHED
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(statement, {
            "ids": list(checkpoint.outbox_ids),
            "last_id": checkpoint.last_id,
            "last_event_id": checkpoint.last_event_id,
        })
        return int(cur.rowcount)
