"""The idempotent reader: each record applied once by its registered handler, or set aside.

Records come in batches (what the consumer has fetched, up to a limit), applied in ONE
database transaction: for each event, in the order read, its dedupe row (`dedupe.claim`) and
its handler's changes, outcome events included. A record whose `event_type` is not in the
registry is logged and skipped: a newer producer's event types must never fill this reader's
dead-letter topic. A record of a known type that its model refuses, or one the database
refuses for its content, goes to the dead-letter topic with the reason. Anything else that
fails (the database is down, a deadlock, ...) rolls the batch back and is retried with
backoff: a record is done only when applied, found a duplicate, skipped or dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

import aiopg
import psycopg2
from opentelemetry import trace
from pydantic import ValidationError

from shared.db import HasPool, transaction
from shared.events import Envelope
from shared.inbox.dead_letters import SourceRecord
from shared.inbox.dedupe import claim
from shared.inbox.metrics import InboxMetrics
from shared.inbox.registry import Handler, Registry
from shared.kafka_tracing import header_text, start_process_span
from shared.retry import Backoff, retry_until_done
from shared.tracing import INSTRUMENTATION_NAME

logger = logging.getLogger(__name__)

Outcome = Literal["applied", "duplicate", "skipped", "dead_lettered"]

# Errors caused by what a record says: trying again can never help. (A handler that builds
# an outcome event the models refuse raises ValidationError.)
RECORD_FAULTS: tuple[type[BaseException], ...] = (
    psycopg2.DataError, psycopg2.IntegrityError, ValidationError)


class DeadLetterSink(Protocol):
    """Where records that can never be applied go (`dead_letters.DeadLetters`)."""

    async def send(self, record: SourceRecord, reason: str) -> None: ...


@dataclass
class _Item:
    """One record of a batch on its way through: its span, its event, what was done."""

    record: SourceRecord
    span: trace.Span
    event_type: str = ""
    event: Envelope | None = None
    handler: Handler | None = None
    outcome: Outcome | None = None


@dataclass
class Reader:
    """Turns each record into exactly one applied event, duplicate, skip or dead letter."""

    database: HasPool
    registry: Registry
    dead_letters: DeadLetterSink
    backoff: Backoff
    sleep: Callable[[float], Awaitable[object]] = field(default=asyncio.sleep)
    tracer: trace.Tracer = field(default_factory=lambda: trace.get_tracer(INSTRUMENTATION_NAME))
    # How a batch's transaction begins (unit tests give a fake one).
    begin: Callable[[aiopg.Pool], AbstractAsyncContextManager[aiopg.Cursor]] = transaction
    metrics: InboxMetrics | None = None

    async def process(self, record: SourceRecord) -> Outcome:
        """Apply one record's event, or skip or dead-letter the record; return what was done."""
        [outcome] = await self.process_batch([record])
        return outcome

    async def process_batch(self, records: Sequence[SourceRecord]) -> list[Outcome]:
        """Apply the records' events in one transaction; what was done, record by record.

        Each record has its processing span, which continues the trace of its `traceparent`
        header; each handler runs in an `apply <event type>` span under it, current while the
        handler runs, so that an outcome event it writes to the outbox continues that trace.
        The processing spans end once the whole batch is done, or with the error that
        stopped it.
        """
        items = [_Item(record, self._start_span(record)) for record in records]
        try:
            await self._process(items)
        except BaseException as error:
            for item in items:
                item.span.record_exception(error)
                item.span.set_status(trace.StatusCode.ERROR, type(error).__name__)
                item.span.end()
            raise
        outcomes: list[Outcome] = []
        for item in items:
            assert item.outcome is not None  # every item was given one
            item.span.set_attribute("inbox.outcome", item.outcome)
            item.span.end()
            outcomes.append(item.outcome)
            if self.metrics is not None:
                self._count(self.metrics, item)
        return outcomes

    @staticmethod
    def _count(metrics: InboxMetrics, item: _Item) -> None:
        metrics.counted(item.event_type or "unknown", item.outcome or "")
        if item.outcome == "applied" and item.event is not None:
            metrics.applied(item.event)

    async def _process(self, items: list[_Item]) -> None:
        for item in items:
            await self._parse(item)
        valid = [item for item in items if item.outcome is None]
        if not valid:
            return
        try:
            await self._apply(valid)
        except RECORD_FAULTS as error:
            if len(valid) == 1:
                await self._dead_letter(valid[0], fault_reason(error))
                return
            # Some event's content was refused, and the batch rolled back: apply the events
            # one at a time to find which (rare, so slow is fine).
            for item in valid:
                try:
                    await self._apply([item])
                except RECORD_FAULTS as fault:
                    await self._dead_letter(item, fault_reason(fault))

    async def _parse(self, item: _Item) -> None:
        record = item.record
        event_type = _event_type(record)
        item.event_type = event_type or ""
        if event_type is None:
            await self._dead_letter(item, "event_type: no header, and the value names none")
            return
        known = self.registry.lookup(event_type)
        if known is None:
            logger.info("skipping %s[%d]@%d: event type %r is not applied here", record.topic,
                        record.partition, record.offset, event_type)
            item.outcome = "skipped"
            return
        model, item.handler = known
        try:
            item.event = model.model_validate_json(record.value or b"")
        except ValidationError as error:
            await self._dead_letter(item, describe(error))

    async def _apply(self, items: list[_Item]) -> None:
        outcomes = await retry_until_done(
            lambda: self._apply_once(items),
            backoff=self.backoff, give_up=_is_record_fault, sleep=self.sleep,
        )
        for item, outcome in zip(items, outcomes, strict=True):
            item.outcome = outcome

    async def _apply_once(self, items: list[_Item]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        async with self.begin(self.database.pool) as cur:
            for item in items:
                event, handler = item.event, item.handler
                assert event is not None
                assert handler is not None
                with self.tracer.start_as_current_span(
                    f"apply {event.event_type}", context=trace.set_span_in_context(item.span),
                    attributes={"event.id": str(event.event_id), "event.type": event.event_type},
                ) as span:
                    outcomes.append(await apply_in(cur, event, handler))
                    span.set_attribute("inbox.outcome", outcomes[-1])
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("applied a batch of %d events: %d duplicates", len(items),
                         outcomes.count("duplicate"))
        return outcomes

    async def _dead_letter(self, item: _Item, reason: str) -> None:
        record = item.record
        logger.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition,
                       record.offset, reason)
        with trace.use_span(item.span, end_on_exit=False):
            await retry_until_done(
                lambda: self.dead_letters.send(record, reason),
                backoff=self.backoff, give_up=lambda _error: False, sleep=self.sleep,
            )
        item.outcome = "dead_lettered"

    def _start_span(self, record: SourceRecord) -> trace.Span:
        return start_process_span(self.tracer, topic=record.topic, partition=record.partition,
                                  offset=record.offset, key=record.key, headers=record.headers)


