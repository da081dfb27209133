"""Stock never goes below zero, and each event counts once, however many arrive at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import aiopg
import pytest

from services.inventory.app import create_app
from services.inventory.handlers import set_stock
from shared.db import close_pool, create_pool
from shared.settings import CommonSettings
from tests.conftest import World
from tests.support.faust_apps import running_app, wait_until
from tests.support.inventory import (
    apply_event,
    available,
    count,
    fetch_all,
    inventory_settings,
    statuses,
)
from tests.support.order_events import order_created, publish, relay_producer

STOCK = 50
ORDERS = 200


@pytest.fixture
async def wide_pool(
    common_settings: CommonSettings, world: World
) -> AsyncIterator[aiopg.Pool]:
    """Enough connections for many transactions to contend for one stock row at once."""
    pool = await create_pool(common_settings.dsn(world.inventory_db_name), maxsize=20)
    yield pool
    await close_pool(pool)


async def test_200_concurrent_one_unit_orders_for_50_units_reserve_exactly_50(
    wide_pool: aiopg.Pool,
) -> None:
    await set_stock(wide_pool, "HOT", STOCK)
    lowest = STOCK
    done = False

    async def watch_stock() -> None:
        nonlocal lowest
        while not done:
            lowest = min(lowest, await available(wide_pool, "HOT") or 0)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch_stock())
    events = [order_created(("HOT", 1)) for _ in range(ORDERS)]
    outcomes = await asyncio.gather(*(apply_event(wide_pool, event) for event in events))
    done = True
    await watcher

    assert Counter(outcomes) == {"applied": ORDERS}
    assert await statuses(wide_pool) == {"reserved": STOCK, "rejected": ORDERS - STOCK}
    assert await available(wide_pool, "HOT") == 0
    assert lowest >= 0
    reserved = await fetch_all(wide_pool, "SELECT sum(quantity) FROM reservation_lines")
    assert reserved == [(STOCK,)]


async def test_the_same_event_applied_concurrently_counts_once(wide_pool: aiopg.Pool) -> None:
    await set_stock(wide_pool, "HOT", 10)
    event = order_created(("HOT", 3))

    outcomes = await asyncio.gather(*(apply_event(wide_pool, event) for _ in range(10)))

    assert Counter(outcomes) == {"applied": 1, "duplicate": 9}
    assert await statuses(wide_pool) == {"reserved": 1}
    assert await available(wide_pool, "HOT") == 7
    assert await count(wide_pool, "outbox") == 1  # one answer: StockReserved


async def test_a_second_event_for_an_order_that_has_an_outcome_changes_nothing(
    wide_pool: aiopg.Pool,
) -> None:
    await set_stock(wide_pool, "HOT", 10)
    first = order_created(("HOT", 3))
    second = order_created(("HOT", 4), order_id=first.payload.order_id)

    outcomes = await asyncio.gather(apply_event(wide_pool, first), apply_event(wide_pool, second))

    # Both events are new (two event ids), but the order has one outcome and one answer.
    assert list(outcomes) == ["applied", "applied"]
    assert await statuses(wide_pool) == {"reserved": 1}
    assert await count(wide_pool, "outbox") == 1
    assert await available(wide_pool, "HOT") in (7, 6)
    lines = await fetch_all(wide_pool, "SELECT sum(quantity) FROM reservation_lines")
    assert await available(wide_pool, "HOT") == 10 - lines[0][0]


async def test_orders_sharing_skus_in_different_line_orders_never_deadlock(
    wide_pool: aiopg.Pool,
) -> None:
    for sku in ("A", "B", "C"):
        await set_stock(wide_pool, sku, 1000)
    lines = [("A", 1), ("B", 1), ("C", 1)]
    events = [order_created(*(lines if n % 2 else lines[::-1])) for n in range(100)]

    outcomes = await asyncio.gather(*(apply_event(wide_pool, event) for event in events))

    assert set(outcomes) == {"applied"}
    assert await statuses(wide_pool) == {"reserved": 100}
    assert [await available(wide_pool, sku) for sku in ("A", "B", "C")] == [900, 900, 900]


async def test_two_workers_sharing_the_topic_reserve_exactly_the_stock(
    world: World, inventory_pool: aiopg.Pool
) -> None:
    first = inventory_settings(world)
    second = inventory_settings(world, inventory_service_name=first.inventory_service_name)
    await set_stock(inventory_pool, "HOT", STOCK)
    events = [order_created(("HOT", 1)) for _ in range(ORDERS)]

    async def all_applied() -> bool:
        return await count(inventory_pool, "reservations") == ORDERS

    async with running_app(create_app(first)), running_app(create_app(second)) as app:
        assert app.consumer.assignment(), "the second worker got no partition"
        async with relay_producer(first.kafka_bootstrap_servers) as producer:
            await publish(producer, first.order_events_topic, events)
        await wait_until(all_applied, what=f"{ORDERS} outcomes")

    statuses = await fetch_all(
        inventory_pool, "SELECT status, count(*) FROM reservations GROUP BY status ORDER BY 1")
    assert statuses == [("rejected", ORDERS - STOCK), ("reserved", STOCK)]
    assert await available(inventory_pool, "HOT") == 0
