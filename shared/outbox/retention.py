"""The outbox's retention: delete the rows nobody needs any more, in bounded batches.

A row may go once it is published and older than `OUTBOX_RETENTION`:

- polling relay: published means `published_at` is set (`RELAY_RETENTION=mark`), and the
  row goes once `published_at` is older than the retention (the relay holding the outbox's
  lease does it);
- Debezium: nothing marks a row, so published means that the connector's replication slot
  has confirmed a WAL position past the row's commit; `services.outbox_cleanup` finds the
  oldest transaction still running when it noted that position, and passes it here as
  `confirmed_before`: rows written by older transactions, and before the retention's
  cutoff, go.

Every batch is one autocommitted statement deleting at most `batch_size` rows, so no sweep
holds locks, or a transaction, for long, however many rows it deletes in all.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiopg

from shared.outbox import queries


async def prune(
    pool: aiopg.Pool,
    *,
    older_than: timedelta,
    batch_size: int,
    confirmed_before: int | None = None,
    pause: float = 0.0,
) -> int:
    """Delete the outbox's published rows older than `older_than`; return how many went.

    With `confirmed_before` (a 32-bit transaction id: Debezium), "published" means written
    by a transaction older than it; without, that `published_at` is set. Walks the table in
    id order, `batch_size` rows per statement (`pause` seconds between statements), and stops
    at the first window holding a row younger than the cutoff.
    """
    if confirmed_before is None:
        statement = queries.PRUNE_PUBLISHED
        params: dict[str, object] = {"older_than": older_than, "limit": batch_size}
    else:
        statement = queries.PRUNE_CONFIRMED
        params = {"older_than": older_than, "limit": batch_size,
                  "confirmed_before": confirmed_before}
    deleted = 0
    after = 0
    while True:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(statement, {**params, "after": after})
            pruned, last_id, more = await cur.fetchone()
        deleted += int(pruned)
        if not more or last_id is None:
            return deleted
        after = int(last_id)
        await asyncio.sleep(pause)
