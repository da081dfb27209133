"""The whole pipeline, end to end: the scenarios every relay mode must pass.

An order placed over HTTP goes through the outbox, a relay (the polling relay, or Debezium
through Kafka Connect) and `order.events` to the inventory service, which reserves its stock
once. The services run as the real Faust apps against the real PostgreSQL and Kafka; each relay
mode's test module starts its relay and runs these scenarios.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiopg
import httpx

from services.inventory.app import create_app as create_inventory_app
from services.order.app import create_app as create_order_app
from services.order.settings import OrderSettings
from tests.conftest import World
from tests.support.faust_apps import free_port, running_app, wait_until
from tests.support.inventory import available, fetch_all, inventory_settings

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
    order_port = free_port()
    order_settings = OrderSettings(**world.overrides(), order_http_port=order_port)  # type: ignore[arg-type]
    stock_settings = inventory_settings(world)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running_app(create_order_app(order_settings)))
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
