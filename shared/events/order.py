"""The events of `order.events`, written by the order service's outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.events.common import CustomerId, Envelope, Items


class OrderCreatedPayload(BaseModel):
    """What an `OrderCreated` event says about the new order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: UUID
    customer_id: CustomerId
    items: Items
    placed_at: datetime


class OrderCreated(Envelope):
    """An order was placed: inventory is asked to reserve its lines."""

    event_type: Literal["OrderCreated"] = "OrderCreated"
    payload: OrderCreatedPayload


class OrderCancelledPayload(BaseModel):
    """What an `OrderCancelled` event says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: UUID
    cancelled_at: datetime


class OrderCancelled(Envelope):
    """The customer cancelled an order: inventory gives back what it reserved for it."""

    event_type: Literal["OrderCancelled"] = "OrderCancelled"
    payload: OrderCancelledPayload
