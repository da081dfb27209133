"""The order service over HTTP, against the real PostgreSQL: orders, outbox rows, bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiopg
import httpx
import psycopg2
import pytest

from services.order.handlers import place_order
from services.order.models import PlaceOrder
from shared.events import OrderCreated, parse_event
from shared.outbox import queries as outbox_queries
from tests.conftest import World
from tests.support.orders import order_client

GOOD: dict[str, Any] = {"customer_id": "cust-1", "items": [{"sku": "SKU-1", "quantity": 2}]}


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with order_client(world) as http:
        yield http


async def count(pool: aiopg.Pool, table: str) -> int:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(f"SELECT count(*) FROM {table}")
        row = await cur.fetchone()
        return int(row[0])


async def test_an_order_and_its_event_are_written_together(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool
) -> None:
    response = await client.post("/orders", json=GOOD)
    assert response.status_code == 201
    order = response.json()
    assert order["items"] == GOOD["items"]
    assert response.headers["Location"] == f"/orders/{order['order_id']}"

    read = await client.get(f"/orders/{order['order_id']}")
    assert read.status_code == 200
    assert read.json() == order

    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT aggregate_id, event_type, payload::text FROM outbox")
        rows = await cur.fetchall()
    assert len(rows) == 1
    aggregate_id, event_type, payload = rows[0]
    event = parse_event(payload)
    assert isinstance(event, OrderCreated)
    assert (aggregate_id, event_type) == (order["order_id"], "OrderCreated")
    assert str(event.payload.order_id) == order["order_id"]
    assert [line.model_dump() for line in event.payload.items] == GOOD["items"]


async def test_a_failure_between_order_and_outbox_leaves_neither(
    orders_pool: aiopg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The outbox insert fails after the order and its lines were inserted.
    monkeypatch.setattr(outbox_queries, "INSERT", "INSERT INTO outbox_missing VALUES (1)")
    with pytest.raises(psycopg2.errors.UndefinedTable):
        await place_order(orders_pool, PlaceOrder.model_validate(GOOD))
    assert await count(orders_pool, "orders") == 0
    assert await count(orders_pool, "order_lines") == 0
    assert await count(orders_pool, "outbox") == 0


async def test_a_retried_request_with_an_idempotency_key_writes_nothing_new(
    client: httpx.AsyncClient, orders_pool: aiopg.Pool
) -> None:
    headers = {"Idempotency-Key": "checkout-42"}
    first = await client.post("/orders", json=GOOD, headers=headers)
    again = await client.post("/orders", json=GOOD, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await count(orders_pool, "orders") == 1
    assert await count(orders_pool, "outbox") == 1

    other = {**GOOD, "items": [{"sku": "SKU-1", "quantity": 5}]}
    conflict = await client.post("/orders", json=other, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await count(orders_pool, "outbox") == 1


BAD_REQUESTS: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("malformed JSON", b'{"customer_id": ', {}, 400, "body"),
    ("not UTF-8", b'{"customer_id": "\xff"}', {}, 400, "body"),
    ("not an object", b"[1, 2]", {}, 422, "body"),
    (
        "wrong content type",
        json.dumps(GOOD).encode(),
        {"Content-Type": "text/plain"},
        415,
        "Content-Type",
    ),
    ("oversize body", b'{"customer_id": "' + b"x" * 70_000 + b'"}', {}, 413, "body"),
    ("empty items", json.dumps({**GOOD, "items": []}).encode(), {}, 422, "items"),
    (
        "zero quantity",
        json.dumps({**GOOD, "items": [{"sku": "SKU-1", "quantity": 0}]}).encode(),
        {},
        422,
        "items.0.quantity",
    ),
    (
        "negative quantity",
        json.dumps({**GOOD, "items": [{"sku": "SKU-1", "quantity": -1}]}).encode(),
        {},
        422,
        "items.0.quantity",
    ),
    (
        "huge quantity",
        json.dumps({**GOOD, "items": [{"sku": "SKU-1", "quantity": 10**12}]}).encode(),
        {},
        422,
        "items.0.quantity",
    ),
    (
        "quantity as a string",
        json.dumps({**GOOD, "items": [{"sku": "SKU-1", "quantity": "2"}]}).encode(),
        {},
        422,
        "items.0.quantity",
    ),
    (
        "SQL in the SKU",
        json.dumps(
            {**GOOD, "items": [{"sku": "X'); DROP TABLE orders;--", "quantity": 1}]}
        ).encode(),
        {},
        422,
        "items.0.sku",
    ),
    ("unknown field", json.dumps({**GOOD, "discount": 50}).encode(), {}, 422, "discount"),
    ("missing customer", json.dumps({"items": GOOD["items"]}).encode(), {}, 422, "customer_id"),
    (
        "bad idempotency key",
        json.dumps(GOOD).encode(),
        {"Idempotency-Key": "x" * 200},
        400,
        "Idempotency-Key",
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
async def test_bad_input_is_refused_and_writes_nothing(
    client: httpx.AsyncClient,
    orders_pool: aiopg.Pool,
    body: bytes,
    headers: dict[str, str],
    status: int,
    field: str,
) -> None:
    sent_headers = {"Content-Type": "application/json", **headers}
    response = await client.post("/orders", content=body, headers=sent_headers)
    assert response.status_code == status
    errors = response.json()["errors"]
    assert field in [error["field"] for error in errors]
    assert all(error["problem"] for error in errors)
    assert await count(orders_pool, "orders") == 0
    assert await count(orders_pool, "outbox") == 0


async def test_reading_an_unknown_or_malformed_order_id(client: httpx.AsyncClient) -> None:
    missing = await client.get("/orders/3f1c2d4e-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    malformed = await client.get("/orders/not-a-uuid")
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["field"] == "order_id"


async def test_health_answers_when_the_database_does(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
