"""Settings of the relay, and the outboxes it publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.settings import OutboxRetentionSettings


class OutboxSource(BaseModel):
    """One entry of `RELAY_OUTBOXES`: the database whose outbox goes to which topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database: str = Field(min_length=1)
    topic: str = Field(min_length=1)
    partitions: int = Field(default=3, ge=1)


@dataclass(frozen=True)
class OutboxRoute:
    """One outbox the relay publishes, with the names that are its own.

    Each outbox has its own transactional id (so its own fencing and its own checkpoint key),
    its own checkpoint topic and its own lease, kept in its database.
    """

    database: str
    topic: str
    partitions: int
    transactional_id: str
    checkpoint_topic: str


class RelaySettings(OutboxRetentionSettings):
    """Environment variables read by the relay (see `.env.example`).

    With `OUTBOX_RETENTION`, the relay holding an outbox's lease deletes its rows published
    longer ago than that (`RELAY_RETENTION=delete` deletes them at once).
    """

    relay_service_name: str = "outbox-relay"
    relay_http_host: str = "127.0.0.1"
    relay_http_port: int = Field(default=8082, ge=1, le=65535)
    # RELAY_MODE=debezium: Kafka Connect relays the outboxes and this process only answers
    # /health and /metrics.
    relay_mode: Literal["polling", "debezium"] = "polling"
    # JSON, e.g. [{"database": "orders", "topic": "order.events", "partitions": 3}]; unset:
    # the order service's outbox to ORDER_EVENTS_TOPIC, the inventory's to
    # INVENTORY_EVENTS_TOPIC.
    relay_outboxes: list[OutboxSource] | None = None
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_interval_seconds: float = Field(default=1.0, gt=0)
    relay_retention: Literal["mark", "delete"] = "mark"
    # The same for every relay process, so that a new one fences a zombie; each outbox's
    # transactional id is this, a dot and its topic.
    relay_transactional_id: str = Field(default="outbox-relay", min_length=1)
    relay_lease_seconds: float = Field(default=5.0, gt=0)

    def outbox_sources(self) -> list[OutboxSource]:
        """The outboxes to publish, as configured."""
        if self.relay_outboxes is not None:
            return list(self.relay_outboxes)
        return [
            OutboxSource(database=self.order_db_name, topic=self.order_events_topic,
                         partitions=self.order_events_partitions),
            OutboxSource(database=self.inventory_db_name, topic=self.inventory_events_topic,
                         partitions=self.inventory_events_partitions),
        ]

    def routes(self) -> list[OutboxRoute]:
        """Every outbox to publish, with its transactional id and checkpoint topic."""
        return [self.route(source) for source in self.outbox_sources()]

    def route(self, source: OutboxSource) -> OutboxRoute:
        """The route of one outbox."""
        return OutboxRoute(
            database=source.database,
            topic=source.topic,
            partitions=source.partitions,
            transactional_id=f"{self.relay_transactional_id}.{source.topic}",
            # Compacted: the last batch per transactional id.
            checkpoint_topic=f"{source.topic}.relay-checkpoints",
        )
