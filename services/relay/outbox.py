"""Reading unpublished outbox rows and settling published ones (marking or deleting them)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Literal

import aiopg

from services.relay import queries
from services.relay.checkpoint import Checkpoint
from services.relay.records import OutboxRow

Retention = Literal["mark", "delete"]


async def fetch_unpublished(
    pool: aiopg.Pool, limit: int, *, skipping: Collection[int] = ()
) -> list[OutboxRow]:
    """Up to `limit` committed, unpublished rows, oldest id first, none of the ids `skipping`.

    Selecting `published_at IS NULL` every time, rather than resuming after the highest id
    seen, is what publishes a row whose transaction took a lower id but committed late.
    """
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(queries.SELECT_UNPUBLISHED,
                          {"limit": limit, "skipping": _id_array(skipping)})
        return [OutboxRow(*row) for row in await cur.fetchall()]


async def settle(pool: aiopg.Pool, checkpoint: Checkpoint, retention: Retention) -> int:
    """Mark (or delete) the rows a committed batch published; return how many changed.

    Idempotent: settling the same batch again changes nothing. One autocommitted statement,
    so all of the batch's rows are settled or none are.
    """
    statement = queries.MARK_PUBLISHED if retention == "mark" else queries.DELETE_PUBLISHED
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(statement, {
            "ids": _id_array(checkpoint.outbox_ids),
            "last_id": checkpoint.last_id,
            "last_event_id": checkpoint.last_event_id,
        })
        return int(cur.rowcount)


def _id_array(ids: Collection[int]) -> str:
    # One array literal ('{1,2,3}'), which Postgres reads in one go: psycopg2 would send a list
    # as ARRAY[1,2,3], whose thousand constants take longer to plan than the query to run.
    return "{" + ",".join(map(str, ids)) + "}"


class Settling:
    """The settling of the last published batch, left to run while the next one is published.

    Settling takes the database a while (every row rewritten, then a commit), and fetching the
    next batch and packing its records need not wait for it: the fetch skips the rows being
    settled (`skipping`). A publisher must `finish` before it commits the next batch: then
    only the last committed batch can ever be unsettled, the one a crash recovery settles.
    """

    def __init__(self, pool: aiopg.Pool, retention: Retention) -> None:
        self._pool = pool
        self._retention = retention
        self._task: asyncio.Task[int] | None = None
        self.skipping: tuple[int, ...] = ()

    def start(self, checkpoint: Checkpoint) -> None:
        """Start settling a committed batch; the previous one must be finished."""
        if self._task is not None:
            raise RuntimeError("the previous batch is still being settled")
        self._task = asyncio.create_task(settle(self._pool, checkpoint, self._retention))
        self.skipping = checkpoint.outbox_ids

    async def finish(self) -> bool:
        """Wait until the batch being settled, if any, is settled (then True), or raise why not."""
        task = self._task
        if task is None:
            return False
        try:
            await asyncio.shield(task)  # a cancelled caller leaves the statement to finish
        finally:
            if task.done():
                self._task, self.skipping = None, ()
        return True

    def abandon(self) -> None:
        """Stop waiting for the batch being settled; it finishes, or fails, on its own."""
        task, self._task, self.skipping = self._task, None, ()
        if task is not None:
            task.add_done_callback(_consume_outcome)


def _consume_outcome(task: asyncio.Task[int]) -> None:
    # Nobody awaits an abandoned settling: take its error, so that asyncio does not report it.
    if not task.cancelled():
        task.exception()
