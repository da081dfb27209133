"""The relays as a service of the Faust app: started after the pools, stopped before them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiopg
from mode import Service
from opentelemetry import trace

from services.relay.metrics import RelayMetrics
from services.relay.relay import Relay
from services.relay.settings import OutboxRoute, RelaySettings
from shared.durations import format_duration
from shared.outbox.retention import prune
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

    def publishing(self) -> list[tuple[OutboxRoute, aiopg.Pool]]:
        """The outboxes this process publishes now (it holds their lease), with their pools."""
        return [(relay.route, database.pool)
                for relay, (_route, database) in zip(self._relays, self._outboxes, strict=False)
                if relay.is_publishing]

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


class OutboxRetention(Service):
    """Deletes the published rows older than `OUTBOX_RETENTION` of the outboxes being published.

    Every `OUTBOX_CLEANUP_INTERVAL_SECONDS`, for each outbox whose lease this process holds
    (`publishing`): one relay of several does it, the one publishing. In batches of
    `OUTBOX_CLEANUP_BATCH_SIZE` (`shared.outbox.retention.prune`). `counted`, if given, is
    called with each outbox's topic and the number of rows its sweep deleted.
    """

    def __init__(self, publishing: Callable[[], list[tuple[OutboxRoute, aiopg.Pool]]],
                 settings: RelaySettings, *,
                 counted: Callable[[str, int], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._publishing = publishing
        self._settings = settings
        self._counted = counted
        self._sweeps: asyncio.Task[None] | None = None

    async def on_started(self) -> None:
        retention = self._settings.outbox_retention
        if retention is not None:
            self._sweeps = asyncio.create_task(self._sweep_forever(retention),
                                               name="outbox retention")

    async def on_stop(self) -> None:
        task, self._sweeps = self._sweeps, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def sweep(self) -> int:
        """Delete, now, what the retention lets go of the outboxes being published; how many."""
        retention = self._settings.outbox_retention
        if retention is None:
            return 0
        total = 0
        for route, pool in self._publishing():
            deleted = await prune(pool, older_than=retention,
                                  batch_size=self._settings.outbox_cleanup_batch_size)
            if self._counted is not None:
                self._counted(route.topic, deleted)
            if deleted:
                logger.info("deleted %d outbox rows of %s published more than %s ago",
                            deleted, route.topic, format_duration(retention))
            total += deleted
        return total

    async def _sweep_forever(self, retention: timedelta) -> None:
        while True:
            await asyncio.sleep(self._settings.outbox_cleanup_interval_seconds)
            try:
                await self.sweep()
            except Exception as exc:  # the next sweep tries again; publishing goes on
                logger.warning("could not delete outbox rows published more than %s ago: %s",
                               format_duration(retention), exc)
