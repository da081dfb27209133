"""Relay drain rate of a pre-filled outbox: exactly once (the real `Relay`) and at least once.

The at-least-once variant exists only here: the same loop as `Relay.publish_batch` (the same
outbox queries, the same record building and sending, the same settle statement) with a plain
idempotent producer, and without the Kafka transaction and its checkpoint record. Spans are
made as in the relay service (`shared.tracing.configure_tracing`, as `__main__` sets it up).
The relay runs alone in this process while it drains, so `time.process_time()` is its CPU (the
Kafka client is in-process too); the broker's and PostgreSQL's over the same window are read
from /proc (`procs.InfraCpu`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiopg
from aiokafka import AIOKafkaProducer
from opentelemetry import trace

from scripts.bench.procs import InfraCpu
from services.relay.checkpoint import checkpoint_of
from services.relay.relay import Relay
from services.relay.sending import Outgoing
from services.relay.settings import RelaySettings
from services.relay.settling import Settling
from services.relay.tracing import traced_batch
from shared.outbox.publishing import fetch_unpublished
from shared.settings import CommonSettings


@dataclass(frozen=True)
class Drain:
    """One drain: how many rows, wall seconds, and CPU seconds of the draining process, the
    broker and PostgreSQL (None for one `InfraCpu` did not find)."""

    rows: int
    seconds: float
    cpu_seconds: float
    broker_cpu_seconds: float | None = None
    postgres_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_seconds / self.rows * 1000

    @property
    def broker_cpu_per_1000(self) -> float | None:
        return _per_1000(self.broker_cpu_seconds, self.rows)

    @property
    def postgres_cpu_per_1000(self) -> float | None:
        return _per_1000(self.postgres_cpu_seconds, self.rows)

    @property
    def total_cpu_per_1000(self) -> float | None:
        """The relaying process's, the broker's and PostgreSQL's, if all three are known."""
        broker, postgres = self.broker_cpu_per_1000, self.postgres_cpu_per_1000
        if broker is None or postgres is None:
            return None
        return self.cpu_per_1000 + broker + postgres

    def figures(self) -> dict[str, float | None]:
        """Events/s and CPU seconds per 1,000 events, by process."""
        return {"rate": self.rate, "relay_cpu": self.cpu_per_1000,
                "broker_cpu": self.broker_cpu_per_1000,
                "postgres_cpu": self.postgres_cpu_per_1000}


def _per_1000(seconds: float | None, rows: int) -> float | None:
    return None if seconds is None else seconds / rows * 1000


def at_least_once_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """`shared.kafka.transactional_producer`'s settings without the transactional id."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True,
                            acks="all", linger_ms=5, max_batch_size=1024 * 1024)


async def drain_at_least_once(pool: aiopg.Pool, producer: AIOKafkaProducer,
                              settings: RelaySettings) -> int:
    """Publish until the outbox is empty: send a batch, wait for its acks, mark its rows.

    As in the relay, a batch's rows are marked while the next batch is fetched and packed.
    """
    total = 0
    tracer = trace.get_tracer(__name__)
    topic = settings.order_events_topic
    settling = Settling(pool, settings.relay_retention)
    while rows := await fetch_unpublished(pool, settings.relay_batch_size,
                                          skipping=settling.skipping):
        # The same spans, the same sending and the same overlapped settling as the
        # exactly-once relay, so that only transactions differ.
        with traced_batch(tracer, topic, rows) as batch:
            outgoing = Outgoing(producer)
            await outgoing.pack(topic, map(batch.record, rows))
            await settling.finish()
            await outgoing.send()
        settling.start(checkpoint_of(rows))
        total += len(rows)
    await settling.finish()
    return total


async def run_drain(pool: aiopg.Pool, common: CommonSettings, overrides: dict[str, str],
                    *, batch: int, exactly_once: bool, infra: InfraCpu | None = None) -> Drain:
    """Drain the (pre-filled) outbox once; the producer start is not timed."""
    infra = infra or InfraCpu()
    values: dict[str, Any] = {**overrides, "relay_batch_size": batch,
                              "relay_transactional_id": f"bench-relay-{uuid.uuid4().hex[:12]}"}
    settings = RelaySettings(**values)
    if exactly_once:
        relay = Relay(pool, settings.routes()[0], settings)
        await relay.open()  # topics, InitProducerId, checkpoint recovery
        try:
            window = Window(infra)
            done = window.drain(await relay.drain())
        finally:
            await relay.close()
    else:
        producer = at_least_once_producer(common.kafka_bootstrap_servers)
        await producer.start()
        try:
            window = Window(infra)
            done = window.drain(await drain_at_least_once(pool, producer, settings))
        finally:
            await producer.stop()
    return done


class Window:
    """Measures from its creation: wall seconds, and CPU seconds of the relaying process (this
    one unless told), the broker and PostgreSQL."""

    def __init__(self, infra: InfraCpu,
                 relaying: Callable[[], float] = time.process_time) -> None:
        self._infra, self._relaying = infra, relaying
        self._wall, self._cpu = time.perf_counter(), relaying()
        self._broker, self._postgres = infra.sample()

    def drain(self, rows: int, *, seconds: float | None = None) -> Drain:
        """The drain of `rows` that took from the window's creation until now (or `seconds`)."""
        wall, cpu = time.perf_counter() - self._wall, self._relaying() - self._cpu
        broker, postgres = self._infra.sample()
        return Drain(rows, wall if seconds is None else seconds, cpu,
                     _since(self._broker, broker), _since(self._postgres, postgres))


def _since(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before
