"""The relays as a service of the Faust app: started after the pools, stopped before them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mode import Service
from opentelemetry import trace

from services.relay.metrics import RelayMetrics
from services.relay.relay import Relay
from services.relay.settings import OutboxRoute, RelaySettings
from shared.resources import PostgresPool

logger = logging.getLogger(__name__)


class RelayService(Service):
    """Runs one `Relay.run` per outbox in the background; a clean stop releases the leases."""

    def __init__(self, outboxes: list[tuple[OutboxRoute, PostgresPool]], settings: RelaySettings,
                 *, tracer: trace.Tracer | None = None, metrics: RelayMetrics | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._outboxes = outboxes
        self._settings = settings
        self._tracer = tracer
        self._metrics = metrics
        self._relays: list[Relay] = []
        self._runs: list[asyncio.Task[None]] = []

    @property
    def relays(self) -> list[Relay]:
        """The running relays, one per outbox; none before start and after stop."""
        return list(self._relays)

    async def on_started(self) -> None:
        for route, database in self._outboxes:
            relay = Relay(database.pool, route, self._settings, tracer=self._tracer,
                          metrics=self._metrics)
            self._relays.append(relay)
            self._runs.append(asyncio.create_task(relay.run(), name=f"relay {route.topic}"))

    async def on_stop(self) -> None:
        runs, self._runs = self._runs, []
        for task in runs:
            task.cancel()
        for task in runs:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        relays, self._relays = self._relays, []
        for relay in relays:
            await relay.close()


class DebeziumNotice(Service):
    """Stands in for the relay when `RELAY_MODE=debezium`: says so once, publishes nothing."""

    async def on_started(self) -> None:
        logger.info("RELAY_MODE=debezium: Debezium (Kafka Connect) relays the outboxes; this "
                    "process publishes nothing and only serves /health")
