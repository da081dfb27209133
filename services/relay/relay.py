"""The relay's core: one outbox's committed rows to Kafka, exactly once, whatever crashes.

One round of the loop renews the lease and publishes one batch: the batch's events and a
checkpoint naming its outbox ids go in ONE Kafka transaction, then the rows are settled
(marked or deleted). A crash between the Kafka commit and the settling is repaired by the
next producer with the same transactional id: starting it aborts whatever its predecessor
left open, and `recover` settles the rows the last committed checkpoint names before
anything new is published.

While the outbox holds more than a batch, settling one batch overlaps fetching the next and
packing its records, but the next transaction does not begin until the settling is done: so,
as without the overlap, only the rows of the last committed checkpoint can ever be published
yet unsettled.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import aiopg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, ProducerFenced
from opentelemetry import trace

from services.relay import checkpoint
from services.relay.lease import Lease
from services.relay.listener import OutboxListener
from services.relay.metrics import RelayMetrics
from services.relay.retry import Backoff, describe
from services.relay.sending import Outgoing
from services.relay.settings import OutboxRoute, RelaySettings
from services.relay.settling import Settling, settle_checkpoint
from services.relay.tracing import traced_batch
from shared.kafka import ensure_topic, transactional_producer
from shared.outbox.publishing import fetch_unpublished
from shared.outbox.records import Record
from shared.tracing import INSTRUMENTATION_NAME

logger = logging.getLogger(__name__)

ProducerFactory = Callable[[], AIOKafkaProducer]
# Tests pass one to crash the relay at a named step; production passes nothing.
FaultHook = Callable[[str], Awaitable[None]]
CRASH_POINTS = ("before_send", "after_send", "after_kafka_commit", "after_mark")
FENCED_ERRORS = (ProducerFenced, InvalidProducerEpoch)
STANDBY_POLL_SECONDS = 1.0
_STOP_TIMEOUT_SECONDS = 10.0


class Relay:
    """Publishes one outbox while it holds its lease; stands by while another relay does."""

    def __init__(
        self,
        pool: aiopg.Pool,
        route: OutboxRoute,
        settings: RelaySettings,
        *,
        producer_factory: ProducerFactory | None = None,
        crash_at: FaultHook | None = None,
        holder: str | None = None,
        tracer: trace.Tracer | None = None,
        metrics: RelayMetrics | None = None,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self.route = route
        self._settings = settings
        self._tracer = tracer or trace.get_tracer(INSTRUMENTATION_NAME)
        self._producer_factory = producer_factory or (lambda: transactional_producer(
            settings.kafka_bootstrap_servers, route.transactional_id))
        self._crash_at = crash_at
        self.lease = Lease(route.transactional_id, holder or uuid.uuid4().hex,
                           settings.relay_lease_seconds)
        self._listener = OutboxListener(settings.dsn(route.database))
        self._checkpoint_key = route.transactional_id.encode()
        self._producer: AIOKafkaProducer | None = None
        self._topics_ready = False
        self._backoff = Backoff(logger)
        self._settling = Settling(pool, settings.relay_retention)

    @property
    def is_publishing(self) -> bool:
        """True while this relay holds a recovered producer, i.e. it is the one publishing."""
        return self._producer is not None

    async def open(self) -> None:
        """Start a transactional producer, which fences any predecessor, then `recover`."""
        await self._drop_producer()
        if not self._topics_ready:
            await self._ensure_topics()
        producer = self._producer_factory()
        try:
            await producer.start()  # InitProducerId: the predecessor's open transaction ends
            await self.recover()
        except BaseException:
            await _stop(producer)
            raise
        self._producer = producer

    async def recover(self) -> int:
        """Settle the rows of the last committed batch, in case they were never settled."""
        last = await checkpoint.read_last_checkpoint(
            self._settings.kafka_bootstrap_servers, self.route.checkpoint_topic,
            self._checkpoint_key)
        if last is None:
            return 0
        settled = await settle_checkpoint(self._pool, last, self._settings.relay_retention)
        if settled:
            logger.warning("recovered %d outbox rows (ids %d..%d) that were published but not "
                           "settled before a crash", settled, last.outbox_ids[0], last.last_id)
        return settled

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows in one transaction, settle them; return how many.

        A full batch is left settling while the next one is fetched and packed (see
        `Settling`); a short one is settled before this returns, as the relay may go idle.
        """
        producer = self._producer
        if producer is None:
            raise RuntimeError("the relay is not open: call open() first")
        rows = await fetch_unpublished(self._pool, self._settings.relay_batch_size,
                                       skipping=self._settling.skipping)
        if not rows:
            await self._finish_settling()
            return 0
        done = checkpoint.checkpoint_of(rows)
        topic = self.route.topic
        # One publish span per record, in its order's trace, each ended when the batch commits.
        with traced_batch(self._tracer, topic, rows) as batch:
            outgoing = Outgoing(producer)
            await outgoing.pack(topic, map(batch.record, rows))
            outgoing.pack_for(self.route.checkpoint_topic, checkpoint.PARTITION,
                              [Record(self._checkpoint_key, checkpoint.encode(done), [])])
            # The previous batch is settled before this one's transaction begins, so that only
            # the last committed batch may ever be unsettled: the one `recover` settles.
            await self._finish_settling()
            await producer.begin_transaction()
            began = time.perf_counter()
            try:
                await self._fault("before_send")
                await outgoing.send()
                await self._fault("after_send")
                await producer.commit_transaction()
            except BaseException:
                # Not committed: the next producer with this transactional id aborts it.
                if self._metrics is not None:
                    self._metrics.aborted(topic)
                raise
        if self._metrics is not None:
            self._metrics.committed(topic, len(rows), time.perf_counter() - began)
        await self._fault("after_kafka_commit")
        self._settling.start(done)
        if len(rows) < self._settings.relay_batch_size:
            await self._finish_settling()
        return len(rows)

    async def drain(self) -> int:
        """Publish batches until one comes back short; return how many rows were published."""
        total = 0
        while (published := await self.publish_batch()) > 0:
            total += published
            if published < self._settings.relay_batch_size:
                break
        return total

    async def run(self) -> None:
        """Publish while holding the lease, stand by otherwise; returns only when cancelled."""
        while True:
            _honour_cancellation()
            try:
                if await self._hold_lease():
                    if await self.publish_batch() < self._settings.relay_batch_size:
                        await self._listener.wait(self._leader_wait)
                else:
                    await self._listener.close()  # a standby lets notifications pass it by
                    await asyncio.sleep(self._standby_wait)
                self._backoff.succeeded()
            except FENCED_ERRORS as exc:
                logger.warning("another relay took over (%s); standing by", describe(exc))
                await self._stand_down()
                await asyncio.sleep(self._standby_wait)
            except Exception as exc:
                await self._drop_producer()  # the next round starts over with `open`
                await asyncio.sleep(self._backoff.failed(exc))

    async def close(self) -> None:
        """Stop publishing, give the lease up and disconnect; for a clean shutdown."""
        try:
            await self._settling.finish()
        except Exception as exc:
            logger.warning("could not settle the last batch (%s); the next relay to start "
                           "will", describe(exc))
        await self._stand_down()
        await self._listener.close()

    @property
    def _leader_wait(self) -> float:
        # Wake often enough to renew the lease well before it expires.
        return min(self._settings.relay_poll_interval_seconds, self.lease.seconds / 3)

    @property
    def _standby_wait(self) -> float:
        return min(STANDBY_POLL_SECONDS, self.lease.seconds / 3)

    async def _hold_lease(self) -> bool:
        held = await self.lease.hold(self._pool)
        if self._metrics is not None:
            self._metrics.lease(self.route.topic, held=held)
        if held:
            # Listen before reading the outbox, so that no commit after the read goes unnoticed.
            await self._listener.listen()
            if self._producer is None:
                await self.open()
                logger.info("took the lease %r: publishing", self.lease.name)
        elif self._producer is not None:
            logger.warning("lost the lease %r: standing by", self.lease.name)
            await self._drop_producer()
        return held

    async def _stand_down(self) -> None:
        await self._drop_producer()
        if self._metrics is not None:
            self._metrics.lease(self.route.topic, held=False)
        try:
            await self.lease.release(self._pool)
        except Exception as exc:  # it expires by itself
            logger.warning("could not release the lease %r: %s", self.lease.name, exc)

    async def _drop_producer(self) -> None:
        # The batch still settling is the last committed one, which the next `recover` settles
        # should this settling fail.
        self._settling.abandon()
        producer, self._producer = self._producer, None
        if producer is not None:
            await _stop(producer)

    async def _ensure_topics(self) -> None:
        servers = self._settings.kafka_bootstrap_servers
        await ensure_topic(servers, self.route.topic, partitions=self.route.partitions)
        await checkpoint.ensure_checkpoint_topic(servers, self.route.checkpoint_topic)
        self._topics_ready = True

    async def _finish_settling(self) -> None:
        if await self._settling.finish():
            await self._fault("after_mark")

    async def _fault(self, point: str) -> None:
        if self._crash_at is not None:
            await self._crash_at(point)


def _honour_cancellation() -> None:
    # aiopg awaits each query with asyncio.wait_for, which on Python 3.11 swallows a
    # cancellation that arrives just as the query completes; the task still counts it, so
    # re-raise it here or the relay would never stop.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _stop(producer: AIOKafkaProducer) -> None:
    # A producer that was fenced or lost its broker may fail to stop; it is dropped anyway.
    try:
        async with asyncio.timeout(_STOP_TIMEOUT_SECONDS):
            await producer.stop()
    except Exception as exc:
        logger.debug("producer did not stop cleanly: %s", exc)
