"""The events of `inventory.events`, written by the inventory service's outbox: its answers."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events.common import MAX_ITEMS, Envelope, Items, Sku

# Units of one SKU, lines of an order added up (so not bounded as one line's quantity is).
Units = Annotated[int, Field(strict=True, ge=1)]


class StockReservedPayload(BaseModel):
    """Every line of the order is held for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: UUID
    items: Items


class StockReserved(Envelope):
    """Inventory reserved every line of an order."""

    event_type: Literal["StockReserved"] = "StockReserved"
    payload: StockReservedPayload


class UnfitLine(BaseModel):
    """A line that could not be reserved, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Sku
    quantity: Units
    reason: Annotated[str, Field(min_length=1)]


class StockRejectedPayload(BaseModel):
    """Nothing is held: the lines that did not fit, each with its reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: UUID
    reason: Annotated[str, Field(min_length=1)]
    lines: Annotated[list[UnfitLine], Field(min_length=1, max_length=MAX_ITEMS)]


class StockRejected(Envelope):
    """Inventory could not reserve an order (all lines or none), so it reserved nothing."""

    event_type: Literal["StockRejected"] = "StockRejected"
    payload: StockRejectedPayload


class ReleasedLine(BaseModel):
    """Units of one SKU back in stock."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Sku
    quantity: Units


class StockReleasedPayload(BaseModel):
    """What was given back (nothing when the order had been rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: UUID
    items: Annotated[list[ReleasedLine], Field(max_length=MAX_ITEMS)]


class StockReleased(Envelope):
    """Inventory gave back an order's reservation after its cancellation."""

    event_type: Literal["StockReleased"] = "StockReleased"
    payload: StockReleasedPayload
