"""The inventory service: consumes `order.events`, routes `/stock/{sku}`,
`/reservations/{order_id}` and `/health`.

Each `OrderCreated` is applied once (dedupe by event id, in the same transaction as the stock
change); records of aborted Kafka transactions are never read (see `consumer.py`); records
that can never be applied go to the dead-letter topic.
"""

from __future__ import annotations

import faust
from opentelemetry.sdk.trace import TracerProvider

from services.inventory.agents import reserve_stock_agent
from services.inventory.consumer import use_read_committed
from services.inventory.dead_letters import DeadLetters
from services.inventory.processing import RecordProcessor
from services.inventory.retry import Backoff
from services.inventory.settings import InventorySettings
from services.inventory.topics import EnsureTopics
from services.inventory.views import ReservationView, StockView
from shared.app import faust_app
from shared.health import HealthView
from shared.resources import PostgresPool
from shared.tracing import service_tracing
from shared.web import bind


def create_app(
    settings: InventorySettings, *, tracer_provider: TracerProvider | None = None
) -> faust.App:
    """The composition root: settings -> tracing, pool, dead letters -> agent and views.

    Spans go to `tracer_provider` if given (tests), else to a provider of the service's own,
    configured by the `OTEL_*` variables.
    """
    tracing = service_tracing(settings.inventory_service_name, tracer_provider)
    app = faust_app(
        settings.inventory_service_name,
        settings,
        web_host=settings.inventory_http_host,
        web_port=settings.inventory_http_port,
        tracing=tracing,
        # Offsets are committed only for records acked after applying them; stopping does
        # not wait for a record stuck in retries (it is read again after the restart).
        stream_wait_empty=False,
        broker_session_timeout=settings.inventory_session_timeout_seconds,
        broker_heartbeat_interval=settings.inventory_session_timeout_seconds / 3,
        broker_commit_interval=settings.inventory_commit_interval_seconds,
    )
    use_read_committed(app)

    # Dependencies start in this order, before the agent, and stop after it.
    database = PostgresPool(
        settings.dsn(settings.inventory_db_name),
        minsize=settings.db_pool_min,
        maxsize=settings.db_pool_max,
        tracer=tracing.tracer,
    )
    topics = EnsureTopics(
        settings.kafka_bootstrap_servers,
        {
            settings.order_events_topic: settings.order_events_partitions,
            settings.dead_letter_topic: settings.order_events_partitions,
        },
    )
    dead_letters = DeadLetters(
        settings.kafka_bootstrap_servers, settings.dead_letter_topic, tracer=tracing.tracer
    )
    app.add_dependency(database)
    app.add_dependency(topics)
    app.add_dependency(dead_letters)

    order_events = app.topic(
        settings.order_events_topic, key_serializer="raw", value_serializer="raw"
    )
    processor = RecordProcessor(
        database,
        dead_letters,
        Backoff(settings.inventory_retry_initial_seconds, settings.inventory_retry_max_seconds),
        tracer=tracing.tracer,
    )
    app.agent(order_events, name="inventory.reserve_stock")(
        reserve_stock_agent(processor, batch_size=settings.inventory_batch_size))

    app.page("/stock/{sku}")(bind(StockView, database=database, settings=settings))
    app.page("/reservations/{order_id}")(bind(ReservationView, database=database))

    def not_consuming_yet() -> str | None:
        # Ready once the agent has partitions: before that, an order would wait unseen.
        try:
            assigned = bool(app.consumer.assignment())
        except Exception:  # the consumer is not started yet
            assigned = False
        return None if assigned else f"partitions of {settings.order_events_topic}"

    app.page("/health")(
        bind(HealthView, database=database, not_ready=staticmethod(not_consuming_yet))
    )
    return app
