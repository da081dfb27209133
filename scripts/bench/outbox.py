"""Filling an outbox with valid `OrderCreated` rows in one statement, and watching a topic."""

from __future__ import annotations

import asyncio
import time

import aiopg
from aiokafka import TopicPartition

from shared.kafka import read_committed_consumer

SKUS = 50  # BENCH-0 .. BENCH-49

# One INSERT ... SELECT generate_series: each row is a valid OrderCreated (shared/events.py),
# about 330 bytes of payload, one line of one of the bench SKUs.
FILL_OUTBOX = f"""
INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, schema_version, payload)
SELECT e.event_id, 'order', e.order_id::text, 'OrderCreated', 1,
       jsonb_build_object(
           'event_id', e.event_id, 'event_type', 'OrderCreated', 'schema_version', 1,
           'aggregate_type', 'order', 'aggregate_id', e.order_id, 'occurred_at', e.ts,
           'payload', jsonb_build_object(
               'order_id', e.order_id, 'customer_id', 'c' || mod(e.g, 1000),
               'items', jsonb_build_array(jsonb_build_object(
                   'sku', 'BENCH-' || mod(e.g, {SKUS}), 'quantity', 1 + mod(e.g, 3))),
               'placed_at', e.ts))
FROM (SELECT g, gen_random_uuid() AS event_id, gen_random_uuid() AS order_id,
             to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS ts
      FROM generate_series(1, %(rows)s) AS g) AS e
"""

SEED_STOCK = f"""
INSERT INTO stock (sku, available)
SELECT 'BENCH-' || g, 1000000000 FROM generate_series(0, {SKUS - 1}) AS g
ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available
"""


async def fill_outbox(pool: aiopg.Pool, rows: int, *, fresh: bool = True) -> None:
    """Insert `rows` unpublished rows in one transaction (emptying the outbox first)."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        if fresh:
            await cur.execute("TRUNCATE outbox")
        await cur.execute(FILL_OUTBOX, {"rows": rows})
        await cur.execute("ANALYZE outbox")


async def payload_bytes(pool: aiopg.Pool) -> float:
    """The average payload size of the outbox rows, in bytes."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT avg(octet_length(payload::text)) FROM outbox")
        row = await cur.fetchone()
    return float(row[0] or 0)


async def unpublished(pool: aiopg.Pool) -> int:
    """Outbox rows not marked published."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        row = await cur.fetchone()
    return int(row[0])


async def seed_stock(pool: aiopg.Pool) -> None:
    """Plenty of every bench SKU, so that every order is reserved."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(SEED_STOCK)


class TopicCounter:
    """Counts the committed records of a topic (sum of the last stable offsets)."""

    def __init__(self, bootstrap_servers: str, topic: str, partitions: int) -> None:
        self._consumer = read_committed_consumer(bootstrap_servers)
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]

    async def __aenter__(self) -> TopicCounter:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def committed(self) -> int:
        """Committed records on the topic right now."""
        ends = await self._consumer.end_offsets(self._partitions)
        return sum(ends.values())

    async def wait_for(self, total: int, *, within: float, interval: float = 0.02) -> float:
        """Poll until `total` records are committed; the monotonic time it was seen."""
        deadline = time.monotonic() + within
        while (await self.committed()) < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {await self.committed()} of {total} records "
                                   f"after {within:.0f}s")
            await asyncio.sleep(interval)
        return time.monotonic()
