"""Retention against the real PostgreSQL and Kafka: what each sweep deletes, what it keeps.

The outbox (`shared.outbox.retention.prune`, both relay modes' criteria), the dedupe
(`processed_events`, pruned by every reader's service), a redelivery inside the dedupe window
still refused by the real inventory service, and the start-up refusal of a dedupe window
shorter than a real topic keeps its records.

Which relay prunes, and when, is in `test_relay_retention.py` (polling) and
`test_debezium_retention.py` (the Debezium cleanup, through a real replication slot).
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiopg
import httpx
import pytest

from services.inventory.app import create_app as create_inventory_app
from services.inventory.handlers import set_stock
from shared.inbox.retention import (
    DedupeWindowTooShort,
    TopicRetention,
    check_dedupe_window,
    prune_processed,
    topic_retention,
)
from shared.kafka import ensure_topic
from shared.outbox.retention import prune
from shared.settings import CommonSettings
from tests.conftest import World
from tests.support.faust_apps import running_app, wait_until
from tests.support.inventory import available, fetch_all, inventory_settings, settings_env
from tests.support.metrics import until_scraped
from tests.support.order_events import order_created, publish, relay_producer
from tests.support.outbox import insert_event

REPO_ROOT = Path(__file__).resolve().parents[2]
WEEK = timedelta(days=7)
HOUR_MS = 3_600_000


class CountingPool:
    """A pool whose statements are counted, with the rows each one changed (`rowcount`)."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self._pool = pool
        self.rowcounts: list[int] = []
        self.deleted: list[int] = []

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._pool.acquire() as conn:
            yield _CountingConnection(conn, self)


class _CountingConnection:
    def __init__(self, conn: Any, owner: CountingPool) -> None:
        self._conn = conn
        self._owner = owner

    @asynccontextmanager
    async def cursor(self) -> AsyncIterator[Any]:
        async with self._conn.cursor() as cur:
            yield _CountingCursor(cur, self._owner)


class _CountingCursor:
    def __init__(self, cur: Any, owner: CountingPool) -> None:
        self._cur = cur
        self._owner = owner

    async def execute(self, sql: str, params: Any = None) -> None:
        await self._cur.execute(sql, params)
        self._owner.rowcounts.append(self._cur.rowcount)

    async def fetchone(self) -> Any:
        row = await self._cur.fetchone()
        if row is not None and len(row) == 3:  # the outbox's batches answer (deleted, ...)
            self._owner.deleted.append(int(row[0]))
        return row

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)


async def execute(pool: aiopg.Pool, sql: str, *args: object) -> None:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(sql, args)


async def outbox_ids(pool: aiopg.Pool) -> list[int]:
    return [row[0] for row in await fetch_all(pool, "SELECT id FROM outbox ORDER BY id")]


async def outbox_row(pool: aiopg.Pool, *, created_days_ago: float,
                     published_days_ago: float | None) -> int:
    """An outbox row written (and published, unless None) that many days ago; its id."""
    event_id = await insert_event(pool, "order-1", 1)
    await execute(
        pool,
        "UPDATE outbox SET created_at = now() - %s * interval '1 day',"
        " published_at = now() - %s * interval '1 day' WHERE event_id = %s",
        created_days_ago, published_days_ago, event_id)
    [(row_id,)] = await fetch_all(pool, "SELECT id FROM outbox WHERE event_id = %s", event_id)
    return int(row_id)


# --- the outbox -------------------------------------------------------------------------------


async def test_published_rows_older_than_the_retention_go_in_batches_and_nothing_else(
    orders_pool: aiopg.Pool,
) -> None:
    old = [await outbox_row(orders_pool, created_days_ago=10, published_days_ago=9)
           for _ in range(4)]
    # Not published yet (the relay is behind): stays, however old, and does not stop the walk.
    unpublished_old = await outbox_row(orders_pool, created_days_ago=9.5,
                                       published_days_ago=None)
    old += [await outbox_row(orders_pool, created_days_ago=9, published_days_ago=8)
            for _ in range(3)]
    # Written before the cutoff, published after it: stays.
    published_late = await outbox_row(orders_pool, created_days_ago=8, published_days_ago=6)
    recent = [await outbox_row(orders_pool, created_days_ago=2, published_days_ago=1)
              for _ in range(3)]
    unpublished = [await insert_event(orders_pool, "order-2", n) for n in range(2)]
    counting = CountingPool(orders_pool)

    deleted = await prune(counting, older_than=WEEK, batch_size=3)  # type: ignore[arg-type]

    assert deleted == len(old) == 7
    remaining = await outbox_ids(orders_pool)
    assert remaining[:len(recent) + 2] == [unpublished_old, published_late, *recent]
    assert len(remaining) == 2 + len(recent) + len(unpublished)
    # Bounded batches: no statement deleted more than 3 rows, so it took several.
    assert max(counting.deleted) <= 3
    assert len(counting.deleted) >= math.ceil(len(old) / 3)
    # Nothing left to delete: one statement finds that out.
    counting.deleted.clear()
    assert await prune(counting, older_than=WEEK, batch_size=3) == 0  # type: ignore[arg-type]
    assert counting.deleted == [0]


