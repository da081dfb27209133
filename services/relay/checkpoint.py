"""The relay's checkpoint: which outbox rows the last committed Kafka transaction published.

Each batch's transaction also writes one record to a compacted, single-partition topic, keyed
by the transactional id, listing the batch's outbox ids. The record commits or aborts with the
events, so after a crash the last committed checkpoint names exactly the rows that may be in
Kafka but not yet marked in the database.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from shared.kafka import ensure_topic, read_committed_consumer
from shared.outbox.records import OutboxRow

PARTITION = 0
_SCAN_WINDOW = 16  # records read from the end first; doubled until our key turns up
_READ_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Checkpoint:
    """The outbox ids of one published batch, and the event id of its last row."""

    outbox_ids: tuple[int, ...]
    last_event_id: str

    @property
    def last_id(self) -> int:
        """The highest outbox id of the batch (rows are published in id order)."""
        return self.outbox_ids[-1]


def checkpoint_of(rows: Sequence[OutboxRow]) -> Checkpoint:
    """The checkpoint of a non-empty batch."""
    if not rows:
        raise ValueError("a checkpoint needs at least one row")
    return Checkpoint(tuple(row.id for row in rows), rows[-1].event_id)


def encode(checkpoint: Checkpoint) -> bytes:
    """The record value of a checkpoint."""
    body = {"outbox_ids": list(checkpoint.outbox_ids), "last_event_id": checkpoint.last_event_id}
    return json.dumps(body, separators=(",", ":")).encode()


def decode(value: bytes) -> Checkpoint:
    """A checkpoint from its record value; raises ValueError if it is not one."""
    try:
        body = json.loads(value)
        ids = tuple(int(item) for item in body["outbox_ids"])
        last_event_id = str(body["last_event_id"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a relay checkpoint: {value[:200]!r}") from exc
    if not ids:
        raise ValueError("a relay checkpoint with no outbox ids")
    return Checkpoint(ids, last_event_id)


async def ensure_checkpoint_topic(bootstrap_servers: str, topic: str) -> None:
    """Create the checkpoint topic (one partition, compacted) if it does not exist."""
    await ensure_topic(bootstrap_servers, topic, partitions=1,
                       config={"cleanup.policy": "compact"})


async def read_last_checkpoint(
    bootstrap_servers: str, topic: str, key: bytes
) -> Checkpoint | None:
    """The last committed checkpoint written under `key`, or None if there is none.

    Reads with read_committed up to the last stable offset, so call it only after the
    producer's transactions are initialised: that aborts or completes any transaction a
    predecessor left open, and the answer can no longer change under our feet.
    """
    # A short fetch wait: the broker would otherwise hold each fetch at the end of the log.
    consumer = read_committed_consumer(bootstrap_servers, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        async with asyncio.timeout(_READ_TIMEOUT_SECONDS):
            return await _scan_backwards(consumer, TopicPartition(topic, PARTITION), key)
    finally:
        await consumer.stop()


async def _scan_backwards(
    consumer: AIOKafkaConsumer, tp: TopicPartition, key: bytes
) -> Checkpoint | None:
    # Compaction keeps the topic short eventually, but until it runs every batch left a record,
    # so read windows from the end rather than the whole topic from the beginning.
    consumer.assign([tp])
    begin = (await consumer.beginning_offsets([tp]))[tp]
    stop = (await consumer.end_offsets([tp]))[tp]  # the last stable offset
    window = _SCAN_WINDOW
    while stop > begin:
        start = max(begin, stop - window)
        consumer.seek(tp, start)
        found, last = False, None
        while await consumer.position(tp) < stop:
            fetched = await consumer.getmany(tp, timeout_ms=100)
            for message in fetched.get(tp, []):
                if message.offset < stop and message.key == key:
                    found, last = True, message.value
        if found:
            return None if last is None else decode(last)
        stop, window = start, window * 2
    return None
