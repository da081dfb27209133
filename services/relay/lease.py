"""The lease that lets exactly one of several relays publish at a time."""

from __future__ import annotations

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

    async def acquire(self, pool: aiopg.Pool) -> bool:
        """Take the lease if it is free or expired, renew it if it is ours; True if we hold it."""
        # One autocommitted statement: no transaction (and no row lock) outlives the call.
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(queries.TAKE_LEASE, {
                "name": self.name, "holder": self.holder, "seconds": self.seconds,
            })
            return await cur.fetchone() is not None

    async def release(self, pool: aiopg.Pool) -> None:
        """Give the lease up (if we hold it) so that a standby need not wait for it to expire."""
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(queries.RELEASE_LEASE, {"name": self.name, "holder": self.holder})
