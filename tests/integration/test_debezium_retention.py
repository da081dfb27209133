"""The Debezium outbox cleanup (`services.outbox_cleanup`) through real replication slots: it
sweeps both outboxes, each through its own connector's slot, deletes only what the slot has
confirmed and what is older than OUTBOX_RETENTION, and deletes nothing while the connector is
paused, however old the rows.

`prune`'s own criteria are in `test_retention.py`; the cleanup's first test, on one outbox
with no retention, is in `test_debezium.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta
from typing import Any

import aiopg
import httpx

from services.outbox_cleanup import OutboxCleanupSettings, problems, run, sweep
from tests.conftest import World
from tests.support.debezium import Connector, connect_url, registered_connector
from tests.support.faust_apps import wait_until
from tests.support.inventory import fetch_all
from tests.support.outbox import insert_event

DELIVERY_TIMEOUT = 90.0
WEEK = timedelta(days=7)


async def written_days_ago(pool: aiopg.Pool, days: float, count: int) -> set[str]:
    """`count` outbox rows written as if `days` ago, in transactions of their own."""
    found = set()
    for _ in range(count):
        event_id = str(uuid.uuid4())
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type,"
                " schema_version, payload, created_at) VALUES (%s, 'order', %s, 'OrderTestStep',"
                " 1, %s, now() - %s * interval '1 day')",
                (event_id, event_id, f'{{"event_id": "{event_id}"}}', days))
        found.add(event_id)
    return found


async def event_ids(pool: aiopg.Pool) -> set[str]:
    return {row[0] for row in await fetch_all(pool, "SELECT event_id::text FROM outbox")}


def cleanup_settings(world: World, connector: Connector, **values: Any) -> OutboxCleanupSettings:
    return OutboxCleanupSettings(**{
        **world.overrides(),
        "relay_mode": "debezium",
        "debezium_slot_name": connector.env["DEBEZIUM_SLOT_NAME"],
        "debezium_inventory_slot_name": connector.env["DEBEZIUM_INVENTORY_SLOT_NAME"],
        "debezium_outboxes": "",
        **values,
    })


async def test_the_cleanup_sweeps_both_outboxes_keeping_what_is_younger_than_the_retention(
    world: World, orders_pool: aiopg.Pool, inventory_pool: aiopg.Pool,
) -> None:
    async with registered_connector(world) as connector:
        settings = cleanup_settings(world, connector, outbox_retention="7d",
                                    outbox_cleanup_interval_seconds=0.2,
                                    outbox_cleanup_batch_size=2,
                                    outbox_cleanup_confirm_timeout_seconds=DELIVERY_TIMEOUT)
        assert [outbox.slot for outbox in settings.outboxes()] == [
            connector.slot, f"{connector.slot}_inventory"]
        # What compose's health check (`--check`) asks: both slots are there.
        assert await problems(settings) == []
        assert await problems(settings.model_copy(
            update={"debezium_inventory_slot_name": "no_such_slot"})) == [
            f"the inventory outbox: database {settings.inventory_db_name} has no replication "
            "slot no_such_slot (connector not registered?)"]
        old = {pool: await written_days_ago(pool, 10, 5)
               for pool in (orders_pool, inventory_pool)}
        young = {pool: await written_days_ago(pool, 6, 2) | {await insert_event(pool, "o", 1)}
                 for pool in (orders_pool, inventory_pool)}

        cleaning = asyncio.create_task(run(settings))
        try:
            for pool in (orders_pool, inventory_pool):
                async def swept(pool: aiopg.Pool = pool) -> bool:
                    assert not cleaning.done(), cleaning
                    return not (await event_ids(pool)) & old[pool]

                await wait_until(swept, within=DELIVERY_TIMEOUT,
                                 what="the cleanup to delete the confirmed old rows")
        finally:
            cleaning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleaning

        assert await event_ids(orders_pool) == young[orders_pool]
        assert await event_ids(inventory_pool) == young[inventory_pool]


async def test_rows_the_slot_has_not_confirmed_stay_however_old(
    world: World, orders_pool: aiopg.Pool,
) -> None:
    async with registered_connector(world) as connector, httpx.AsyncClient(
        base_url=connect_url()
    ) as connect:
        paused = await connect.put(f"/connectors/{connector.name}/pause")
        assert paused.status_code == 202, paused.text
        await wait_until(lambda: task_state_is(connect, connector.name, "PAUSED"),
                         within=60, what="the connector paused")
        # Give a heartbeat already on its way the time to land: after that nothing confirms.
        await asyncio.sleep(3)
        waiting = await written_days_ago(orders_pool, 30, 3)

        assert await sweep(orders_pool, connector.slot, confirm_within=3,
                           older_than=WEEK, batch_size=2) is None
        assert await event_ids(orders_pool) == waiting

        resumed = await connect.put(f"/connectors/{connector.name}/resume")
        assert resumed.status_code == 202, resumed.text
        deleted = 0
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        # A sweep defers rows younger than any transaction open anywhere in the cluster when
        # it starts (other tests' included) to a later sweep.
        while deleted < len(waiting) and time.monotonic() < deadline:
            deleted += await sweep(orders_pool, connector.slot, confirm_within=DELIVERY_TIMEOUT,
                                   older_than=WEEK, batch_size=2) or 0
        assert deleted == len(waiting)
        assert await event_ids(orders_pool) == set()


async def task_state_is(connect: httpx.AsyncClient, name: str, state: str) -> bool:
    status = (await connect.get(f"/connectors/{name}/status")).json()
    tasks = status.get("tasks") or []
    return bool(tasks) and all(task["state"] == state for task in tasks)
