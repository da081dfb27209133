"""HTTP views of the order service: thin, they parse, call a handler and answer."""

from __future__ import annotations

import uuid

from faust.web import Request, Response, View
from opentelemetry import trace
from pydantic import TypeAdapter, ValidationError

from services.order.handlers import (
    IdempotencyKeyReused,
    OrderRejected,
    cancel_order,
    get_order,
    place_order,
)
from services.order.models import IdempotencyKey, PlaceOrder
from services.order.settings import OrderSettings
from shared.resources import PostgresPool
from shared.web import BadRequest, error_response, parse_model, read_json_body

_idempotency_key = TypeAdapter(IdempotencyKey)


class OrdersView(View):
    """`POST /orders`: place an order."""

    database: PostgresPool
    settings: OrderSettings
    tracer: trace.Tracer

    async def post(self, request: Request) -> Response:
        try:
            key = _read_idempotency_key(request)
            body = await read_json_body(request, max_bytes=self.settings.order_max_body_bytes)
            order_request = parse_model(PlaceOrder, body)
            placed = await place_order(
                self.database.pool,
                order_request,
                idempotency_key=key,
                tracer=self.tracer,
            )
        except BadRequest as error:
            return error_response(self, error)
        except IdempotencyKeyReused:
            return error_response(
                self,
                BadRequest(409, "Idempotency-Key", "was already used for a different request body"),
            )
        headers = {"Location": f"/orders/{placed.order.order_id}"}
        if placed.replayed:
            headers["Idempotent-Replayed"] = "true"
        return self.json(placed.order.model_dump(mode="json"), status=201, headers=headers)


class OrderView(View):
    """`GET /orders/{order_id}`: read an order."""

    database: PostgresPool

    async def get(self, request: Request, order_id: str) -> Response:
        try:
            parsed = _order_id(order_id)
        except BadRequest as error:
            return error_response(self, error)
        order = await get_order(self.database.pool, parsed)
        if order is None:
            return error_response(self, BadRequest(404, "order_id", "no such order"))
        return self.json(order.model_dump(mode="json"))


class CancelOrderView(View):
    """`POST /orders/{order_id}/cancel`: cancel an order (202), or say where it stands."""

    database: PostgresPool
    tracer: trace.Tracer

    async def post(self, request: Request, order_id: str) -> Response:
        try:
            parsed = _order_id(order_id)
            cancelling = await cancel_order(self.database.pool, parsed, tracer=self.tracer)
        except BadRequest as error:
            return error_response(self, error)
        except OrderRejected as rejected:
            return error_response(self, BadRequest(
                409, "status", f"the order was rejected ({rejected.reason}): nothing to cancel"))
        if cancelling is None:
            return error_response(self, BadRequest(404, "order_id", "no such order"))
        return self.json(cancelling.order.model_dump(mode="json"),
                         status=202 if cancelling.started else 200)


def _order_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequest(400, "order_id", "is not a UUID") from None


def _read_idempotency_key(request: Request) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    try:
        return _idempotency_key.validate_python(raw)
    except ValidationError:
        raise BadRequest(
            400, "Idempotency-Key", "must be 1 to 128 printable ASCII characters"
        ) from None
