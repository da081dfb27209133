"""Order events for tests: built from the real models, produced as the relay produces them.

Records go out in Kafka transactions (key = order id; headers `event_id`, `event_type`,
`traceparent`; value = the event's JSON), and are read back with read_committed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, RecordMetadata

from shared.events import (
    Envelope,
    OrderCancelled,
    OrderCancelledPayload,
    OrderCreated,
    OrderCreatedPayload,
    OrderLine,
)
from shared.kafka import read_committed_consumer, transactional_producer

Headers = list[tuple[str, bytes]]


def order_cancelled(order_id: uuid.UUID, *, event_id: uuid.UUID | None = None) -> OrderCancelled:
    """An `OrderCancelled` for an order."""
    now = datetime.now(UTC)
    return OrderCancelled(
        event_id=event_id or uuid.uuid4(), aggregate_id=order_id, occurred_at=now,
        payload=OrderCancelledPayload(order_id=order_id, cancelled_at=now),
    )


def order_created(*lines: tuple[str, int], event_id: uuid.UUID | None = None,
                  order_id: uuid.UUID | None = None) -> OrderCreated:
    """An `OrderCreated` for a new order with these (sku, quantity) lines."""
    order_id = order_id or uuid.uuid4()
    now = datetime.now(UTC)
    return OrderCreated(
        event_id=event_id or uuid.uuid4(),
        aggregate_id=order_id,
        occurred_at=now,
        payload=OrderCreatedPayload(
            order_id=order_id,
            customer_id="customer-1",
            items=[OrderLine(sku=sku, quantity=quantity) for sku, quantity in lines],
            placed_at=now,
        ),
    )


def record_of(event: Envelope, traceparent: str | None = None) -> tuple[bytes, bytes, Headers]:
    """Key, value and headers of the record the relay writes for `event`."""
    headers: Headers = [
        ("event_id", str(event.event_id).encode()),
        ("event_type", event.event_type.encode()),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return str(event.aggregate_id).encode(), event.model_dump_json().encode(), headers


@asynccontextmanager
async def relay_producer(bootstrap_servers: str) -> AsyncIterator[AIOKafkaProducer]:
    """A started transactional producer with a fresh transactional id, stopped on exit."""
    producer = transactional_producer(bootstrap_servers, f"test-relay-{uuid.uuid4().hex}")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def publish(
    producer: AIOKafkaProducer, topic: str, events: Sequence[Envelope], *,
    partition: int | None = None, abort: bool = False,
) -> list[RecordMetadata]:
    """Write `events` in one Kafka transaction (aborted instead of committed if `abort`)."""
    return await publish_raw(producer, topic, [record_of(event) for event in events],
                             partition=partition, abort=abort)


async def publish_raw(
    producer: AIOKafkaProducer, topic: str, records: Sequence[tuple[bytes | None, bytes, Headers]],
    *, partition: int | None = None, abort: bool = False,
) -> list[RecordMetadata]:
    """Write (key, value, headers) records in one Kafka transaction."""
    await producer.begin_transaction()
    try:
        futures = [
            await producer.send(topic, key=key, value=value, headers=headers, partition=partition)
            for key, value, headers in records
        ]
        await producer.flush()
        sent = [await future for future in futures]
    except BaseException:
        await producer.abort_transaction()
        raise
    if abort:
        await producer.abort_transaction()
    else:
        await producer.commit_transaction()
    return sent


async def read_committed(
    bootstrap_servers: str, topic: str, *, count: int, within: float = 20.0
) -> list[ConsumerRecord]:
    """The first `count` committed records of `topic` (all partitions), or fail after `within`."""
    consumer = read_committed_consumer(bootstrap_servers, topic, auto_offset_reset="earliest",
                                       group_id=None)
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        async with _deadline(within, f"{count} records on {topic}"):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    found.extend(records)
    finally:
        await consumer.stop()
    return found


@asynccontextmanager
async def _deadline(seconds: float, what: str) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds}s waiting for {what}") from None
