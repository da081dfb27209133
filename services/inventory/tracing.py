"""The spans of one applied batch (pure: no I/O).

One transaction applies the events of many orders, so it is an `inventory batch` span in a
trace of its own (its statement is its child), linked both ways with each record's
`<topic> process` span, as the relay's Kafka transactions are (the batch span links its first
records only, up to `shared.tracing.span_link_limit`). Each order's own trace still
reaches its stock change: a `stock change` span under the record's processing span covers the
transaction that applied it, from its start to its commit, and says what it did.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.util.types import AttributeValue

from services.inventory.models import Outcome
from shared.tracing import span_link_limit


def start_batch_span(tracer: trace.Tracer, record_spans: Sequence[trace.Span]) -> trace.Span:
    """Start (not make current) the span of a batch's transaction, linked with its records."""
    span = tracer.start_span(
        "inventory batch", context=Context(),  # a root: the batch belongs to no one order
        attributes={"messaging.batch.message_count": len(record_spans)},
    )
    if span.is_recording():  # links cost time per record: none while nothing records
        for record_span in record_spans[:span_link_limit()]:
            span.add_link(record_span.get_span_context(), {"inventory.link": "record"})
        for record_span in record_spans:
            record_span.add_link(span.get_span_context(), {"inventory.link": "batch"})
    return span


def record_stock_changes(
    tracer: trace.Tracer,
    batch_span: trace.Span,
    record_spans: Sequence[trace.Span],
    outcomes: Sequence[Outcome],
    *,
    started_ns: int,
    committed_ns: int,
) -> None:
    """A finished `stock change` span under each record's span, for the committed batch."""
    batch = trace.Link(batch_span.get_span_context(), {"inventory.link": "batch"})
    for record_span, outcome in zip(record_spans, outcomes, strict=True):
        if not record_span.is_recording():
            continue
        attributes: dict[str, AttributeValue] = {
            "inventory.outcome": outcome.status, "inventory.batch.size": len(record_spans)}
        if outcome.reason:
            attributes["inventory.reason"] = outcome.reason
        span = tracer.start_span(
            "stock change", context=trace.set_span_in_context(record_span),
            attributes=attributes, links=[batch], start_time=started_ns,
        )
        span.end(end_time=committed_ns)
