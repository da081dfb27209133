"""Settings of the inventory service."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class InventorySettings(CommonSettings):
    """Environment variables read by the inventory service (see `.env.example`)."""

    # Also the Faust app id, and so the Kafka consumer group.
    inventory_service_name: str = "inventory-service"
    inventory_http_host: str = "127.0.0.1"
    inventory_http_port: int = Field(default=8081, ge=1, le=65535)
    inventory_max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    # Where records that can never be applied go; `<order_events_topic>.dlq` when unset.
    inventory_dead_letter_topic: str | None = None
    # Backoff between attempts at an event the database refused for a passing reason.
    inventory_retry_initial_seconds: float = Field(default=0.1, gt=0)
    inventory_retry_max_seconds: float = Field(default=5.0, gt=0)
    # Kafka consumer group timing: a dead worker's partitions move after the session timeout.
    inventory_session_timeout_seconds: float = Field(default=30.0, ge=6.0)
    # How often offsets of applied records are committed. Often: Faust keeps every offset a
    # Kafka transaction marker takes (one per partition per relay batch) in a tree it
    # rebuilds at each new one until the next commit, which at Faust's default (2.8 s) cost
    # more CPU than applying the events at a few hundred orders per second.
    inventory_commit_interval_seconds: float = Field(default=0.2, gt=0)
    # At most this many records per database transaction: those that arrived while the
    # previous transaction ran (one at a time when the topic is quiet).
    inventory_batch_size: int = Field(default=500, ge=1)

    @property
    def dead_letter_topic(self) -> str:
        """The dead-letter topic in use."""
        return self.inventory_dead_letter_topic or f"{self.order_events_topic}.dlq"
