"""The spans of one published batch (pure: no I/O).

Each record gets an `<topic> publish` PRODUCER span whose parent is the context its outbox row
stored (the order's `outbox write`), and the record's `traceparent` header names that span: so
with many orders in one Kafka transaction, each order's spans stay in the order's own trace.
The transaction itself is a `relay batch` span in a trace of its own, linked both ways with
the records' spans. All of them end when the transaction commits, or with an error if it fails.

A span keeps only so many links (`shared.tracing.span_link_limit`), so the batch span links
the batch's first records up to that limit and no more: every record's span still links back
to the batch, and `messaging.batch.message_count` says how many records there were. A batch
span that is not recorded gets no links at all; each record still gets a span, recorded or
not, because its id is the parent that the record's `traceparent` header names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import MappingProxyType

from opentelemetry import trace
from opentelemetry.context import Context

from shared.kafka_tracing import start_publish_span
from shared.outbox.records import OutboxRow, Record, to_record
from shared.tracing import context_from_traceparent, span_link_limit, traceparent_of

_RECORD_LINK = MappingProxyType({"relay.link": "record"})


class BatchTrace:
    """The batch span and the publish span of each record sent so far."""

    def __init__(self, tracer: trace.Tracer, topic: str, rows: Sequence[OutboxRow]) -> None:
        self._tracer = tracer
        self._topic = topic
        self.span = tracer.start_span(
            "relay batch",
            context=Context(),  # a root: the batch belongs to no one order
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.batch.message_count": len(rows),
                "outbox.first_id": rows[0].id if rows else 0,
                "outbox.last_id": rows[-1].id if rows else 0,
            },
        )
        self.record_spans: list[trace.Span] = []
        # One link for every record's span: the SDK copies it into each span's own links.
        self._to_batch = (trace.Link(self.span.get_span_context(), {"relay.link": "batch"}),)
        self._records_to_link = span_link_limit() if self.span.is_recording() else 0

    def record(self, row: OutboxRow) -> Record:
        """The row's record, its `traceparent` naming the row's new publish span."""
        span = start_publish_span(
            self._tracer, self._topic,
            key=row.aggregate_id.encode(), message_id=row.event_id,
            context=context_from_traceparent(row.traceparent),
            links=self._to_batch,
        )
        span.set_attribute("outbox.id", row.id)
        context = span.get_span_context()
        if len(self.record_spans) < self._records_to_link:
            self.span.add_link(context, _RECORD_LINK)
        self.record_spans.append(span)
        # With no tracer configured (a no-op span) the stored context passes through as it is.
        return to_record(row, traceparent=traceparent_of(span))

    def end(self, error: BaseException | None = None) -> None:
        """End every span: committed, or failed with `error`."""
        for span in [*self.record_spans, self.span]:
            if error is not None:
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(trace.StatusCode.ERROR, str(error) or type(error).__name__)
            span.end()


@contextmanager
def traced_batch(
    tracer: trace.Tracer, topic: str, rows: Sequence[OutboxRow]
) -> Iterator[BatchTrace]:
    """The spans of a batch, ended when the block (send ... commit) ends."""
    batch = BatchTrace(tracer, topic, rows)
    try:
        yield batch
    except BaseException as error:
        batch.end(error)
        raise
    batch.end()
