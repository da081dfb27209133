"""What the demo reads to check the run: rows in both databases and records on the topic.

Everything is scoped to the run's own orders, so earlier runs and other data do not count.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from scripts.summary import PipelineCounts
from shared.kafka import kafka_admin, read_committed_consumer

OUTBOX_ROWS = """
SELECT event_id, published_at IS NOT NULL FROM outbox WHERE aggregate_id = ANY(%(ids)s)
"""
OUTBOX_TRACEPARENT = "SELECT traceparent FROM outbox WHERE aggregate_id = %(id)s"
PROCESSED_EVENTS = "SELECT count(*) FROM processed_events WHERE event_id = ANY(%(ids)s::uuid[])"
RESERVATIONS = """
SELECT order_id::text, status, reason FROM reservations WHERE order_id = ANY(%(ids)s::uuid[])
"""
# Units still held: a released reservation gave its units back.
RESERVED_UNITS = """
SELECT sku, sum(quantity)::int FROM reservation_lines JOIN reservations USING (order_id)
WHERE order_id = ANY(%(ids)s::uuid[]) AND status = 'reserved'
GROUP BY sku
"""
ORDER_STATUSES = "SELECT order_id::text, status FROM orders WHERE order_id = ANY(%(ids)s::uuid[])"


class TopicTally:
    """Reads the topic with read_committed from where it ended when `start` ran.

    Records of this run cannot be older than that, and the topic may hold many earlier runs.
    """

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.records: list[tuple[str, str]] = []  # (key, event_id header)
        self._consumer: AIOKafkaConsumer = read_committed_consumer(bootstrap_servers)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Note where each partition ends, then read on from there in the background."""
        partitions = await topic_partitions(self.bootstrap_servers, self.topic)
        if not partitions:
            raise LookupError(f"topic {self.topic} does not exist on {self.bootstrap_servers}")
        await self._consumer.start()
        assigned = [TopicPartition(self.topic, partition) for partition in partitions]
        self._consumer.assign(assigned)
        for partition, offset in (await self._consumer.end_offsets(assigned)).items():
            self._consumer.seek(partition, offset)
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def count(self, keys: set[str]) -> tuple[int, int]:
        """Records keyed by one of `keys`, and how many distinct event ids they carry."""
        if self._task is not None and self._task.done():
            self._task.result()  # the reader failed: say why rather than count too few
        mine = [event_id for key, event_id in self.records if key in keys]
        return len(mine), len(set(mine))

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers or ())
                    key = (record.key or b"").decode(errors="replace")
                    self.records.append((key, headers.get("event_id", b"").decode()))


async def topic_partitions(bootstrap_servers: str, topic: str) -> list[int]:
    """The partition numbers of a topic; empty when it does not exist."""
    async with kafka_admin(bootstrap_servers) as admin:
        described = await admin.describe_topics([topic])
    return sorted(int(p["partition"]) for t in described if t["error_code"] == 0
                  for p in t["partitions"])


async def pipeline_counts(
    orders: aiopg.Pool,
    inventory: aiopg.Pool,
    tally: TopicTally,
    order_ids: list[str],
    *,
    count_marked: bool,
) -> PipelineCounts:
    """Written, published, consumed (and marked) events of the given orders."""
    rows = await _fetch(orders, OUTBOX_ROWS, {"ids": order_ids})
    event_ids = [event_id for event_id, _ in rows]
    consumed = await _fetch(inventory, PROCESSED_EVENTS, {"ids": event_ids})
    published, distinct = tally.count(set(order_ids))
    return PipelineCounts(
        written=len(rows),
        published=published,
        distinct_published=distinct,
        consumed=int(consumed[0][0]),
        marked=sum(1 for _, marked in rows if marked) if count_marked else None,
    )


async def outcomes(
    inventory: aiopg.Pool, order_ids: list[str]
) -> dict[str, tuple[str, str | None]]:
    """Order id -> (reserved|rejected|released, reason) for the orders inventory has settled."""
    rows = await _fetch(inventory, RESERVATIONS, {"ids": order_ids})
    return {
        str(order_id): (str(status), None if reason is None else str(reason))
        for order_id, status, reason in rows
    }


async def order_statuses(orders: aiopg.Pool, order_ids: list[str]) -> dict[str, str]:
    """Order id -> status, as the order service has it."""
    rows = await _fetch(orders, ORDER_STATUSES, {"ids": order_ids})
    return {str(order_id): str(status) for order_id, status in rows}


async def reserved_units(inventory: aiopg.Pool, order_ids: list[str]) -> dict[str, int]:
    """Units per SKU that inventory holds for the given orders."""
    rows = await _fetch(inventory, RESERVED_UNITS, {"ids": order_ids})
    return {str(sku): int(units) for sku, units in rows}


async def outbox_traceparent(orders: aiopg.Pool, order_id: str) -> str | None:
    """The `traceparent` the order service stored with the order's outbox row."""
    rows = await _fetch(orders, OUTBOX_TRACEPARENT, {"id": order_id})
    return str(rows[0][0]) if rows and rows[0][0] else None


# Rows as psycopg2 returns them: their types follow the SQL.
async def _fetch(pool: aiopg.Pool, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(sql, parameters)
        return list(await cur.fetchall())
