"""PostgreSQL statements as CLIENT spans: named by operation and table, never with parameters."""

from __future__ import annotations

from typing import Any, cast

import aiopg
import psycopg2
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.inventory import queries as inventory_queries
from services.order import queries as order_queries
from shared.db_tracing import (
    TracedCursor,
    connection_attributes,
    operation_and_table,
    statement_span_name,
)
from shared.outbox import queries as outbox_queries
from shared.tracing import configure_tracing


@pytest.mark.parametrize(("statement", "name"), [
    (order_queries.INSERT_ORDER, "INSERT orders"),
    (outbox_queries.INSERT, "INSERT outbox"),
    (order_queries.SELECT_ORDER_LINES, "SELECT order_lines"),
    (order_queries.CLAIM_IDEMPOTENCY_KEY, "SELECT"),
    (inventory_queries.LOCK_STOCK, "SELECT stock"),
    (inventory_queries.SET_STOCK, "INSERT stock"),
    ("UPDATE stock SET available = 1", "UPDATE stock"),
    ("SAVEPOINT reserve_lines", "SAVEPOINT"),
    ("delete from outbox where id = 1", "DELETE outbox"),
    ("SELECT 1", "SELECT"),
    ("   ", "postgresql"),
])
def test_a_statement_is_named_by_its_operation_and_table(statement: str, name: str) -> None:
    assert statement_span_name(statement) == name


def test_operation_and_table() -> None:
    assert operation_and_table("UPDATE ONLY stock SET x = 1") == ("UPDATE", "stock")
    assert operation_and_table("") == (None, None)


def test_the_database_is_named_but_the_password_never_appears() -> None:
    attributes = connection_attributes(
        "host=127.0.0.1 port=55432 dbname=orders user=outbox password=s3cret")
    assert attributes == {
        "db.system.name": "postgresql", "db.system": "postgresql", "db.namespace": "orders",
        "server.address": "127.0.0.1", "server.port": 55432}


class FakeCursor:
    """Stands in for an aiopg cursor: remembers statements, fails when told to."""

    def __init__(self, error: Exception | None = None) -> None:
        self.executed: list[tuple[str, Any]] = []
        self.error = error
        self.rowcount = 1

    async def execute(self, operation: str, parameters: Any = None) -> None:
        self.executed.append((operation, parameters))
        if self.error is not None:
            raise self.error


async def test_each_statement_is_a_client_span_with_its_text_but_not_its_parameters() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing("inventory-service", exporter=exporter).get_tracer("t")
    raw = FakeCursor()
    cursor = TracedCursor(cast(aiopg.Cursor, raw), tracer, {"db.system": "postgresql"})

    await cursor.execute(inventory_queries.SET_STOCK, {"sku": "SECRET-SKU", "available": 2})

    assert raw.executed == [(inventory_queries.SET_STOCK, {"sku": "SECRET-SKU", "available": 2})]
    assert cursor.rowcount == 1  # everything else is the cursor's
    [span] = exporter.get_finished_spans()
    assert (span.name, span.kind) == ("INSERT stock", SpanKind.CLIENT)
    assert dict(span.attributes or {}) == {
        "db.system": "postgresql", "db.query.text": inventory_queries.SET_STOCK.strip(),
        "db.operation.name": "INSERT", "db.collection.name": "stock"}
    assert "SECRET-SKU" not in str(span.to_json())


async def test_a_failed_statement_marks_its_span_with_the_error() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing("order-service", exporter=exporter).get_tracer("t")
    failing = FakeCursor(psycopg2.errors.UndefinedTable("no outbox_missing"))
    cursor = TracedCursor(cast(aiopg.Cursor, failing), tracer, {})

    with pytest.raises(psycopg2.errors.UndefinedTable):
        await cursor.execute("INSERT INTO outbox_missing VALUES (1)")

    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "UndefinedTable"
