"""The lease that lets exactly one of several relays publish at a time."""

from __future__ import annotations

import time

import aiopg

from services.relay import queries


class Lease:
    """A named lease row in `relay_lease`, held by one relay until it stops renewing it.

    The lease only keeps relays from trampling on each other; correctness does not depend on
    it. Two relays that both believe they hold it still share one transactional id, so the
    later one's producer fences the earlier one's.
    """

    def __init__(self, name: str, holder: str, seconds: float) -> None:
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self._renewed_at: float | None = None  # time.monotonic() of the last renewal

    async def acquire(self, pool: aiopg.Pool) -> bool:
        """Take the lease if it is free or expired, renew it if it is ours; True if we hold it."""
        # One autocommitted statement: no transaction (and no row lock) outlives the call.
        started = time.monotonic()
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(queries.TAKE_LEASE, {
                "name": self.name, "holder": self.holder, "seconds": self.seconds,
            })
            held = await cur.fetchone() is not None
        self._renewed_at = started if held else None
        return held

    async def hold(self, pool: aiopg.Pool) -> bool:
        """Like `acquire`, but while a quarter of the lease has not passed since we last took
        or renewed it, we hold it still: True without asking the database.

        A relay asks before every batch; renewing only now and then keeps a write (and its
        commit) off each batch's path. Nobody else can take the lease before it expires.
        """
        if self._renewed_at is not None and (
            time.monotonic() - self._renewed_at < self.seconds / 4
        ):
            return True
        return await self.acquire(pool)

    async def release(self, pool: aiopg.Pool) -> None:
        """Give the lease up (if we hold it) so that a standby need not wait for it to expire."""
        self._renewed_at = None
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(queries.RELEASE_LEASE, {"name": self.name, "holder": self.holder})
