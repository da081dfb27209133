"""The Debezium relay publishes what the polling relay publishes: real Kafka Connect, PostgreSQL
and Kafka, and the polling relay itself.

Only a project with both relays (relay_mode "both") has this test; the Debezium tests that need
no polling relay are in `test_debezium.py`, whose helpers this one shares.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiopg
import pytest
from aiokafka.structs import ConsumerRecord

from services.inventory.handlers import set_stock
from services.order.handlers import place_order
from services.relay.relay import Relay
from shared.events import parse_event
from tests.conftest import World
from tests.integration.test_debezium import an_order, event_id_of, header_map, records_until
from tests.support.debezium import Connector, connector_for
from tests.support.inventory import apply_event
from tests.support.order_events import order_cancelled, order_created
from tests.support.outbox import TRACEPARENT, StoredRow, outbox_rows, read_all
from tests.support.relay import order_route, relay_settings


@pytest.fixture
async def connector(world: World) -> AsyncIterator[Connector]:
    """A connector for this test's world, Connect started if need be; removed afterwards."""
    async with connector_for(world) as handle:
        yield handle


def visible_headers(record: ConsumerRecord) -> dict[str, bytes]:
    """Headers as a consumer reading them by name sees them: a null value reads as absent."""
    return {key: value for key, value in record.headers if value is not None}


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
    relay = Relay(orders_pool, order_route(settings), settings)
    try:
        await relay.open()
        assert await relay.drain() == 4
    finally:
        await relay.close()
    polling = {event_id_of(record): record for record in await read_all(settings)}

    assert_same_records(debezium, polling, rows)


async def test_the_inventory_outboxs_records_are_those_the_polling_relay_publishes(
    world: World, inventory_pool: aiopg.Pool, connector: Connector
) -> None:
    await set_stock(inventory_pool, "APPLE", 2)
    created = [order_created(("APPLE", 2)), order_created(("APPLE", 1))]
    for event in (*created, order_cancelled(created[0].payload.order_id)):
        await apply_event(inventory_pool, event)  # StockReserved, StockRejected, StockReleased
    connector.register()

    rows = {row.event_id: row for row in await outbox_rows(inventory_pool)}
    assert sorted(row.event_type for row in rows.values()) == [
        "StockRejected", "StockReleased", "StockReserved"]
    debezium = await records_until(world, world.inventory_events_topic, set(rows))

    polling_topic = f"{world.inventory_events_topic}.polling"
    settings = relay_settings(world.overrides(), relay_outboxes=[
        {"database": world.inventory_db_name, "topic": polling_topic}])
    relay = Relay(inventory_pool, settings.routes()[0], settings)
    try:
        await relay.open()
        assert await relay.drain() == 3
    finally:
        await relay.close()
    polling = {event_id_of(record): record
               for record in await read_all(settings.model_copy(
                   update={"order_events_topic": polling_topic}))}

    assert_same_records(debezium, polling, rows)


def assert_same_records(debezium: list[ConsumerRecord], polling: dict[str, ConsumerRecord],
                        rows: dict[str, StoredRow]) -> None:
    """Field by field: the Debezium records, their polling twins and the outbox rows agree."""
    assert len(debezium) == len(polling)
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
