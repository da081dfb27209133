"""HTTP views of the inventory service: thin, they parse, call a handler and answer."""

from __future__ import annotations

import re
import uuid

from faust.web import Request, Response, View

from services.inventory.handlers import get_reservation, get_stock, set_stock
from services.inventory.models import SetStock
from services.inventory.settings import InventorySettings
from shared.events import SKU_PATTERN
from shared.resources import PostgresPool
from shared.web import BadRequest, error_response, parse_model, read_json_body

_SKU = re.compile(SKU_PATTERN)


class StockView(View):
    """`GET /stock/{sku}` reads a SKU's stock; `PUT /stock/{sku}` sets it."""

    database: PostgresPool
    settings: InventorySettings

    async def get(self, request: Request, sku: str) -> Response:
        try:
            _check_sku(sku)
        except BadRequest as error:
            return error_response(self, error)
        stock = await get_stock(self.database.pool, sku)
        if stock is None:
            return error_response(self, BadRequest(404, "sku", "no such sku"))
        return self.json(stock.model_dump(mode="json"))

    async def put(self, request: Request, sku: str) -> Response:
        try:
            _check_sku(sku)
            body = await read_json_body(request, max_bytes=self.settings.inventory_max_body_bytes)
            wanted = parse_model(SetStock, body)
        except BadRequest as error:
            return error_response(self, error)
        stock = await set_stock(self.database.pool, sku, wanted.available)
        return self.json(stock.model_dump(mode="json"))


class ReservationView(View):
    """`GET /reservations/{order_id}`: what became of an order's stock request."""

    database: PostgresPool

    async def get(self, request: Request, order_id: str) -> Response:
        try:
            parsed = uuid.UUID(order_id)
        except ValueError:
            return error_response(self, BadRequest(400, "order_id", "is not a UUID"))
        reservation = await get_reservation(self.database.pool, parsed)
        if reservation is None:
            return error_response(
                self, BadRequest(404, "order_id", "no outcome for this order yet"))
        return self.json(reservation.model_dump(mode="json"))


def _check_sku(sku: str) -> None:
    if _SKU.fullmatch(sku) is None:
        raise BadRequest(400, "sku", f"must match {SKU_PATTERN}")
