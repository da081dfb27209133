"""What a publisher does with an outbox: read the unpublished rows, settle the published ones.

Settling is the retention: `mark` keeps a published row with `published_at` set, `delete`
removes it once published.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

import aiopg

from shared.outbox import queries
from shared.outbox.records import OutboxRow

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
                          {"limit": limit, "skipping": id_array(skipping)})
        return [OutboxRow(*row) for row in await cur.fetchall()]


async def settle(
    pool: aiopg.Pool, outbox_ids: Sequence[int], last_event_id: str, retention: Retention
) -> int:
    """Mark (or delete) the rows a committed batch published; return how many changed.

    `last_event_id` is the event id of the batch's last row (`outbox_ids[-1]`): nothing is
    settled unless that row still carries it. Idempotent: settling the same batch again
    changes nothing. One autocommitted statement, so all of the batch's rows are settled or
    none are.
    """
    statement = queries.MARK_PUBLISHED if retention == "mark" else queries.DELETE_PUBLISHED
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(statement, {
            "ids": id_array(outbox_ids),
            "last_id": outbox_ids[-1],
            "last_event_id": last_event_id,
        })
        return int(cur.rowcount)


def id_array(ids: Collection[int]) -> str:
    """Ids as one array literal ('{1,2,3}'), which Postgres reads in one go.

    psycopg2 would send a list as ARRAY[1,2,3], whose thousand constants take longer to plan
    than the query to run.
    """
    return "{" + ",".join(map(str, ids)) + "}"
