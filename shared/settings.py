"""Settings common to every service, read from the environment (see `.env.example`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.durations import Retention

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

    # How long an event's dedupe row (`processed_events`) is kept: a redelivery within it is
    # refused. It must cover as long as the topic may keep a record (its retention.ms plus
    # segment.ms: Kafka deletes whole segments), or the service refuses to start
    # (`shared/inbox/retention.py`); Kafka's defaults keep one up to 14 days. `forever`
    # keeps every row.
    dedupe_retention: Retention = timedelta(days=15)
    # Rows older than that are deleted this often, at most this many per statement.
    dedupe_cleanup_interval_seconds: float = Field(default=60.0, gt=0)
    dedupe_cleanup_batch_size: int = Field(default=1000, ge=1, le=100_000)


class OutboxRetentionSettings(CommonSettings):
    """How long a service's published outbox rows are kept (see `.env.example`).

    Read by whoever deletes them: the polling relay, or `services.outbox_cleanup` when
    Debezium publishes the outboxes.
    """

    # Published rows older than this are deleted (`forever`: never); 0 deletes them as soon
    # as they are published.
    outbox_retention: Retention = timedelta(days=7)
    # How often, and at most how many rows per statement (`shared/outbox/retention.py`).
    outbox_cleanup_interval_seconds: float = Field(default=60.0, gt=0)
    outbox_cleanup_batch_size: int = Field(default=1000, ge=1, le=100_000)
