"""The relay as a service of the Faust app: started after the pool, stopped before it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mode import Service
from opentelemetry import trace

from services.relay.relay import Relay
from services.relay.settings import RelaySettings
from shared.resources import PostgresPool

logger = logging.getLogger(__name__)


class RelayService(Service):
    """Runs `Relay.run` in the background while the app runs; a clean stop releases the lease."""

    def __init__(self, database: PostgresPool, settings: RelaySettings, *,
                 tracer: trace.Tracer | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._database = database
        self._settings = settings
        self._tracer = tracer
        self._relay: Relay | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def relay(self) -> Relay | None:
        """The running relay, or None before start and after stop."""
        return self._relay

    async def on_started(self) -> None:
        self._relay = Relay(self._database.pool, self._settings, tracer=self._tracer)
        self._task = asyncio.create_task(self._relay.run(), name="outbox-relay")

    async def on_stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        relay, self._relay = self._relay, None
        if relay is not None:
            await relay.close()


class DebeziumNotice(Service):
    """Stands in for the relay when `RELAY_MODE=debezium`: says so once, publishes nothing."""

    async def on_started(self) -> None:
        logger.info("RELAY_MODE=debezium: Debezium (Kafka Connect) relays the outbox; this "
                    "process publishes nothing and only serves /health")
