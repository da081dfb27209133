"""What happens to the records of the order events topic: apply each once, or dead-letter it.

Records come in batches (what the consumer has fetched, up to a limit). The events of a batch
are applied by ONE statement in ONE database transaction: a batch costs one round trip and
one commit, not one per event. A record the events model refuses, or one the database
refuses for its content, goes to the dead-letter topic with the reason. Anything else that
fails (the database is down, a deadlock, ...) rolls the batch back and is retried with
backoff: a record is done only when applied or dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import aiopg
import psycopg2
from opentelemetry import trace
from pydantic import ValidationError

from services.inventory.dead_letters import SourceRecord
from services.inventory.handlers import apply_events
from services.inventory.models import Outcome
from services.inventory.retry import Backoff, retry_until_done
from services.inventory.tracing import record_stock_changes, start_batch_span
from shared.events import OrderCreated, parse_event
from shared.kafka_tracing import start_process_span
from shared.tracing import INSTRUMENTATION_NAME

logger = logging.getLogger(__name__)

Done = Literal["reserved", "rejected", "duplicate", "dead-lettered"]

# Errors caused by what a record says: trying again can never help.
RECORD_FAULTS: tuple[type[BaseException], ...] = (psycopg2.DataError, psycopg2.IntegrityError)


class HasPool(Protocol):
    """Where the open database pool is found once the app runs (`shared.resources.PostgresPool`)."""

    @property
    def pool(self) -> aiopg.Pool: ...


class ApplyEvents(Protocol):
    """Applies events in one transaction, in order (`handlers.apply_events`)."""

    async def __call__(self, pool: aiopg.Pool, events: Sequence[OrderCreated]
                       ) -> list[Outcome]: ...


class DeadLetterSink(Protocol):
    """Where records that can never be applied go (`dead_letters.DeadLetters`)."""

    async def send(self, record: SourceRecord, reason: str) -> None: ...


@dataclass
class _Item:
    """One record of a batch on its way through: its span, its event, what was done."""

    record: SourceRecord
    span: trace.Span
    event: OrderCreated | None = None
    done: Done | None = None


@dataclass
class RecordProcessor:
    """Turns each record into exactly one applied event or one dead letter."""

    database: HasPool
    dead_letters: DeadLetterSink
    backoff: Backoff
    apply: ApplyEvents = apply_events
    sleep: Callable[[float], Awaitable[object]] = field(default=asyncio.sleep)
    tracer: trace.Tracer = field(default_factory=lambda: trace.get_tracer(INSTRUMENTATION_NAME))

    async def process(self, record: SourceRecord) -> Done:
        """Apply one record's event, or dead-letter the record; return what was done."""
        [done] = await self.process_batch([record])
        return done

    async def process_batch(self, records: Sequence[SourceRecord]) -> list[Done]:
        """Apply the records' events, dead-letter the rest; what was done, record by record.

        Each record has its processing span, which continues the trace of its `traceparent`
        header: its stock change and any dead letter are the span's children. The spans end once
        the whole batch is done, or with the error that stopped it.
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
        done: list[Done] = []
        for item in items:
            assert item.done is not None  # every item was applied or dead-lettered
            item.span.set_attribute("inventory.outcome", item.done)
            item.span.end()
            done.append(item.done)
        return done

    async def _process(self, items: list[_Item]) -> None:
        for item in items:
            try:
                item.event = parse_event(item.record.value or b"")
            except ValidationError as error:
                await self._dead_letter(item, describe(error))
        valid = [item for item in items if item.event is not None]
        if not valid:
            return
        try:
            await self._apply(valid)
        except RECORD_FAULTS as error:
            if len(valid) == 1:
                await self._dead_letter(valid[0], _fault_reason(error))
                return
            # Some event's content was refused, and the batch rolled back: apply the events
            # one at a time to find which (rare, so slow is fine).
            for item in valid:
                try:
                    await self._apply([item])
                except RECORD_FAULTS as fault:
                    await self._dead_letter(item, _fault_reason(fault))

    async def _apply(self, items: list[_Item]) -> None:
        events = [item.event for item in items if item.event is not None]
        record_spans = [item.span for item in items]
        batch_span = start_batch_span(self.tracer, record_spans)
        started_ns = time.time_ns()
        with trace.use_span(batch_span, end_on_exit=True):
            outcomes = await retry_until_done(
                lambda: self.apply(self.database.pool, events),
                backoff=self.backoff, give_up=_is_record_fault, sleep=self.sleep,
            )
            record_stock_changes(self.tracer, batch_span, record_spans, outcomes,
                                 started_ns=started_ns, committed_ns=time.time_ns())
            for item, outcome in zip(items, outcomes, strict=True):
                item.done = outcome.status
            _log_outcomes(events, outcomes)

    async def _dead_letter(self, item: _Item, reason: str) -> None:
        record = item.record
        logger.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition,
                       record.offset, reason)
        with trace.use_span(item.span, end_on_exit=False):
            await retry_until_done(
                lambda: self.dead_letters.send(record, reason),
                backoff=self.backoff, give_up=lambda _error: False, sleep=self.sleep,
            )
        item.done = "dead-lettered"

    def _start_span(self, record: SourceRecord) -> trace.Span:
        return start_process_span(self.tracer, topic=record.topic, partition=record.partition,
                                  offset=record.offset, key=record.key, headers=record.headers)


def describe(error: ValidationError) -> str:
    """A validation error as `field: problem; ...`, without echoing the record's value."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field_path = ".".join(str(part) for part in item["loc"]) or "value"
        problems.append(f"{field_path}: {item['msg']}")
    return "; ".join(problems)


def _fault_reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _is_record_fault(error: BaseException) -> bool:
    return isinstance(error, RECORD_FAULTS)


def _log_outcomes(events: list[OrderCreated], outcomes: list[Outcome]) -> None:
    # Events that were not reserved (the interesting ones) get a line each, with the reason.
    # Reserved ones are logged only at DEBUG: a line per event would cost more than applying
    # it, and even a line per batch is about 100 a second at 200 orders/s, whose formatting
    # took ~5 % of the service's time.
    debug = logger.isEnabledFor(logging.DEBUG)
    for event, outcome in zip(events, outcomes, strict=True):
        if debug or outcome.status != "reserved":
            logger.log(logging.DEBUG if outcome.status == "reserved" else logging.INFO,
                       "event %s for order %s: %s%s", event.event_id, event.payload.order_id,
                       outcome.status, f" ({outcome.reason})" if outcome.reason else "")
    if debug:
        counts = Counter(outcome.status for outcome in outcomes)
        logger.debug("applied %d events: %s", len(events), ", ".join(
            f"{count} {status}" for status, count in sorted(counts.items())))
