"""Helpers for the polling relay's tests: its settings for a test's world, its producers, the
rows it has still to publish. Helpers the Debezium tests share are in `tests/support/outbox.py`
(this module is not in a project generated without the polling relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiopg
from aiokafka import AIOKafkaProducer

from services.relay.settings import OutboxRoute, RelaySettings
from shared.kafka import transactional_producer


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, within: float, what: str
) -> None:
    """Poll `condition` until it holds; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


def relay_settings(world_overrides: dict[str, str], **relay: Any) -> RelaySettings:
    """Relay settings for one test's world, with a transactional id no other test shares."""
    values: dict[str, Any] = {
        **world_overrides,
        "relay_transactional_id": f"relay-test-{uuid.uuid4().hex[:12]}",
        "relay_poll_interval_seconds": 0.2,
        **relay,
    }
    return RelaySettings(**values)


class ProducerLog:
    """A producer factory that remembers what it made, so a test can keep a zombie around."""

    def __init__(self, settings: RelaySettings) -> None:
        self._settings = settings
        self.made: list[AIOKafkaProducer] = []

    def __call__(self) -> AIOKafkaProducer:
        producer = transactional_producer(self._settings.kafka_bootstrap_servers,
                                          order_route(self._settings).transactional_id)
        self.made.append(producer)
        return producer

    async def stop_all(self) -> None:
        """Stop every producer made, even fenced ones (whose stop may complain)."""
        for producer in self.made:
            with contextlib.suppress(Exception):  # a fenced zombie may complain
                await producer.stop()


async def unpublished_count(pool: aiopg.Pool) -> int:
    """How many outbox rows are still waiting for the relay."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        row = await cur.fetchone()
        return int(row[0])


def order_route(settings: RelaySettings) -> OutboxRoute:
    """The route of the order service's outbox (the first the settings name)."""
    return settings.routes()[0]
