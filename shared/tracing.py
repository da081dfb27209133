"""OpenTelemetry set-up and W3C trace-context helpers shared by the services."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_getter = DefaultGetter()


def configure_tracing(service_name: str, *, exporter: SpanExporter | None = None) -> TracerProvider:
    """A tracer provider for one service, configured by the standard `OTEL_*` variables.

    OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces endpoint) is set, the
    console when `OTEL_TRACES_EXPORTER=console`, nothing exported otherwise. Tests pass an
    in-memory `exporter`, exported synchronously. Shut the provider down on exit to flush.
    """
    resource = Resource.create({SERVICE_NAME: service_name})
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        pass
    elif _otlp_endpoint_set():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


def _otlp_endpoint_set() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active span, or None when nothing is being traced."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    """A context whose parent is the span a `traceparent` names (empty if None or invalid)."""
    if not traceparent:
        return otel_context.Context()
    return _propagator.extract({"traceparent": traceparent})


def context_from_headers(
    headers: Sequence[tuple[str, bytes | None]] | None,
) -> otel_context.Context:
    """The trace context carried in Kafka record headers."""
    # A header may be present with a null value (Debezium writes one for a null column).
    carrier: Mapping[str, str] = {
        key: value.decode("latin-1")
        for key, value in headers or ()
        if key == "traceparent" and value is not None
    }
    return _propagator.extract(carrier, getter=_getter)


def traceparent_of(span: trace.Span) -> str | None:
    """The `traceparent` that names `span` as the parent of what comes next."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")
