"""One trace per order, from the HTTP request to the stock change and back to the order's new
status, across the three services.

The services run in this process against the real PostgreSQL and Kafka, each with a tracer
provider of its own (its `service.name`), all exporting to one in-memory exporter; the spans
are then checked by their ids: who is whose parent, in which trace, from which service.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiopg
import faust
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.inventory.app import create_app as create_inventory
from services.inventory.handlers import set_stock
from services.inventory.settings import InventorySettings
from services.order.app import create_app as create_order
from services.order.settings import OrderSettings
from services.relay.app import create_app as create_relay
from services.relay.settings import RelaySettings
from shared.inbox.dead_letters import dead_letter_topic
from shared.tracing import configure_tracing
from tests.conftest import World
from tests.support.faust_apps import free_port, running_app, wait_until
from tests.support.inventory import inventory_settings, outcome_of
from tests.support.order_events import publish_raw, read_committed, relay_producer
from tests.support.orders import order_settings
from tests.support.relay import relay_settings

SKU = "TRACE-1"
ORDER = {"customer_id": "c-1", "items": [{"sku": SKU, "quantity": 1}]}


@dataclass(frozen=True)
class Shop:
    """The three services' settings for one test, and the exporter their spans go to."""

    order: OrderSettings
    relay: RelaySettings
    inventory: InventorySettings
    spans: InMemorySpanExporter

    @property
    def topic(self) -> str:
        return self.order.order_events_topic

    @property
    def answers(self) -> str:
        return self.order.inventory_events_topic

    @property
    def order_url(self) -> str:
        return f"http://127.0.0.1:{self.order.order_http_port}"

    def order_app(self) -> faust.App:
        return create_order(self.order, tracer_provider=configure_tracing(
            self.order.order_service_name, exporter=self.spans))

    def relay_app(self) -> faust.App:
        return create_relay(self.relay, tracer_provider=configure_tracing(
            self.relay.relay_service_name, exporter=self.spans))

    def inventory_app(self) -> faust.App:
        return create_inventory(self.inventory, tracer_provider=configure_tracing(
            self.inventory.inventory_service_name, exporter=self.spans))


@pytest.fixture
async def shop(world: World, inventory_pool: aiopg.Pool) -> Shop:
    await set_stock(inventory_pool, SKU, 1000)
    return Shop(
        order=order_settings(world),
        relay=relay_settings(world.overrides(), relay_http_port=free_port(), relay_batch_size=100),
        inventory=inventory_settings(world),
        spans=InMemorySpanExporter(),
    )


@asynccontextmanager
async def running(*apps: faust.App) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(running_app(app))
        yield


def a_traceparent() -> tuple[str, int, int]:
    """A caller's `traceparent` header, with its trace and span id."""
    trace_id, span_id = random.getrandbits(128) or 1, random.getrandbits(64) or 1
    return f"00-{trace_id:032x}-{span_id:016x}-01", trace_id, span_id


def attributes(span: ReadableSpan) -> Mapping[str, object]:
    return span.attributes or {}


def service(span: ReadableSpan) -> object:
    return span.resource.attributes["service.name"]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def the_one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, f"{len(found)} spans named {name!r} in {[s.name for s in spans]}"
    return found[0]


def in_trace(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.context.trace_id == trace_id]


async def wait_for_spans(exporter: InMemorySpanExporter, name: str, count: int) -> None:
    async def enough() -> bool:
        return sum(span.name == name for span in exporter.get_finished_spans()) >= count

    await wait_until(enough, within=30, what=f"{count} spans named {name!r}")


async def wait_for_outcomes(pool: aiopg.Pool, order_ids: Sequence[str]) -> None:
    async def all_applied() -> bool:
        return all([await outcome_of(pool, uuid.UUID(order_id)) for order_id in order_ids])

    await wait_until(all_applied, within=30, what=f"{len(order_ids)} reservations")


@dataclass(frozen=True)
class Chain:
    """An order's spans, from the request to the inventory's processing of its event, and
    back to the order service's status change."""

    request: ReadableSpan
    write: ReadableSpan
    publish: ReadableSpan
    process: ReadableSpan
    reserve: ReadableSpan
    answer_publish: ReadableSpan
    answer_process: ReadableSpan
    confirm: ReadableSpan


