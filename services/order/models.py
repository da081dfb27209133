"""The order service's request and response bodies."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.events import MAX_ITEMS, CustomerId, OrderLine

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]


class PlaceOrder(BaseModel):
    """Body of `POST /orders`. Unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: CustomerId
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=MAX_ITEMS)]

    @field_validator("items")
    @classmethod
    def _one_line_per_sku(cls, items: list[OrderLine]) -> list[OrderLine]:
        seen: set[str] = set()
        for line in items:
            if line.sku in seen:
                raise ValueError(
                    f"sku {line.sku} appears twice; put its whole quantity on one line"
                )
            seen.add(line.sku)
        return items

    def fingerprint(self) -> str:
        """A digest of the request, to tell a retry from a different request with the same key."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


OrderStatus = Literal["placed", "confirmed", "rejected", "cancelling", "cancelled"]


class StatusChange(BaseModel):
    """When an order reached a status."""

    status: OrderStatus
    at: datetime


class Order(BaseModel):
    """An order as `POST /orders` and `GET /orders/{order_id}` return it.

    `reason` says why inventory rejected it (None otherwise); `status_history` lists each
    status it reached, oldest first.
    """

    order_id: UUID
    customer_id: str
    status: OrderStatus
    reason: str | None = None
    items: list[OrderLine]
    placed_at: datetime
    status_history: list[StatusChange]
