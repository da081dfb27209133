"""`GET /metrics` of every service with the polling relay, read while the system works: each
figure moves as it should.

The services run as the real Faust apps against the real PostgreSQL and Kafka; the test reads
what an operator's Prometheus would scrape.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack

import aiopg
import httpx

from services.inventory.app import create_app as create_inventory_app
from services.order.app import create_app as create_order_app
from services.relay.app import create_app as create_relay_app
from tests.conftest import World
from tests.support.faust_apps import free_port, running_app, wait_until
from tests.support.inventory import inventory_settings
from tests.support.metrics import all_confirmed, place, scrape, until_scraped
from tests.support.order_events import order_created, publish, publish_raw, relay_producer
from tests.support.orders import order_settings
from tests.support.relay import relay_settings

ORDERS = 12


async def test_every_service_reports_backlog_lag_outcomes_relay_and_http_figures(
    world: World, inventory_pool: aiopg.Pool,
) -> None:
    order_topic, answer_topic = world.order_events_topic, world.inventory_events_topic
    orders_settings = order_settings(world)
    stock_settings = inventory_settings(world)
    relay = relay_settings(world.overrides(), relay_http_port=free_port())
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running_app(create_order_app(orders_settings)))
        await stack.enter_async_context(running_app(create_inventory_app(stock_settings)))
        orders = await stack.enter_async_context(httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{orders_settings.order_http_port}"))
        inventory = await stack.enter_async_context(httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{stock_settings.inventory_http_port}"))
        relay_http = await stack.enter_async_context(httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{relay.relay_http_port}"))
        sku = f"SKU-{uuid.uuid4().hex[:8].upper()}"
        assert (await inventory.put(f"/stock/{sku}", json={"available": 100})).status_code == 200

        # No relay yet: the orders' events wait in the outbox, and the backlog says so.
        order_ids = [await place(orders, sku) for _ in range(ORDERS)]
        waiting = await scrape(orders)
        assert waiting.value("outbox_pending_events", topic=order_topic) == ORDERS
        assert (waiting.value("outbox_oldest_pending_age_seconds", topic=order_topic) or 0) > 0
        assert waiting.value("http_server_request_duration_seconds_count",
                             http_request_method="POST", http_route="/orders",
                             http_response_status_code="201") == ORDERS

        # The relay publishes both outboxes; the backlog falls to 0, the lag returns to 0.
        await stack.enter_async_context(running_app(create_relay_app(relay)))
        await wait_until(lambda: all_confirmed(orders, order_ids), within=90,
                         what=f"{ORDERS} orders confirmed")
        await until_scraped(orders, "outbox_pending_events", 0, topic=order_topic)
        await until_scraped(inventory, "outbox_pending_events", 0, topic=answer_topic)
        assert (await until_scraped(
            relay_http, "relay_events_published_total", ORDERS, topic=answer_topic)
        ).value("relay_events_published_total", topic=order_topic) == ORDERS
        relay_figures = await scrape(relay_http)
        committed = relay_figures.value("relay_transactions_committed_total", topic=order_topic)
        assert committed is not None
        assert 1 <= committed <= ORDERS
        assert relay_figures.value("relay_batch_size_sum", topic=order_topic) == ORDERS
        assert relay_figures.value("relay_batch_size_count", topic=order_topic) == committed
        assert relay_figures.value("relay_transaction_duration_seconds_count",
                                   topic=order_topic) == committed
        assert relay_figures.value("relay_transactions_aborted_total", topic=order_topic) in (
            None, 0)
        assert relay_figures.value("relay_lease_held", topic=order_topic) == 1
        assert relay_figures.value("relay_lease_held", topic=answer_topic) == 1

        answered = await until_scraped(orders, "inbox_events_total", ORDERS, topic=answer_topic,
                                       event_type="StockReserved", outcome="applied")
        assert answered.value("inbox_event_delay_seconds_count", topic=answer_topic) == ORDERS
        applied = await until_scraped(inventory, "inbox_events_total", ORDERS, topic=order_topic,
                                      event_type="OrderCreated", outcome="applied")
        assert applied.value("inbox_event_delay_seconds_count", topic=order_topic) == ORDERS
        # The orders waited in the outbox while no relay ran: their delay shows it.
        assert (applied.value("inbox_event_delay_seconds_sum", topic=order_topic) or 0) > 0
        for client, topic in ((inventory, order_topic), (orders, answer_topic)):
            await until_scraped(client, "inbox_lag_records", 0, topic=topic)
            lags = (await scrape(client)).series("inbox_lag_records", topic=topic)
            # The world's topics have this many partitions each (tests/conftest.py).
            assert sorted(int(lag["partition"]) for lag in lags) == list(
                range(stock_settings.order_events_partitions))

        # One more event delivered twice, a type the inventory does not know, and a known type
        # its model refuses: each outcome counts what was done.
        async with relay_producer(stock_settings.kafka_bootstrap_servers) as producer:
            event = order_created((sku, 1))
            await publish(producer, order_topic, [event, event])
            await publish_raw(producer, order_topic, [
                (b"k", b'{"event_type": "OrderGiftWrapped"}',
                 [("event_type", b"OrderGiftWrapped")]),
                (b"k", b'{"event_type": "OrderCreated"}', [("event_type", b"OrderCreated")]),
            ])
        await until_scraped(inventory, "inbox_events_total", 1, topic=order_topic,
                            outcome="dead_lettered")
        await until_scraped(inventory, "inbox_lag_records", 0, topic=order_topic)
        counted = await scrape(inventory)
        assert counted.value("inbox_events_total", topic=order_topic, event_type="OrderCreated",
                             outcome="applied") == ORDERS + 1
        assert counted.value("inbox_events_total", topic=order_topic,
                             outcome="duplicate") == 1
        assert counted.value("inbox_events_total", topic=order_topic,
                             event_type="OrderGiftWrapped", outcome="skipped") == 1
        assert counted.value("inbox_events_total", topic=order_topic, event_type="OrderCreated",
                             outcome="dead_lettered") == 1

        # `/metrics` answers GET only, and a refused method changes no figure but its own.
        for client in (orders, inventory, relay_http):
            assert (await client.post("/metrics")).status_code == 405
