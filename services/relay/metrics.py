"""What the relay reports, per outbox topic: events, transactions, batches, the lease."""

from __future__ import annotations

from opentelemetry.metrics import Meter

from shared.metrics import COUNT_BUCKETS, SECONDS_BUCKETS


class RelayMetrics:
    """The relay's instruments, shared by its relays (one per outbox, told apart by topic)."""

    def __init__(self, meter: Meter) -> None:
        self._published = meter.create_counter(
            "relay.events.published", unit="{event}",
            description="Events committed to Kafka by this relay.")
        self._committed = meter.create_counter(
            "relay.transactions.committed", unit="{transaction}",
            description="Kafka transactions committed.")
        self._aborted = meter.create_counter(
            "relay.transactions.aborted", unit="{transaction}",
            description="Kafka transactions begun and not committed (aborted or failed).")
        self._batch_size = meter.create_histogram(
            "relay.batch.size", unit="{event}", description="Events per Kafka transaction.",
            explicit_bucket_boundaries_advisory=COUNT_BUCKETS)
        self._duration = meter.create_histogram(
            "relay.transaction.duration", unit="s",
            description="From the transaction's begin to its commit.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS)
        self._lease = meter.create_gauge(
            "relay.lease.held", unit="1",
            description="1 while this relay holds the outbox's lease, else 0.")

    def committed(self, topic: str, events: int, seconds: float) -> None:
        """A transaction of `events` events committed after `seconds`."""
        attributes = {"topic": topic}
        self._published.add(events, attributes)
        self._committed.add(1, attributes)
        self._batch_size.record(events, attributes)
        self._duration.record(seconds, attributes)

    def aborted(self, topic: str) -> None:
        """A transaction was begun and did not commit."""
        self._aborted.add(1, {"topic": topic})

    def lease(self, topic: str, *, held: bool) -> None:
        """Whether this relay holds the lease of `topic`'s outbox now."""
        self._lease.set(1 if held else 0, {"topic": topic})
