"""How each record is handled: applied (with retries), or dead-lettered with its reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiopg
import psycopg2
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.inventory.dead_letters import SourceRecord, dead_letter_headers
from services.inventory.models import Outcome
from services.inventory.processing import RecordProcessor
from services.inventory.retry import Backoff
from shared.events import OrderCreated
from shared.tracing import configure_tracing
from tests.support.order_events import order_created, record_of

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class FakeDatabase:
    pool: Any = object()


class FakeDeadLetters:
    def __init__(self, failures: int = 0) -> None:
        self.sent: list[tuple[SourceRecord, str]] = []
        self.failures = failures

    async def send(self, record: SourceRecord, reason: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.sent.append((record, reason))


class FlakyApply:
    """Fails with the given errors, one per call, then reserves every event of the batch."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[list[OrderCreated]] = []

    async def __call__(self, pool: aiopg.Pool, events: Sequence[OrderCreated]) -> list[Outcome]:
        self.calls.append(list(events))
        if self.errors:
            raise self.errors.pop(0)
        return [Outcome(status="reserved") for _ in events]


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def source(value: bytes, headers: tuple[tuple[str, bytes], ...] = ()) -> SourceRecord:
    return SourceRecord(topic="order.events", partition=2, offset=41, key=b"k", value=value,
                        headers=headers)


def processor(apply: FlakyApply, dead_letters: FakeDeadLetters, sleeps: Sleeps) -> RecordProcessor:
    return RecordProcessor(FakeDatabase(), dead_letters, Backoff(initial=0.1, maximum=0.3),
                           apply=apply, sleep=sleeps)


def good_record() -> tuple[OrderCreated, SourceRecord]:
    event = order_created(("APPLE", 1))
    _, value, headers = record_of(event)
    return event, source(value, tuple(headers))


async def test_a_transient_database_error_is_retried_with_backoff_until_applied() -> None:
    event, record = good_record()
    apply = FlakyApply(psycopg2.OperationalError("server closed the connection"),
                       psycopg2.errors.DeadlockDetected("deadlock detected"))
    dead_letters, sleeps = FakeDeadLetters(), Sleeps()

    done = await processor(apply, dead_letters, sleeps).process(record)

    assert done == "reserved"
    assert apply.calls == [[event], [event], [event]]
    assert sleeps == [0.1, 0.2]
    assert dead_letters.sent == []


async def test_an_unexpected_error_is_retried_too_never_acked_away() -> None:
    _, record = good_record()
    apply = FlakyApply(*(RuntimeError("bug") for _ in range(4)))
    sleeps = Sleeps()

    done = await processor(apply, FakeDeadLetters(), sleeps).process(record)

    assert done == "reserved"
    assert sleeps == [0.1, 0.2, 0.3, 0.3]  # doubling, capped at the maximum


@pytest.mark.parametrize(("value", "reason_part"), [
    (b"{not json", "Invalid JSON"),
    (b"", "Invalid JSON"),
    (json.dumps({"event_type": "OrderShipped"}).encode(), "does not match any of the expected"),
])
async def test_an_undecodable_record_is_dead_lettered_with_the_reason(
    value: bytes, reason_part: str
) -> None:
    apply, dead_letters = FlakyApply(), FakeDeadLetters()
    record = source(value, (("event_id", b"x"),))

    done = await processor(apply, dead_letters, Sleeps()).process(record)

    assert done == "dead-lettered"
    assert apply.calls == []
    [(sent, reason)] = dead_letters.sent
    assert sent == record
    assert reason_part in reason


async def test_a_record_the_database_refuses_is_dead_lettered() -> None:
    _, record = good_record()
    apply, dead_letters = FlakyApply(psycopg2.DataError("integer out of range")), FakeDeadLetters()

    done = await processor(apply, dead_letters, Sleeps()).process(record)

    assert done == "dead-lettered"
    assert [reason for _, reason in dead_letters.sent] == ["DataError: integer out of range"]


async def test_a_refused_event_in_a_batch_is_dead_lettered_and_the_others_applied() -> None:
    events = [order_created(("APPLE", n)) for n in (1, 2, 3)]
    records = [source(value, tuple(headers)) for _, value, headers in map(record_of, events)]
    poison = events[1]
    applied: list[OrderCreated] = []

    async def apply(pool: aiopg.Pool, events: Sequence[OrderCreated]) -> list[Outcome]:
        if poison in events:  # the database refuses it, and the transaction rolls back
            raise psycopg2.DataError("integer out of range")
        applied.extend(events)
        return [Outcome(status="reserved") for _ in events]

    dead_letters = FakeDeadLetters()
    done = await RecordProcessor(FakeDatabase(), dead_letters, Backoff(0.1, 0.3), apply=apply,
                                 sleep=Sleeps()).process_batch(records)

    assert done == ["reserved", "dead-lettered", "reserved"]
    assert applied == [events[0], events[2]]
    assert [(record, reason) for record, reason in dead_letters.sent] == [
        (records[1], "DataError: integer out of range")]


async def test_a_dead_letter_that_cannot_be_written_is_retried() -> None:
    apply, dead_letters, sleeps = FlakyApply(), FakeDeadLetters(failures=2), Sleeps()

    done = await processor(apply, dead_letters, sleeps).process(source(b"nope"))

    assert done == "dead-lettered"
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

    poison = source(b"nope", (("traceparent", TRACEPARENT.encode()),))
    done = await RecordProcessor(FakeDatabase(), Recording(), Backoff(0.1, 0.3), tracer=tracer,
                                 sleep=Sleeps()).process(poison)

    [span] = exporter.get_finished_spans()
    assert done == "dead-lettered"
    assert span.name == "order.events process"
    assert (span.attributes or {})["inventory.outcome"] == "dead-lettered"
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == TRACEPARENT.split("-")[2]
    assert [s.get_span_context() for s in current] == [span.context]


async def test_only_events_not_reserved_are_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = [order_created(("APPLE", 1)), order_created(("PEAR", 99))]
    records = [source(value, tuple(headers)) for _, value, headers in map(record_of, events)]

    async def apply(pool: aiopg.Pool, events: Sequence[OrderCreated]) -> list[Outcome]:
        return [Outcome(status="reserved"),
                Outcome(status="rejected", reason="not enough stock for PEAR")]

    def run() -> RecordProcessor:
        return RecordProcessor(FakeDatabase(), FakeDeadLetters(), Backoff(0.1, 0.3),
                               apply=apply, sleep=Sleeps())

    with caplog.at_level("INFO", logger="services.inventory.processing"):
        await run().process_batch(records)
    assert [record.getMessage() for record in caplog.records] == [
        f"event {events[1].event_id} for order {events[1].payload.order_id}: rejected "
        "(not enough stock for PEAR)"]

    caplog.clear()
    with caplog.at_level("DEBUG", logger="services.inventory.processing"):
        await run().process_batch(records)
    messages = [record.getMessage() for record in caplog.records]
    assert f"event {events[0].event_id} for order {events[0].payload.order_id}: reserved" \
        in messages
    assert messages[-1] == "applied 2 events: 1 rejected, 1 reserved"
