"""Packing records into Kafka batches: the partitions they go to, their order, the handing over."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest
from aiokafka.errors import IllegalOperation, ProducerFenced
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from services.relay.sending import Outgoing, by_partition
from shared.outbox.records import Record

# Murmur2 of these keys, from the Java client's own tests (UtilsTest.testMurmur2).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def record(key: str, number: int = 0, size: int = 10) -> Record:
    return Record(key.encode(), f"{key}:{number}:".encode().ljust(size, b"."),
                  [("event_id", f"{key}-{number}".encode())])


class FakeProducer:
    """Real batch builders, fake delivery: each handed-over batch is acknowledged at once."""

    def __init__(self, batch_size: int = 1024 * 1024, partitions: int = 3) -> None:
        self.batch_size = batch_size
        self.partitions = set(range(partitions))
        self.handed: list[tuple[str, int, Any]] = []
        self.outcomes: list[BaseException | None] = []  # what the next send_batch calls do

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0, is_transactional=True)

    async def partitions_for(self, topic: str) -> set[int]:
        return self.partitions

    async def send_batch(self, batch: BatchBuilder, topic: str, *,
                         partition: int) -> asyncio.Future[None]:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, IllegalOperation):
            raise outcome
        self.handed.append((topic, partition, batch))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if outcome is None:
            delivered.set_result(None)
        else:
            delivered.set_exception(outcome)
        return delivered


@pytest.mark.parametrize("partitions", [1, 3, 6, 7])
def test_a_key_goes_to_the_partition_the_java_client_picks(partitions: int) -> None:
    records = [Record(key, b"v", []) for key in JAVA_MURMUR2]

    grouped = by_partition(records, reversed(range(partitions)))  # in any order

    for key, murmur in JAVA_MURMUR2.items():
        java = (murmur & 0x7FFFFFFF) % partitions  # Utils.toPositive(murmur2(key)) % n
        assert [r.key for r in grouped[java] if r.key == key] == [key]


def test_any_key_goes_where_aiokafkas_own_partitioner_sends_it() -> None:
    # Keys of every length mod 4 (murmur2 treats the last 1-3 bytes apart), random bytes too.
    rng = random.Random(8)
    keys = [str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(300)]
    keys += [rng.randbytes(length) for length in range(64) for _ in range(5)]
    partitions = list(range(6))

    grouped = by_partition([Record(key, b"v", []) for key in keys], partitions)

    theirs = DefaultPartitioner()
    for partition, mine in grouped.items():
        for record in mine:
            assert theirs(record.key, partitions, partitions) == partition, record.key


def test_each_key_keeps_one_partition_and_its_order() -> None:
    records = [record(f"order-{n % 20}", n) for n in range(200)]

    grouped = by_partition(records, [0, 1, 2])

    assert sum(map(len, grouped.values())) == len(records)
    for mine in grouped.values():
        numbers = [int(r.value.split(b":")[1]) for r in mine]
        assert numbers == sorted(numbers)
    for n in range(20):
        key = f"order-{n}".encode()
        assert sum(any(r.key == key for r in mine) for mine in grouped.values()) == 1


async def test_records_that_overflow_a_batch_fill_several_in_order_and_each_is_closed() -> None:
    producer = FakeProducer(batch_size=400)
    records = [record("order-1", n, size=100) for n in range(10)]
    outgoing = Outgoing(producer)

    outgoing.pack_for("events", 2, records)
    counts = [batch.record_count() for _, _, batch in outgoing.batches]
    await outgoing.send()

    assert len(counts) > 1
    assert sum(counts) == len(records)
    assert [(topic, partition) for topic, partition, _ in producer.handed] == \
        [("events", 2)] * len(counts)
    assert all(batch.closed() for _, _, batch in producer.handed)


async def test_a_records_batch_and_a_checkpoint_go_out_together() -> None:
    producer = FakeProducer()
    outgoing = Outgoing(producer)
    records = [record(f"order-{n}", n) for n in range(30)]

    await outgoing.pack("events", records)
    outgoing.pack_for("checkpoints", 0, [Record(b"relay", b"{}", [])])
    await outgoing.send()

    expected = {p: len(mine) for p, mine in by_partition(records, producer.partitions).items()}
    events = {p: batch.record_count() for topic, p, batch in producer.handed if topic == "events"}
    assert events == expected
    assert [(t, p) for t, p, _ in producer.handed if t == "checkpoints"] == [("checkpoints", 0)]


async def test_a_transaction_that_failed_under_us_raises_its_cause() -> None:
    producer = FakeProducer()
    producer.outcomes = [ProducerFenced(), IllegalOperation("not in transaction")]
    outgoing = Outgoing(producer)
    outgoing.pack_for("events", 0, [record("order-1")])
    outgoing.pack_for("events", 1, [record("order-2")])

    with pytest.raises(ProducerFenced):
        await outgoing.send()
