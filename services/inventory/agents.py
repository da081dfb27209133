"""The Faust agent on the order events topic: read a record, process it, ack it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import faust
from faust.types import Message
from faust.types.core import HeadersArg

from services.inventory.dead_letters import SourceRecord
from services.inventory.processing import RecordProcessor

Agent = Callable[[faust.StreamT[bytes]], Awaitable[None]]


def reserve_stock_agent(processor: RecordProcessor) -> Agent:
    """The agent body, closing over the processor that `create_app` wired."""

    async def reserve_stock(stream: faust.StreamT[bytes]) -> None:
        # Manual acks: a record is acked (and its offset becomes committable) only once it
        # is applied or dead-lettered, never because processing stopped half-way.
        records = cast(faust.Stream[bytes], stream).noack()
        async for event in records.events():
            await processor.process(source_record(event.message))
            await records.ack(event)

    return reserve_stock


def source_record(message: Message) -> SourceRecord:
    """The parts of a Kafka message the processor needs, as they arrived."""
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=_header_pairs(message.headers),
    )


def _header_pairs(headers: HeadersArg) -> tuple[tuple[str, bytes], ...]:
    items = headers.items() if isinstance(headers, Mapping) else headers or ()
    return tuple((key, value) for key, value in items)
