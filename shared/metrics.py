"""OpenTelemetry metrics of a service, served as Prometheus text on `GET /metrics`.

Each service has a meter provider of its own, whose resource names the service, read through
a Prometheus registry of its own: the tests run the three services in one process, and each
`/metrics` must show its own service only. With an OTLP endpoint set (the standard `OTEL_*`
variables), the same metrics are pushed over OTLP as well.

Values that live elsewhere (a table's backlog, a consumer's lag) are read by *samplers*:
coroutines run before each scrape and every `SAMPLE_INTERVAL_SECONDS` in between, which store
what they read in a `Readings` gauge. A scrape so shows the state of the moment it was asked.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from faust.web import Request, Response, View
from mode import Service
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.util.types import AttributeValue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from shared.tracing import INSTRUMENTATION_NAME

logger = logging.getLogger(__name__)

Sampler = Callable[[], Awaitable[None]]
Attributes = Mapping[str, AttributeValue]

SAMPLE_INTERVAL_SECONDS = 5.0
# A sampler that takes longer (a database that does not answer) leaves its last readings.
SAMPLE_TIMEOUT_SECONDS = 2.0

# Bucket bounds in base units: OpenTelemetry's default ones suit milliseconds, not seconds.
SECONDS_BUCKETS: Sequence[float] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
COUNT_BUCKETS: Sequence[float] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def metric_exporter_names(environ: Mapping[str, str]) -> list[str]:
    """Where metrics are pushed besides `/metrics`: `OTEL_METRICS_EXPORTER` (`otlp`, `none`,
    comma-separated) if set, else `otlp` when an OTLP endpoint is set, else nowhere."""
    chosen = environ.get("OTEL_METRICS_EXPORTER", "").strip().lower()
    if chosen:
        return [name.strip() for name in chosen.split(",") if name.strip() == "otlp"]
    endpoint = environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT")
    return ["otlp"] if endpoint and endpoint.strip() else []


class Readings:
    """An observable gauge whose values are whatever a sampler stored last.

    `replace` swaps all of them at once, so that a series that no longer exists (a partition
    the consumer gave up) disappears instead of showing its last value forever.
    """

    def __init__(self, meter: Meter, name: str, *, unit: str = "", description: str = "") -> None:
        self._values: dict[tuple[tuple[str, AttributeValue], ...], float] = {}
        meter.create_observable_gauge(name, callbacks=[self._observe], unit=unit,
                                      description=description)

    def set(self, value: float, attributes: Attributes) -> None:
        """Store one series' value."""
        self._values[tuple(sorted(attributes.items()))] = value

    def replace(self, values: Iterable[tuple[Attributes, float]]) -> None:
        """Store these series and forget every other."""
        self._values = {tuple(sorted(attributes.items())): value for attributes, value in values}

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, dict(key)) for key, value in self._values.items()]


class ServiceMetrics(Service):
    """A service's meter provider and Prometheus registry; samplers run in the background.

    The provider is shut down when the app stops, which pushes the last OTLP export.
    """

    def __init__(self, provider: MeterProvider, registry: CollectorRegistry,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.provider = provider
        self.registry = registry
        self._samplers: list[Sampler] = []
        self._sampling: asyncio.Task[None] | None = None

    @property
    def meter(self) -> Meter:
        """The meter for the project's own instruments."""
        return self.provider.get_meter(INSTRUMENTATION_NAME)

    def add_sampler(self, sampler: Sampler) -> None:
        """Run `sampler` before each scrape and every `SAMPLE_INTERVAL_SECONDS`."""
        self._samplers.append(sampler)

    async def sample(self) -> None:
        """Run every sampler once, side by side; a failing one keeps its last readings."""
        await asyncio.gather(*(self._sample_one(sampler) for sampler in self._samplers))

    async def render(self) -> bytes:
        """The current values in the Prometheus text format."""
        await self.sample()
        return generate_latest(self.registry)

    async def on_started(self) -> None:
        if self._samplers:
            self._sampling = asyncio.create_task(self._sample_forever(), name="metric samplers")

    async def on_stop(self) -> None:
        if self._sampling is not None:
            self._sampling.cancel()
            await asyncio.gather(self._sampling, return_exceptions=True)
            self._sampling = None
        await asyncio.to_thread(self.provider.shutdown)

    async def _sample_forever(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(SAMPLE_INTERVAL_SECONDS)

    async def _sample_one(self, sampler: Sampler) -> None:
        try:
            async with asyncio.timeout(SAMPLE_TIMEOUT_SECONDS):
                await sampler()
        except Exception as exc:  # a metric must never take the service down
            logger.debug("a metric sampler failed: %s", exc)


def service_metrics(service_name: str, *, readers: Sequence[MetricReader] = ()) -> ServiceMetrics:
    """The metrics of one service: Prometheus for `/metrics`, OTLP when configured, and any
    `readers` given (tests pass an in-memory one)."""
    registry = CollectorRegistry(auto_describe=True)
    all_readers: list[MetricReader] = [PrometheusMetricReader(registry=registry), *readers]
    if "otlp" in metric_exporter_names(os.environ):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        # Endpoint, headers and OTEL_METRIC_EXPORT_INTERVAL come from the environment.
        all_readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    provider = MeterProvider(metric_readers=all_readers,
                             resource=Resource.create({SERVICE_NAME: service_name}))
    return ServiceMetrics(provider, registry)


class MetricsView(View):
    """`GET /metrics`: the service's metrics in the Prometheus text format (other methods 405)."""

    metrics: ServiceMetrics

    async def get(self, request: Request) -> Response:
        body = await self.metrics.render()
        # The full type, with its format version and charset, which aiohttp's `content_type`
        # argument would refuse.
        return self.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
