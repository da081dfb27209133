"""The Debezium CDC relay (RELAY_MODE=debezium): real Kafka Connect, PostgreSQL and Kafka.

Connect is started through `infra/connect.sh start` if it is not running (and left running:
`make test` stops what it started). Each test registers a connector of its own for its world's
orders database and topic, with `infra/connect.sh register`, and removes it (connector,
offsets, replication slot, publication) with `infra/connect.sh unregister`.

Nothing here needs the polling relay, which a project generated for Debezium alone does not
have; the test comparing the two relays is in `test_debezium_matches_relay.py`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiopg
import pytest
from aiokafka.structs import ConsumerRecord

from services.inventory.handlers import get_stock, set_stock
from services.order.handlers import place_order
from services.order.models import PlaceOrder
from services.outbox_cleanup import sweep
from shared.events import parse_event
from shared.settings import CommonSettings
from tests.conftest import World
from tests.support.debezium import Connector, connect_sh, connector_for
from tests.support.faust_apps import wait_until
from tests.support.inventory import apply_event
from tests.support.outbox import TRACEPARENT, insert_event, outbox_rows, read_all

DELIVERY_TIMEOUT = 90.0


@pytest.fixture
async def connector(world: World) -> AsyncIterator[Connector]:
    """A connector for this test's world, Connect started if need be; removed (with its slot,
    publication and heartbeat topic) before the world's database is dropped."""
    async with connector_for(world) as handle:
        yield handle


async def exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def an_order(customer: str, sku: str = "SKU-1", quantity: int = 2) -> PlaceOrder:
    return PlaceOrder.model_validate(
        {"customer_id": customer, "items": [{"sku": sku, "quantity": quantity}]}
    )


def header_map(record: ConsumerRecord) -> dict[str, bytes | None]:
    return {key: value for key, value in record.headers}


def event_id_of(record: ConsumerRecord) -> str:
    value = header_map(record)["event_id"]
    assert value is not None
    return value.decode()


def world_settings(world: World, topic: str | None = None) -> CommonSettings:
    """Settings reading this test's world: its events topic, or `topic` if given."""
    values: dict[str, Any] = world.overrides()
    if topic is not None:
        values["order_events_topic"] = topic
    return CommonSettings(**values)


async def records_until(
    world: World, topic: str, event_ids: set[str], *, within: float = DELIVERY_TIMEOUT
) -> list[ConsumerRecord]:
    """Every committed record of `topic` once all `event_ids` are among them."""
    settings = world_settings(world, topic)
    deadline = time.monotonic() + within
    while True:
        records = await read_all(settings)
        missing = event_ids - {event_id_of(record) for record in records}
        if not missing:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(missing)} of {len(event_ids)} events not on {topic} after {within:.0f}s"
            )
        await asyncio.sleep(0.5)