async def test_a_retention_of_zero_deletes_every_published_row(orders_pool: aiopg.Pool) -> None:
    published = [await outbox_row(orders_pool, created_days_ago=0.01, published_days_ago=0.001)
                 for _ in range(5)]
    waiting = await insert_event(orders_pool, "order-3", 1)

    assert await prune(orders_pool, older_than=timedelta(0), batch_size=2) == len(published)
    rows = await fetch_all(orders_pool, "SELECT event_id::text FROM outbox")
    assert rows == [(waiting,)]


async def test_debezium_criterion_keeps_rows_of_transactions_the_slot_may_not_have_confirmed(
    orders_pool: aiopg.Pool,
) -> None:
    # What `services.outbox_cleanup.sweep` passes once the slot has confirmed the WAL position
    # it noted: the oldest transaction then running. Rows of older transactions are published.
    confirmed_old = [await outbox_row(orders_pool, created_days_ago=9, published_days_ago=None)
                     for _ in range(5)]
    confirmed_recent = await outbox_row(orders_pool, created_days_ago=1, published_days_ago=None)
    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("BEGIN")
        # Written as if long ago, by a transaction still open when the position is noted.
        await cur.execute(
            "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type,"
            " schema_version, payload, created_at)"
            " VALUES (%s, 'order', 'order-4', 'OrderTestStep', 1, '{}', now() - interval '9 days')"
            " RETURNING id", (str(uuid.uuid4()),))
        [(open_row,)] = await cur.fetchall()
        [(xmin,)] = await fetch_all(
            orders_pool, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        await cur.execute("COMMIT")

    deleted = await prune(orders_pool, older_than=WEEK, batch_size=2,
                          confirmed_before=int(xmin) & 0xFFFFFFFF)

    assert deleted == len(confirmed_old)
    assert await outbox_ids(orders_pool) == [confirmed_recent, open_row]


# --- the dedupe -------------------------------------------------------------------------------


async def dedupe_row(pool: aiopg.Pool, days_ago: float, event_id: str | None = None) -> str:
    event_id = event_id or str(uuid.uuid4())
    await execute(pool, "INSERT INTO processed_events (event_id, event_type, processed_at)"
                        " VALUES (%s, 'Test', now() - %s * interval '1 day')", event_id, days_ago)
    return event_id


async def dedupe_ids(pool: aiopg.Pool) -> set[str]:
    return {row[0] for row in await fetch_all(pool, "SELECT event_id::text FROM processed_events")}


async def test_dedupe_rows_older_than_the_window_go_in_batches_and_the_others_stay(
    orders_pool: aiopg.Pool,
) -> None:
    window = timedelta(days=15)
    old = {await dedupe_row(orders_pool, days) for days in (30, 20, 16, 16, 15.01, 40, 17)}
    kept = {await dedupe_row(orders_pool, days) for days in (14.99, 10, 1, 0)}
    counting = CountingPool(orders_pool)

    deleted = await prune_processed(counting, older_than=window,  # type: ignore[arg-type]
                                    batch_size=3)

    assert deleted == len(old)
    assert await dedupe_ids(orders_pool) == kept
    assert counting.rowcounts == [3, 3, 1]  # batches of at most 3, the last one short
    assert await prune_processed(orders_pool, older_than=window, batch_size=3) == 0


async def test_an_event_delivered_again_inside_the_window_is_still_refused(
    world: World, inventory_pool: aiopg.Pool,
) -> None:
    # The service prunes by itself, every 0.2 s, two rows per statement.
    settings = inventory_settings(world, dedupe_retention="15d",
                                  dedupe_cleanup_interval_seconds=0.2,
                                  dedupe_cleanup_batch_size=2)
    topic = settings.order_events_topic
    await set_stock(inventory_pool, "APPLE", 10)
    event = order_created(("APPLE", 3))
    async with running_app(create_inventory_app(settings)), relay_producer(
        settings.kafka_bootstrap_servers
    ) as producer, httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.inventory_http_port}"
    ) as client:
        await publish(producer, topic, [event])
        await until_scraped(client, "inbox_events_total", 1, topic=topic, outcome="applied")
        assert await available(inventory_pool, "APPLE") == 7
        # Ten days on: inside the window. Others' rows are long past it.
        await execute(inventory_pool, "UPDATE processed_events SET processed_at = now() - "
                                      "interval '10 days' WHERE event_id = %s",
                      str(event.event_id))
        expired = {await dedupe_row(inventory_pool, days) for days in (16, 20, 30, 40, 50)}

        async def pruned() -> bool:
            return not (await dedupe_ids(inventory_pool)) & expired

        await wait_until(pruned, within=20, what="the service to prune the expired dedupe rows")
        assert await dedupe_ids(inventory_pool) == {str(event.event_id)}

        await publish(producer, topic, [event])  # delivered again
        counted = await until_scraped(client, "inbox_events_total", 1, topic=topic,
                                      outcome="duplicate")

    assert counted.value("inbox_events_total", topic=topic, outcome="applied") == 1
    assert await available(inventory_pool, "APPLE") == 7
    answers = await fetch_all(inventory_pool, "SELECT event_type FROM outbox")
    assert answers == [("StockReserved",)]


