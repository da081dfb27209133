"""The inventory service: consumes `order.events`, answers on `inventory.events` through its
own outbox, routes `/stock/{sku}`, `/reservations/{order_id}` and `/health`.

Each event is applied once (the inbox's dedupe, in the same transaction as the stock change
and the outcome event); records of aborted Kafka transactions are never read; records that
can never be applied go to the dead-letter topic; event types it does not know are skipped.
"""

from __future__ import annotations

import faust
from opentelemetry.sdk.trace import TracerProvider

from services.inventory.handlers import HANDLERS
from services.inventory.settings import InventorySettings
from services.inventory.views import ReservationView, StockView
from shared.app import faust_app
from shared.health import HealthView, consuming
from shared.inbox.transport import use_read_committed
from shared.inbox.wiring import consumer_options, read_topic
from shared.metrics import service_metrics
from shared.outbox.backlog import OutboxBacklog
from shared.resources import PostgresPool
from shared.tracing import service_tracing
from shared.web import bind


def create_app(
    settings: InventorySettings, *, tracer_provider: TracerProvider | None = None
) -> faust.App:
    """The composition root: settings -> tracing, pool -> reader of `order.events` -> views.

    Spans go to `tracer_provider` if given (tests), else to a provider of the service's own,
    configured by the `OTEL_*` variables.
    """
    tracing = service_tracing(settings.inventory_service_name, tracer_provider)
    metrics = service_metrics(settings.inventory_service_name)
    app = faust_app(
        settings.inventory_service_name,
        settings,
        web_host=settings.inventory_http_host,
        web_port=settings.inventory_http_port,
        tracing=tracing,
        metrics=metrics,
        **consumer_options(settings),
    )
    use_read_committed(app)

    # Dependencies start in this order, before the agent, and stop after it.
    database = PostgresPool(
        settings.dsn(settings.inventory_db_name),
        minsize=settings.db_pool_min,
        maxsize=settings.db_pool_max,
        tracer=tracing.tracer,
    )
    app.add_dependency(database)
    metrics.add_sampler(OutboxBacklog(
        database, settings.inventory_events_topic, metrics.meter,
        slot=settings.debezium_inventory_slot_name if settings.relay_mode == "debezium" else None))
    read_topic(
        app, topic=settings.order_events_topic, partitions=settings.order_events_partitions,
        registry=HANDLERS, database=database, settings=settings, tracer=tracing.tracer,
        agent_name="inventory.apply_order_events",
    )

    app.page("/stock/{sku}")(bind(StockView, database=database, settings=settings))
    app.page("/reservations/{order_id}")(bind(ReservationView, database=database))
    app.page("/health")(bind(HealthView, database=database,
                             not_ready=staticmethod(consuming(app, settings.order_events_topic))))
    return app
