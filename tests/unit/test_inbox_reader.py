"""How the inbox handles each record: applied once (with retries), skipped, or dead-lettered."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg2
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.events import OrderCreated
from shared.inbox.dead_letters import SourceRecord, dead_letter_headers
from shared.inbox.reader import Reader
from shared.inbox.registry import Registry
from shared.retry import Backoff
from shared.tracing import configure_tracing
from tests.support.order_events import order_cancelled, order_created, record_of

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class FakeDatabase:
    pool: Any = object()


class FakeCursor:
    """Keeps the event ids claimed by committed transactions, as `processed_events` does."""

    def __init__(self, committed: set[str]) -> None:
        self.committed = committed
        self.claimed: set[str] = set()
        self.rowcount = 0

    async def execute(self, sql: str, params: dict[str, Any]) -> None:
        event_id = str(params["event_id"])
        taken = event_id in self.committed or event_id in self.claimed
        self.claimed.add(event_id)
        self.rowcount = 0 if taken else 1


class FakeTransactions:
    def __init__(self) -> None:
        self.committed: set[str] = set()
        self.begun = 0

    @asynccontextmanager
    async def __call__(self, pool: Any) -> AsyncIterator[FakeCursor]:
        self.begun += 1
        cursor = FakeCursor(self.committed)
        yield cursor  # an exception rolls the claims back: they are never committed
        self.committed |= cursor.claimed


def fake_transactions() -> Any:
    return FakeTransactions()


class FakeDeadLetters:
    def __init__(self, failures: int = 0) -> None:
        self.sent: list[tuple[SourceRecord, str]] = []
        self.failures = failures

    async def send(self, record: SourceRecord, reason: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.sent.append((record, reason))


class FlakyHandler:
    """Fails with the given errors, one per call, then applies the event."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[Any] = []
        self.applied: list[Any] = []

    async def __call__(self, cursor: Any, event: Any) -> None:
        self.calls.append(event)
        if self.errors:
            raise self.errors.pop(0)
        self.applied.append(event)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def source(value: bytes, headers: tuple[tuple[str, bytes], ...] = ()) -> SourceRecord:
    return SourceRecord(topic="order.events", partition=2, offset=41, key=b"k", value=value,
                        headers=headers)


def reader(handler: FlakyHandler, dead_letters: FakeDeadLetters | None = None,
           sleeps: Sleeps | None = None, **options: Any) -> Reader:
    return Reader(FakeDatabase(), Registry({OrderCreated: handler}),
                  dead_letters or FakeDeadLetters(), Backoff(initial=0.1, maximum=0.3),
                  sleep=Sleeps() if sleeps is None else sleeps, begin=fake_transactions(),
                  **options)


def good_record() -> tuple[OrderCreated, SourceRecord]:
    event = order_created(("APPLE", 1))
    _, value, headers = record_of(event)
    return event, source(value, tuple(headers))


async def test_an_event_is_applied_once_however_often_it_is_delivered() -> None:
    event, record = good_record()
    handler = FlakyHandler()
    inbox = reader(handler)

    assert await inbox.process_batch([record, record]) == ["applied", "duplicate"]
    assert await inbox.process(record) == "duplicate"
    assert handler.applied == [event]


async def test_a_transient_database_error_is_retried_with_backoff_until_applied() -> None:
    event, record = good_record()
    handler = FlakyHandler(psycopg2.OperationalError("server closed the connection"),
                           psycopg2.errors.DeadlockDetected("deadlock detected"))
    dead_letters, sleeps = FakeDeadLetters(), Sleeps()

    outcome = await reader(handler, dead_letters, sleeps).process(record)

    # The failed attempts rolled back their dedupe row: the third applies the event.
    assert outcome == "applied"
    assert handler.calls == [event, event, event]
    assert sleeps == [0.1, 0.2]
    assert dead_letters.sent == []


async def test_an_unexpected_error_is_retried_too_never_acked_away() -> None:
    _, record = good_record()
    sleeps = Sleeps()

    outcome = await reader(FlakyHandler(*(RuntimeError("bug") for _ in range(4))), None,
                           sleeps).process(record)

    assert outcome == "applied"
    assert sleeps == [0.1, 0.2, 0.3, 0.3]  # doubling, capped at the maximum


async def test_an_event_type_not_registered_is_skipped_not_dead_lettered() -> None:
    # A reader that applies OrderCreated only: OrderCancelled is known to the project but not
    # registered here; OrderShipped is known to nobody yet (a newer producer's).
    _, value, headers = record_of(order_cancelled(uuid.uuid4()))
    newer = source(b'{"event_type": "OrderShipped", "whatever": 1}')
    event, good = good_record()
    handler, dead_letters = FlakyHandler(), FakeDeadLetters()

    outcomes = await reader(handler, dead_letters).process_batch(
        [source(value, tuple(headers)), newer, good])

    assert outcomes == ["skipped", "skipped", "applied"]
    assert handler.applied == [event]
    assert dead_letters.sent == []


