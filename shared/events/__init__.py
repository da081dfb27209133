"""The events of the project: the single definition of their envelope and payloads.

Every record's value is one event serialised as JSON. The key is the order id and the headers
repeat `event_id` and `event_type` (and carry `traceparent`) so that a consumer can route,
dedupe and trace a record before it parses the value. JSON Schema files in `schemas/` are
generated from these models (`python -m shared.events`), never written by hand.

To add an event type: a model in the module of the topic it goes on, one entry in that
topic's tuple below (see `docs/adding-an-event.md`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, TypeAdapter

from shared.events.common import (
    CUSTOMER_ID_PATTERN,
    MAX_ITEMS,
    MAX_QUANTITY,
    SKU_PATTERN,
    CustomerId,
    Envelope,
    OrderLine,
    Quantity,
    Sku,
)
from shared.events.inventory import (
    ReleasedLine,
    StockRejected,
    StockRejectedPayload,
    StockReleased,
    StockReleasedPayload,
    StockReserved,
    StockReservedPayload,
    UnfitLine,
)
from shared.events.order import (
    OrderCancelled,
    OrderCancelledPayload,
    OrderCreated,
    OrderCreatedPayload,
)

# The event types of each topic, by the topic's default name (also their `schemas/` folder).
EVENTS_BY_TOPIC: dict[str, tuple[type[Envelope], ...]] = {
    "order.events": (OrderCreated, OrderCancelled),
    "inventory.events": (StockReserved, StockRejected, StockReleased),
}
EVENT_MODELS: tuple[type[Envelope], ...] = tuple(
    model for models in EVENTS_BY_TOPIC.values() for model in models)

Event = Annotated[
    OrderCreated | OrderCancelled | StockReserved | StockRejected | StockReleased,
    Field(discriminator="event_type"),
]
_event_adapter: TypeAdapter[Envelope] = TypeAdapter(Event)


def parse_event(value: bytes | str) -> Envelope:
    """Validate a record's value as any known event; raises `pydantic.ValidationError`."""
    return _event_adapter.validate_json(value)


def event_type_of(model: type[BaseModel]) -> str:
    """The `event_type` an event model carries."""
    return str(model.model_fields["event_type"].default)


__all__ = [
    "CUSTOMER_ID_PATTERN", "EVENTS_BY_TOPIC", "EVENT_MODELS", "MAX_ITEMS", "MAX_QUANTITY",
    "SKU_PATTERN", "CustomerId", "Envelope", "Event", "OrderCancelled", "OrderCancelledPayload",
    "OrderCreated", "OrderCreatedPayload", "OrderLine", "Quantity", "ReleasedLine", "Sku",
    "StockRejected", "StockRejectedPayload", "StockReleased", "StockReleasedPayload",
    "StockReserved", "StockReservedPayload", "UnfitLine", "event_type_of", "parse_event",
]
