"""Delete outbox rows once Debezium has them: the outbox retention of RELAY_MODE=debezium.

Debezium reads the outbox from the WAL, not from the table, and never marks a row. A row is
no longer needed once the connector's replication slot has confirmed a WAL position past the
row's commit: Debezium confirms a position only after Kafka has the records up to it, and the
slot is what a restarted connector resumes from. (Rows still matter before that: the
connector's first snapshot reads the unpublished ones, and a lost slot is rebuilt from them.)
Even then a row stays `OUTBOX_RETENTION` after it was written, as the polling relay keeps its
published rows that long.

One sweep of an outbox notes where the WAL ends and which transactions are still open, waits
until the slot has confirmed that position, then deletes, `OUTBOX_CLEANUP_BATCH_SIZE` rows per
statement, every row older than the retention whose inserting transaction had finished by
then (`shared.outbox.retention.prune`). Confirmation needs no clock and no guess about how
long a transaction may take; a missing or lost slot confirms nothing, and nothing is deleted.

Every outbox Debezium publishes is swept, each through its own connector's slot: the order
database's (`DEBEZIUM_SLOT_NAME`) and the inventory's (`DEBEZIUM_INVENTORY_SLOT_NAME`), or
those `DEBEZIUM_OUTBOXES` names, exactly as `infra/debezium/register.py` reads them.

    python -m services.outbox_cleanup           sweep every OUTBOX_CLEANUP_INTERVAL_SECONDS
    python -m services.outbox_cleanup --check   can it sweep? each database answers and has
                                                its slot (exit 0, else 1 with one line each);
                                                compose's health check of the cleanup
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import aiopg
from pydantic import Field, field_validator

from shared.db import close_pool, create_pool
from shared.durations import format_duration
from shared.logs import configure_logging
from shared.outbox.retention import prune
from shared.settings import OutboxRetentionSettings

logger = logging.getLogger(__name__)

# Where the WAL ends now (every record inserted so far ends before it), and the oldest
# transaction id still running (every older one has committed or aborted, so its commit
# record lies before that WAL position).
SAMPLE = """
SELECT pg_current_wal_insert_lsn()::text, pg_snapshot_xmin(pg_current_snapshot())::text
"""

# NULL when the slot is missing or lost; a lost slot confirms nothing any more.
CONFIRMED = """
SELECT confirmed_flush_lsn >= %(lsn)s::pg_lsn
FROM pg_replication_slots
WHERE slot_name = %(slot)s AND database = current_database() AND wal_status <> 'lost'
"""

# The slot's state: no row when it does not exist.
SLOT_STATE = """
SELECT wal_status FROM pg_replication_slots WHERE slot_name = %(slot)s
  AND database = current_database()
"""

# The outboxes of `infra/debezium/register.py` (its OUTBOXES), by the name DEBEZIUM_OUTBOXES
# uses; tests/unit/test_debezium_cleanup.py keeps the two in step.
OUTBOX_NAMES = ("order", "inventory")


@dataclass(frozen=True)
class CleanedOutbox:
    """One outbox the cleanup sweeps: its database and its connector's replication slot."""

    name: str
    database: str
    slot: str


class OutboxCleanupSettings(OutboxRetentionSettings):
    """Environment variables of the cleanup (see `.env.example`)."""

    relay_mode: Literal["polling", "debezium"] = "polling"
    debezium_slot_name: str = "order_outbox"
    debezium_inventory_slot_name: str = "inventory_outbox"
    # Comma-separated outbox names (order, inventory); empty: all of them.
    debezium_outboxes: str = ""
    # Debezium confirms on each heartbeat (DEBEZIUM_HEARTBEAT_INTERVAL_MS), so a few of those.
    outbox_cleanup_confirm_timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("debezium_outboxes")
    @classmethod
    def _known_outboxes(cls, value: str) -> str:
        unknown = sorted(set(_names(value)) - set(OUTBOX_NAMES))
        if unknown:
            raise ValueError(f"DEBEZIUM_OUTBOXES names unknown outboxes {', '.join(unknown)}; "
                             f"known: {', '.join(OUTBOX_NAMES)}")
        return value

    def outboxes(self) -> list[CleanedOutbox]:
        """The outboxes to sweep, as DEBEZIUM_OUTBOXES picks them (all by default)."""
        every = {
            "order": CleanedOutbox("order", self.order_db_name, self.debezium_slot_name),
            "inventory": CleanedOutbox("inventory", self.inventory_db_name,
                                       self.debezium_inventory_slot_name),
        }
        return [every[name] for name in _names(self.debezium_outboxes) or OUTBOX_NAMES]


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


