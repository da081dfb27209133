"""The inventory service consuming `order.events`: the real Faust app, Kafka and PostgreSQL."""

from __future__ import annotations

import json
import uuid

import aiopg
import pytest

from services.inventory.app import create_app
from services.inventory.handlers import set_stock
from services.inventory.settings import InventorySettings
from shared.inbox.dead_letters import dead_letter_topic
from tests.conftest import World
from tests.support.faust_apps import running_app, wait_until
from tests.support.inventory import (
    available,
    count,
    fetch_all,
    inventory_settings,
    outcome_of,
)
from tests.support.order_events import (
    order_created,
    publish,
    publish_raw,
    read_committed,
    record_of,
    relay_producer,
)


@pytest.fixture
def settings(world: World) -> InventorySettings:
    return inventory_settings(world)


async def wait_for_outcome(pool: aiopg.Pool, order_id: uuid.UUID) -> tuple[str, str | None]:
    async def applied() -> bool:
        return await outcome_of(pool, order_id) is not None

    await wait_until(applied, what=f"an outcome for order {order_id}")
    outcome = await outcome_of(pool, order_id)
    assert outcome is not None
    return outcome


async def test_an_order_reserves_its_stock_and_an_order_that_does_not_fit_changes_nothing(
    settings: InventorySettings, inventory_pool: aiopg.Pool
) -> None:
    await set_stock(inventory_pool, "APPLE", 10)
    await set_stock(inventory_pool, "PEAR", 3)
    fits = order_created(("APPLE", 4), ("PEAR", 3))
    too_many_pears = order_created(("APPLE", 1), ("PEAR", 4))
    unknown_sku = order_created(("APPLE", 1), ("NO-SUCH-SKU", 1))

    async with running_app(create_app(settings)), relay_producer(
        settings.kafka_bootstrap_servers
    ) as producer:
        await publish(producer, settings.order_events_topic, [fits, too_many_pears, unknown_sku])
        outcomes = [await wait_for_outcome(inventory_pool, event.payload.order_id)
                    for event in (fits, too_many_pears, unknown_sku)]

    assert outcomes[0] == ("reserved", None)
    assert outcomes[1][0] == "rejected"
    assert "PEAR" in str(outcomes[1][1])
    assert outcomes[2] == ("rejected", "unknown sku NO-SUCH-SKU")
    # The rejected orders took nothing, not even their APPLE line.
    assert await available(inventory_pool, "APPLE") == 6
    assert await available(inventory_pool, "PEAR") == 0


async def test_an_event_delivered_three_times_changes_stock_once(
    settings: InventorySettings, inventory_pool: aiopg.Pool
) -> None:
    await set_stock(inventory_pool, "APPLE", 10)
    event = order_created(("APPLE", 2))
    later = order_created(("APPLE", 1))

    async with running_app(create_app(settings)), relay_producer(
        settings.kafka_bootstrap_servers
    ) as producer:
        # Three records, as a relay that re-sends after a crash writes them.
        for _ in range(3):
            sent = await publish(producer, settings.order_events_topic, [event])
        # A later event on the same partition: once it is applied, so are the three before it.
        await publish(producer, settings.order_events_topic, [later],
                      partition=sent[0].partition)
        await wait_for_outcome(inventory_pool, later.payload.order_id)

    assert await outcome_of(inventory_pool, event.payload.order_id) == ("reserved", None)
    assert await available(inventory_pool, "APPLE") == 10 - 2 - 1
    assert await count(inventory_pool, "processed_events") == 2


async def test_a_backlog_is_applied_in_batches_each_event_once_and_stock_never_oversold(
    settings: InventorySettings, inventory_pool: aiopg.Pool
) -> None:
    await set_stock(inventory_pool, "APPLE", 100)
    events = [order_created(("APPLE", 1)) for _ in range(300)]
    async with relay_producer(settings.kafka_bootstrap_servers) as producer:
        # Everything is waiting before the service starts, each event twice (a re-send).
        await publish(producer, settings.order_events_topic, events)
        await publish(producer, settings.order_events_topic, events)
    async with running_app(create_app(settings)):
        async def all_applied() -> bool:
            return await count(inventory_pool, "reservations") == len(events)

        await wait_until(all_applied, within=60, what="300 outcomes")

    outcomes = [await outcome_of(inventory_pool, event.payload.order_id) for event in events]
    assert sum(outcome is not None and outcome[0] == "reserved" for outcome in outcomes) == 100
    assert sum(outcome is not None and outcome[0] == "rejected" for outcome in outcomes) == 200
    assert await available(inventory_pool, "APPLE") == 0
    assert await count(inventory_pool, "processed_events") == 300
    # processed_at is its transaction's start: fewer transactions than events, i.e. batches.
    [[transactions]] = await fetch_all(
        inventory_pool, "SELECT count(DISTINCT processed_at) FROM processed_events")
    assert transactions < len(events)


