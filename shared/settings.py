"""Settings common to every service, read from the environment (see `.env.example`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "outbox-dev-password", "password"})


class CommonSettings(BaseSettings):
    """Connection settings every service needs; each service adds its own on top."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    postgres_host: str = "127.0.0.1"
    postgres_port: int = Field(default=55432, ge=1, le=65535)
    postgres_user: str = "outbox"
    postgres_password: SecretStr
    order_db_name: str = "orders"
    inventory_db_name: str = "inventory"
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=10, ge=1)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    order_events_topic: str = "order.events"
    order_events_partitions: int = Field(default=3, ge=1)
    inventory_events_topic: str = "inventory.events"
    inventory_events_partitions: int = Field(default=3, ge=1)

    data_dir: str = ".run/faust"

    @model_validator(mode="after")
    def _reject_placeholder_secrets(self) -> CommonSettings:
        if self.environment == "production" and (
            self.postgres_password.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ValueError(
                "POSTGRES_PASSWORD is a placeholder; set a real secret when ENVIRONMENT=production"
            )
        return self

    def dsn(self, database: str) -> str:
        """A libpq connection string for one of the project's databases."""
        return (
            f"host={self.postgres_host} port={self.postgres_port} dbname={database} "
            f"user={self.postgres_user} password={self.postgres_password.get_secret_value()}"
        )

    @property
    def kafka_broker_url(self) -> str:
        """The bootstrap servers as the `kafka://` URL Faust expects."""
        return ";".join(f"kafka://{server}" for server in self.kafka_bootstrap_servers.split(","))


class ConsumerSettings(CommonSettings):
    """Settings of a service that reads a topic through the inbox (see `.env.example`)."""

    # Kafka consumer group timing: a dead worker's partitions move after the session timeout.
    consumer_session_timeout_seconds: float = Field(default=30.0, ge=6.0)
    # How often offsets of applied records are committed. Often: Faust keeps every offset a
    # Kafka transaction marker takes (one per partition per relay batch) in a tree it
    # rebuilds at each new one until the next commit.
    consumer_commit_interval_seconds: float = Field(default=0.2, gt=0)
    # At most this many records per database transaction: those that arrived while the
    # previous transaction ran (one at a time when the topic is quiet).
    consumer_batch_size: int = Field(default=500, ge=1)
    # Backoff between attempts at a batch the database refused for a passing reason.
    consumer_retry_initial_seconds: float = Field(default=0.1, gt=0)
    consumer_retry_max_seconds: float = Field(default=5.0, gt=0)

    # Who publishes this service's outbox: `debezium` means Kafka Connect, and the outbox's
    # backlog is what its replication slot has not confirmed.
    relay_mode: Literal["polling", "debezium"] = "polling"
