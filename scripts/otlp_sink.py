"""A tiny OTLP/HTTP trace receiver: the services export spans to it during the demo.

It answers `POST /v1/traces` (protobuf, optionally gzip) like a collector would and keeps
every span in memory, so the demo can print a trace without Docker or Jaeger.
"""

from __future__ import annotations

import gzip
import logging

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from scripts.spans import Span

logger = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"


def spans_from_request(body: bytes) -> list[Span]:
    """The spans of one serialised `ExportTraceServiceRequest`."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _text(a.value) for a in resource_spans.resource.attributes}
        service = resource.get("service.name", "unknown-service")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                parent = bytes(span.parent_span_id).hex()
                spans.append(Span(
                    trace_id=bytes(span.trace_id).hex(),
                    span_id=bytes(span.span_id).hex(),
                    parent_span_id=parent or None,
                    name=str(span.name),
                    service=service,
                    start_ns=int(span.start_time_unix_nano),
                    end_ns=int(span.end_time_unix_nano),
                    attributes={a.key: _text(a.value) for a in span.attributes},
                ))
    return spans


def _text(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind in ("array_value", "kvlist_value"):
        return str(getattr(value, kind)).replace("\n", " ")
    if kind == "bytes_value":
        return bytes(value.bytes_value).hex()
    return str(getattr(value, kind))


class OtlpSink:
    """An OTLP/HTTP receiver on a free local port; `spans` grows as exports arrive."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.spans: list[Span] = []
        self.requests = 0
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        """The value for `OTEL_EXPORTER_OTLP_ENDPOINT`."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen on a port the system chooses."""
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def trace(self, trace_id: str) -> list[Span]:
        """Every span received so far for one trace."""
        return [span for span in self.spans if span.trace_id == trace_id]

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        if request.content_type != PROTOBUF:
            return web.Response(status=415, text=f"send {PROTOBUF}")
        try:
            self.spans.extend(spans_from_request(body))
        except Exception:  # a malformed export must not stop the demo
            logger.exception("could not parse an OTLP export")
            return web.Response(status=400, text="not an ExportTraceServiceRequest")
        self.requests += 1
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type=PROTOBUF)
