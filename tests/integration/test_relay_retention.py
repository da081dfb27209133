"""The polling relay's retention: the relay holding an outbox's lease deletes its rows
published longer ago than OUTBOX_RETENTION, in batches; a standby relay deletes nothing.

What `prune` itself deletes and keeps is in `test_retention.py`.
"""

from __future__ import annotations

import uuid

import aiopg

from services.relay.app import create_app
from tests.conftest import World
from tests.support.faust_apps import free_port, running_app, wait_until
from tests.support.inventory import fetch_all
from tests.support.outbox import header, insert_event, outbox_rows, read_all
from tests.support.relay import relay_settings


async def old_published_row(pool: aiopg.Pool, days: float) -> str:
    """An outbox row written and published `days` ago; its event id."""
    event_id = await insert_event(pool, "order-old", 1)
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "UPDATE outbox SET created_at = now() - %s * interval '1 day' - interval '1 minute',"
            " published_at = now() - %s * interval '1 day' WHERE event_id = %s",
            (days, days, event_id))
    return event_id


async def event_ids(pool: aiopg.Pool) -> set[str]:
    return {row[0] for row in await fetch_all(pool, "SELECT event_id::text FROM outbox")}


async def test_the_publishing_relay_deletes_rows_published_before_the_retention_in_each_outbox(
    world: World, orders_pool: aiopg.Pool, inventory_pool: aiopg.Pool,
) -> None:
    settings = relay_settings(world.overrides(), relay_http_port=free_port(),
                              outbox_retention="7d", outbox_cleanup_interval_seconds=0.2,
                              outbox_cleanup_batch_size=2)
    old = {pool: {await old_published_row(pool, days) for days in (8, 9, 10, 30, 7.01)}
           for pool in (orders_pool, inventory_pool)}
    kept = {pool: {await old_published_row(pool, days) for days in (6.9, 1)}
            for pool in (orders_pool, inventory_pool)}
    # Not published yet: the relay publishes (and marks) it, and keeps it a week from now.
    fresh = await insert_event(orders_pool, str(uuid.uuid4()), 1)

    async with running_app(create_app(settings)):
        for pool in (orders_pool, inventory_pool):
            async def pruned(pool: aiopg.Pool = pool) -> bool:
                return not (await event_ids(pool)) & old[pool]

            await wait_until(pruned, within=30, what="the relay to delete the old rows")

    assert await event_ids(orders_pool) == kept[orders_pool] | {fresh}
    assert await event_ids(inventory_pool) == kept[inventory_pool]
    assert all(row.published for row in await outbox_rows(orders_pool))  # RELAY_RETENTION=mark
    assert fresh in {header(record, "event_id") for record in await read_all(settings)}


async def test_a_relay_that_does_not_hold_the_lease_deletes_nothing(
    world: World, orders_pool: aiopg.Pool, inventory_pool: aiopg.Pool,
) -> None:
    settings = relay_settings(world.overrides(), relay_http_port=free_port(),
                              outbox_cleanup_interval_seconds=0.2)
    standing_by = {await old_published_row(orders_pool, 30) for _ in range(3)}
    publishing = {await old_published_row(inventory_pool, 30) for _ in range(3)}
    # Another relay holds the orders outbox's lease (named after its transactional id).
    orders_route = settings.routes()[0]
    assert orders_route.database == world.order_db_name
    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("INSERT INTO relay_lease (name, holder, expires_at)"
                          " VALUES (%s, 'another relay', now() + interval '1 hour')",
                          (orders_route.transactional_id,))

    async with running_app(create_app(settings)):
        # This relay publishes the inventory's outbox, and sweeps it: sweeps have run.
        async def swept() -> bool:
            return not (await event_ids(inventory_pool)) & publishing

        await wait_until(swept, within=30, what="the relay to sweep the outbox it publishes")
        assert await event_ids(orders_pool) == standing_by
