"""Tracing set-up from the `OTEL_*` variables, trace-context helpers, and log lines with ids."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import shared.tracing
from scripts.otlp_sink import OtlpSink
from services.inventory.app import create_app as create_inventory
from services.inventory.settings import InventorySettings
from services.order.app import create_app as create_order
from services.order.settings import OrderSettings
from shared.app import tracing_of
from shared.kafka_tracing import header_text, start_process_span, start_publish_span
from shared.logs import LOG_FORMAT, TraceContextFilter, logging_config
from shared.tracing import (
    configure_tracing,
    context_from_headers,
    context_from_traceparent,
    current_traceparent,
    exporter_names,
    service_tracing,
    traceparent_of,
)
from tests.support.faust_apps import wait_until

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTEL_VARIABLES = ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
                  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_SDK_DISABLED")


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, []),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, []),  # `.env.example` leaves it empty
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, ["otlp"]),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/v1/traces"}, ["otlp"]),
    ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, []),
    ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
])
def test_spans_are_exported_only_where_the_environment_asks(
    environ: dict[str, str], expected: list[str]
) -> None:
    assert exporter_names(environ) == expected


def test_spans_are_not_recorded_when_nothing_is_exported_yet_keep_their_ids() -> None:
    provider = configure_tracing("order-service")
    with provider.get_tracer("t").start_as_current_span("work") as span:
        assert not span.is_recording()
        context = span.get_span_context()
        assert context.is_valid  # the logs and the outbox still get a trace and span id
        assert current_traceparent() == traceparent_of(span)
        _version, trace_id, span_id, flags = str(current_traceparent()).split("-")
        assert (trace_id, span_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
        assert int(flags, 16) & 1 == 0  # not sampled
    assert provider.resource.attributes["service.name"] == "order-service"
    provider.shutdown()


def test_a_sampled_parent_from_upstream_is_followed_even_when_nothing_is_exported() -> None:
    provider = configure_tracing("relay-service")
    parent = context_from_traceparent(TRACEPARENT)
    with provider.get_tracer("t").start_as_current_span("work", context=parent) as span:
        assert span.is_recording()
        assert f"{span.get_span_context().trace_id:032x}" == TRACEPARENT.split("-")[1]
    provider.shutdown()


def test_spans_are_recorded_when_they_are_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(shared.tracing, "ConsoleSpanExporter",
                        lambda: ConsoleSpanExporter(out=out))
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    provider = configure_tracing("order-service")
    with provider.get_tracer("t").start_as_current_span("work") as span:
        assert span.is_recording()
    provider.shutdown()  # flushes the exporter
    assert '"name": "work"' in out.getvalue()


def test_the_sampler_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = configure_tracing("order-service")
    with provider.get_tracer("t").start_as_current_span("work") as span:
        assert not span.is_recording()


async def test_spans_reach_the_otlp_endpoint_on_the_batch_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = OtlpSink()
    await sink.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        tracing = service_tracing("outbox-relay")
        tracing.tracer.start_span("scheduled").end()
        # Well before any shutdown: the schedule sent it.
        await wait_until(lambda: _received(sink), within=10, what="the span to be exported")
        assert [(span.name, span.service) for span in sink.spans] == [
            ("scheduled", "outbox-relay")]
        tracing.provider.shutdown()
    finally:
        await sink.stop()


async def _received(sink: OtlpSink) -> bool:
    return bool(sink.spans)


async def test_stopping_a_service_flushes_the_spans_of_its_own_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = OtlpSink()
    await sink.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
        tracing = service_tracing("inventory-service")
        await tracing.start()
        tracing.tracer.start_span("last words").end()
        await asyncio.sleep(0.2)
        assert sink.spans == []
        await tracing.stop()
        assert [span.name for span in sink.spans] == ["last words"]
    finally:
        await sink.stop()


async def test_a_provider_handed_in_is_left_to_its_owner() -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("x", exporter=exporter)
    tracing = service_tracing("x", provider)
    await tracing.start()
    await tracing.stop()
    provider.get_tracer("t").start_span("after").end()
    assert [span.name for span in exporter.get_finished_spans()] == ["after"]


def test_each_composition_root_names_its_own_provider_after_its_service() -> None:
    # The relay's: tests/unit/test_relay_tracing.py (a project may have no polling relay).
    apps = {
        "shop-orders": create_order(OrderSettings(order_service_name="shop-orders")),
        "shop-stock": create_inventory(InventorySettings(inventory_service_name="shop-stock")),
    }
    for name, app in apps.items():
        tracing = tracing_of(app)
        assert tracing is not None
        assert tracing.owned
        assert tracing.provider.resource.attributes["service.name"] == name
    given = configure_tracing("given")
    tracing = tracing_of(create_order(OrderSettings(), tracer_provider=given))
    assert tracing is not None
    assert tracing.provider is given
    assert not tracing.owned


def test_a_traceparent_round_trips_through_a_context() -> None:
    provider = configure_tracing("t", exporter=InMemorySpanExporter())
    span = provider.get_tracer("t").start_span("child", context=context_from_traceparent(
        TRACEPARENT))
    assert isinstance(span, ReadableSpan)
    assert format(span.get_span_context().trace_id, "032x") == TRACEPARENT.split("-")[1]
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == TRACEPARENT.split("-")[2]
    assert context_from_traceparent(None) == context_from_traceparent("not-a-traceparent") == {}


@pytest.mark.parametrize("traceparent", [
    TRACEPARENT,
    TRACEPARENT[:-2] + "00",  # not sampled
    "00-" + "0" * 32 + "-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",  # all-zero span id
    TRACEPARENT.upper(),
    f" {TRACEPARENT} ",
    TRACEPARENT + "-extra",
    "01" + TRACEPARENT[2:] + "-future-fields",  # a later version, read as version 00
    "ff" + TRACEPARENT[2:],
    TRACEPARENT[:-1],
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1x",
])
def test_a_traceparent_is_read_as_the_w3c_propagator_reads_it(traceparent: str) -> None:
    propagator = TraceContextTextMapPropagator()
    expected = trace.get_current_span(propagator.extract({"traceparent": traceparent}))
    for context in (context_from_traceparent(traceparent),
                    context_from_headers([("traceparent", traceparent.encode())])):
        assert trace.get_current_span(context).get_span_context() == (
            expected.get_span_context())


def test_kafka_headers_carry_the_trace_context_and_a_null_header_is_none() -> None:
    assert context_from_headers([("traceparent", None)]) == {}
    assert context_from_headers(None) == {}
    headers = [("event_id", b"e-1"), ("traceparent", TRACEPARENT.encode())]
    assert header_text(headers, "event_id") == "e-1"
    assert header_text([("event_id", None)], "event_id") is None
    exporter = InMemorySpanExporter()
    tracer = configure_tracing("inventory", exporter=exporter).get_tracer("t")

    processing = start_process_span(tracer, topic="order.events", partition=2, offset=7,
                                    key=b"o-1", headers=headers)
    with trace.use_span(processing, end_on_exit=True):
        start_publish_span(tracer, "order.events.dlq", key=None, message_id="e-1").end()

    publish, process = exporter.get_finished_spans()
    assert (process.name, process.kind) == ("order.events process", SpanKind.CONSUMER)
    assert process.parent is not None
    assert format(process.parent.span_id, "016x") == TRACEPARENT.split("-")[2]
    assert dict(process.attributes or {}) == {
        "messaging.system": "kafka", "messaging.destination.name": "order.events",
        "messaging.operation.name": "process", "messaging.operation.type": "process",
        "messaging.kafka.message.key": "o-1", "messaging.message.id": "e-1",
        "messaging.destination.partition.id": "2", "messaging.kafka.message.offset": 7}
    assert (publish.name, publish.kind) == ("order.events.dlq publish", SpanKind.PRODUCER)
    assert publish.parent == processing.get_span_context()  # the current span's child
    assert publish.attributes is not None
    assert "messaging.kafka.message.key" not in publish.attributes  # a null key is not set
    assert publish.attributes["messaging.operation.type"] == "send"


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_every_log_line_carries_the_trace_and_span_id(
    root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(logging_config("info"))
    tracer = configure_tracing("t", exporter=InMemorySpanExporter()).get_tracer("t")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("services.example").info("inside %s", "a span")
    logging.getLogger("services.example").debug("below the level")
    logging.getLogger("faust.worker").warning("outside")

    lines = capsys.readouterr().err.splitlines()
    context = span.get_span_context()
    assert len(lines) == 2
    assert lines[0].endswith(
        f"INFO [services.example] [trace_id={context.trace_id:032x} "
        f"span_id={context.span_id:016x}] inside a span")
    assert lines[1].endswith(
        f"WARNING [faust.worker] [trace_id={'0' * 32} span_id={'0' * 16}] outside")


def test_the_filter_fills_in_the_ids_for_any_handler() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.handle(logging.makeLogRecord({"msg": "plain", "levelname": "INFO", "name": "x"}))
    assert f"[trace_id={'0' * 32} span_id={'0' * 16}] plain" in stream.getvalue()