async def sweep(
    pool: aiopg.Pool,
    slot: str,
    *,
    confirm_within: float,
    older_than: timedelta = timedelta(0),
    batch_size: int = 1000,
    poll: float = 0.5,
) -> int | None:
    """Delete the rows the slot has confirmed and older than `older_than`, `batch_size` per
    statement; how many. None if the slot confirms nothing within `confirm_within` seconds."""
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
    return await prune(pool, older_than=older_than, batch_size=batch_size,
                       confirmed_before=xmin32)


async def sweep_forever(pool: aiopg.Pool, outbox: CleanedOutbox,
                        settings: OutboxCleanupSettings, retention: timedelta) -> None:
    """Sweep one outbox every OUTBOX_CLEANUP_INTERVAL_SECONDS; a failed sweep is logged."""
    while True:
        try:
            deleted = await sweep(
                pool, outbox.slot, older_than=retention,
                batch_size=settings.outbox_cleanup_batch_size,
                confirm_within=settings.outbox_cleanup_confirm_timeout_seconds)
        except Exception as exc:  # the database restarting, say: the next sweep tries again
            logger.warning("could not sweep the %s outbox (database %s): %s",
                           outbox.name, outbox.database, exc)
        else:
            if deleted is None:
                logger.warning(
                    "replication slot %s (the %s outbox) did not confirm the WAL position "
                    "within %.0fs (connector down, behind or not registered?): nothing deleted",
                    outbox.slot, outbox.name, settings.outbox_cleanup_confirm_timeout_seconds)
            elif deleted:
                logger.info("deleted %d rows of the %s outbox that Debezium has published, "
                            "older than %s", deleted, outbox.name, format_duration(retention))
        await asyncio.sleep(settings.outbox_cleanup_interval_seconds)


async def run(settings: OutboxCleanupSettings) -> None:
    """Sweep every outbox forever; only in debezium mode, where no relay deletes or marks rows."""
    if settings.relay_mode != "debezium":
        raise SystemExit(
            "error: the outbox cleanup runs only with RELAY_MODE=debezium; in polling mode "
            "the relay deletes published rows itself (OUTBOX_RETENTION, RELAY_RETENTION)")
    retention = settings.outbox_retention
    outboxes = settings.outboxes()
    if retention is None:
        logger.info("outbox cleanup started: OUTBOX_RETENTION=forever, nothing to delete")
        await asyncio.Event().wait()  # until stopped
        return
    pools: list[aiopg.Pool] = []
    try:
        for outbox in outboxes:
            pools.append(await create_pool(settings.dsn(outbox.database), maxsize=2))
        logger.info(
            "outbox cleanup started: every %.0fs, rows older than %s that these slots have "
            "confirmed: %s", settings.outbox_cleanup_interval_seconds,
            format_duration(retention),
            ", ".join(f"{outbox.slot} ({outbox.database})" for outbox in outboxes))
        await asyncio.gather(*(sweep_forever(pool, outbox, settings, retention)
                               for pool, outbox in zip(pools, outboxes, strict=True)))
    finally:
        for pool in pools:
            await close_pool(pool)


async def problems(settings: OutboxCleanupSettings) -> list[str]:
    """Why a sweep could not delete anything now, one line per outbox; empty if it could."""
    found = []
    for outbox in settings.outboxes():
        try:
            pool = await create_pool(settings.dsn(outbox.database), maxsize=1)
            try:
                async with pool.acquire() as conn, conn.cursor() as cur:
                    await cur.execute(SLOT_STATE, {"slot": outbox.slot})
                    row = await cur.fetchone()
            finally:
                await close_pool(pool)
        except Exception as exc:  # what the database or the network said, on one line
            found.append(f"the {outbox.name} outbox: database {outbox.database}: "
                         f"{' '.join(str(exc).split())}")
            continue
        if row is None:
            found.append(f"the {outbox.name} outbox: database {outbox.database} has no "
                         f"replication slot {outbox.slot} (connector not registered?)")
        elif row[0] == "lost":
            found.append(f"the {outbox.name} outbox: replication slot {outbox.slot} is lost "
                         "(it fell behind max_slot_wal_keep_size)")
    return found


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m services.outbox_cleanup [--check]`."""
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--check"]):
        print(f"error: unknown arguments {' '.join(args)}; "
              "usage: python -m services.outbox_cleanup [--check]", file=sys.stderr)
        raise SystemExit(2)
    settings = OutboxCleanupSettings()
    if args:
        found = asyncio.run(problems(settings))
        for line in found:
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(1 if found else 0)
    configure_logging(settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
