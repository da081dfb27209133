"""What happens to each record of the order events topic: apply it once, or dead-letter it.

A record the events model refuses, or one the database refuses for its content, goes to the
dead-letter topic with the reason. Anything else that fails (the database is down, a
deadlock, ...) is retried with backoff: the record is done only when applied or dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import aiopg
import psycopg2
from opentelemetry import trace
from pydantic import ValidationError

from services.inventory.dead_letters import SourceRecord
from services.inventory.handlers import apply_event
from services.inventory.models import Outcome
from services.inventory.retry import Backoff, retry_until_done
from shared.events import OrderCreated, parse_event
from shared.kafka_tracing import process_span
from shared.tracing import INSTRUMENTATION_NAME

logger = logging.getLogger(__name__)

Done = Literal["reserved", "rejected", "duplicate", "dead-lettered"]

# Errors caused by what the record says: trying again can never help.
RECORD_FAULTS: tuple[type[BaseException], ...] = (psycopg2.DataError, psycopg2.IntegrityError)


class HasPool(Protocol):
    """Where the open database pool is found once the app runs (`shared.resources.PostgresPool`)."""

    @property
    def pool(self) -> aiopg.Pool: ...


class DeadLetterSink(Protocol):
    """Where records that can never be applied go (`dead_letters.DeadLetters`)."""

    async def send(self, record: SourceRecord, reason: str) -> None: ...


@dataclass
class RecordProcessor:
    """Turns one record into exactly one applied event or one dead letter."""

    database: HasPool
    dead_letters: DeadLetterSink
    backoff: Backoff
    apply: Callable[[aiopg.Pool, OrderCreated], Awaitable[Outcome]] = apply_event
    sleep: Callable[[float], Awaitable[object]] = field(default=asyncio.sleep)
    tracer: trace.Tracer = field(default_factory=lambda: trace.get_tracer(INSTRUMENTATION_NAME))

    async def process(self, record: SourceRecord) -> Done:
        """Apply the record's event, or dead-letter the record; return what was done.

        All of it happens in the record's processing span, which continues the trace of its
        `traceparent` header: the stock change and any dead letter are its children.
        """
        with process_span(self.tracer, topic=record.topic, partition=record.partition,
                          offset=record.offset, key=record.key, headers=record.headers) as span:
            done = await self._process(record)
            span.set_attribute("inventory.outcome", done)
            return done

    async def _process(self, record: SourceRecord) -> Done:
        try:
            event = parse_event(record.value or b"")
        except ValidationError as error:
            return await self._dead_letter(record, describe(error))
        try:
            outcome = await retry_until_done(
                lambda: self.apply(self.database.pool, event),
                backoff=self.backoff, give_up=_is_record_fault, sleep=self.sleep,
            )
        except RECORD_FAULTS as error:
            return await self._dead_letter(record, f"{type(error).__name__}: {error}")
        logger.info("event %s for order %s: %s%s", event.event_id, event.payload.order_id,
                    outcome.status, f" ({outcome.reason})" if outcome.reason else "")
        return outcome.status

    async def _dead_letter(self, record: SourceRecord, reason: str) -> Done:
        logger.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition,
                       record.offset, reason)
        await retry_until_done(
            lambda: self.dead_letters.send(record, reason),
            backoff=self.backoff, give_up=lambda _error: False, sleep=self.sleep,
        )
        return "dead-lettered"


def describe(error: ValidationError) -> str:
    """A validation error as `field: problem; ...`, without echoing the record's value."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field_path = ".".join(str(part) for part in item["loc"]) or "value"
        problems.append(f"{field_path}: {item['msg']}")
    return "; ".join(problems)


def _is_record_fault(error: BaseException) -> bool:
    return isinstance(error, RECORD_FAULTS)
