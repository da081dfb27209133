"""Settings of the relay."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.settings import CommonSettings


class RelaySettings(CommonSettings):
    """Environment variables read by the relay (see `.env.example`)."""

    relay_service_name: str = "outbox-relay"
    relay_http_host: str = "127.0.0.1"
    relay_http_port: int = Field(default=8082, ge=1, le=65535)
    # `debezium`: Kafka Connect relays the outbox and this process only answers /health.
    relay_mode: Literal["polling", "debezium"] = "polling"
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_interval_seconds: float = Field(default=1.0, gt=0)
    relay_retention: Literal["mark", "delete"] = "mark"
    # The same for every relay process, so that a new one fences a zombie.
    relay_transactional_id: str = Field(default="outbox-relay", min_length=1)
    relay_checkpoint_topic: str | None = None
    relay_lease_seconds: float = Field(default=5.0, gt=0)

    @property
    def checkpoint_topic(self) -> str:
        """The compacted topic holding the last batch's outbox ids, per transactional id."""
        return self.relay_checkpoint_topic or f"{self.order_events_topic}.relay-checkpoints"
