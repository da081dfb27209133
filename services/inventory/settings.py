"""Settings of the inventory service."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ConsumerSettings


class InventorySettings(ConsumerSettings):
    """Environment variables read by the inventory service (see `.env.example`)."""

    # Also the Faust app id, and so the Kafka consumer group.
    inventory_service_name: str = "inventory-service"
    inventory_http_host: str = "127.0.0.1"
    inventory_http_port: int = Field(default=8081, ge=1, le=65535)
    inventory_max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    # The replication slot of the inventory outbox's connector (RELAY_MODE=debezium).
    debezium_inventory_slot_name: str = "inventory_outbox"
