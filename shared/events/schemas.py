"""The JSON Schema files of the events, one folder per topic, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.events import EVENTS_BY_TOPIC, event_type_of

SCHEMA_ROOT = Path(__file__).resolve().parents[2] / "schemas"


def schema_filename(model: type[BaseModel]) -> str:
    """The file a model's JSON Schema lives in, named by event type and schema version."""
    version = model.model_fields["schema_version"].default
    return f"{event_type_of(model)}.v{version}.json"


def schema_path(topic: str, model: type[BaseModel], root: Path = SCHEMA_ROOT) -> Path:
    """Where the schema of an event of `topic` is kept."""
    return root / topic / schema_filename(model)


def render_schema(model: type[BaseModel]) -> str:
    """The JSON Schema of an event model, as written to `schemas/`."""
    schema: dict[str, Any] = model.model_json_schema()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(root: Path = SCHEMA_ROOT) -> list[Path]:
    """Regenerate every JSON Schema file from the models."""
    written = []
    for topic, models in EVENTS_BY_TOPIC.items():
        for model in models:
            path = schema_path(topic, model, root)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_schema(model), encoding="utf-8")
            written.append(path)
    return written
