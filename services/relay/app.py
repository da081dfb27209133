"""The relay: publishes every service's outbox to its topic; `GET /health`.

In `polling` mode (the default) it reads each outbox's committed rows and publishes them in
Kafka transactions, exactly once: the orders database's to `order.events`, the inventory
database's to `inventory.events` (`RELAY_OUTBOXES` names others). Several relays may run;
one of them publishes each outbox at a time, and deletes its rows published longer ago than
`OUTBOX_RETENTION`. In `debezium` mode Kafka Connect relays the outboxes and this process
only answers `/health` (`services.outbox_cleanup` deletes their rows then).
"""

from __future__ import annotations

import faust
from opentelemetry.sdk.trace import TracerProvider

from services.relay.metrics import RelayMetrics
from services.relay.service import DebeziumNotice, OutboxRetention, RelayService
from services.relay.settings import RelaySettings
from services.relay.views import RelayHealthView
from shared.app import faust_app
from shared.metrics import service_metrics
from shared.resources import PostgresPool
from shared.tracing import service_tracing
from shared.web import bind


def create_app(
    settings: RelaySettings, *, tracer_provider: TracerProvider | None = None
) -> faust.App:
    """The composition root: settings -> tracing, a pool per outbox -> relay service -> views.

    Spans go to `tracer_provider` if given (tests), else to a provider of the service's own,
    configured by the `OTEL_*` variables.
    """
    tracing = service_tracing(settings.relay_service_name, tracer_provider)
    metrics = service_metrics(settings.relay_service_name)
    # No agents, no topics: the relay brings its own transactional producer, not Faust's.
    app = faust_app(
        settings.relay_service_name, settings, consumes=False, tracing=tracing, metrics=metrics,
        web_host=settings.relay_http_host, web_port=settings.relay_http_port,
    )
    if settings.relay_mode == "debezium":
        app.add_dependency(DebeziumNotice())
        app.page("/health")(
            bind(RelayHealthView, settings=settings, databases=[], service=None))
        return app

    # Not traced: polling would make a trace of a few statements every second; the relay's
    # spans are its records' (services/relay/tracing.py).
    outboxes = [
        (route, PostgresPool(settings.dsn(route.database), minsize=settings.db_pool_min,
                             maxsize=settings.db_pool_max))
        for route in settings.routes()
    ]
    service = RelayService(outboxes, settings, tracer=tracing.tracer,
                           metrics=RelayMetrics(metrics.meter))
    # Dependencies start in this order and stop in reverse: the relays stop before the pools.
    for _route, database in outboxes:
        app.add_dependency(database)
    app.add_dependency(service)
    # Deletes what OUTBOX_RETENTION lets go of the outboxes this process publishes; it stops
    # before the relays.
    app.add_dependency(OutboxRetention(service.publishing, settings))
    app.page("/health")(bind(RelayHealthView, settings=settings,
                             databases=[database for _route, database in outboxes],
                             service=service))
    return app
