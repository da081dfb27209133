"""Waking the relay when the outbox changes: PostgreSQL LISTEN/NOTIFY on a dedicated connection."""

from __future__ import annotations

import asyncio

import aiopg

from services.relay import queries


class OutboxListener:
    """Listens on the `outbox` channel, which a trigger notifies when rows are committed."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: aiopg.Connection | None = None

    async def listen(self) -> None:
        """Connect and LISTEN, unless already listening; call before reading the outbox."""
        if self._conn is not None and not self._conn.closed:
            return
        await self.close()
        conn = await aiopg.connect(self._dsn)
        try:
            async with conn.cursor() as cur:
                await cur.execute(queries.LISTEN_OUTBOX)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def wait(self, seconds: float) -> bool:
        """Until a notification arrives or `seconds` pass; True if notified.

        Notifications that piled up meanwhile are consumed too: one wake-up reads them all.
        """
        if self._conn is None or self._conn.closed:
            raise ConnectionError("the outbox listener is not connected")
        notifies = self._conn.notifies
        try:
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that arrives
            # as a notification does, and the relay would then never stop.
            async with asyncio.timeout(seconds):
                await notifies.get()
        except TimeoutError:
            return False
        except Exception:
            await self.close()  # a broken connection: the next `listen` reconnects
            raise
        while not notifies.empty():
            notifies.get_nowait()
        return True

    async def close(self) -> None:
        """Close the connection, if open."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
