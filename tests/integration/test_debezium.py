"""The Debezium CDC relay (RELAY_MODE=debezium): real Kafka Connect, PostgreSQL and Kafka.

Connect is started through `infra/connect.sh start` if it is not running (and left running:
`make test` stops what it started). Each test registers a connector of its own for its world's
orders database and topic, with `infra/connect.sh register`, and removes it (connector,
offsets, replication slot, publication) with `infra/connect.sh unregister`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError
from aiokafka.structs import ConsumerRecord

from services.inventory.handlers import apply_event, get_stock, set_stock
from services.order.handlers import place_order
from services.order.models import PlaceOrder
from services.outbox_cleanup import sweep
from services.relay.relay import Relay
from shared.events import parse_event
from shared.settings import CommonSettings
from tests.conftest import World
from tests.support.faust_apps import wait_until
from tests.support.relay import (
    TRACEPARENT,
    insert_event,
    outbox_rows,
    read_all,
    relay_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CONNECT_SH = REPO_ROOT / "infra" / "connect.sh"
DELIVERY_TIMEOUT = 90.0


def connect_sh(command: str, env: dict[str, str] | None = None) -> str:
    """Run `infra/connect.sh <command>`; fail the test with its one-line error."""
    done = subprocess.run(
        ["bash", str(CONNECT_SH), command],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, f"connect.sh {command}: {done.stderr.strip() or done.stdout}"
    return done.stdout


@pytest.fixture(scope="session")
def kafka_connect() -> None:
    """Kafka Connect, started by the project's script unless it already runs."""
    connect_sh("start")


class Connector:
    """One test's outbox connector: its names, registered and removed through connect.sh."""

    def __init__(self, world: World, settings: CommonSettings) -> None:
        suffix = world.order_db_name.removeprefix("test_orders_")
        self.name = f"outbox-test-{suffix}"
        self.slot = f"outbox_test_{suffix}"
        self.publication = f"outbox_test_{suffix}"
        self.topic = world.order_events_topic
        # Where Debezium's heartbeats go (they carry the slot position on an idle outbox).
        self.heartbeat_topic = f"__debezium-heartbeat.{self.name}"
        self.env = {
            **os.environ,
            "RELAY_MODE": "debezium",
            "ORDER_DB_NAME": world.order_db_name,
            "ORDER_EVENTS_TOPIC": world.order_events_topic,
            "ORDER_EVENTS_PARTITIONS": str(settings.order_events_partitions),
            "DEBEZIUM_CONNECTOR_NAME": self.name,
            "DEBEZIUM_SLOT_NAME": self.slot,
            "DEBEZIUM_PUBLICATION_NAME": self.publication,
            # Confirm slot positions every second, so the tests need not wait long.
            "DEBEZIUM_HEARTBEAT_INTERVAL_MS": "1000",
        }
        self.registered = False

    def register(self) -> None:
        self.registered = True
        connect_sh("register", self.env)

    def unregister(self) -> None:
        connect_sh("unregister", self.env)


@pytest.fixture
async def connector(
    kafka_connect: None, world: World, common_settings: CommonSettings
) -> AsyncIterator[Connector]:
    """A connector for this test's world; removed before the world's database is dropped."""
    handle = Connector(world, common_settings)
    yield handle
    if handle.registered:
        handle.unregister()
        await delete_topic(common_settings.kafka_bootstrap_servers, handle.heartbeat_topic)


async def delete_topic(bootstrap_servers: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    except UnknownTopicOrPartitionError:
        pass
    finally:
        await admin.close()


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


def visible_headers(record: ConsumerRecord) -> dict[str, bytes]:
    """Headers as a consumer reading them by name sees them: a null value reads as absent."""
    return {key: value for key, value in record.headers if value is not None}


def event_id_of(record: ConsumerRecord) -> str:
    value = header_map(record)["event_id"]
    assert value is not None
    return value.decode()


async def records_until(
    world: World, topic: str, event_ids: set[str], *, within: float = DELIVERY_TIMEOUT
) -> list[ConsumerRecord]:
    """Every committed record of `topic` once all `event_ids` are among them."""
    settings = relay_settings(world.overrides(), order_events_topic=topic)
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
    """Sweep until `rows` rows are gone. A sweep defers rows younger than any transaction open
    anywhere in the cluster when it starts (other tests' included) to a later sweep."""
    deleted = 0
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while deleted < rows and time.monotonic() < deadline:
        deleted += await sweep(pool, slot, confirm_within=DELIVERY_TIMEOUT) or 0
    return deleted


async def test_records_are_those_the_polling_relay_publishes(
    world: World, orders_pool: aiopg.Pool, connector: Connector
) -> None:
    # Written before the connector exists: the initial snapshot must deliver these, except a
    # row the polling relay already published (switching modes must not publish it again).
    before = [
        await place_order(orders_pool, an_order("alice"), traceparent=TRACEPARENT),
        await place_order(orders_pool, an_order("bob")),
    ]
    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "UPDATE outbox SET published_at = now() WHERE aggregate_id = %s",
            (str(before[1].order.order_id),),
        )
    connector.register()
    for customer, traceparent in (("carol", TRACEPARENT), ("dave", None), ("erin", TRACEPARENT)):
        await place_order(orders_pool, an_order(customer), traceparent=traceparent)

    rows = {row.event_id: row for row in await outbox_rows(orders_pool)}
    expected = {event_id for event_id, row in rows.items() if not row.published}
    assert len(expected) == 4
    debezium = await records_until(world, connector.topic, expected)
    assert sorted(event_id_of(record) for record in debezium) == sorted(expected)

    # The polling relay publishes the same rows into a topic of its own.
    polling_topic = f"{connector.topic}.polling"
    settings = relay_settings(world.overrides(), order_events_topic=polling_topic)
    relay = Relay(orders_pool, settings)
    try:
        await relay.open()
        assert await relay.drain() == 4
    finally:
        await relay.close()
    polling = {event_id_of(record): record for record in await read_all(settings)}

    for record in debezium:
        row = rows[event_id_of(record)]
        twin = polling[row.event_id]
        assert record.key == twin.key == row.aggregate_id.encode()
        assert record.value == twin.value == row.payload.encode()  # payload::text, byte for byte
        assert record.partition == twin.partition
        assert (
            visible_headers(record)
            == visible_headers(twin)
            == {
                "event_id": row.event_id.encode(),
                "event_type": row.event_type.encode(),
                **({"traceparent": row.traceparent.encode()} if row.traceparent else {}),
            }
        )
        # The one difference: Debezium writes a null traceparent as a header with a null
        # value; the polling relay leaves the header out. (The router's `id` header and
        # Debezium's context headers are switched off.)
        assert set(header_map(record)) == {"event_id", "event_type", "traceparent"}
        assert parse_event(record.value).event_id == uuid.UUID(row.event_id)


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
    while len(await read_all(relay_settings(world.overrides()))) < 10:
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
    records = await read_all(relay_settings(world.overrides()))
    assert Counter(event_id_of(record) for record in records) == Counter(expected | {late})
