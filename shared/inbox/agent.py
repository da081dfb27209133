"""The Faust agent of a reader: take a batch of records, process it, ack it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import faust
from faust.types import EventT, Message
from faust.types.core import HeadersArg

from shared.inbox.dead_letters import SourceRecord
from shared.inbox.reader import Reader

Agent = Callable[[faust.StreamT[bytes]], Awaitable[None]]


def batching_agent(reader: Reader, *, batch_size: int) -> Agent:
    """The agent body, closing over the reader that the app wired.

    Records are applied in batches of whatever arrived while the previous batch was being
    applied, up to `batch_size`: one record at a time on a quiet topic (nothing waits for a
    batch to fill), large batches on a busy one (one transaction for many records). Batches
    are applied one after the other, in the order their records were read.
    """

    async def read_batches(stream: faust.StreamT[bytes]) -> None:
        # Manual acks: a record is acked (and its offset becomes committable) only once it
        # is applied or dead-lettered, never because processing stopped half-way.
        records = cast(faust.Stream[bytes], stream).noack()
        arrived: asyncio.Queue[EventT[bytes]] = asyncio.Queue(maxsize=batch_size)
        applier = asyncio.create_task(_apply_batches(reader, records, arrived, batch_size))
        agent = asyncio.current_task()

        def stop_agent_if_failed(done: asyncio.Task[None]) -> None:
            # A failed applier stops the agent, which then reports the applier's error.
            if agent is not None and not done.cancelled() and done.exception() is not None:
                agent.cancel()

        applier.add_done_callback(stop_agent_if_failed)
        try:
            async for event in records.events():
                await arrived.put(event)
        except asyncio.CancelledError:
            if applier.done() and not applier.cancelled() and applier.exception() is not None:
                raise cast(BaseException, applier.exception()) from None
            raise
        finally:
            # Stopping: records not applied yet are not acked, and are read again later.
            applier.cancel()
            await asyncio.gather(applier, return_exceptions=True)

    return read_batches


async def _apply_batches(reader: Reader, records: faust.StreamT[bytes],
                         arrived: asyncio.Queue[EventT[bytes]], batch_size: int) -> None:
    while True:
        batch = [await arrived.get()]
        while len(batch) < batch_size and not arrived.empty():
            batch.append(arrived.get_nowait())
        await reader.process_batch([source_record(event.message) for event in batch])
        for event in batch:
            await records.ack(event)


def source_record(message: Message) -> SourceRecord:
    """The parts of a Kafka message the reader needs, as they arrived."""
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
