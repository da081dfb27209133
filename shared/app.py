"""The Faust app every service is built on, configured from settings (no I/O here)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
from faust.app.base import BootStrategy

from shared.http_metrics import request_duration_middleware
from shared.http_tracing import server_span_middleware
from shared.logs import logging_config
from shared.metrics import MetricsView, ServiceMetrics
from shared.settings import CommonSettings
from shared.tracing import ServiceTracing
from shared.web import bind


class ServiceApp(faust.App):
    """A Faust app that creates its data directory's parents when it first starts."""

    #: The service's tracer provider, as `faust_app` was given it.
    tracing: ServiceTracing | None = None
    #: The service's metrics, as `faust_app` was given them.
    metrics: ServiceMetrics | None = None

    async def on_first_start(self) -> None:
        await asyncio.to_thread(Path(self.conf.datadir).mkdir, parents=True, exist_ok=True)
        await super().on_first_start()


def faust_app(
    app_id: str,
    settings: CommonSettings,
    *,
    web_host: str,
    web_port: int,
    consumes: bool = True,
    tracing: ServiceTracing | None = None,
    metrics: ServiceMetrics | None = None,
    **options: Any,
) -> faust.App:
    """A Faust app with the project's defaults: in-memory stores, no leader topic, acks=all.

    An app that `consumes` nothing starts no Kafka client of Faust's at all: a Faust consumer
    with no topics crashes, and a service that only serves HTTP has no use for one. With
    `tracing`, each HTTP request is a span of its provider, which is flushed when the app
    stops. With `metrics`, the app serves `GET /metrics` and times each request. `faust
    worker` logs with trace ids either way.
    """
    middlewares = [server_span_middleware(tracing.tracer)] if tracing is not None else []
    if metrics is not None:
        middlewares.append(request_duration_middleware(metrics.meter))
    app = ServiceApp(
        app_id,
        broker=settings.kafka_broker_url,
        web_host=web_host,
        web_bind=web_host,
        web_port=web_port,
        datadir=str(Path(settings.data_dir) / app_id),
        store="memory://",
        topic_disable_leader=True,
        autodiscover=False,
        producer_acks=-1,
        web_application_options={"middlewares": middlewares},
        logging_config=logging_config(settings.log_level),
        **options,
    )
    if not consumes:
        app.boot_strategy = BootStrategy(app, enable_kafka=False)
    if tracing is not None:
        # The first dependency stops last, after every other one has ended its spans.
        app.add_dependency(tracing)
        app.tracing = tracing
    if metrics is not None:
        app.add_dependency(metrics)
        app.metrics = metrics
        app.page("/metrics")(bind(MetricsView, metrics=metrics))
    return app


def tracing_of(app: faust.App) -> ServiceTracing | None:
    """The tracing `faust_app` gave an app, if any."""
    return app.tracing if isinstance(app, ServiceApp) else None


def metrics_of(app: faust.App) -> ServiceMetrics | None:
    """The metrics `faust_app` gave an app, if any."""
    return app.metrics if isinstance(app, ServiceApp) else None
