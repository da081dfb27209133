"""The inventory service's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

# The `available` column is a PostgreSQL integer.
MAX_AVAILABLE = 2**31 - 1


class SetStock(BaseModel):
    """Body of `PUT /stock/{sku}`: how many units are available from now on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    available: Annotated[int, Field(strict=True, ge=0, le=MAX_AVAILABLE)]


class Stock(BaseModel):
    """The stock of one SKU, as `GET /stock/{sku}` returns it."""

    sku: str
    available: int


class ReservedLine(BaseModel):
    """Units of one SKU held for an order (lines of one SKU are added up)."""

    sku: str
    quantity: int


class Reservation(BaseModel):
    """What became of an order's request for stock, as `GET /reservations/{order_id}` returns it.

    `items` are the units held (`reserved`) or held and given back (`released`).
    """

    order_id: UUID
    event_id: UUID
    status: Literal["reserved", "rejected", "released"]
    reason: str | None
    items: list[ReservedLine]
    created_at: datetime
    released_at: datetime | None
