"""What every event shares: the envelope, and the value types its payloads are made of."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_ITEMS = 100
MAX_QUANTITY = 1000

Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]
CustomerId = Annotated[str, StringConstraints(pattern=CUSTOMER_ID_PATTERN)]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]


class OrderLine(BaseModel):
    """One SKU and how many units of it an order wants."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Sku
    quantity: Quantity


Items = Annotated[list[OrderLine], Field(min_length=1, max_length=MAX_ITEMS)]


class Envelope(BaseModel):
    """The fields every event has; each event type adds `event_type` and its `payload`.

    The outbox stores the whole envelope as the record's value; `aggregate_id` (the order id
    for every event of this project) is the record's key, so all events of one order share a
    partition and keep their order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    event_type: str  # each event type narrows it to its own name
    schema_version: Literal[1] = 1
    aggregate_type: Literal["order"] = "order"
    aggregate_id: UUID
    occurred_at: datetime