# --- the start-up check -----------------------------------------------------------------------


async def short_topic(world: World, settings: CommonSettings, *, hours: int) -> str:
    """A topic of this world that keeps records `hours` hours (and as long in a segment)."""
    name = f"{world.order_events_topic}.short-{uuid.uuid4().hex[:6]}"
    await ensure_topic(settings.kafka_bootstrap_servers, name, partitions=1, config={
        "retention.ms": str(hours * HOUR_MS), "segment.ms": str(hours * HOUR_MS)})
    return name


async def test_the_window_is_checked_against_the_topic_as_kafka_describes_it(
    world: World, common_settings: CommonSettings,
) -> None:
    servers = common_settings.kafka_bootstrap_servers
    name = await short_topic(world, common_settings, hours=1)

    found = await topic_retention(servers, name)

    assert found == TopicRetention(name, retention_ms=HOUR_MS, segment_ms=HOUR_MS,
                                   cleanup_policy="delete")
    assert await check_dedupe_window(servers, name, timedelta(hours=2)) == found
    assert await check_dedupe_window(servers, name, None) is None
    with pytest.raises(DedupeWindowTooShort) as refused:
        await check_dedupe_window(servers, name, timedelta(minutes=90))
    assert "DEDUPE_RETENTION=1h30m" in str(refused.value)
    assert "retention.ms=3600000 + segment.ms=3600000" in str(refused.value)
    # The world's own topic has the broker's defaults: a week, plus a week in a segment.
    default = await topic_retention(servers, world.order_events_topic)
    assert default.longest == timedelta(days=14)


async def test_the_service_refuses_to_start_with_a_window_shorter_than_its_topic_keeps(
    world: World,
) -> None:
    settings = inventory_settings(world, dedupe_retention="90m")
    settings.order_events_topic = await short_topic(world, settings, hours=1)

    app = create_inventory_app(settings)
    try:
        with pytest.raises(DedupeWindowTooShort, match="DEDUPE_RETENTION=1h30m is shorter"):
            await asyncio.wait_for(app.start(), 30)
        assert not app.consumer.started  # it never read a record
    finally:
        await app.stop()

    # The service's own process exits, saying why in one line of its log.
    env = {**os.environ, **settings_env(settings), "PYTHONPATH": str(REPO_ROOT)}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.inventory"], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL, check=False)

    assert done.returncode != 0
    output = done.stdout + done.stderr
    [line] = [line for line in output.splitlines() if "refusing to start" in line]
    assert "DEDUPE_RETENTION=1h30m is shorter than topic" in line
    assert "set DEDUPE_RETENTION to 2h or more" in line
    # With a window that covers the topic it starts.
    covered = settings.model_copy(update={"dedupe_retention": timedelta(hours=2)})
    async with running_app(create_inventory_app(covered)):
        pass