async def wait_until_slot_confirms_now(pool: aiopg.Pool, slot: str) -> None:
    """Wait until the connector has processed (and confirmed) all WAL written so far."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT pg_current_wal_lsn()::text")
        (lsn,) = await cur.fetchone()
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while True:
            await cur.execute(
                "SELECT confirmed_flush_lsn >= %(lsn)s::pg_lsn FROM pg_replication_slots"
                " WHERE slot_name = %(slot)s",
                {"lsn": lsn, "slot": slot},
            )
            row = await cur.fetchone()
            if row is not None and row[0]:
                return
            assert time.monotonic() < deadline, f"slot {slot} did not confirm {lsn}"
            await asyncio.sleep(0.2)


async def sweep_until_deleted(pool: aiopg.Pool, slot: str, rows: int) -> int:
    """Sweep (no retention, two rows per statement) until `rows` rows are gone. A sweep defers
    rows younger than any transaction open anywhere in the cluster when it starts (other
    tests' included) to a later sweep."""
    deleted = 0
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while deleted < rows and time.monotonic() < deadline:
        deleted += await sweep(pool, slot, confirm_within=DELIVERY_TIMEOUT,
                               older_than=timedelta(0), batch_size=2) or 0
    return deleted


async def test_connect_killed_mid_stream_loses_nothing_and_stock_stays_right(
    world: World, orders_pool: aiopg.Pool, inventory_pool: aiopg.Pool, connector: Connector
) -> None:
    await set_stock(inventory_pool, "SKU-1", 1000)
    connector.register()
    orders = 80

    async def place_all() -> None:
        for number in range(orders):
            await place_order(
                orders_pool, an_order(f"c{number}", quantity=1), traceparent=TRACEPARENT
            )
            await asyncio.sleep(0.1)

    placing = asyncio.create_task(place_all())
    # Kill the worker once part of the stream is on the topic, while orders keep coming.
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while len(await read_all(world_settings(world))) < 10:
        assert time.monotonic() < deadline, "no records before the kill"
        await asyncio.sleep(0.2)
    pid = int(re.findall(r"pid (\d+)", connect_sh("status"))[0])
    assert not placing.done(), "all orders were placed before the kill"
    os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: exited(pid), within=10, what=f"the killed worker {pid} to exit")
    # Orders keep coming while the worker restarts (in a thread, so this loop runs on).
    await asyncio.to_thread(connect_sh, "start")
    await placing

    expected = {row.event_id for row in await outbox_rows(orders_pool)}
    assert len(expected) == orders
    records = await records_until(world, connector.topic, expected)
    counts = Counter(event_id_of(record) for record in records)
    assert set(counts) == expected  # nothing lost
    # Exactly-once source delivery: the aborted transaction of the killed task is invisible
    # to read_committed, and the task resumed from the offsets committed with the records.
    assert max(counts.values()) == 1, {k: n for k, n in counts.items() if n > 1}

    # Inventory dedupes by event id, so stock is right even if records came twice: apply
    # every record twice, in topic order.
    for record in records + records:
        await apply_event(inventory_pool, parse_event(record.value))
    stock = await get_stock(inventory_pool, "SKU-1")
    assert stock is not None
    assert stock.available == 1000 - orders


async def test_only_the_outbox_table_is_published_through_the_connectors_own_slot(
    world: World, orders_pool: aiopg.Pool, connector: Connector
) -> None:
    connector.register()
    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
            (connector.publication,),
        )
        assert await cur.fetchall() == [("public", "outbox")]
        await cur.execute(
            "SELECT plugin, slot_type, database FROM pg_replication_slots WHERE slot_name = %s",
            (connector.slot,),
        )
        assert await cur.fetchall() == [("pgoutput", "logical", world.order_db_name)]


async def test_cleanup_deletes_captured_rows_and_updates_or_deletes_publish_nothing(
    world: World, orders_pool: aiopg.Pool, connector: Connector
) -> None:
    connector.register()
    for customer in ("alice", "bob", "carol"):
        await place_order(orders_pool, an_order(customer), traceparent=TRACEPARENT)
    expected = {row.event_id for row in await outbox_rows(orders_pool)}
    await records_until(world, connector.topic, expected)

    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("UPDATE outbox SET traceparent = NULL")
    assert await sweep_until_deleted(orders_pool, connector.slot, 3) == 3
    assert await outbox_rows(orders_pool) == []

    # A row whose transaction is still open when a sweep looks at the WAL is kept, even though
    # it commits (and so is confirmed) before that sweep deletes: the next sweep removes it.
    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("BEGIN")
        late = await insert_event(orders_pool, str(uuid.uuid4()), 1, cur=cur)
        sweeping = asyncio.create_task(
            sweep(orders_pool, connector.slot, confirm_within=DELIVERY_TIMEOUT)
        )
        await asyncio.sleep(0.5)
        await cur.execute("COMMIT")
    assert await sweeping == 0
    assert [row.event_id for row in await outbox_rows(orders_pool)] == [late]
    assert await sweep_until_deleted(orders_pool, connector.slot, 1) == 1

    # Debezium has read the updates and deletes by now, and published none of them.
    await wait_until_slot_confirms_now(orders_pool, connector.slot)
    records = await read_all(world_settings(world))
    assert Counter(event_id_of(record) for record in records) == Counter(expected | {late})
