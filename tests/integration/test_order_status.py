"""The order's statuses: inventory's answers applied once each, and cancellation over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiopg
import httpx
import psycopg2
import pytest

from services.order.handlers import cancel_order
from shared.inbox.dead_letters import dead_letter_topic
from shared.outbox import queries as outbox_queries
from tests.conftest import World
from tests.support.faust_apps import wait_until
from tests.support.inventory import count, fetch_all
from tests.support.inventory_events import stock_rejected, stock_released, stock_reserved
from tests.support.order_events import publish_raw, read_committed, record_of, relay_producer
from tests.support.orders import apply_answer, order_client, order_settings, order_status

GOOD: dict[str, Any] = {"customer_id": "cust-1", "items": [{"sku": "SKU-1", "quantity": 1}]}


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with order_client(world) as http:
        yield http


async def place(client: httpx.AsyncClient) -> uuid.UUID:
    response = await client.post("/orders", json=GOOD)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "placed"
    return uuid.UUID(response.json()["order_id"])


async def cancelled_events(pool: aiopg.Pool) -> int:
    rows = await fetch_all(pool, "SELECT count(*) FROM outbox WHERE event_type = 'OrderCancelled'")
    return int(rows[0][0])


async def test_each_stock_event_delivered_three_times_changes_the_status_once(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool
) -> None:
    confirmed_id, rejected_id, cancelled_id = [await place(client) for _ in range(3)]
    assert (await client.post(f"/orders/{cancelled_id}/cancel")).status_code == 202

    for event in (stock_reserved(confirmed_id), stock_rejected(rejected_id),
                  stock_reserved(cancelled_id), stock_released(cancelled_id)):
        outcomes = [await apply_answer(orders_pool, event) for _ in range(3)]
        assert outcomes == ["applied", "duplicate", "duplicate"], event.event_type

    assert await order_status(orders_pool, confirmed_id) == "confirmed"
    assert await order_status(orders_pool, rejected_id) == "rejected"
    assert await order_status(orders_pool, cancelled_id) == "cancelled"
    assert await count(orders_pool, "processed_events") == 4
    # placed + one change each; the reservation that arrived while cancelling changed nothing.
    history = await fetch_all(orders_pool, "SELECT status, count(*) FROM order_status_history "
                              "GROUP BY status ORDER BY status")
    assert history == [("cancelled", 1), ("cancelling", 1), ("confirmed", 1), ("placed", 3),
                       ("rejected", 1)]


async def test_get_shows_the_status_the_reason_and_when_each_change_happened(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool
) -> None:
    order_id = await place(client)
    answer = stock_rejected(order_id)
    await apply_answer(orders_pool, answer)

    body = (await client.get(f"/orders/{order_id}")).json()

    assert body["status"] == "rejected"
    assert body["reason"] == answer.payload.reason
    assert [change["status"] for change in body["status_history"]] == ["placed", "rejected"]
    assert body["status_history"][0]["at"] <= body["status_history"][1]["at"]


async def test_cancelling_writes_order_cancelled_once_and_answers_202_then_200(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool
) -> None:
    order_id = await place(client)
    await apply_answer(orders_pool, stock_reserved(order_id))

    first = await client.post(f"/orders/{order_id}/cancel")
    again = await client.post(f"/orders/{order_id}/cancel")

    assert (first.status_code, first.json()["status"]) == (202, "cancelling")
    assert (again.status_code, again.json()["status"]) == (200, "cancelling")
    assert await cancelled_events(orders_pool) == 1
    [(payload,)] = await fetch_all(
        orders_pool, "SELECT payload FROM outbox WHERE event_type = 'OrderCancelled'")
    assert payload["payload"]["order_id"] == str(order_id)

    await apply_answer(orders_pool, stock_released(order_id))
    done = await client.post(f"/orders/{order_id}/cancel")
    assert (done.status_code, done.json()["status"]) == (200, "cancelled")
    assert [change["status"] for change in done.json()["status_history"]] == [
        "placed", "confirmed", "cancelling", "cancelled"]
    assert await cancelled_events(orders_pool) == 1


async def test_an_outcome_that_arrives_while_cancelling_is_recorded_and_the_status_stays(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool
) -> None:
    order_id = await place(client)
    assert (await client.post(f"/orders/{order_id}/cancel")).status_code == 202

    await apply_answer(orders_pool, stock_rejected(order_id))

    assert await order_status(orders_pool, order_id) == "cancelling"
    assert await fetch_all(orders_pool, "SELECT stock_outcome FROM orders") == [("rejected",)]
    await apply_answer(orders_pool, stock_released(order_id))
    assert await order_status(orders_pool, order_id) == "cancelled"


async def test_cancel_refuses_a_rejected_order_an_unknown_one_and_a_bad_id(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool
) -> None:
    order_id = await place(client)
    await apply_answer(orders_pool, stock_rejected(order_id))

    rejected = await client.post(f"/orders/{order_id}/cancel")
    unknown = await client.post(f"/orders/{uuid.uuid4()}/cancel")
    malformed = await client.post("/orders/not-a-uuid/cancel")

    assert rejected.status_code == 409
    [error] = rejected.json()["errors"]
    assert error["field"] == "status"
    assert "rejected" in error["problem"]
    assert "not enough stock" in error["problem"]
    assert unknown.status_code == 404
    assert (malformed.status_code, malformed.json()["errors"][0]["field"]) == (400, "order_id")
    assert await order_status(orders_pool, order_id) == "rejected"
    assert await cancelled_events(orders_pool) == 0


async def test_a_failure_between_the_status_change_and_its_event_leaves_neither(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = await place(client)
    monkeypatch.setattr(outbox_queries, "INSERT", "INSERT INTO outbox_missing VALUES (1)")

    with pytest.raises(psycopg2.errors.UndefinedTable):
        await cancel_order(orders_pool, order_id)

    assert await order_status(orders_pool, order_id) == "placed"
    assert await cancelled_events(orders_pool) == 0
    assert await count(orders_pool, "order_status_history") == 1


async def test_the_order_service_reads_inventory_events_skipping_types_it_does_not_know(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool, world: World
) -> None:
    order_id = await place(client)
    newer = (str(order_id).encode(), json.dumps({"event_type": "StockCounted"}).encode(),
             [("event_id", b"x"), ("event_type", b"StockCounted")])
    reserved = stock_reserved(order_id)
    servers = order_settings(world).kafka_bootstrap_servers

    async with relay_producer(servers) as producer:
        # The answer three times (a relay re-sending after a crash), after a newer type.
        await publish_raw(producer, world.inventory_events_topic,
                          [newer, *[record_of(reserved)] * 3], partition=0)

        async def confirmed() -> bool:
            return await order_status(orders_pool, order_id) == "confirmed"

        await wait_until(confirmed, what="the order to be confirmed")
        await publish_raw(producer, dead_letter_topic(world.inventory_events_topic),
                          [(b"marker", b"marker", [])])
    [first] = await read_committed(servers, dead_letter_topic(world.inventory_events_topic),
                                   count=1)

    assert first.value == b"marker"  # nothing was dead-lettered before it
    assert await count(orders_pool, "processed_events") == 1
    assert await count(orders_pool, "order_status_history") == 2
