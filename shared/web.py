"""HTTP helpers for the services' Faust views: JSON errors that name the field and the problem."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from faust.web import Request, Response, View
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
ViewT = TypeVar("ViewT", bound=type[View])


class BadRequest(Exception):
    """Input that must be answered with a 4xx: status, field and problem."""

    def __init__(self, status: int, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.status = status
        self.errors = [{"field": field, "problem": problem}]


def error_body(errors: list[dict[str, str]]) -> dict[str, Any]:
    """The JSON body of every 4xx answer."""
    return {"errors": errors}


def validation_errors(error: ValidationError) -> list[dict[str, str]]:
    """Turn pydantic's errors into `{"field": "items.0.quantity", "problem": "..."}` entries."""
    errors = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        problem = item["msg"]
        if item["type"] == "extra_forbidden":
            problem = "unknown field; remove it"
        errors.append({"field": field, "problem": problem})
    return errors


async def read_json_body(request: Request, *, max_bytes: int) -> Any:
    """Read a request body as JSON, refusing oversize, non-JSON and non-UTF-8 bodies."""
    content_type = request.headers.get("Content-Type", "application/json")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest(415, "Content-Type", "must be application/json")
    declared = request.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(413, "body", f"larger than {max_bytes} bytes")
    body = await request.read()
    if len(body) > max_bytes:
        raise BadRequest(413, "body", f"larger than {max_bytes} bytes")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest(400, "body", "is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            400, "body", f"is not valid JSON ({exc.msg} at position {exc.pos})"
        ) from None


def parse_model(model: type[ModelT], data: Any) -> ModelT:
    """Validate decoded JSON against a request model, raising `BadRequest` (422) on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        bad = BadRequest(422, "body", "invalid")
        bad.errors = validation_errors(exc)
        raise bad from None


def error_response(view: View, error: BadRequest) -> Response:
    """The response for a `BadRequest`."""
    return view.json(error_body(error.errors), status=error.status)


def bind(view: ViewT, **dependencies: Any) -> ViewT:
    """A subclass of `view` with its dependencies (pool, settings, ...) as class attributes."""
    return type(view.__name__, (view,), dependencies)  # type: ignore[return-value]
