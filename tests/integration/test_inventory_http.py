"""`/stock/{sku}`, `/reservations/{order_id}` and `/health` of the running inventory service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiopg
import httpx
import pytest

from services.inventory.app import create_app
from tests.conftest import World
from tests.support.faust_apps import running_app
from tests.support.inventory import apply_event, inventory_settings
from tests.support.order_events import order_created


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    settings = inventory_settings(world)
    base_url = f"http://{settings.inventory_http_host}:{settings.inventory_http_port}"
    async with running_app(create_app(settings)), httpx.AsyncClient(base_url=base_url) as http:
        yield http


async def test_stock_can_be_set_and_read(client: httpx.AsyncClient) -> None:
    put = await client.put("/stock/APPLE-1", json={"available": 7})
    assert (put.status_code, put.json()) == (200, {"sku": "APPLE-1", "available": 7})
    again = await client.put("/stock/APPLE-1", json={"available": 0})
    assert (again.status_code, again.json()) == (200, {"sku": "APPLE-1", "available": 0})
    got = await client.get("/stock/APPLE-1")
    assert (got.status_code, got.json()) == (200, {"sku": "APPLE-1", "available": 0})

    unknown = await client.get("/stock/NOPE")
    assert unknown.status_code == 404
    assert unknown.json() == {"errors": [{"field": "sku", "problem": "no such sku"}]}
    malformed = await client.get("/stock/lower-case")
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["field"] == "sku"


# (what is wrong, request, expected status, field the answer must name). One app serves the
# whole matrix: starting one per case would cost seconds each.
BAD_UPDATES: list[tuple[str, dict[str, Any], int, str]] = [
    ("negative", {"json": {"available": -1}}, 422, "available"),
    ("string", {"json": {"available": "5"}}, 422, "available"),
    ("float", {"json": {"available": 5.0}}, 422, "available"),
    ("boolean", {"json": {"available": True}}, 422, "available"),
    ("null", {"json": {"available": None}}, 422, "available"),
    ("too large for the column", {"json": {"available": 2**31}}, 422, "available"),
    ("missing", {"json": {}}, 422, "available"),
    ("unknown field", {"json": {"available": 1, "reserved": 2}}, 422, "reserved"),
    ("not an object", {"json": [1]}, 422, "body"),
    ("malformed JSON", {"content": b'{"available": ',
                        "headers": {"Content-Type": "application/json"}}, 400, "body"),
    ("not UTF-8", {"content": b'{"available": "\xff"}',
                   "headers": {"Content-Type": "application/json"}}, 400, "body"),
    ("not JSON", {"content": b"available=1",
                  "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
     415, "Content-Type"),
    ("too big", {"content": b" " * 20_000 + b'{"available": 1}',
                 "headers": {"Content-Type": "application/json"}}, 413, "body"),
]
BAD_SKUS = ["lower", "-LEADING-DASH", "X" * 33, "SP%20ACE", "%C3%84PFEL"]


async def test_bad_stock_updates_answer_4xx_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/stock/APPLE", json={"available": 3})
    for case, request_kwargs, status, field in BAD_UPDATES:
        response = await client.put("/stock/APPLE", **request_kwargs)
        assert response.status_code == status, case
        errors = response.json()["errors"]
        assert field in [error["field"] for error in errors], (case, errors)
        assert all(error["problem"] for error in errors), case
    for sku in BAD_SKUS:
        response = await client.put(f"/stock/{sku}", json={"available": 1})
        assert response.status_code == 400, sku
        assert response.json()["errors"] == [
            {"field": "sku", "problem": "must match ^[A-Z0-9][A-Z0-9-]{0,31}$"}], sku

    assert (await client.get("/stock/APPLE")).json() == {"sku": "APPLE", "available": 3}
    assert (await client.get("/stock/LOWER")).status_code == 404


async def test_reservations_show_the_outcome_of_an_order_and_health_answers(
    client: httpx.AsyncClient, inventory_pool: aiopg.Pool
) -> None:
    await client.put("/stock/APPLE", json={"available": 3})
    event = order_created(("APPLE", 2))
    await apply_event(inventory_pool, event)

    response = await client.get(f"/reservations/{event.payload.order_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "reserved"
    assert body["event_id"] == str(event.event_id)
    assert body["items"] == [{"sku": "APPLE", "quantity": 2}]
    assert (await client.get(f"/reservations/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/reservations/not-a-uuid")).status_code == 400
    health = await client.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
