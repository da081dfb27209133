"""A SERVER span for each HTTP request of a Faust app, as OpenTelemetry's HTTP conventions
describe it, continuing the caller's W3C `traceparent` when the request has one.

`opentelemetry-instrumentation-aiohttp-server` patches `aiohttp.web.Application` for the
whole process and keeps its tracer in module globals; three services with a provider each in
one process (the tests) need a middleware per app instead, given the app's own tracer.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry import propagate, trace
from opentelemetry.util.types import AttributeValue

KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)


def route_of(request: web.Request) -> str | None:
    """The matched route's template (`/orders/{order_id}`), None when no route matched."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def span_name(method: str, route: str | None) -> str:
    """`{method} {route}`; `HTTP` stands for a method outside the standard ones."""
    method = method if method in KNOWN_METHODS else "HTTP"
    return f"{method} {route}" if route else method


def request_attributes(request: web.Request, route: str | None) -> dict[str, AttributeValue]:
    """The attributes of a request's span known before it is handled."""
    method = request.method
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method if method in KNOWN_METHODS else "_OTHER",
        "url.path": request.path,
        "url.scheme": request.scheme,
        "network.protocol.version": f"{request.version.major}.{request.version.minor}",
    }
    if method not in KNOWN_METHODS:
        attributes["http.request.method_original"] = method
    if route:
        attributes["http.route"] = route
    if request.query_string:
        attributes["url.query"] = request.query_string
    if request.url.host:
        attributes["server.address"] = request.url.host
    if request.url.port:
        attributes["server.port"] = request.url.port
    if request.remote:
        attributes["client.address"] = request.remote
    if user_agent := request.headers.get("User-Agent"):
        attributes["user_agent.original"] = user_agent
    return attributes


def set_response_status(span: trace.Span, status: int) -> None:
    """Record the answer's status; only a 5xx makes a server span an error."""
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(trace.StatusCode.ERROR)


def server_span_middleware(tracer: trace.Tracer) -> Middleware:
    """An aiohttp middleware that handles each request inside its SERVER span."""

    @web.middleware
    async def trace_request(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        with tracer.start_as_current_span(
            span_name(request.method, route),
            context=propagate.extract(request.headers),
            kind=trace.SpanKind.SERVER,
            attributes=request_attributes(request, route),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                response = await handler(request)
            except web.HTTPException as answer:  # aiohttp's way of answering with a status
                set_response_status(span, answer.status)
                raise
            except Exception as error:
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_attribute("http.response.status_code", 500)
                span.set_status(trace.StatusCode.ERROR, str(error))
                raise
            set_response_status(span, response.status)
            return response

    return trace_request
