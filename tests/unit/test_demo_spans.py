"""The demo's span tree: built from whatever spans arrived, printed one line per span."""

from __future__ import annotations

import gzip

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from scripts.otlp_sink import spans_from_request
from scripts.spans import MAX_LABEL, Span, build_tree, format_ms, render_tree, short_name, walk
from scripts.trace_report import choose_trace, missing_services, trace_id_of, trace_report

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
MS = 1_000_000


def span(span_id: str, parent: str | None, name: str, service: str, start_ms: float,
         took_ms: float, trace_id: str = TRACE, **attributes: str) -> Span:
    start = 1_700_000_000_000 * MS + int(start_ms * MS)
    return Span(trace_id, span_id, parent, name, service, start, start + int(took_ms * MS),
                attributes)


def one_order() -> list[Span]:
    # Shuffled on purpose: the tree must not depend on the order spans arrive in.
    return [
        span("c3", "c1", "apply OrderCreated", "inventory-service", 40.0, 3.0),
        span("a2", "a1", "INSERT orders", "order-service", 1.0, 0.8),
        span("b1", "a1", "publish order.events", "outbox-relay", 20.0, 6.0),
        span("a1", "f0", "POST /orders", "order-service", 0.0, 12.3),
        span("c1", "b2", "process OrderCreated", "inventory-service", 39.0, 5.5),
        span("a3", "a1", "INSERT outbox", "order-service", 2.0, 0.4),
        span("b2", "b1", "order.events send", "outbox-relay", 21.0, 2.0),
    ]


def test_children_hang_under_their_parents_in_start_order() -> None:
    roots = build_tree(one_order())

    assert [root.span.span_id for root in roots] == ["a1"]  # its parent is the demo's, not sent
    assert [node.span.span_id for node in walk(roots[0])] == ["a1", "a2", "a3", "b1", "b2", "c1",
                                                               "c3"]


def test_the_tree_prints_service_indented_name_start_and_duration() -> None:
    lines = render_tree(build_tree(one_order()))

    assert lines[0].split() == ["service", "span", "start", "took"]
    assert lines[1].split() == ["order-service", "POST", "/orders", "+0.00", "ms", "12.3", "ms"]
    assert "order-service        INSERT orders" in lines[2]
    assert lines[2].endswith("+1.0 ms     0.80 ms")
    assert "outbox-relay           order.events send" in lines[5]
    assert "inventory-service          apply OrderCreated" in lines[7]
    assert lines[7].endswith("+40.0 ms      3.0 ms")
    assert len({len(line) for line in lines}) == 1  # aligned columns


def test_orphans_become_roots_and_a_duplicate_span_counts_once() -> None:
    spans = [span("a1", None, "root", "s", 0, 1), span("a1", None, "root", "s", 0, 1),
             span("x9", "gone", "late child", "s", 5, 1)]

    roots = build_tree(spans)

    assert [root.span.name for root in roots] == ["root", "late child"]


def test_a_parent_loop_is_broken_rather_than_dropping_spans() -> None:
    spans = [span("a1", "b1", "one", "s", 0, 1), span("b1", "a1", "two", "s", 1, 1)]

    roots = build_tree(spans)

    assert sorted(node.span.name for root in roots for node in walk(root)) == ["one", "two"]


def test_no_spans_no_lines() -> None:
    assert render_tree(build_tree([])) == []


def test_long_and_multi_line_names_are_cut_to_one_line() -> None:
    name = "SELECT id, event_id\n  FROM outbox\n WHERE published_at IS NULL " + "x" * 80

    short = short_name(name)

    assert len(short) == MAX_LABEL
    assert short.startswith("SELECT id, event_id FROM outbox WHERE")
    assert short.endswith("...")
    assert short_name("  ") == "(unnamed)"
    assert short_name(name, 20) == "SELECT id, event_..."


def test_durations_in_milliseconds() -> None:
    assert format_ms(12_345_678) == "12.3 ms"
    assert format_ms(80_000) == "0.08 ms"
    assert format_ms(2_500_000_000) == "2500.0 ms"


def test_the_order_trace_is_the_one_the_demo_started_else_the_one_naming_the_order() -> None:
    other = span("z1", None, "POST /orders", "order-service", 0, 1, trace_id="f" * 32,
                 order_id="o-42")
    spans = [*one_order(), other]

    assert choose_trace(spans, "o-42", [TRACE]) == TRACE
    assert choose_trace(spans, "o-42", ["0" * 31 + "1", None]) == "f" * 32
    assert choose_trace(spans, "o-7", [None]) is None


def test_trace_id_of_a_traceparent() -> None:
    assert trace_id_of(f"00-{TRACE.upper()}-00f067aa0ba902b7-01") == TRACE
    assert trace_id_of(None) is None
    assert trace_id_of("garbage") is None
    assert trace_id_of(f"00-{'0' * 32}-00f067aa0ba902b7-01") is None


def test_the_report_names_the_services_that_sent_nothing() -> None:
    spans = [s for s in one_order() if s.service != "outbox-relay"]
    expected = ["order-service", "outbox-relay", "inventory-service"]

    lines = trace_report("o-1", TRACE, spans, expected)

    assert missing_services(spans, expected) == ["outbox-relay"]
    assert "inventory-service 2, order-service 3" in lines[1]
    assert "no spans from outbox-relay" in lines[-1]


def test_the_report_says_when_nothing_arrived() -> None:
    lines = trace_report("o-1", None, [], ["order-service"], received=one_order()[:2])

    assert lines[0] == "Trace of order o-1: no spans arrived for it from order-service"
    assert "2 (inventory-service 1, order-service 1)" in lines[1]


def test_an_otlp_export_becomes_spans_with_the_service_of_its_resource() -> None:
    proto = ProtoSpan(
        trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex("00f067aa0ba902b7"),
        name="POST /orders", start_time_unix_nano=1_000, end_time_unix_nano=13_300_000,
        attributes=[KeyValue(key="order_id", value=AnyValue(string_value="o-1")),
                    KeyValue(key="http.status_code", value=AnyValue(int_value=201))],
    )
    resource = Resource(attributes=[
        KeyValue(key="service.name", value=AnyValue(string_value="order-service"))])
    request = ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[proto])])])

    [received] = spans_from_request(request.SerializeToString())

    assert received == Span(TRACE, "00f067aa0ba902b7", None, "POST /orders", "order-service",
                            1_000, 13_300_000, {"order_id": "o-1", "http.status_code": "201"})
    assert spans_from_request(gzip.decompress(gzip.compress(request.SerializeToString())))
