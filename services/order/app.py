"""The order service: routes `POST /orders`, `GET /orders/{order_id}`,
`POST /orders/{order_id}/cancel` and `GET /health`; consumes `inventory.events`.

It produces nothing to Kafka itself: each order's events go to the outbox in the order's own
transaction, and the relay publishes them. Inventory's answers are applied once each (the
inbox's dedupe, in the same transaction as the status change).
"""

from __future__ import annotations

import faust
from opentelemetry.sdk.trace import TracerProvider

from services.order.handlers import HANDLERS
from services.order.settings import OrderSettings
from services.order.views import CancelOrderView, OrdersView, OrderView
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
    settings: OrderSettings, *, tracer_provider: TracerProvider | None = None
) -> faust.App:
    """The composition root: settings -> tracing -> pool -> reader of inventory's answers,
    views.

    Spans go to `tracer_provider` if given (tests), else to a provider of the service's own,
    configured by the `OTEL_*` variables.
    """
    tracing = service_tracing(settings.order_service_name, tracer_provider)
    metrics = service_metrics(settings.order_service_name)
    app = faust_app(
        settings.order_service_name,
        settings,
        web_host=settings.order_http_host,
        web_port=settings.order_http_port,
        tracing=tracing,
        metrics=metrics,
        **consumer_options(settings),
    )
    use_read_committed(app)
    database = PostgresPool(
        settings.dsn(settings.order_db_name),
        minsize=settings.db_pool_min,
        maxsize=settings.db_pool_max,
        tracer=tracing.tracer,
    )
    app.add_dependency(database)
    metrics.add_sampler(OutboxBacklog(
        database, settings.order_events_topic, metrics.meter,
        slot=settings.debezium_slot_name if settings.relay_mode == "debezium" else None))
    read_topic(
        app, topic=settings.inventory_events_topic,
        partitions=settings.inventory_events_partitions, registry=HANDLERS, database=database,
        settings=settings, tracer=tracing.tracer, agent_name="order.apply_inventory_events",
    )

    app.page("/orders")(
        bind(OrdersView, database=database, settings=settings, tracer=tracing.tracer))
    app.page("/orders/{order_id}")(bind(OrderView, database=database))
    app.page("/orders/{order_id}/cancel")(
        bind(CancelOrderView, database=database, tracer=tracing.tracer))
    app.page("/health")(bind(HealthView, database=database, not_ready=staticmethod(
        consuming(app, settings.inventory_events_topic))))
    return app
