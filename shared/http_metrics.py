"""`http.server.request.duration` for each HTTP request of a Faust app, as OpenTelemetry's
HTTP conventions describe it (`http_server_request_duration_seconds` in Prometheus).

A middleware per app, like the tracing one, so that each service in a process counts its own.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry.metrics import Meter

from shared.http_tracing import KNOWN_METHODS, route_of
from shared.metrics import SECONDS_BUCKETS


def request_duration_middleware(meter: Meter) -> Middleware:
    """An aiohttp middleware that records each request's duration by method, route, status."""
    duration = meter.create_histogram(
        "http.server.request.duration", unit="s",
        description="Duration of HTTP server requests.",
        explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
    )

    @web.middleware
    async def time_request(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as answer:  # aiohttp's way of answering with a status
            status = answer.status
            raise
        finally:
            method = request.method
            # An unmatched path is not a route: one series for all of them, not one each.
            duration.record(time.perf_counter() - started, {
                "http.request.method": method if method in KNOWN_METHODS else "_OTHER",
                "http.route": route_of(request) or "",
                "http.response.status_code": status,
            })

    return time_request
