"""The relay: publishes the outbox of the orders database to `order.events`; `GET /health`.

In `polling` mode (the default) it reads committed outbox rows and publishes them in Kafka
transactions, exactly once; several relays may run and one of them publishes at a time. In
`debezium` mode Kafka Connect relays the outbox and this process only answers `/health`.
"""

from __future__ import annotations

import faust
from opentelemetry.sdk.trace import TracerProvider

from services.relay.service import DebeziumNotice, RelayService
from services.relay.settings import RelaySettings
from services.relay.views import HealthView
from shared.app import faust_app
from shared.resources import PostgresPool
from shared.tracing import service_tracing
from shared.web import bind


def create_app(
    settings: RelaySettings, *, tracer_provider: TracerProvider | None = None
) -> faust.App:
    """The composition root: settings -> tracing, pool -> relay service -> views.

    Spans go to `tracer_provider` if given (tests), else to a provider of the service's own,
    configured by the `OTEL_*` variables.
    """
    tracing = service_tracing(settings.relay_service_name, tracer_provider)
    # No agents, no topics: the relay brings its own transactional producer, not Faust's.
    app = faust_app(
        settings.relay_service_name, settings, consumes=False, tracing=tracing,
        web_host=settings.relay_http_host, web_port=settings.relay_http_port,
    )
    if settings.relay_mode == "debezium":
        app.add_dependency(DebeziumNotice())
        app.page("/health")(bind(HealthView, settings=settings, database=None, relay=None))
        return app

    # Not traced: polling would make a trace of a few statements every second; the relay's
    # spans are its records' (services/relay/tracing.py).
    database = PostgresPool(
        settings.dsn(settings.order_db_name),
        minsize=settings.db_pool_min, maxsize=settings.db_pool_max,
    )
    relay = RelayService(database, settings, tracer=tracing.tracer)
    # Dependencies start in this order and stop in reverse: the relay stops before the pool.
    app.add_dependency(database)
    app.add_dependency(relay)
    app.page("/health")(bind(HealthView, settings=settings, database=database, relay=relay))
    return app
