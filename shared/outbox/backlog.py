"""How far behind an outbox's publisher is: `outbox_pending_events` and the oldest one's age.

With the polling relay, pending means not published yet. With Debezium, which never marks a
row, it means not confirmed by the connector's replication slot yet (Debezium confirms a WAL
position once Kafka has the records up to it). That is measured with marks: each sample notes
where the WAL ends and the newest outbox id committed by then; once the slot has confirmed a
mark's position, every row up to its id is in Kafka, and the rows after it are the pending
ones. So the figure lags the truth by one sample at most, and reads high rather than low. (A
row whose transaction took an id before a mark but committed after it is counted as
published one sample early; outbox transactions are short.)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import aiopg
from opentelemetry.metrics import Meter

from shared.db import HasPool
from shared.metrics import Readings
from shared.outbox import queries

# Marks older than the newest confirmed one are dropped; this many wait for confirmation.
MAX_MARKS = 100


@dataclass(frozen=True)
class _Mark:
    lsn: int
    last_id: int


class OutboxBacklog:
    """A sampler of one outbox's backlog, for the service that owns the outbox."""

    def __init__(self, database: HasPool, topic: str, meter: Meter, *,
                 slot: str | None = None) -> None:
        self._database = database
        self._topic = topic
        self._slot = slot
        self._marks: deque[_Mark] = deque(maxlen=MAX_MARKS)
        self._confirmed: _Mark | None = None
        self.pending = Readings(meter, "outbox.pending.events", unit="{event}",
                                description="Outbox rows not published yet.")
        self.oldest_age = Readings(meter, "outbox.oldest_pending.age", unit="s",
                                   description="Age of the oldest outbox row not published.")
        self.retained_wal = (
            Readings(meter, "outbox.slot.retained_wal", unit="By",
                     description="WAL the Debezium replication slot holds back.")
            if slot is not None else None)

    async def __call__(self) -> None:
        """Read the backlog now."""
        async with self._database.pool.acquire() as conn, conn.cursor() as cur:
            if self._slot is None:
                await cur.execute(queries.PENDING)
                count, age = await cur.fetchone()
            else:
                found = await self._slot_backlog(cur, self._slot)
                if found is None:
                    return
                count, age = found
        self.pending.replace([({"topic": self._topic}, float(count))])
        self.oldest_age.replace([({"topic": self._topic}, float(age))])

    async def _slot_backlog(self, cur: aiopg.Cursor, slot: str) -> tuple[int, float] | None:
        await cur.execute(queries.WAL_MARK)
        lsn, last_id = await cur.fetchone()
        self._marks.append(_Mark(lsn_value(lsn), int(last_id)))
        await cur.execute(queries.SLOT_STATE, {"slot": slot})
        state = await cur.fetchone()
        if state is None or state[0] is None:  # no slot (yet): nothing is known
            return None
        confirmed, retained = lsn_value(state[0]), float(state[1])
        assert self.retained_wal is not None
        self.retained_wal.replace([({"slot": slot}, retained)])
        while self._marks and self._marks[0].lsn <= confirmed:
            self._confirmed = self._marks.popleft()
        if self._confirmed is None:  # since this process started, nothing confirmed yet
            return None
        await cur.execute(queries.PENDING_AFTER, {"after_id": self._confirmed.last_id})
        count, age = await cur.fetchone()
        return int(count), float(age)


def lsn_value(lsn: str) -> int:
    """A WAL position as Postgres writes it (`16/B374D848`) as one comparable number."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)
