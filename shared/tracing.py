"""OpenTelemetry set-up and W3C trace-context helpers shared by the services.

Each service has a tracer provider of its own, whose resource names the service, and passes it
explicitly to everything that makes spans (its tracer, the HTTP middleware, the database pool).
Nothing here relies on the global provider: the tests run the three services in one process.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mode import Service
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

INSTRUMENTATION_NAME = "outbox-shop"

_propagator = TraceContextTextMapPropagator()
# version 00, trace id, span id, flags: lowercase hex, nothing around it.
_CANONICAL_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def configure_tracing(service_name: str, *, exporter: SpanExporter | None = None) -> TracerProvider:
    """A tracer provider for one service, configured by the standard `OTEL_*` variables.

    Where spans go is `exporter_names`' choice; tests pass an in-memory `exporter` instead,
    which gets each span as it ends. The sampler is `OTEL_TRACES_SAMPLER` when set, else
    `default_sampler`'s. Either way every span has ids, so the trace context always reaches
    the logs, the outbox and Kafka. Shut the provider down on exit to flush it.
    """
    if exporter is not None:
        provider = TracerProvider(resource=_resource(service_name),
                                  sampler=ParentBased(ALWAYS_ON))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider
    names = exporter_names(os.environ)
    chosen = os.environ.get("OTEL_TRACES_SAMPLER", "").strip()
    # With no sampler, the SDK reads OTEL_TRACES_SAMPLER (and its argument) itself.
    provider = TracerProvider(resource=_resource(service_name),
                              sampler=None if chosen else default_sampler(exporting=bool(names)))
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Endpoint, headers, timeout and OTEL_BSP_* (the export delay) come from the
            # environment, read by the exporter and the processor themselves.
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


def default_sampler(*, exporting: bool) -> Sampler:
    """`parentbased_always_on` when spans are exported, `parentbased_always_off` when not.

    Recording spans that go nowhere costs CPU on every record (more than half of the relay's
    when it did). Not recording them changes nothing else: a dropped span still has a trace
    and span id, which the logs and the `traceparent` headers carry; it is marked not
    sampled, so downstream services that follow their parent (the `parentbased_*` samplers)
    do not record it either. A sampled parent from upstream is still followed.
    """
    return ParentBased(ALWAYS_ON if exporting else ALWAYS_OFF)


def _resource(service_name: str) -> Resource:
    return Resource.create({SERVICE_NAME: service_name})


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """Where spans go: `OTEL_TRACES_EXPORTER` (`otlp`, `console`, `none`, comma-separated) if
    set, else `otlp` when an OTLP endpoint is set, else nowhere."""
    chosen = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen:
        names = [name.strip() for name in chosen.split(",")]
        return [name for name in names if name in ("otlp", "console")]
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return ["otlp"] if endpoint and endpoint.strip() else []


class ServiceTracing(Service):
    """A service's tracer provider, flushed and shut down when the app stops if it owns it.

    A provider handed in by the caller (a test sharing one exporter between services) stays
    the caller's to shut down.
    """

    def __init__(self, provider: TracerProvider, *, owned: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.provider = provider
        self.owned = owned

    @property
    def tracer(self) -> trace.Tracer:
        """The tracer for the project's own spans."""
        return self.provider.get_tracer(INSTRUMENTATION_NAME)

    def install_globally(self) -> None:
        """Make this the process's global provider too, for code that asks the API for one."""
        trace.set_tracer_provider(self.provider)

    async def on_stop(self) -> None:
        if self.owned:
            # Exports what is still queued; blocking, so off the event loop.
            await asyncio.to_thread(self.provider.shutdown)


def service_tracing(
    service_name: str, tracer_provider: TracerProvider | None = None
) -> ServiceTracing:
    """The tracing of one service: `tracer_provider` if given, else one of its own."""
    if tracer_provider is not None:
        return ServiceTracing(tracer_provider, owned=False)
    return ServiceTracing(configure_tracing(service_name), owned=True)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active span, or None when nothing is being traced."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    """A context whose parent is the span a `traceparent` names (empty if None or invalid),
    as the W3C propagator extracts it.

    The canonical form (version 00, as every writer here makes it) is parsed here: the relay
    and the inventory extract one per record, and the propagator's general path cost them more
    than the rest of the span. Anything else goes to the propagator, which has the last word.
    """
    if not traceparent:
        return otel_context.Context()
    match = _CANONICAL_TRACEPARENT.fullmatch(traceparent)
    if match is None:
        return _propagator.extract({"traceparent": traceparent})
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:  # all-zero ids name no span
        return otel_context.Context()
    parent = trace.SpanContext(trace_id, span_id, is_remote=True,
                               trace_flags=trace.TraceFlags(int(match[3], 16)))
    return trace.set_span_in_context(trace.NonRecordingSpan(parent), otel_context.Context())


def context_from_headers(
    headers: Sequence[tuple[str, bytes | None]] | None,
) -> otel_context.Context:
    """The trace context carried in Kafka record headers (empty if there is none)."""
    for key, value in headers or ():
        # A header may be present with a null value (Debezium writes one for a null column).
        if key == "traceparent" and value is not None:
            return context_from_traceparent(value.decode("latin-1"))
    return otel_context.Context()


def traceparent_of(span: trace.Span) -> str | None:
    """The `traceparent` that names `span` as the parent of what comes next (None if the span
    has no valid context), as the W3C propagator writes it.

    Formatted here rather than injected through the propagator: the relay asks for one per
    record it publishes, and building a context to inject from cost more than the rest.
    """
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def span_link_limit() -> int:
    """How many links the SDK keeps on a span (`OTEL_SPAN_LINK_COUNT_LIMIT`, 128 by default).

    Past it the SDK silently drops the oldest link, so a batch span links its first records
    up to this many and no more (each record's span links back to the batch either way).
    """
    limit = SpanLimits().max_links
    return sys.maxsize if limit is None else limit
