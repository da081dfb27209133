"""The JSON Schema files in `schemas/` are generated from the pydantic event models."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest
from pydantic import ValidationError

from shared.events import (
    EVENTS_BY_TOPIC,
    OrderCreated,
    OrderCreatedPayload,
    OrderLine,
    parse_event,
)
from shared.events.schemas import SCHEMA_ROOT, render_schema, schema_path

TOPIC_MODELS = [(topic, model) for topic, models in EVENTS_BY_TOPIC.items() for model in models]


def an_event() -> OrderCreated:
    order_id = uuid.uuid4()
    now = datetime.now(UTC)
    return OrderCreated(
        event_id=uuid.uuid4(),
        aggregate_id=order_id,
        occurred_at=now,
        payload=OrderCreatedPayload(
            order_id=order_id,
            customer_id="c-1",
            placed_at=now,
            items=[OrderLine(sku="SKU-1", quantity=2)],
        ),
    )


@pytest.mark.parametrize(("topic", "model"), TOPIC_MODELS,
                         ids=[model.__name__ for _, model in TOPIC_MODELS])
def test_schema_files_match_the_models(topic: str, model: type) -> None:
    path = schema_path(topic, model)
    assert path.exists(), "run `make schemas` and commit the result"
    assert path.read_text(encoding="utf-8") == render_schema(model), (
        f"{path.name} is out of date with the model: run `make schemas` and commit the result"
    )


def test_an_event_round_trips_and_satisfies_its_schema() -> None:
    event = an_event()
    value = event.model_dump_json()
    assert parse_event(value) == event
    schema = json.loads(schema_path("order.events", OrderCreated).read_text("utf-8"))
    jsonschema.validate(json.loads(value), schema)


def test_an_unknown_event_type_is_refused() -> None:
    data = json.loads(an_event().model_dump_json())
    data["event_type"] = "OrderShipped"
    with pytest.raises(ValidationError):
        parse_event(json.dumps(data))


def test_no_schema_file_is_left_without_its_model() -> None:
    expected = {schema_path(topic, model) for topic, model in TOPIC_MODELS}
    assert set(SCHEMA_ROOT.glob("*/*.json")) == expected
