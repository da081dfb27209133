"""Delete outbox rows once Debezium has them: the outbox retention of RELAY_MODE=debezium.

Debezium reads the outbox from the WAL, not from the table, and never marks a row. A row is
no longer needed once the connector's replication slot has confirmed a WAL position past the
row's commit: Debezium confirms a position only after Kafka has the records up to it, and the
slot is what a restarted connector resumes from. (Rows still matter before that: the
connector's first snapshot reads the unpublished ones, and a lost slot is rebuilt from them.)

One sweep notes where the WAL ends and which transactions are still open, waits until the slot
has confirmed that position, then deletes every row whose inserting transaction had finished
by then. That needs no clock and no guess about how long a transaction may take.

    python -m services.outbox_cleanup      sweep every OUTBOX_CLEANUP_INTERVAL_SECONDS
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

import aiopg
from pydantic import Field

from shared.db import close_pool, create_pool, transaction
from shared.logs import configure_logging
from shared.settings import CommonSettings

logger = logging.getLogger(__name__)

# Where the WAL ends now, and the oldest transaction id still running (every older one has
# committed or aborted, so its commit record lies before that WAL position).
SAMPLE = """
SELECT pg_current_wal_lsn()::text, pg_snapshot_xmin(pg_current_snapshot())::text
"""

# NULL when the slot is missing or lost; a lost slot confirms nothing any more.
CONFIRMED = """
SELECT confirmed_flush_lsn >= %(lsn)s::pg_lsn
FROM pg_replication_slots
WHERE slot_name = %(slot)s AND database = current_database() AND wal_status <> 'lost'
"""

# `age` compares transaction ids safely across wraparound: older means larger.
DELETE_CONFIRMED = """
DELETE FROM outbox WHERE age(xmin) > age(%(xmin)s::text::xid)
"""


class OutboxCleanupSettings(CommonSettings):
    """Environment variables of the cleanup (see `.env.example`)."""

    relay_mode: Literal["polling", "debezium"] = "polling"
    debezium_slot_name: str = "order_outbox"
    outbox_cleanup_interval_seconds: float = Field(default=60.0, gt=0)
    # Debezium confirms on each heartbeat (DEBEZIUM_HEARTBEAT_INTERVAL_MS), so a few of those.
    outbox_cleanup_confirm_timeout_seconds: float = Field(default=60.0, gt=0)


async def sweep(
    pool: aiopg.Pool, slot: str, *, confirm_within: float, poll: float = 0.5
) -> int | None:
    """Delete the rows the slot has confirmed; None if it confirms nothing in `confirm_within`s."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(SAMPLE)
        lsn, xmin = await cur.fetchone()
        # The snapshot's xmin is a 64-bit xid8; the row's `xmin` column holds its low 32 bits.
        xmin32 = int(xmin) & 0xFFFFFFFF
        deadline = time.monotonic() + confirm_within
        while True:
            await cur.execute(CONFIRMED, {"lsn": lsn, "slot": slot})
            row = await cur.fetchone()
            if row is not None and row[0]:
                break
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(poll)
    async with transaction(pool) as cur:
        await cur.execute(DELETE_CONFIRMED, {"xmin": xmin32})
        return int(cur.rowcount)


async def run(settings: OutboxCleanupSettings) -> None:
    """Sweep forever; only in debezium mode, where no relay deletes or marks rows."""
    if settings.relay_mode != "debezium":
        raise SystemExit(
            "the outbox cleanup runs only with RELAY_MODE=debezium; in polling "
            "mode the relay settles rows itself (RELAY_RETENTION)"
        )
    pool = await create_pool(settings.dsn(settings.order_db_name), maxsize=2)
    try:
        while True:
            deleted = await sweep(
                pool,
                settings.debezium_slot_name,
                confirm_within=settings.outbox_cleanup_confirm_timeout_seconds,
            )
            if deleted is None:
                logger.warning(
                    "replication slot %s did not confirm the WAL position within "
                    "%.0fs (connector down or behind?): nothing deleted",
                    settings.debezium_slot_name,
                    settings.outbox_cleanup_confirm_timeout_seconds,
                )
            elif deleted:
                logger.info("deleted %d outbox rows that Debezium has published", deleted)
            await asyncio.sleep(settings.outbox_cleanup_interval_seconds)
    finally:
        await close_pool(pool)


def main() -> None:
    """Entry point of `python -m services.outbox_cleanup`."""
    settings = OutboxCleanupSettings()
    configure_logging(settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
