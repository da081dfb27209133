"""Async resources that start and stop with a Faust app (never at import time)."""

from __future__ import annotations

from typing import Any

import aiopg
from mode import Service

from shared.db import close_pool, create_pool


class PostgresPool(Service):
    """An aiopg pool opened when the app starts and closed when it stops."""

    def __init__(self, dsn: str, *, minsize: int = 1, maxsize: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._dsn = dsn
        self._minsize = minsize
        self._maxsize = maxsize
        self._pool: aiopg.Pool | None = None

    @property
    def pool(self) -> aiopg.Pool:
        """The open pool; only valid between start and stop."""
        if self._pool is None:
            raise RuntimeError("the PostgreSQL pool is not open: start the app first")
        return self._pool

    async def on_start(self) -> None:
        self._pool = await create_pool(self._dsn, minsize=self._minsize, maxsize=self._maxsize)

    async def on_stop(self) -> None:
        if self._pool is not None:
            await close_pool(self._pool)
            self._pool = None