@pytest.mark.parametrize(("value", "headers", "reason_part"), [
    (b"{not json", (("event_type", b"OrderCreated"),), "Invalid JSON"),
    (b"", (("event_type", b"OrderCreated"),), "Invalid JSON"),
    (b"{not json", (), "no header, and the value names none"),
    (json.dumps({"event_type": "OrderCreated"}).encode(), (), "event_id: Field required"),
])
async def test_a_record_of_a_known_type_that_fails_validation_is_dead_lettered(
    value: bytes, headers: tuple[tuple[str, bytes], ...], reason_part: str
) -> None:
    handler, dead_letters = FlakyHandler(), FakeDeadLetters()
    record = source(value, headers)

    outcome = await reader(handler, dead_letters).process(record)

    assert outcome == "dead_lettered"
    assert handler.calls == []
    [(sent, reason)] = dead_letters.sent
    assert sent == record
    assert reason_part in reason


async def test_a_record_the_database_refuses_is_dead_lettered() -> None:
    _, record = good_record()
    dead_letters = FakeDeadLetters()

    outcome = await reader(FlakyHandler(psycopg2.DataError("integer out of range")),
                           dead_letters).process(record)

    assert outcome == "dead_lettered"
    assert [reason for _, reason in dead_letters.sent] == ["DataError: integer out of range"]


async def test_a_refused_event_in_a_batch_is_dead_lettered_and_the_others_applied() -> None:
    events = [order_created(("APPLE", n)) for n in (1, 2, 3)]
    records = [source(value, tuple(headers)) for _, value, headers in map(record_of, events)]
    applied: list[Any] = []

    async def handler(cursor: Any, event: Any) -> None:
        if event == events[1]:  # the database refuses it, and the transaction rolls back
            raise psycopg2.DataError("integer out of range")
        applied.append(event)

    dead_letters = FakeDeadLetters()
    inbox = Reader(FakeDatabase(), Registry({OrderCreated: handler}), dead_letters,
                   Backoff(0.1, 0.3), sleep=Sleeps(), begin=fake_transactions())
    outcomes = await inbox.process_batch(records)

    assert outcomes == ["applied", "dead_lettered", "applied"]
    assert applied[-2:] == [events[0], events[2]]  # after the batch's rolled-back attempt
    assert [(record, reason) for record, reason in dead_letters.sent] == [
        (records[1], "DataError: integer out of range")]


async def test_a_dead_letter_that_cannot_be_written_is_retried() -> None:
    dead_letters, sleeps = FakeDeadLetters(failures=2), Sleeps()

    outcome = await reader(FlakyHandler(), dead_letters, sleeps).process(
        source(b"nope", (("event_type", b"OrderCreated"),)))

    assert outcome == "dead_lettered"
    assert len(dead_letters.sent) == 1
    assert sleeps == [0.1, 0.2]


def test_dead_letter_headers_keep_the_originals_and_say_where_from_and_why() -> None:
    record = source(b"v", (("event_id", b"e"), ("traceparent", b"00-ab")))

    assert dead_letter_headers(record, "value: Invalid JSON") == [
        ("event_id", b"e"),
        ("traceparent", b"00-ab"),
        ("dlq_reason", b"value: Invalid JSON"),
        ("dlq_source_topic", b"order.events"),
        ("dlq_source_partition", b"2"),
        ("dlq_source_offset", b"41"),
    ]


def test_a_dead_letter_carries_the_context_of_its_own_publish_span() -> None:
    record = source(b"v", (("event_id", b"e"), ("traceparent", b"00-ab")))

    assert dead_letter_headers(record, "why", traceparent="00-cd")[:2] == [
        ("event_id", b"e"), ("traceparent", b"00-cd")]


async def test_a_poison_record_is_dead_lettered_inside_its_processing_span() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing("inventory-service", exporter=exporter).get_tracer("t")
    current: list[trace.Span] = []

    class Recording(FakeDeadLetters):
        async def send(self, record: SourceRecord, reason: str) -> None:
            current.append(trace.get_current_span())
            await super().send(record, reason)

    poison = source(b"nope", (("traceparent", TRACEPARENT.encode()),
                              ("event_type", b"OrderCreated")))
    outcome = await reader(FlakyHandler(), Recording(), tracer=tracer).process(poison)

    [span] = exporter.get_finished_spans()
    assert outcome == "dead_lettered"
    assert span.name == "order.events process"
    assert (span.attributes or {})["inbox.outcome"] == "dead_lettered"
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == TRACEPARENT.split("-")[2]
    assert [s.get_span_context() for s in current] == [span.context]


async def test_a_handler_runs_in_its_own_span_under_the_records_processing_span() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing("inventory-service", exporter=exporter).get_tracer("t")
    seen: list[trace.Span] = []

    async def handler(cursor: Any, event: Any) -> None:
        seen.append(trace.get_current_span())

    _, record = good_record()
    inbox = Reader(FakeDatabase(), Registry({OrderCreated: handler}), FakeDeadLetters(),
                   Backoff(0.1, 0.3), sleep=Sleeps(), begin=fake_transactions(), tracer=tracer)
    await inbox.process(record)

    spans = {span.name: span for span in exporter.get_finished_spans()}
    apply, process = spans["apply OrderCreated"], spans["order.events process"]
    assert apply.parent is not None
    assert apply.parent.span_id == process.context.span_id
    assert [span.get_span_context() for span in seen] == [apply.context]
