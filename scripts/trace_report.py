"""Which trace belongs to an order, and how the demo prints it (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from scripts.spans import Span, build_tree, render_tree, services_of, traces_mentioning
from scripts.summary import DemoResult


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), if valid."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1].lower()
    return None


def choose_trace(spans: Sequence[Span], order_id: str, known: Iterable[str | None]) -> str | None:
    """The order's trace: the first `known` id (the request's, the outbox row's) with spans,
    else a trace with a span naming the order id in an attribute."""
    received = {span.trace_id for span in spans}
    for trace_id in known:
        if trace_id and trace_id in received:
            return trace_id
    mentioning = traces_mentioning(spans, order_id)
    return min(mentioning) if mentioning else None


def missing_services(spans: Iterable[Span], expected: Iterable[str]) -> list[str]:
    """The expected services without a span in `spans`."""
    present = {span.service for span in spans}
    return [service for service in expected if service not in present]


def trace_report(
    order_id: str, trace_id: str | None, spans: Sequence[Span], expected: Sequence[str],
    *, received: Sequence[Span] = (),
) -> list[str]:
    """The lines printed for one order's trace, saying which service sent nothing."""
    if trace_id is None or not spans:
        everywhere = services_of(received)
        seen = ", ".join(f"{name} {n}" for name, n in everywhere.items()) or "none"
        return [f"Trace of order {order_id}: no spans arrived for it from "
                f"{', '.join(expected)}",
                f"  spans received from all services during the demo: {len(received)} "
                f"({seen}); the services export them when OTEL_EXPORTER_OTLP_ENDPOINT is set"]
    by_service = ", ".join(f"{name} {n}" for name, n in services_of(spans).items())
    lines = [f"Trace of order {order_id}", f"  trace id {trace_id}: {len(spans)} spans "
             f"({by_service})", ""]
    lines += ["  " + line for line in render_tree(build_tree(spans))]
    missing = missing_services(spans, expected)
    if missing:
        lines += ["", f"  no spans from {', '.join(missing)} in this trace (its tracing is "
                      "not wired yet, or did not reach the sink before the deadline)"]
    return lines


def pick_order(result: DemoResult) -> str | None:
    """An order inventory reserved, with two lines if there is one: the richest trace."""
    reserved = [order_id for order_id, (status, _) in result.outcomes.items()
                if status == "reserved"]
    ranked = sorted(reserved, key=lambda order_id: -len(result.accepted.get(order_id, {})))
    return ranked[0] if ranked else next(iter(result.accepted), None)
