"""Settings of the order service."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ConsumerSettings


class OrderSettings(ConsumerSettings):
    """Environment variables read by the order service (see `.env.example`)."""

    # Also the Faust app id, and so the Kafka consumer group of its reader of inventory.events.
    order_service_name: str = "order-service"
    order_http_host: str = "127.0.0.1"
    order_http_port: int = Field(default=8080, ge=1, le=65535)
    order_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # The replication slot of the orders outbox's connector (RELAY_MODE=debezium).
    debezium_slot_name: str = "order_outbox"