def chain_of(shop: Shop, spans: Sequence[ReadableSpan], order_id: str) -> Chain:
    """The chain in one trace's spans, checked link by link and service by service."""
    chain = Chain(
        request=the_one(spans, "POST /orders"),
        write=the_one(spans, "outbox write"),
        publish=the_one(spans, f"{shop.topic} publish"),
        process=the_one(spans, f"{shop.topic} process"),
        reserve=the_one(spans, "apply OrderCreated"),
        answer_publish=the_one(spans, f"{shop.answers} publish"),
        answer_process=the_one(spans, f"{shop.answers} process"),
        confirm=the_one(spans, "apply StockReserved"),
    )
    steps = [chain.request, chain.write, chain.publish, chain.process, chain.reserve,
             chain.answer_publish, chain.answer_process, chain.confirm]
    for upper, lower in itertools.pairwise(steps):
        assert parent_id(lower) == upper.context.span_id, f"{lower.name} not under {upper.name}"
    order, relay = shop.order.order_service_name, shop.relay.relay_service_name
    inventory = shop.inventory.inventory_service_name
    assert [service(span) for span in steps] == [
        order, order, relay, inventory, inventory, relay, order, order]
    assert [span.kind for span in (chain.request, chain.publish, chain.process,
                                   chain.answer_publish, chain.answer_process)] == [
        SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.PRODUCER,
        SpanKind.CONSUMER]
    assert attributes(chain.write)["order.id"] == order_id
    for span in (chain.publish, chain.process, chain.answer_publish, chain.answer_process):
        assert attributes(span)["messaging.kafka.message.key"] == order_id
    assert attributes(chain.confirm)["order.status"] == "confirmed"
    # Every span of the trace hangs from the request, whichever service made it.
    by_id = {span.context.span_id: span for span in spans}
    for span in spans:
        while span is not chain.request:
            parent = by_id.get(parent_id(span) or 0)
            assert parent is not None, f"{span.name} is not under the request"
            span = parent
    return chain


async def wait_for_status(http: httpx.AsyncClient, order_id: str, status: str) -> None:
    async def reached() -> bool:
        return bool((await http.get(f"/orders/{order_id}")).json()["status"] == status)

    await wait_until(reached, within=30, what=f"order {order_id} to be {status}")


async def test_one_order_is_one_trace_from_the_request_to_the_inventory_and_back(
    shop: Shop, orders_pool: aiopg.Pool, inventory_pool: aiopg.Pool
) -> None:
    traceparent, trace_id, caller_span_id = a_traceparent()
    async with (
        running(shop.order_app(), shop.relay_app(), shop.inventory_app()),
        httpx.AsyncClient(base_url=shop.order_url) as http,
    ):
        response = await http.post("/orders", json=ORDER, headers={"traceparent": traceparent})
        assert response.status_code == 201
        order_id = response.json()["order_id"]
        await wait_for_status(http, order_id, "confirmed")
        await wait_for_spans(shop.spans, f"{shop.answers} process", 1)

    spans = in_trace(shop.spans, trace_id)
    chain = chain_of(shop, spans, order_id)
    assert parent_id(chain.request) == caller_span_id  # the caller's trace, continued
    assert {service(span) for span in spans} == {
        shop.order.order_service_name, shop.relay.relay_service_name,
        shop.inventory.inventory_service_name}
    assert {key: attributes(chain.request).get(key) for key in (
        "http.request.method", "url.path", "http.route", "http.response.status_code")} == {
        "http.request.method": "POST", "url.path": "/orders", "http.route": "/orders",
        "http.response.status_code": 201}

    # The order's own statements are children of the outbox write, the outbox row among them.
    statements = [span for span in spans if span.kind is SpanKind.CLIENT
                  and parent_id(span) == chain.write.context.span_id]
    assert [s.name for s in statements] == [
        "INSERT orders", "INSERT order_lines", "INSERT order_status_history", "INSERT outbox"]
    # The inventory's statements are children of its handler's span: the dedupe row, the
    # stock change and its outcome event, all in the order's trace.
    stock_statements = [span for span in spans if span.kind is SpanKind.CLIENT
                        and parent_id(span) == chain.reserve.context.span_id]
    assert [s.name for s in stock_statements] == [
        "INSERT processed_events", "SELECT stock", "INSERT reservations", "WITH",
        "INSERT outbox"]
    for statement in [*statements, *stock_statements]:
        assert attributes(statement)["db.system"] == "postgresql"
    assert {attributes(statement)["db.namespace"] for statement in stock_statements} == {
        shop.inventory.inventory_db_name}
    assert attributes(chain.reserve)["inbox.outcome"] == "applied"

    # What travelled between the services: each outbox row named the span that wrote it.
    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT event_id::text, traceparent FROM outbox")
        [(event_id, stored)] = await cur.fetchall()
    assert stored.startswith(f"00-{trace_id:032x}-{chain.write.context.span_id:016x}-")
    assert attributes(chain.publish)["messaging.message.id"] == event_id
    assert attributes(chain.publish)["messaging.destination.name"] == shop.topic
    async with inventory_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT event_type, traceparent FROM outbox")
        [(answer_type, answered)] = await cur.fetchall()
    assert answer_type == "StockReserved"
    assert answered.startswith(f"00-{trace_id:032x}-{chain.reserve.context.span_id:016x}-")

    # Each Kafka transaction is a trace of its own, linked both ways with the record's span.
    batches = {attributes(span)["messaging.destination.name"]: span
               for span in shop.spans.get_finished_spans() if span.name == "relay batch"}
    for topic, publish in ((shop.topic, chain.publish), (shop.answers, chain.answer_publish)):
        batch = batches[topic]
        assert batch.context.trace_id != trace_id
        assert [link.context for link in batch.links] == [publish.context]
        assert [link.context for link in publish.links] == [batch.context]


