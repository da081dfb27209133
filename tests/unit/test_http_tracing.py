"""The SERVER span of each HTTP request: its name, its attributes, the caller's trace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.http_tracing import server_span_middleware, span_name
from shared.tracing import configure_tracing

Client = TestClient[web.Request, web.Application]
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


async def created(request: web.Request) -> web.Response:
    return web.json_response({"id": request.match_info.get("order_id")}, status=201)


async def fails(request: web.Request) -> web.Response:
    raise RuntimeError("database on fire")


async def unavailable(request: web.Request) -> web.Response:
    return web.json_response({}, status=503)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def client(exporter: InMemorySpanExporter) -> AsyncIterator[Client]:
    tracer = configure_tracing("order-service", exporter=exporter).get_tracer("t")
    app = web.Application(middlewares=[server_span_middleware(tracer)])
    app.router.add_post("/orders", created)
    app.router.add_get("/orders/{order_id}", created)
    app.router.add_get("/fails", fails)
    app.router.add_get("/health", unavailable)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def only(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


async def test_a_request_continues_the_callers_trace_under_its_route(
    client: Client, exporter: InMemorySpanExporter
) -> None:
    answer = await client.post("/orders?dry=1", headers={
        "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "User-Agent": "test/1"})
    assert answer.status == 201

    span = only(exporter)
    assert (span.name, span.kind) == ("POST /orders", SpanKind.SERVER)
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == CALLER_SPAN
    attributes = dict(span.attributes or {})
    assert {key: attributes[key] for key in (
        "http.request.method", "url.path", "url.query", "url.scheme", "http.route",
        "http.response.status_code", "user_agent.original", "server.address")} == {
        "http.request.method": "POST", "url.path": "/orders", "url.query": "dry=1",
        "url.scheme": "http", "http.route": "/orders", "http.response.status_code": 201,
        "user_agent.original": "test/1", "server.address": "127.0.0.1"}
    assert span.status.status_code is StatusCode.UNSET


async def test_the_span_is_named_by_the_route_template_not_the_path(
    client: Client, exporter: InMemorySpanExporter
) -> None:
    await client.get("/orders/42")
    span = only(exporter)
    assert span.name == "GET /orders/{order_id}"
    assert span.attributes is not None
    assert span.attributes["url.path"] == "/orders/42"
    assert span.parent is None  # no traceparent: a trace of its own


async def test_a_client_error_is_not_a_server_error(
    client: Client, exporter: InMemorySpanExporter
) -> None:
    assert (await client.get("/nowhere")).status == 404
    span = only(exporter)
    assert span.name == "GET"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 404
    assert "http.route" not in span.attributes
    assert span.status.status_code is StatusCode.UNSET


async def test_server_errors_and_exceptions_mark_the_span(
    client: Client, exporter: InMemorySpanExporter
) -> None:
    assert (await client.get("/health")).status == 503
    assert (await client.get("/fails")).status == 500

    unavailable_span, failed = exporter.get_finished_spans()
    assert unavailable_span.status.status_code is StatusCode.ERROR
    assert unavailable_span.attributes is not None
    assert unavailable_span.attributes["error.type"] == "503"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "RuntimeError"
    assert [event.name for event in failed.events] == ["exception"]


def test_span_names_follow_the_conventions() -> None:
    assert span_name("GET", "/stock/{sku}") == "GET /stock/{sku}"
    assert span_name("GET", None) == "GET"
    assert span_name("BREW", "/pot") == "HTTP /pot"
