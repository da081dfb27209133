"""Spans around Kafka records, named and described by OpenTelemetry's messaging conventions.

A record is published in a `<topic> publish` PRODUCER span whose context travels in the
record's `traceparent` header, and handled in a `<topic> process` CONSUMER span that continues
from that header, so one trace crosses Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.util.types import AttributeValue

from shared.tracing import context_from_headers

Headers = Sequence[tuple[str, bytes | None]]


def header_text(headers: Headers, name: str) -> str | None:
    """The first header called `name`, as text; None if absent or null."""
    for key, value in headers:
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None


def message_attributes(
    topic: str, operation: str, *, key: bytes | None, message_id: str | None
) -> dict[str, AttributeValue]:
    """The messaging attributes every span about one Kafka record carries."""
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation.name": operation,
        "messaging.operation.type": "send" if operation == "publish" else operation,
    }
    if key is not None:  # the conventions say: not set for a null key
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    if message_id:
        attributes["messaging.message.id"] = message_id
    return attributes


def start_publish_span(
    tracer: trace.Tracer,
    topic: str,
    *,
    key: bytes | None,
    message_id: str | None,
    context: Context | None = None,
    links: Sequence[trace.Link] = (),
) -> trace.Span:
    """Start (not make current) the PRODUCER span of one record; the caller ends it.

    Its parent is the span of `context`, or the current span when `context` is None.
    """
    return tracer.start_span(
        f"{topic} publish",
        context=context,
        kind=trace.SpanKind.PRODUCER,
        attributes=message_attributes(topic, "publish", key=key, message_id=message_id),
        links=links,
    )


def start_process_span(
    tracer: trace.Tracer,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    headers: Headers,
) -> trace.Span:
    """Start (not make current) the CONSUMER span of one record, child of its `traceparent`."""
    attributes = message_attributes(
        topic, "process", key=key, message_id=header_text(headers, "event_id")
    )
    attributes["messaging.destination.partition.id"] = str(partition)
    attributes["messaging.kafka.message.offset"] = offset
    return tracer.start_span(
        f"{topic} process",
        context=context_from_headers(headers),
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
    )
