"""A CLIENT span for each PostgreSQL statement run through a pool, as OpenTelemetry's database
conventions describe it (`INSERT outbox`, `UPDATE stock`, ...).

`opentelemetry-instrumentation-aiopg` can wrap one pool with a given provider too, but names
every span by its first keyword only (`INSERT`, `UPDATE`), which makes an order's trace hard to
read; the statements here are few and simple enough to name by operation and table.
Statements are recorded as written, with placeholders: parameters (customer data) never are.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiopg
import psycopg2.extensions
from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

_NAME = r"([A-Za-z_][\w.]*)"
_TABLE_AFTER = {
    "INSERT": re.compile(rf"^\s*INSERT\s+INTO\s+{_NAME}", re.IGNORECASE),
    "UPDATE": re.compile(rf"^\s*UPDATE\s+(?:ONLY\s+)?{_NAME}", re.IGNORECASE),
    "DELETE": re.compile(rf"^\s*DELETE\s+FROM\s+(?:ONLY\s+)?{_NAME}", re.IGNORECASE),
    "SELECT": re.compile(rf"\bFROM\s+{_NAME}", re.IGNORECASE),
}


def operation_and_table(statement: str) -> tuple[str | None, str | None]:
    """The statement's operation (`INSERT`) and the table it is about, when plain to see."""
    words = statement.split(maxsplit=1)
    if not words:
        return None, None
    operation = words[0].upper()
    pattern = _TABLE_AFTER.get(operation)
    found = pattern.search(statement) if pattern is not None else None
    return operation, found[1] if found else None


def statement_span_name(statement: str) -> str:
    """`{operation} {table}`, or just the operation, or `postgresql`."""
    operation, table = operation_and_table(statement)
    return " ".join(part for part in (operation, table) if part) or "postgresql"


def connection_attributes(dsn: str) -> dict[str, AttributeValue]:
    """The attributes naming the database of a libpq connection string (never the password)."""
    parts = psycopg2.extensions.parse_dsn(dsn)
    attributes: dict[str, AttributeValue] = {
        "db.system.name": "postgresql",
        # The name before semantic conventions 1.26, which many back ends still group by.
        "db.system": "postgresql",
    }
    if "dbname" in parts:
        attributes["db.namespace"] = parts["dbname"]
    if "host" in parts:
        attributes["server.address"] = parts["host"]
    if str(parts.get("port", "")).isdigit():
        attributes["server.port"] = int(parts["port"])
    return attributes


def statement_attributes(statement: str) -> dict[str, AttributeValue]:
    """The attributes describing one statement."""
    operation, table = operation_and_table(statement)
    attributes: dict[str, AttributeValue] = {"db.query.text": statement.strip()}
    if operation:
        attributes["db.operation.name"] = operation
    if table:
        attributes["db.collection.name"] = table
    return attributes


class TracedCursor:
    """An aiopg cursor whose `execute` runs in a CLIENT span; everything else is the cursor's."""

    def __init__(
        self, cursor: aiopg.Cursor, tracer: trace.Tracer, attributes: dict[str, AttributeValue]
    ) -> None:
        self._cursor = cursor
        self._tracer = tracer
        self._attributes = attributes

    async def execute(self, operation: str, parameters: Any = None, **kwargs: Any) -> Any:
        """Run a statement, in its span."""
        with self._tracer.start_as_current_span(
            statement_span_name(operation),
            kind=trace.SpanKind.CLIENT,
            attributes={**self._attributes, **statement_attributes(operation)},
        ) as span:
            try:
                return await self._cursor.execute(operation, parameters, **kwargs)
            except Exception as error:
                span.set_attribute("error.type", type(error).__qualname__)
                if code := getattr(error, "pgcode", None):
                    span.set_attribute("db.response.status_code", code)
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class TracedConnection:
    """An aiopg connection whose cursors are traced."""

    def __init__(
        self, conn: aiopg.Connection, tracer: trace.Tracer, attributes: dict[str, AttributeValue]
    ) -> None:
        self._conn = conn
        self._tracer = tracer
        self._attributes = attributes

    @asynccontextmanager
    async def cursor(self, *args: Any, **kwargs: Any) -> AsyncIterator[TracedCursor]:
        """A traced cursor, closed on exit."""
        async with self._conn.cursor(*args, **kwargs) as cur:
            yield TracedCursor(cur, self._tracer, self._attributes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class TracedPool:
    """An aiopg pool whose connections are traced; closing it is left to the pool's owner."""

    def __init__(self, pool: aiopg.Pool, tracer: trace.Tracer, dsn: str) -> None:
        self._pool = pool
        self._tracer = tracer
        self._attributes = connection_attributes(dsn)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[TracedConnection]:
        """A traced connection, given back to the pool on exit."""
        async with self._pool.acquire() as conn:
            yield TracedConnection(conn, self._tracer, self._attributes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)
