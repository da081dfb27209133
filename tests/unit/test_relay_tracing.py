"""The spans of a published batch: one per record in its order's trace, one for the batch."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.relay.app import create_app
from services.relay.settings import RelaySettings
from services.relay.tracing import traced_batch
from shared.app import tracing_of
from shared.outbox.records import OutboxRow, Record
from shared.tracing import configure_tracing

ORDER_TRACES = ["0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"]


def row(number: int, traceparent: str | None) -> OutboxRow:
    return OutboxRow(id=number, event_id=f"event-{number}", aggregate_id=f"order-{number}",
                     event_type="OrderCreated", payload="{}", traceparent=traceparent)


def send_then_fail(tracer: trace.Tracer, outbox_row: OutboxRow, records: list[Record]) -> None:
    with traced_batch(tracer, "order.events", [outbox_row]) as batch:
        records.append(batch.record(outbox_row))
        raise ConnectionError("broker gone")


def header(headers: list[tuple[str, bytes]], name: str) -> str:
    return dict(headers)[name].decode()


def test_each_record_is_published_in_its_own_orders_trace() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing("outbox-relay", exporter=exporter).get_tracer("t")
    rows = [row(1, f"00-{ORDER_TRACES[0]}-00f067aa0ba902b7-01"),
            row(2, f"00-{ORDER_TRACES[1]}-00f067aa0ba902b8-01")]

    with traced_batch(tracer, "order.events", rows) as batch:
        records = [batch.record(outbox_row) for outbox_row in rows]
        assert exporter.get_finished_spans() == ()  # open until the transaction commits

    *publishes, batch_span = exporter.get_finished_spans()
    assert [span.name for span in publishes] == ["order.events publish"] * 2
    for outbox_row, record, span, trace_id in zip(rows, records, publishes, ORDER_TRACES,
                                                  strict=True):
        assert span.kind is SpanKind.PRODUCER
        assert format(span.context.trace_id, "032x") == trace_id
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == str(outbox_row.traceparent).split("-")[2]
        assert header(record.headers, "traceparent").startswith(
            f"00-{trace_id}-{span.context.span_id:016x}-")
        assert header(record.headers, "event_id") == outbox_row.event_id
        assert record.key == outbox_row.aggregate_id.encode()
        assert span.attributes is not None
        assert span.attributes["messaging.message.id"] == outbox_row.event_id
        assert span.attributes["messaging.kafka.message.key"] == outbox_row.aggregate_id
        assert [link.context.span_id for link in span.links] == [batch_span.context.span_id]
    assert batch_span.name == "relay batch"
    assert batch_span.parent is None
    assert format(batch_span.context.trace_id, "032x") not in ORDER_TRACES
    assert [link.context.span_id for link in batch_span.links] == [
        span.context.span_id for span in publishes]


def test_the_batch_links_its_first_records_up_to_the_span_link_limit() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing("outbox-relay", exporter=exporter).get_tracer("t")
    limit = SpanLimits().max_links  # 128 unless OTEL_SPAN_LINK_COUNT_LIMIT says otherwise
    assert limit is not None
    rows = [row(n, f"00-{ORDER_TRACES[0]}-00f067aa0ba902b7-01") for n in range(1, limit + 11)]

    with traced_batch(tracer, "order.events", rows) as batch:
        records = [batch.record(outbox_row) for outbox_row in rows]

    *publishes, batch_span = exporter.get_finished_spans()
    assert len(publishes) == len(records) == len(rows)
    assert [link.context.span_id for link in batch_span.links] == [
        span.context.span_id for span in publishes[:limit]]
    assert batch_span.dropped_links == 0
    assert all([link.context.span_id for link in span.links] == [batch_span.context.span_id]
               for span in publishes)


def propagated(span: trace.Span) -> str | None:
    """What the W3C propagator itself writes for `span`."""
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def test_a_records_traceparent_is_what_the_propagator_makes_of_its_span() -> None:
    recording = configure_tracing("outbox-relay", exporter=InMemorySpanExporter())
    # Records a span only under a sampled stored parent: row 1's, not row 2's.
    parent_based = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    for tracer in (recording.get_tracer("t"), parent_based.get_tracer("t")):
        rows = [row(1, f"00-{ORDER_TRACES[0]}-00f067aa0ba902b7-01"), row(2, None)]
        with traced_batch(tracer, "order.events", rows) as batch:
            records = [batch.record(outbox_row) for outbox_row in rows]
            for record, span in zip(records, batch.record_spans, strict=True):
                assert header(record.headers, "traceparent") == propagated(span)


def test_a_row_without_a_trace_context_starts_a_trace_and_a_failure_marks_every_span() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing("outbox-relay", exporter=exporter).get_tracer("t")

    records: list[Record] = []
    with pytest.raises(ConnectionError):
        send_then_fail(tracer, row(1, None), records)

    [record] = records
    publish, batch_span = exporter.get_finished_spans()
    assert publish.parent is None
    assert header(record.headers, "traceparent").split("-")[2] == f"{publish.context.span_id:016x}"
    for span in (publish, batch_span):
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None
        assert span.attributes["error.type"] == "ConnectionError"


def test_without_a_configured_tracer_the_stored_context_passes_through() -> None:
    stored = f"00-{ORDER_TRACES[0]}-00f067aa0ba902b7-01"
    with traced_batch(trace.NoOpTracer(), "order.events", [row(1, stored)]) as batch:
        assert header(batch.record(row(1, stored)).headers, "traceparent") == stored


def test_the_relay_traces_with_a_provider_named_after_it() -> None:
    tracing = tracing_of(create_app(RelaySettings(relay_service_name="shop-relay")))
    assert tracing is not None
    assert tracing.owned
    assert tracing.provider.resource.attributes["service.name"] == "shop-relay"
