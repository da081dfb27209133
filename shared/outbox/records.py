"""Outbox rows and the Kafka records they become (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutboxRow:
    """One unpublished outbox row, as the relay reads it."""

    id: int
    event_id: str
    aggregate_id: str
    event_type: str
    payload: str  # the whole event, as Postgres's canonical jsonb text
    traceparent: str | None


@dataclass(frozen=True)
class Record:
    """A record ready for the producer: key, value and headers as bytes."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def record_headers(row: OutboxRow, traceparent: str | None = None) -> list[tuple[str, bytes]]:
    """The headers of a row's record: event id, event type, and the trace context if any.

    `traceparent`, when given, is sent instead of the stored one (the relay's publish span).
    """
    headers = [
        ("event_id", row.event_id.encode()),
        ("event_type", row.event_type.encode()),
    ]
    traceparent = traceparent or row.traceparent
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return headers


def to_record(row: OutboxRow, *, traceparent: str | None = None) -> Record:
    """The record for a row: keyed by the aggregate (order) id, the stored payload as value.

    `traceparent` replaces the stored trace context in the headers, as in `record_headers`.
    """
    return Record(
        key=row.aggregate_id.encode(),
        value=row.payload.encode(),
        headers=record_headers(row, traceparent),
    )
