"""Inventory answers through its own outbox, in the transaction of the stock change."""

from __future__ import annotations

import uuid

import aiopg
import psycopg2
import pytest

from services.inventory.handlers import set_stock
from shared.events import StockRejected, StockReleased, StockReserved, parse_event
from shared.outbox import queries as outbox_queries
from tests.support.inventory import apply_event, available, count, fetch_all, statuses
from tests.support.order_events import order_cancelled, order_created


async def answers(pool: aiopg.Pool) -> list[object]:
    """The events in the inventory's outbox, oldest first."""
    rows = await fetch_all(pool, "SELECT payload::text FROM outbox ORDER BY id")
    return [parse_event(payload) for (payload,) in rows]


async def test_a_failure_between_the_stock_change_and_its_answer_leaves_neither(
    inventory_pool: aiopg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await set_stock(inventory_pool, "APPLE", 5)
    event = order_created(("APPLE", 2))
    monkeypatch.setattr(outbox_queries, "INSERT", "INSERT INTO outbox_missing VALUES (1)")

    with pytest.raises(psycopg2.errors.UndefinedTable):
        await apply_event(inventory_pool, event)

    assert await available(inventory_pool, "APPLE") == 5
    assert await count(inventory_pool, "reservations") == 0
    assert await count(inventory_pool, "outbox") == 0
    # Nor the dedupe row: the event is applied when it comes again.
    assert await count(inventory_pool, "processed_events") == 0
    monkeypatch.undo()
    assert await apply_event(inventory_pool, event) == "applied"
    assert await available(inventory_pool, "APPLE") == 3
    [answer] = await answers(inventory_pool)
    assert isinstance(answer, StockReserved)
    assert answer.payload.order_id == event.payload.order_id


async def test_a_rejection_names_every_line_that_did_not_fit(inventory_pool: aiopg.Pool) -> None:
    await set_stock(inventory_pool, "APPLE", 5)
    await set_stock(inventory_pool, "PEAR", 1)
    event = order_created(("APPLE", 2), ("PEAR", 3), ("NO-SUCH", 1))

    await apply_event(inventory_pool, event)

    [answer] = await answers(inventory_pool)
    assert isinstance(answer, StockRejected)
    assert [(line.sku, line.reason) for line in answer.payload.lines] == [
        ("NO-SUCH", "unknown sku NO-SUCH"),
        ("PEAR", "not enough stock for PEAR: 1 available, 3 wanted")]
    assert await available(inventory_pool, "APPLE") == 5


async def test_order_created_and_order_cancelled_three_times_each_change_stock_once(
    inventory_pool: aiopg.Pool,
) -> None:
    await set_stock(inventory_pool, "APPLE", 10)
    created = order_created(("APPLE", 4))
    cancelled = order_cancelled(created.payload.order_id)

    assert [await apply_event(inventory_pool, created) for _ in range(3)] == [
        "applied", "duplicate", "duplicate"]
    assert await available(inventory_pool, "APPLE") == 6
    assert [await apply_event(inventory_pool, cancelled) for _ in range(3)] == [
        "applied", "duplicate", "duplicate"]

    assert await available(inventory_pool, "APPLE") == 10
    assert await statuses(inventory_pool) == {"released": 1}
    reserved, released = await answers(inventory_pool)
    assert isinstance(reserved, StockReserved)
    assert isinstance(released, StockReleased)
    assert [(line.sku, line.quantity) for line in released.payload.items] == [("APPLE", 4)]


async def test_cancelling_a_rejected_order_gives_nothing_back_but_still_answers(
    inventory_pool: aiopg.Pool,
) -> None:
    await set_stock(inventory_pool, "APPLE", 1)
    created = order_created(("APPLE", 4))
    await apply_event(inventory_pool, created)

    await apply_event(inventory_pool, order_cancelled(created.payload.order_id))

    assert await available(inventory_pool, "APPLE") == 1
    assert await statuses(inventory_pool) == {"rejected": 1}
    rejected, released = await answers(inventory_pool)
    assert isinstance(rejected, StockRejected)
    assert isinstance(released, StockReleased)
    assert released.payload.items == []


async def test_a_cancellation_before_its_order_leaves_nothing_reserved_for_it(
    inventory_pool: aiopg.Pool,
) -> None:
    await set_stock(inventory_pool, "APPLE", 5)
    order_id = uuid.uuid4()

    await apply_event(inventory_pool, order_cancelled(order_id))
    await apply_event(inventory_pool, order_created(("APPLE", 2), order_id=order_id))

    assert await available(inventory_pool, "APPLE") == 5
    assert await statuses(inventory_pool) == {"released": 1}
    [released] = await answers(inventory_pool)
    assert isinstance(released, StockReleased)