async def test_fifty_orders_published_in_one_batch_keep_fifty_traces(
    shop: Shop, inventory_pool: aiopg.Pool
) -> None:
    async with running(shop.order_app(), shop.inventory_app()):
        async with httpx.AsyncClient(base_url=shop.order_url) as http:
            responses = await asyncio.gather(*(http.post("/orders", json=ORDER)
                                               for _ in range(50)))
        assert [response.status_code for response in responses] == [201] * 50
        order_ids = [response.json()["order_id"] for response in responses]
        # Only now does a relay start: it finds the fifty rows waiting, one batch's worth.
        async with running(shop.relay_app()):
            await wait_for_outcomes(inventory_pool, order_ids)
            await wait_for_spans(shop.spans, "apply StockReserved", 50)

    [batch] = [span for span in shop.spans.get_finished_spans() if span.name == "relay batch"
               and attributes(span)["messaging.destination.name"] == shop.topic]
    assert attributes(batch)["messaging.batch.message_count"] == 50
    requests = [span for span in shop.spans.get_finished_spans() if span.name == "POST /orders"]
    trace_ids = {span.context.trace_id for span in requests}
    assert len(trace_ids) == 50
    assert batch.context.trace_id not in trace_ids
    traced_orders, publishes = [], []
    for trace_id in trace_ids:
        spans = in_trace(shop.spans, trace_id)
        write = the_one(spans, "outbox write")
        traced_orders.append(str(attributes(write)["order.id"]))
        publishes.append(chain_of(shop, spans, traced_orders[-1]).publish.context.span_id)
    assert sorted(traced_orders) == sorted(order_ids)
    assert sorted(link.context.span_id for link in batch.links) == sorted(publishes)


async def test_a_dead_letter_stays_in_the_trace_of_the_record_that_carried_it(
    shop: Shop,
) -> None:
    traceparent, trace_id, producer_span_id = a_traceparent()
    headers = [("event_id", b"e-poison"), ("event_type", b"OrderCreated"),
               ("traceparent", traceparent.encode())]
    async with running(shop.inventory_app()), relay_producer(
        shop.inventory.kafka_bootstrap_servers
    ) as producer:
        await publish_raw(producer, shop.topic, [(b"order-9", b"{not json", headers)])
        [dead] = await read_committed(shop.inventory.kafka_bootstrap_servers,
                                      dead_letter_topic(shop.inventory.order_events_topic), count=1)
        await wait_for_spans(shop.spans, f"{shop.topic} process", 1)

    spans = in_trace(shop.spans, trace_id)
    process = the_one(spans, f"{shop.topic} process")
    dead_letter = the_one(spans, f"{dead_letter_topic(shop.inventory.order_events_topic)} publish")
    assert parent_id(process) == producer_span_id
    assert parent_id(dead_letter) == process.context.span_id
    assert dead_letter.kind is SpanKind.PRODUCER
    assert {service(process), service(dead_letter)} == {shop.inventory.inventory_service_name}
    assert attributes(process)["inbox.outcome"] == "dead_lettered"
    # The dead letter carries the context of its publish span: a reader of the dead-letter
    # topic continues the same trace.
    found = dict(dead.headers)
    assert found["traceparent"].decode().startswith(
        f"00-{trace_id:032x}-{dead_letter.context.span_id:016x}-")
