"""`GET /metrics` of the order service with Debezium as the relay: the outbox's backlog is what
the connector's replication slot has not confirmed."""

from __future__ import annotations

import uuid

import httpx

from services.order.app import create_app as create_order_app
from tests.conftest import World
from tests.support.debezium import connect_url, connector_for
from tests.support.faust_apps import running_app, wait_until
from tests.support.metrics import place, until_scraped
from tests.support.orders import order_settings


async def test_in_debezium_mode_the_backlog_is_what_the_slot_has_not_confirmed(
    world: World,
) -> None:
    async with connector_for(world) as connector:
        settings = order_settings(world, relay_mode="debezium",
                                  debezium_slot_name=connector.slot)
        async with (
            running_app(create_order_app(settings)),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.order_http_port}") as orders,
            httpx.AsyncClient(base_url=connect_url()) as connect,
        ):
            sku = f"SKU-{uuid.uuid4().hex[:8].upper()}"
            connector.register()
            await place(orders, sku)
            await until_scraped(orders, "outbox_pending_events", 0,
                                topic=world.order_events_topic)

            # The connector paused: its slot confirms nothing, and the backlog grows.
            paused = await connect.put(f"/connectors/{connector.name}/pause")
            assert paused.status_code == 202, paused.text
            await wait_until(lambda: task_state_is(connect, connector.name, "PAUSED"),
                             within=60, what="the connector paused")
            for _ in range(5):
                await place(orders, sku)
            waiting = await until_scraped(orders, "outbox_pending_events", 5,
                                          topic=world.order_events_topic)
            assert (waiting.value("outbox_oldest_pending_age_seconds",
                                  topic=world.order_events_topic) or 0) > 0
            assert (waiting.value("outbox_slot_retained_wal_bytes", slot=connector.slot)
                    or 0) > 0

            resumed = await connect.put(f"/connectors/{connector.name}/resume")
            assert resumed.status_code == 202, resumed.text
            await until_scraped(orders, "outbox_pending_events", 0,
                                topic=world.order_events_topic)


async def task_state_is(connect: httpx.AsyncClient, name: str, state: str) -> bool:
    status = (await connect.get(f"/connectors/{name}/status")).json()
    tasks = status.get("tasks") or []
    return bool(tasks) and all(task["state"] == state for task in tasks)
