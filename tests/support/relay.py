"""Helpers for the relay's tests: settings for a test's world, outbox rows, what Kafka holds.

Every read of Kafka here goes through a read_committed consumer up to the end of each
partition (the last stable offset), so it shows exactly what a consumer of the topic would
ever see: nothing aborted, nothing missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiopg
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition

from services.order import queries as order_queries
from services.relay.settings import RelaySettings
from shared.kafka import read_committed_consumer, transactional_producer

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


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
                                          self._settings.relay_transactional_id)
        self.made.append(producer)
        return producer

    async def stop_all(self) -> None:
        """Stop every producer made, even fenced ones (whose stop may complain)."""
        for producer in self.made:
            with contextlib.suppress(Exception):  # a fenced zombie may complain
                await producer.stop()


async def insert_event(
    pool: aiopg.Pool, aggregate_id: str, sequence: int, *, cur: aiopg.Cursor | None = None
) -> str:
    """Insert one outbox row straight into the table (for volume); return its event id."""
    event_id = str(uuid.uuid4())
    params = {
        "event_id": event_id,
        "aggregate_type": "order",
        "aggregate_id": aggregate_id,
        "event_type": "OrderTestStep",
        "schema_version": 1,
        "payload": json.dumps({"event_id": event_id, "aggregate_id": aggregate_id,
                               "sequence": sequence}),
        "traceparent": None,
    }
    if cur is not None:
        await cur.execute(order_queries.INSERT_OUTBOX, params)
        return event_id
    async with pool.acquire() as conn, conn.cursor() as own:
        await own.execute(order_queries.INSERT_OUTBOX, params)
    return event_id


@dataclass(frozen=True)
class StoredRow:
    """An outbox row as the database holds it."""

    id: int
    event_id: str
    aggregate_id: str
    event_type: str
    payload: str
    traceparent: str | None
    published: bool


async def outbox_rows(pool: aiopg.Pool) -> list[StoredRow]:
    """Every outbox row, by id."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT id, event_id::text, aggregate_id, event_type, payload::text, traceparent,"
            " published_at IS NOT NULL FROM outbox ORDER BY id")
        return [StoredRow(*row) for row in await cur.fetchall()]


async def unpublished_count(pool: aiopg.Pool) -> int:
    """How many outbox rows are still waiting for the relay."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        row = await cur.fetchone()
        return int(row[0])


async def read_all(settings: RelaySettings) -> list[ConsumerRecord]:
    """Every committed record of the events topic, partition by partition, in offset order."""
    consumer = read_committed_consumer(settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.order_events_topic, p)
                      for p in range(settings.order_events_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in partitions}
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(*partitions, timeout_ms=200)
            for tp, records in batches.items():
                found[tp].extend(record for record in records if record.offset < ends[tp])
        return [record for tp in partitions for record in found[tp]]
    finally:
        await consumer.stop()


def header(record: ConsumerRecord, name: str) -> str | None:
    """A record header as text, or None if absent."""
    for key, value in record.headers:
        if key == name:
            return bytes(value).decode()
    return None


def event_id_counts(records: list[ConsumerRecord]) -> Counter[str]:
    """How often each event id appears among `records`."""
    return Counter(header(record, "event_id") or "" for record in records)
