"""Helpers for the tests of either relay (polling or Debezium): outbox rows, what Kafka holds.

Every read of Kafka here goes through a read_committed consumer up to the end of each
partition (the last stable offset), so it shows exactly what a consumer of the topic would
ever see: nothing aborted, nothing missing.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass

import aiopg
from aiokafka.structs import ConsumerRecord, TopicPartition

from shared.kafka import read_committed_consumer
from shared.outbox import queries as outbox_queries
from shared.settings import CommonSettings

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


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
        await cur.execute(outbox_queries.INSERT, params)
        return event_id
    async with pool.acquire() as conn, conn.cursor() as own:
        await own.execute(outbox_queries.INSERT, params)
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


async def read_all(settings: CommonSettings) -> list[ConsumerRecord]:
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
