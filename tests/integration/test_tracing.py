"""One trace per order, from the HTTP request to the stock change, across the three services.

The services run in this process against the real PostgreSQL and Kafka, each with a tracer
provider of its own (its `service.name`), all exporting to one in-memory exporter; the spans
are then checked by their ids: who is whose parent, in which trace, from which service.
"""

from __future__ import annotations

import asyncio
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
from shared.tracing import configure_tracing
from tests.conftest import World
from tests.support.faust_apps import free_port, running_app, wait_until
from tests.support.inventory import inventory_settings, outcome_of
from tests.support.order_events import publish_raw, read_committed, relay_producer
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
        order=OrderSettings(**world.overrides(), order_http_port=free_port()),  # type: ignore[arg-type]
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
    """An order's spans, from the request to the inventory's processing of its event."""

    request: ReadableSpan
    write: ReadableSpan
    publish: ReadableSpan
    process: ReadableSpan


def chain_of(shop: Shop, spans: Sequence[ReadableSpan], order_id: str) -> Chain:
    """The chain in one trace's spans, checked link by link and service by service."""
    chain = Chain(
        request=the_one(spans, "POST /orders"),
        write=the_one(spans, "outbox write"),
        publish=the_one(spans, f"{shop.topic} publish"),
        process=the_one(spans, f"{shop.topic} process"),
    )
    assert parent_id(chain.write) == chain.request.context.span_id
    assert parent_id(chain.publish) == chain.write.context.span_id
    assert parent_id(chain.process) == chain.publish.context.span_id
    assert [service(span) for span in (chain.request, chain.write)] == [
        shop.order.order_service_name] * 2
    assert service(chain.publish) == shop.relay.relay_service_name
    assert service(chain.process) == shop.inventory.inventory_service_name
    assert [span.kind for span in (chain.request, chain.publish, chain.process)] == [
        SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER]
    assert attributes(chain.write)["order.id"] == order_id
    assert attributes(chain.publish)["messaging.kafka.message.key"] == order_id
    assert attributes(chain.process)["messaging.kafka.message.key"] == order_id
    # Every span of the trace hangs from the request, whichever service made it.
    by_id = {span.context.span_id: span for span in spans}
    for span in spans:
        while span is not chain.request:
            parent = by_id.get(parent_id(span) or 0)
            assert parent is not None, f"{span.name} is not under the request"
            span = parent
    return chain


def stock_change_of(shop: Shop, chain: Chain) -> tuple[ReadableSpan, ReadableSpan, ReadableSpan]:
    """An order's stock change, the inventory batch it links to, and the batch's statement."""
    finished = shop.spans.get_finished_spans()
    [change] = [span for span in finished if span.name == "stock change"
                and parent_id(span) == chain.process.context.span_id]
    [batch_link] = change.links
    [batch] = [span for span in finished if span.context == batch_link.context]
    [statement] = [span for span in finished if parent_id(span) == batch.context.span_id]
    assert batch.name == "inventory batch"
    assert statement.name == "SELECT apply_order_events"
    assert {service(span) for span in (change, batch, statement)} == {
        shop.inventory.inventory_service_name}
    # The order's stock change spans the transaction that applied it, commit included.
    assert (change.start_time or 0) <= (statement.start_time or 0)
    assert (change.end_time or 0) >= (statement.end_time or 0) > 0
    return change, batch, statement


async def test_one_order_is_one_trace_from_the_request_to_the_inventory(
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
        await wait_for_outcomes(inventory_pool, [order_id])
        await wait_for_spans(shop.spans, f"{shop.topic} process", 1)

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
    assert [s.name for s in statements] == ["INSERT orders", "INSERT order_lines", "INSERT outbox"]
    # The stock change is in the order's trace; the inventory's transaction (it may apply
    # many orders' events) is a trace of its own, linked both ways with the record's span.
    change, inventory_batch, stock_change = stock_change_of(shop, chain)
    assert change.context.trace_id == trace_id
    assert attributes(change)["inventory.outcome"] == "reserved"
    assert inventory_batch.context.trace_id != trace_id
    assert [link.context for link in inventory_batch.links] == [chain.process.context]
    assert [link.context for link in chain.process.links] == [inventory_batch.context]
    for statement in [*statements, stock_change]:
        assert attributes(statement)["db.system"] == "postgresql"
        assert str(attributes(statement)["db.query.text"]).startswith(statement.name.split()[0])
    assert attributes(stock_change)["db.namespace"] == shop.inventory.inventory_db_name

    # What travelled between the services: the outbox row named the outbox write span.
    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT event_id::text, traceparent FROM outbox")
        [(event_id, stored)] = await cur.fetchall()
    assert stored.startswith(f"00-{trace_id:032x}-{chain.write.context.span_id:016x}-")
    assert attributes(chain.publish)["messaging.message.id"] == event_id
    assert attributes(chain.publish)["messaging.destination.name"] == shop.topic

    # The Kafka transaction is a trace of its own, linked both ways with the record's span.
    batch = the_one(shop.spans.get_finished_spans(), "relay batch")
    assert batch.context.trace_id != trace_id
    assert [link.context for link in batch.links] == [chain.publish.context]
    assert [link.context for link in chain.publish.links] == [batch.context]


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
            await wait_for_spans(shop.spans, f"{shop.topic} process", 50)

    [batch] = [span for span in shop.spans.get_finished_spans() if span.name == "relay batch"]
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
                                      shop.inventory.dead_letter_topic, count=1)
        await wait_for_spans(shop.spans, f"{shop.topic} process", 1)

    spans = in_trace(shop.spans, trace_id)
    process = the_one(spans, f"{shop.topic} process")
    dead_letter = the_one(spans, f"{shop.inventory.dead_letter_topic} publish")
    assert parent_id(process) == producer_span_id
    assert parent_id(dead_letter) == process.context.span_id
    assert dead_letter.kind is SpanKind.PRODUCER
    assert {service(process), service(dead_letter)} == {shop.inventory.inventory_service_name}
    assert attributes(process)["inventory.outcome"] == "dead-lettered"
    # The dead letter carries the context of its publish span: a reader of the dead-letter
    # topic continues the same trace.
    found = dict(dead.headers)
    assert found["traceparent"].decode().startswith(
        f"00-{trace_id:032x}-{dead_letter.context.span_id:016x}-")
