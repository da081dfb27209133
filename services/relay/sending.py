"""Records packed into Kafka batches, a partition's own, and handed to the producer in one go.

`producer.send` pays, for every record, for what a batch needs once: the metadata and
transaction checks, the partitioner's lookups, a future, a pass through the accumulator. At a
thousand records per transaction that was most of the relay's time, so the relay packs each
partition's batches itself and hands them over with `send_batch`, which also adds the
partition to the Kafka transaction. Packing needs no transaction, so it can be done before one
begins; handing over is quick, and done without yielding to the event loop, so that one
AddPartitionsToTxn and one produce request carry a whole transaction.

A record goes to the partition the default partitioner picks for its key (murmur2, as in the
Java client, and so in Debezium), and within a partition in the order given: the events of one
order stay on one partition, in outbox id order. The hash is the `murmurhash2` package's
compiled one: aiokafka's own is pure Python, and was the relay's largest single cost (about
13 us a key, against 0.5). Batches are closed when handed over, so that
nothing else joins them and none lingers: the sender takes them at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import IllegalOperation
from murmurhash2 import murmurhash2

from shared.outbox.records import Record

_MURMUR2_SEED = 0x9747B28C  # the Java client's (Utils.murmur2)


def by_partition(records: Iterable[Record], partitions: Iterable[int]) -> dict[int, list[Record]]:
    """The records each partition gets from the default partitioner, in the order given.

    `partitions` are all the topic's partitions; every record must have a key.
    """
    ordered = sorted(partitions)
    grouped: dict[int, list[Record]] = {}
    for record in records:
        # What the Java client's default partitioner (and aiokafka's) does with a keyed
        # record: toPositive(murmur2(key)) % the number of partitions, an index into them all.
        index = (murmurhash2(record.key, _MURMUR2_SEED) & 0x7FFFFFFF) % len(ordered)
        grouped.setdefault(ordered[index], []).append(record)
    return grouped


class Outgoing:
    """Records packed into batches, to be handed to one producer together."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self.batches: list[tuple[str, int, Any]] = []  # (topic, partition, BatchBuilder)

    async def pack(self, topic: str, records: Iterable[Record]) -> None:
        """Pack `records`, each for its key's partition of `topic`."""
        partitions = await self._producer.partitions_for(topic)
        for partition, items in by_partition(records, partitions).items():
            self.pack_for(topic, partition, items)

    def pack_for(self, topic: str, partition: int, records: Sequence[Record]) -> None:
        """Pack `records` for one partition, in as many batches as their size needs."""
        batch = self._producer.create_batch()
        for record in records:
            if not _append(batch, record):  # full: the record opens the next batch
                self.batches.append((topic, partition, batch))
                batch = self._producer.create_batch()
                if not _append(batch, record):  # an empty batch takes a record of any size
                    raise RuntimeError(f"an empty batch for {topic}[{partition}] refused a record")
        if batch.record_count():
            self.batches.append((topic, partition, batch))

    async def send(self) -> None:
        """Hand every batch over, then wait until Kafka has them (acknowledged, not committed)."""
        sent: list[asyncio.Future[Any]] = []
        try:
            for topic, partition, batch in self.batches:
                batch.close()
                sent.append(await self._producer.send_batch(batch, topic, partition=partition))
        except IllegalOperation:
            # The transaction failed under us ("not in transaction"); the cause, such as
            # ProducerFenced, is on the batches already handed over.
            await asyncio.gather(*sent)
            raise
        await asyncio.gather(*sent)


def _append(batch: Any, record: Record) -> bool:
    # The timestamp is the producer's clock when the record is packed, as `producer.send` does.
    return batch.append(key=record.key, value=record.value, timestamp=None,
                        headers=record.headers) is not None
