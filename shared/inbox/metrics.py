"""What a reader reports: events by outcome, their delay, and the consumer's lag."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import faust
from opentelemetry.metrics import Meter

from shared.events import Envelope
from shared.metrics import (
    SAMPLE_INTERVAL_SECONDS,
    SECONDS_BUCKETS,
    Attributes,
    Readings,
    Sampler,
)


class InboxMetrics:
    """The instruments of one reader of `topic`."""

    def __init__(self, meter: Meter, topic: str, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.topic = topic
        self._clock = clock
        self._events = meter.create_counter(
            "inbox.events", unit="{event}",
            description="Records read, by what was done with them.")
        self._delay = meter.create_histogram(
            "inbox.event.delay", unit="s",
            description="From the event's outbox commit to its application.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS)
        self.lag = Readings(meter, "inbox.lag.records", unit="{record}",
                            description="End offset minus the consumer's position.")

    def counted(self, event_type: str, outcome: str) -> None:
        """One record of `event_type` was done with as `outcome`."""
        self._events.add(1, {"topic": self.topic, "event_type": event_type, "outcome": outcome})

    def applied(self, event: Envelope) -> None:
        """`event` was applied now: its delay since the outbox commit.

        `occurred_at` is taken in the transaction that wrote the outbox row, a moment before
        its commit.
        """
        occurred = event.occurred_at
        if occurred.tzinfo is None:  # another producer's naive time: read as UTC
            occurred = occurred.replace(tzinfo=UTC)
        delay = (self._clock() - occurred).total_seconds()
        self._delay.record(max(delay, 0.0), {"topic": self.topic})


def consumer_lag(app: faust.App, topic: str, readings: Readings) -> Sampler:
    """A sampler of the lag of `app`'s consumer on each partition of `topic` it holds.

    Lag as Kafka's own consumer reports it (`records-lag`): the partition's end offset minus
    the consumer's position. The end offset is the one the last fetch brought (the consumer
    fetches all the time), not asked of the broker anew: a ListOffsets round trip can take
    more than a second when the broker holds the fetch. Transaction markers take offsets too,
    so a position past the last marker is lag 0; records of a transaction still open count
    until it ends.
    """

    async def sample() -> None:
        partitions: Sequence[faust.types.TP] = sorted(
            tp for tp in app.consumer.assignment() if tp.topic == topic)
        if not partitions:
            readings.replace([])
            return
        # Each position crosses to the consumer's own thread: all at once.
        positions = await asyncio.gather(*(app.consumer.position(tp) for tp in partitions))
        values: list[tuple[Attributes, float]] = []
        for tp, position in zip(partitions, positions, strict=True):
            end = app.consumer.highwater(tp)
            if position is not None and end is not None:
                values.append(({"topic": topic, "partition": tp.partition},
                               float(max(end - position, 0))))
        readings.replace(values)

    return sample


class DeadLettersWaiting:
    """A sampler of how many records of `<topic>.dlq` are not replayed yet.

    Counting takes a Kafka client of its own (the dead-letter topic's offsets, the replay
    ledger read through: `shared.inbox.replay.waiting_dead_letters`), so it counts at most
    once every `every` seconds however often `/metrics` is scraped, and shows the last count
    in between.
    """

    def __init__(self, meter: Meter, topic: str, count: Callable[[], Awaitable[int]], *,
                 every: float = SAMPLE_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._topic = topic
        self._count = count
        self._every = every
        self._clock = clock
        self._counted_at: float | None = None
        self.readings = Readings(meter, "inbox.dead_letters.waiting", unit="{record}",
                                 description="Records of the dead-letter topic not replayed.")

    async def __call__(self) -> None:
        now = self._clock()
        if self._counted_at is not None and now - self._counted_at < self._every:
            return
        waiting = await self._count()
        self._counted_at = now
        self.readings.replace([({"topic": self._topic}, float(waiting))])