async def test_records_of_an_aborted_kafka_transaction_are_never_applied(
    settings: InventorySettings, inventory_pool: aiopg.Pool
) -> None:
    await set_stock(inventory_pool, "ABORTED", 5)
    await set_stock(inventory_pool, "COMMITTED", 5)
    aborted = order_created(("ABORTED", 1))
    committed = order_created(("COMMITTED", 1))

    async with relay_producer(settings.kafka_bootstrap_servers) as producer:
        # Same partition, aborted first: a read_uncommitted consumer would apply it first.
        await publish(producer, settings.order_events_topic, [aborted], partition=0, abort=True)
        await publish(producer, settings.order_events_topic, [committed], partition=0)
    async with running_app(create_app(settings)):
        await wait_for_outcome(inventory_pool, committed.payload.order_id)

    assert await available(inventory_pool, "COMMITTED") == 4
    assert await available(inventory_pool, "ABORTED") == 5
    assert await outcome_of(inventory_pool, aborted.payload.order_id) is None
    assert await count(inventory_pool, "processed_events") == 1


async def test_poison_records_go_to_the_dead_letter_topic_and_the_next_event_is_applied(
    settings: InventorySettings, inventory_pool: aiopg.Pool
) -> None:
    await set_stock(inventory_pool, "APPLE", 10)
    not_json = (b"order-1", b"{not json", [("event_id", b"e-1"), ("event_type", b"OrderCreated")])
    invalid = json.loads(order_created(("APPLE", 1)).model_dump_json())
    invalid["payload"]["items"][0]["quantity"] = 0
    not_valid = (b"order-2", json.dumps(invalid).encode(), [("event_type", b"OrderCreated")])
    good = order_created(("APPLE", 3))

    async with running_app(create_app(settings)), relay_producer(
        settings.kafka_bootstrap_servers
    ) as producer:
        poison = await publish_raw(producer, settings.order_events_topic, [not_json, not_valid],
                                   partition=1)
        await publish_raw(producer, settings.order_events_topic, [record_of(good)], partition=1)
        await wait_for_outcome(inventory_pool, good.payload.order_id)
        dead = await read_committed(settings.kafka_bootstrap_servers,
                                    dead_letter_topic(settings.order_events_topic), count=2)

    assert await available(inventory_pool, "APPLE") == 7
    by_value = {record.value: record for record in dead}
    assert set(by_value) == {not_json[1], not_valid[1]}
    for (key, value, headers), sent in zip((not_json, not_valid), poison, strict=True):
        record = by_value[value]
        assert record.key == key
        found = dict(record.headers)
        # The originals, but for a `traceparent` naming the dead-letter publish span.
        assert [header for header in record.headers
                if not header[0].startswith("dlq_") and header[0] != "traceparent"] == headers
        assert found["traceparent"].startswith(b"00-")
        assert found["dlq_source_topic"] == settings.order_events_topic.encode()
        assert found["dlq_source_partition"] == b"1"
        assert found["dlq_source_offset"] == str(sent.offset).encode()
    assert b"Invalid JSON" in dict(by_value[not_json[1]].headers)["dlq_reason"]
    reason = dict(by_value[not_valid[1]].headers)["dlq_reason"].decode()
    assert "payload.items.0.quantity: Input should be greater than or equal to 1" in reason


async def test_an_unknown_event_type_is_skipped_not_dead_lettered_and_the_next_is_applied(
    settings: InventorySettings, inventory_pool: aiopg.Pool
) -> None:
    await set_stock(inventory_pool, "APPLE", 10)
    newer = (b"order-1", json.dumps({"event_type": "OrderShipped", "event_id": "x"}).encode(),
             [("event_id", b"x"), ("event_type", b"OrderShipped")])
    good = order_created(("APPLE", 3))

    async with running_app(create_app(settings)), relay_producer(
        settings.kafka_bootstrap_servers
    ) as producer:
        await publish_raw(producer, settings.order_events_topic, [newer, record_of(good)],
                          partition=1)
        await wait_for_outcome(inventory_pool, good.payload.order_id)
        async with relay_producer(settings.kafka_bootstrap_servers) as marker:
            # A record of our own on the dead-letter topic: reading up to it shows that
            # nothing was dead-lettered before it.
            await publish_raw(marker, dead_letter_topic(settings.order_events_topic),
                              [(b"marker", b"marker", [])])
        [first] = await read_committed(settings.kafka_bootstrap_servers,
                                       dead_letter_topic(settings.order_events_topic), count=1)

    assert first.value == b"marker"
    assert await available(inventory_pool, "APPLE") == 7
    assert await count(inventory_pool, "processed_events") == 1
