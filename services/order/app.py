"""The order service: routes `POST /orders`, `GET /orders/{order_id}`, `GET /health`.

It produces nothing to Kafka itself: each order's event goes to the outbox in the order's
own transaction, and the relay publishes it.
"""

from __future__ import annotations

import faust
from opentelemetry.sdk.trace import TracerProvider

from services.order.settings import OrderSettings
from services.order.views import OrdersView, OrderView
from shared.app import faust_app
from shared.health import HealthView
from shared.resources import PostgresPool
from shared.tracing import service_tracing
from shared.web import bind


def create_app(
    settings: OrderSettings, *, tracer_provider: TracerProvider | None = None
) -> faust.App:
    """The composition root: settings -> tracing -> pool -> views.

    Spans go to `tracer_provider` if given (tests), else to a provider of the service's own,
    configured by the `OTEL_*` variables.
    """
    tracing = service_tracing(settings.order_service_name, tracer_provider)
    app = faust_app(
        settings.order_service_name,
        settings,
        web_host=settings.order_http_host,
        web_port=settings.order_http_port,
        consumes=False,
        tracing=tracing,
    )
    database = PostgresPool(
        settings.dsn(settings.order_db_name),
        minsize=settings.db_pool_min,
        maxsize=settings.db_pool_max,
        tracer=tracing.tracer,
    )
    app.add_dependency(database)

    app.page("/orders")(
        bind(OrdersView, database=database, settings=settings, tracer=tracing.tracer))
    app.page("/orders/{order_id}")(bind(OrderView, database=database))
    app.page("/health")(bind(HealthView, database=database))
    return app
