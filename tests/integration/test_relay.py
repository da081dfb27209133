"""The relay against real PostgreSQL and Kafka: what it publishes, and when.

Orders are placed through the order service's own handler (or outbox rows inserted directly,
for volume); records are read back with read_committed, as a consumer would see them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiopg
import httpx

from services.order.handlers import place_order
from services.order.models import PlaceOrder
from services.relay import checkpoint
from services.relay.app import create_app
from services.relay.relay import Relay
from shared.events import parse_event
from shared.kafka import transactional_producer
from shared.settings import CommonSettings
from tests.conftest import World
from tests.support.faust_apps import free_port, running_app
from tests.support.outbox import TRACEPARENT, header, insert_event, outbox_rows, read_all
from tests.support.relay import order_route, relay_settings, unpublished_count, wait_until


def an_order(customer: str = "customer-1") -> PlaceOrder:
    return PlaceOrder.model_validate(
        {"customer_id": customer, "items": [{"sku": "SKU-1", "quantity": 2}]})


async def test_each_outbox_row_becomes_one_record_with_key_value_and_headers(
    world: World, orders_pool: aiopg.Pool
) -> None:
    settings = relay_settings(world.overrides())
    await place_order(orders_pool, an_order("alice"), traceparent=TRACEPARENT)
    await place_order(orders_pool, an_order("bob"))
    relay = Relay(orders_pool, order_route(settings), settings)
    try:
        await relay.open()
        assert await relay.drain() == 2
    finally:
        await relay.close()

    stored = await outbox_rows(orders_pool)
    records = {header(r, "event_id") or "": r for r in await read_all(settings)}
    assert sorted(records) == sorted(row.event_id for row in stored)
    for row in stored:
        record = records[row.event_id]
        assert record.key == row.aggregate_id.encode()
        assert record.value == row.payload.encode()  # the stored jsonb text, byte for byte
        assert parse_event(record.value).event_id == uuid.UUID(row.event_id)
        assert header(record, "event_type") == "OrderCreated"
        assert header(record, "traceparent") == row.traceparent
        assert row.published
    assert [row.traceparent for row in stored] == [TRACEPARENT, None]


async def test_delete_retention_removes_published_rows(
    world: World, orders_pool: aiopg.Pool
) -> None:
    settings = relay_settings(world.overrides(), relay_retention="delete")
    for customer in ("alice", "bob", "carol"):
        await place_order(orders_pool, an_order(customer))
    event_ids = {row.event_id for row in await outbox_rows(orders_pool)}
    relay = Relay(orders_pool, order_route(settings), settings)
    try:
        await relay.open()
        assert await relay.drain() == 3
    finally:
        await relay.close()

    assert await outbox_rows(orders_pool) == []
    records = await read_all(settings)
    assert {header(r, "event_id") for r in records} == event_ids
    assert len(records) == 3


async def test_many_batches_keep_the_order_of_each_orders_events(
    world: World, orders_pool: aiopg.Pool
) -> None:
    settings = relay_settings(world.overrides(), relay_batch_size=7)
    orders = [str(uuid.uuid4()) for _ in range(4)]
    for sequence in range(1, 11):
        for order_id in orders:
            await insert_event(orders_pool, order_id, sequence)
    relay = Relay(orders_pool, order_route(settings), settings)
    try:
        await relay.open()
        assert await relay.drain() == 40
    finally:
        await relay.close()

    records = await read_all(settings)
    assert len(records) == 40
    for order_id in orders:
        mine = [r for r in records if r.key == order_id.encode()]
        assert len({r.partition for r in mine}) == 1
        assert [_sequence(r.value) for r in mine] == list(range(1, 11))


async def test_a_row_whose_transaction_commits_late_is_published_too(
    world: World, orders_pool: aiopg.Pool
) -> None:
    settings = relay_settings(world.overrides())
    relay = Relay(orders_pool, order_route(settings), settings)
    late_order = str(uuid.uuid4())
    try:
        await relay.open()
        async with orders_pool.acquire() as conn, conn.cursor() as cur, cur.begin():
            late_event = await insert_event(orders_pool, late_order, 1, cur=cur)  # lowest id
            await place_order(orders_pool, an_order("alice"))
            await place_order(orders_pool, an_order("bob"))
            assert await relay.drain() == 2
        # committed now, with an id below the rows already published
        assert await relay.drain() == 1
    finally:
        await relay.close()

    stored = await outbox_rows(orders_pool)
    assert stored[0].event_id == late_event
    assert all(row.published for row in stored)
    records = await read_all(settings)
    assert sorted(header(r, "event_id") or "" for r in records) == sorted(
        row.event_id for row in stored)


async def test_a_commit_wakes_the_relay_without_waiting_for_the_poll(
    world: World, orders_pool: aiopg.Pool
) -> None:
    # A 30 s poll and a lease long enough not to wake the relay either: only NOTIFY can.
    settings = relay_settings(world.overrides(), relay_poll_interval_seconds=30.0,
                              relay_lease_seconds=120.0)
    relay = Relay(orders_pool, order_route(settings), settings)
    running = asyncio.create_task(relay.run())
    try:
        await place_order(orders_pool, an_order("alice"))
        await wait_until(lambda: _all_published(orders_pool), within=15, what="first row")

        started = time.monotonic()
        await place_order(orders_pool, an_order("bob"))
        await wait_until(lambda: _all_published(orders_pool), within=10,
                         what="the row to be published well before the 30 s poll")
        print(f"\nLISTEN/NOTIFY latency: {time.monotonic() - started:.3f}s (poll: 30s)")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await relay.close()

    records = await read_all(settings)
    assert len(records) == 2


async def test_a_checkpoint_from_another_database_marks_nothing(
    world: World, orders_pool: aiopg.Pool
) -> None:
    # As if the orders database had been dropped and re-created while Kafka kept the
    # checkpoint of the old one: its ids now belong to rows that were never published.
    settings = relay_settings(world.overrides())
    await checkpoint.ensure_checkpoint_topic(settings.kafka_bootstrap_servers,
                                             order_route(settings).checkpoint_topic)
    stale = checkpoint.Checkpoint((1, 2), str(uuid.uuid4()))
    producer = transactional_producer(settings.kafka_bootstrap_servers, "stale-relay-writer")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(order_route(settings).checkpoint_topic, checkpoint.encode(stale),
                                key=order_route(settings).transactional_id.encode(), partition=0)
    finally:
        await producer.stop()
    await place_order(orders_pool, an_order("alice"))
    await place_order(orders_pool, an_order("bob"))

    relay = Relay(orders_pool, order_route(settings), settings)
    try:
        await relay.open()
        assert await unpublished_count(orders_pool) == 2  # recovery left them alone
        assert await relay.drain() == 2
    finally:
        await relay.close()
    records = await read_all(settings)
    assert len(records) == 2


async def test_the_last_committed_checkpoint_is_found_behind_other_relays_records(
    common_settings: CommonSettings, created_topics: list[str],
) -> None:
    servers = common_settings.kafka_bootstrap_servers
    topic = f"relay-checkpoints.test-{uuid.uuid4().hex[:12]}"
    created_topics.append(topic)
    await checkpoint.ensure_checkpoint_topic(servers, topic)
    ours = checkpoint.Checkpoint((7, 8, 9), str(uuid.uuid4()))
    producer = transactional_producer(servers, f"checkpoint-writer-{uuid.uuid4().hex}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, checkpoint.encode(ours), key=b"ours", partition=0)
        async with producer.transaction():
            for n in range(1, 101):  # another relay's, with its own transactional id
                theirs = checkpoint.Checkpoint((n,), str(uuid.uuid4()))
                await producer.send(topic, checkpoint.encode(theirs), key=b"theirs",
                                    partition=0)
        await producer.begin_transaction()  # ours again, but aborted: it never happened
        await producer.send(topic, checkpoint.encode(checkpoint.Checkpoint((10,), "x")),
                            key=b"ours", partition=0)
        await producer.abort_transaction()
    finally:
        await producer.stop()

    assert await checkpoint.read_last_checkpoint(servers, topic, b"ours") == ours
    assert await checkpoint.read_last_checkpoint(servers, topic, b"nobody") is None


async def _all_published(pool: aiopg.Pool) -> bool:
    return await unpublished_count(pool) == 0


def _sequence(value: bytes) -> int:
    return int(json.loads(value)["sequence"])


async def test_the_relay_app_publishes_reports_health_and_releases_its_lease_on_stop(
    world: World, orders_pool: aiopg.Pool
) -> None:
    settings = relay_settings(world.overrides(), relay_http_port=free_port(),
                              relay_service_name=f"relay-test-{uuid.uuid4().hex[:8]}")
    await place_order(orders_pool, an_order("alice"))
    base_url = f"http://{settings.relay_http_host}:{settings.relay_http_port}"
    async with running_app(create_app(settings)), httpx.AsyncClient(base_url=base_url) as http:
        await wait_until(lambda: _all_published(orders_pool), within=20, what="the order")

        async def publishing_both() -> bool:
            return bool((await http.get("/health")).json().get("role") == "publishing")

        await wait_until(publishing_both, within=20, what="both outboxes to be published")
        health = await http.get("/health")
        assert (health.status_code, health.json()) == (200, {
            "status": "ok", "mode": "polling", "role": "publishing",
            "outboxes": {world.order_events_topic: "publishing",
                         world.inventory_events_topic: "publishing"}})
        assert await _lease_holders(orders_pool) == 1

    assert await _lease_holders(orders_pool) == 0  # a standby need not wait for it to expire
    assert len(await read_all(settings)) == 1


async def test_in_debezium_mode_the_relay_only_answers_health(
    world: World, orders_pool: aiopg.Pool
) -> None:
    settings = relay_settings(world.overrides(), relay_mode="debezium",
                              relay_http_port=free_port(),
                              relay_service_name=f"relay-test-{uuid.uuid4().hex[:8]}")
    await place_order(orders_pool, an_order("alice"))
    base_url = f"http://{settings.relay_http_host}:{settings.relay_http_port}"
    async with running_app(create_app(settings)), httpx.AsyncClient(base_url=base_url) as http:
        health = await http.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok", "mode": "debezium"})

    assert await unpublished_count(orders_pool) == 1
    assert await _lease_holders(orders_pool) == 0


async def _lease_holders(pool: aiopg.Pool) -> int:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT count(*) FROM relay_lease WHERE expires_at > now()")
        row = await cur.fetchone()
        return int(row[0])
