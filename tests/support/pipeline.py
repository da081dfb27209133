"""The whole pipeline, end to end: the scenarios every relay mode must pass.

An order placed over HTTP goes through the outbox, a relay (the polling relay, or Debezium
through Kafka Connect) and `order.events` to the inventory service, which reserves its stock
once. The services run as the real Faust apps against the real PostgreSQL and Kafka; each relay
mode's test module starts its relay and runs these scenarios.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiopg
import httpx

from services.inventory.app import create_app as create_inventory_app
from services.order.app import create_app as create_order_app
from tests.conftest import World
from tests.support.faust_apps import running_app, wait_until
from tests.support.inventory import available, fetch_all, inventory_settings
from tests.support.orders import order_settings

# Starts a relay for the world inside the stack (and stops it when the stack closes).
RelayStarter = Callable[[AsyncExitStack, World], Awaitable[None]]


@dataclass
class Pipeline:
    """HTTP clients of the two public services, and the inventory database."""

    orders: httpx.AsyncClient
    inventory: httpx.AsyncClient
    inventory_pool: aiopg.Pool


@asynccontextmanager
async def running_pipeline(
    world: World, inventory_pool: aiopg.Pool, start_relay: RelayStarter
) -> AsyncIterator[Pipeline]:
    """The order and inventory services and a relay, running for one test."""
    orders_settings = order_settings(world)
    order_port = orders_settings.order_http_port
    stock_settings = inventory_settings(world)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running_app(create_order_app(orders_settings)))
        await stack.enter_async_context(running_app(create_inventory_app(stock_settings)))
        await start_relay(stack, world)
        orders = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{order_port}")
        )
        inventory = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{stock_settings.inventory_http_port}")
        )
        yield Pipeline(orders, inventory, inventory_pool)


async def place(pipeline: Pipeline, sku: str, quantity: int) -> str:
    response = await pipeline.orders.post(
        "/orders",
        json={"customer_id": "c-1", "items": [{"sku": sku, "quantity": quantity}]},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["order_id"])


async def outcome(pipeline: Pipeline, order_id: str) -> dict[str, Any] | None:
    response = await pipeline.inventory.get(f"/reservations/{order_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def settled(pipeline: Pipeline, order_id: str) -> dict[str, Any]:
    await wait_until(
        lambda: _has_outcome(pipeline, order_id), within=90, what=f"an outcome for {order_id}"
    )
    result = await outcome(pipeline, order_id)
    assert result is not None
    return result


async def _has_outcome(pipeline: Pipeline, order_id: str) -> bool:
    return await outcome(pipeline, order_id) is not None


async def an_order_placed_over_http_takes_its_stock_once(pipeline: Pipeline) -> None:
    """Stock goes down by each accepted order, once."""
    sku = f"SKU-{uuid.uuid4().hex[:8].upper()}"
    put = await pipeline.inventory.put(f"/stock/{sku}", json={"available": 10})
    assert put.status_code == 200, put.text

    order_id = await place(pipeline, sku, 3)
    assert (await settled(pipeline, order_id))["status"] == "reserved"
    assert (await pipeline.inventory.get(f"/stock/{sku}")).json()["available"] == 7

    # A later order for the same SKU is applied after it: stock moved exactly twice.
    second = await place(pipeline, sku, 1)
    assert (await settled(pipeline, second))["status"] == "reserved"
    assert await available(pipeline.inventory_pool, sku) == 6
    events = await fetch_all(pipeline.inventory_pool, "SELECT count(*) FROM processed_events")
    assert events == [(2,)]


async def an_order_larger_than_the_stock_is_rejected_and_changes_nothing(
    pipeline: Pipeline,
) -> None:
    """An order that does not fit is rejected with a reason and takes nothing."""
    sku = f"SKU-{uuid.uuid4().hex[:8].upper()}"
    await pipeline.inventory.put(f"/stock/{sku}", json={"available": 2})

    order_id = await place(pipeline, sku, 5)
    result = await settled(pipeline, order_id)
    assert result["status"] == "rejected"
    assert sku in (result["reason"] or "")
    assert (await pipeline.inventory.get(f"/stock/{sku}")).json()["available"] == 2


FINAL = frozenset({"confirmed", "rejected", "cancelled"})


async def order_of(pipeline: Pipeline, order_id: str) -> dict[str, Any]:
    response = await pipeline.orders.get(f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def statuses_of(pipeline: Pipeline, order_ids: list[str]) -> Counter[str]:
    orders = await asyncio.gather(*(order_of(pipeline, order_id) for order_id in order_ids))
    return Counter(order["status"] for order in orders)


async def until_statuses(pipeline: Pipeline, order_ids: list[str], wanted: frozenset[str],
                         *, within: float = 120) -> Counter[str]:
    """Wait until every order has one of the `wanted` statuses; count them by status."""
    async def reached() -> bool:
        return set(await statuses_of(pipeline, order_ids)) <= wanted

    await wait_until(reached, within=within, interval=0.2,
                     what=f"{len(order_ids)} orders to be {'/'.join(sorted(wanted))}")
    return await statuses_of(pipeline, order_ids)


async def cancel(pipeline: Pipeline, order_id: str) -> int:
    response = await pipeline.orders.post(f"/orders/{order_id}/cancel")
    assert response.status_code in (200, 202), response.text
    return response.status_code


async def new_sku(pipeline: Pipeline, units: int) -> str:
    sku = f"SKU-{uuid.uuid4().hex[:8].upper()}"
    put = await pipeline.inventory.put(f"/stock/{sku}", json={"available": units})
    assert put.status_code == 200, put.text
    return sku


async def reservation_statuses(pipeline: Pipeline) -> dict[str, int]:
    rows = await fetch_all(pipeline.inventory_pool,
                           "SELECT status, count(*) FROM reservations GROUP BY status")
    return {status: int(number) for status, number in rows}


async def an_order_is_confirmed_and_its_cancellation_gives_the_stock_back(
    pipeline: Pipeline,
) -> None:
    """placed -> confirmed -> cancelling -> cancelled, and the stock is whole again."""
    sku = await new_sku(pipeline, 5)
    order_id = await place(pipeline, sku, 2)
    assert await until_statuses(pipeline, [order_id], frozenset({"confirmed"})) == {
        "confirmed": 1}
    assert await available(pipeline.inventory_pool, sku) == 3

    assert await cancel(pipeline, order_id) == 202
    await until_statuses(pipeline, [order_id], frozenset({"cancelled"}))
    order = await order_of(pipeline, order_id)
    assert [change["status"] for change in order["status_history"]] == [
        "placed", "confirmed", "cancelling", "cancelled"]
    assert await available(pipeline.inventory_pool, sku) == 5
    assert (await outcome(pipeline, order_id) or {})["status"] == "released"


async def two_hundred_orders_for_fifty_units_then_twenty_cancelled(pipeline: Pipeline) -> None:
    """Exactly 50 confirmed of 200; 20 of those cancelled give their units back."""
    sku = await new_sku(pipeline, 50)
    order_ids = list(await asyncio.gather(*(place(pipeline, sku, 1) for _ in range(200))))
    placed = await until_statuses(pipeline, order_ids, frozenset({"confirmed", "rejected"}))
    assert placed == {"confirmed": 50, "rejected": 150}

    orders = await asyncio.gather(*(order_of(pipeline, order_id) for order_id in order_ids))
    confirmed = [order["order_id"] for order in orders if order["status"] == "confirmed"]
    assert set(await asyncio.gather(*(cancel(pipeline, order_id)
                                      for order_id in confirmed[:20]))) == {202}
    final = await until_statuses(pipeline, order_ids, FINAL)

    assert final == {"confirmed": 30, "cancelled": 20, "rejected": 150}
    assert await reservation_statuses(pipeline) == {
        "reserved": 30, "released": 20, "rejected": 150}
    assert await available(pipeline.inventory_pool, sku) == 20
    assert (await pipeline.inventory.get(f"/stock/{sku}")).json()["available"] == 20


async def orders_cancelled_right_after_placing_all_end_cancelled_with_the_stock_whole(
    pipeline: Pipeline,
) -> None:
    """Each cancellation is applied after its order, however the transactions interleave."""
    sku = await new_sku(pipeline, 1000)

    async def place_and_cancel() -> str:
        order_id = await place(pipeline, sku, 3)
        assert await cancel(pipeline, order_id) == 202
        return order_id

    order_ids = list(await asyncio.gather(*(place_and_cancel() for _ in range(60))))
    final = await until_statuses(pipeline, order_ids, frozenset({"cancelled"}))

    assert final == {"cancelled": 60}
    assert await available(pipeline.inventory_pool, sku) == 1000
    # Every order was reserved, then released: never cancelled before it was reserved.
    assert await reservation_statuses(pipeline) == {"released": 60}
    lines = await fetch_all(pipeline.inventory_pool, "SELECT count(*) FROM reservation_lines")
    assert lines == [(60,)]
