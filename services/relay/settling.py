"""Settling the last published batch while the next one is fetched and packed."""

from __future__ import annotations

import asyncio

import aiopg

from services.relay.checkpoint import Checkpoint
from shared.outbox.publishing import Retention, settle


async def settle_checkpoint(pool: aiopg.Pool, checkpoint: Checkpoint, retention: Retention) -> int:
    """Settle the rows a committed checkpoint names; return how many changed."""
    return await settle(pool, checkpoint.outbox_ids, checkpoint.last_event_id, retention)


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
        self._task = asyncio.create_task(settle_checkpoint(self._pool, checkpoint, self._retention))
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