async def apply_in(cur: aiopg.Cursor, event: Envelope, handler: Handler) -> Outcome:
    """Apply `event` once in `cur`'s transaction: its dedupe row, then its handler."""
    if not await claim(cur, event):
        return "duplicate"
    await handler(cur, event)
    return "applied"


async def apply_event(pool: aiopg.Pool, registry: Registry, event: Envelope) -> Outcome:
    """Apply one event in a transaction of its own, as the reader would (no retries)."""
    known = registry.lookup(event.event_type)
    if known is None:
        return "skipped"
    async with transaction(pool) as cur:
        return await apply_in(cur, event, known[1])


def _event_type(record: SourceRecord) -> str | None:
    # The header, which every producer of this project sets; else the value's own field.
    from_header = header_text(record.headers, "event_type")
    if from_header:
        return from_header
    try:
        value = json.loads(record.value or b"")
    except ValueError:
        return None
    named = value.get("event_type") if isinstance(value, dict) else None
    return named if isinstance(named, str) and named else None


def describe(error: ValidationError) -> str:
    """A validation error as `field: problem; ...`, without echoing the record's value."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field_path = ".".join(str(part) for part in item["loc"]) or "value"
        problems.append(f"{field_path}: {item['msg']}")
    return "; ".join(problems)


def fault_reason(error: BaseException) -> str:
    """Why the database (or a model) refused a record, on one line."""
    if isinstance(error, ValidationError):
        return describe(error)
    return " ".join(f"{type(error).__name__}: {error}".split())


def _is_record_fault(error: BaseException) -> bool:
    return isinstance(error, RECORD_FAULTS)
