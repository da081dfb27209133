"""Async resources that start and stop with a Faust app (never at import time)."""

from __future__ import annotations

from typing import Any, cast

import aiopg
from mode import Service
from opentelemetry import trace

from shared.db import close_pool, create_pool
from shared.db_tracing import TracedPool


class PostgresPool(Service):
    """An aiopg pool opened when the app starts and closed when it stops.

    With a `tracer`, each statement run through `pool` is a span of that tracer.
    """

    def __init__(
        self,
        dsn: str,
        *,
        minsize: int = 1,
        maxsize: int = 10,
        tracer: trace.Tracer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._dsn = dsn
        self._minsize = minsize
        self._maxsize = maxsize
        self._tracer = tracer
        self._pool: aiopg.Pool | None = None
        self._traced: TracedPool | None = None

    @property
    def pool(self) -> aiopg.Pool:
        """The open pool (traced if a tracer was given); only valid between start and stop."""
        if self._pool is None:
            raise RuntimeError("the PostgreSQL pool is not open: start the app first")
        if self._traced is not None:
            # Not a subclass, but it answers everything a pool is asked here (`acquire`, ...).
            return cast(aiopg.Pool, self._traced)
        return self._pool

    async def on_start(self) -> None:
        self._pool = await create_pool(self._dsn, minsize=self._minsize, maxsize=self._maxsize)
        if self._tracer is not None:
            self._traced = TracedPool(self._pool, self._tracer, self._dsn)

    async def on_stop(self) -> None:
        if self._pool is not None:
            self._traced = None
            await close_pool(self._pool)
            self._pool = None
