"""The events on `order.events`: the single definition of their envelope and payloads.

Every record's value is one `OrderEvent` serialised as JSON. The key is the order id and the
headers repeat `event_id` and `event_type` (and carry `traceparent`) so that a consumer can
route, dedupe and trace a record before it parses the value. JSON Schema files in `schemas/`
are generated from these models (`python -m shared.events`), never written by hand.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

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


class OrderCreatedPayload(BaseModel):
    """What an `OrderCreated` event says about the new order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: UUID
    customer_id: CustomerId
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=MAX_ITEMS)]
    placed_at: datetime


class OrderCreated(BaseModel):
    """Envelope of an order's creation, schema version 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    event_type: Literal["OrderCreated"] = "OrderCreated"
    schema_version: Literal[1] = 1
    aggregate_type: Literal["order"] = "order"
    aggregate_id: UUID
    occurred_at: datetime
    payload: OrderCreatedPayload


# Add new event models to this union; `event_type` tells them apart.
OrderEvent = Annotated[OrderCreated, Field(discriminator="event_type")]
order_event_adapter: TypeAdapter[OrderCreated] = TypeAdapter(OrderEvent)

EVENT_MODELS: tuple[type[BaseModel], ...] = (OrderCreated,)
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "order.events"


def parse_event(value: bytes | str) -> OrderCreated:
    """Validate a record's value; raises `pydantic.ValidationError` naming what is wrong."""
    return order_event_adapter.validate_json(value)


def schema_filename(model: type[BaseModel]) -> str:
    """The file a model's JSON Schema lives in, named by event type and schema version."""
    fields = model.model_fields
    event_type = fields["event_type"].default
    version = fields["schema_version"].default
    return f"{event_type}.v{version}.json"


def render_schema(model: type[BaseModel]) -> str:
    """The JSON Schema of an event model, as written to `schemas/`."""
    schema: dict[str, Any] = model.model_json_schema()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Regenerate the JSON Schema files from the models."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in EVENT_MODELS:
        path = directory / schema_filename(model)
        path.write_text(render_schema(model), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas():
        sys.stdout.write(f"wrote {written_path}\n")
