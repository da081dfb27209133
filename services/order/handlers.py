"""What the order service does, independent of HTTP: place an order, read an order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import aiopg
from opentelemetry import trace

from services.order import queries
from services.order.models import Order, PlaceOrder
from shared.db import transaction
from shared.events import OrderCreated, OrderCreatedPayload, OrderLine
from shared.tracing import INSTRUMENTATION_NAME, current_traceparent


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was used before for a different request body."""


@dataclass(frozen=True)
class Placed:
    """The outcome of `place_order`: the order, and whether it was a replay of an earlier one."""

    order: Order
    replayed: bool


def order_created_event(order: Order) -> OrderCreated:
    """The event that announces a new order."""
    return OrderCreated(
        event_id=uuid.uuid4(),
        aggregate_id=order.order_id,
        occurred_at=order.placed_at,
        payload=OrderCreatedPayload(
            order_id=order.order_id,
            customer_id=order.customer_id,
            items=order.items,
            placed_at=order.placed_at,
        ),
    )


async def place_order(
    pool: aiopg.Pool,
    request: PlaceOrder,
    *,
    idempotency_key: str | None = None,
    traceparent: str | None = None,
    tracer: trace.Tracer | None = None,
) -> Placed:
    """Write the order, its lines and its `OrderCreated` outbox row in one transaction.

    The transaction is the `outbox write` span, and the outbox row stores that span's
    `traceparent` (or the one given), so the event's trace continues from it.
    """
    order = Order(
        order_id=uuid.uuid4(),
        customer_id=request.customer_id,
        status="placed",
        items=request.items,
        placed_at=datetime.now(UTC),
    )
    event = order_created_event(order)
    tracer = tracer or trace.get_tracer(INSTRUMENTATION_NAME)
    with tracer.start_as_current_span("outbox write") as span:
        placed = await _write(
            pool, request, order, event, idempotency_key, traceparent or current_traceparent()
        )
        span.set_attributes(
            {"order.id": str(placed.order.order_id), "order.replayed": placed.replayed}
        )
        if not placed.replayed:  # a replay writes no event
            span.set_attributes({"event.id": str(event.event_id), "event.type": event.event_type})
        return placed


async def _write(
    pool: aiopg.Pool, request: PlaceOrder, order: Order, event: OrderCreated,
    idempotency_key: str | None, traceparent: str | None,
) -> Placed:
    async with transaction(pool) as cur:
        if idempotency_key is not None:
            earlier = await _earlier_order(cur, idempotency_key, request.fingerprint())
            if earlier is not None:
                return Placed(earlier, replayed=True)
        await cur.execute(
            queries.INSERT_ORDER,
            order.model_dump(include={"order_id", "customer_id", "status", "placed_at"}),
        )
        for line_no, line in enumerate(order.items, start=1):
            await cur.execute(
                queries.INSERT_ORDER_LINE,
                {
                    "order_id": order.order_id,
                    "line_no": line_no,
                    "sku": line.sku,
                    "quantity": line.quantity,
                },
            )
        await cur.execute(
            queries.INSERT_OUTBOX,
            {
                "event_id": event.event_id,
                "aggregate_type": event.aggregate_type,
                "aggregate_id": str(event.aggregate_id),
                "event_type": event.event_type,
                "schema_version": event.schema_version,
                "payload": event.model_dump_json(),
                "traceparent": traceparent,
            },
        )
        if idempotency_key is not None:
            await cur.execute(
                queries.INSERT_IDEMPOTENCY_KEY,
                {
                    "key": idempotency_key,
                    "request_hash": request.fingerprint(),
                    "order_id": order.order_id,
                },
            )
    return Placed(order, replayed=False)


async def _earlier_order(cur: aiopg.Cursor, key: str, fingerprint: str) -> Order | None:
    await cur.execute(queries.CLAIM_IDEMPOTENCY_KEY, {"key": key})
    await cur.execute(queries.SELECT_IDEMPOTENCY_KEY, {"key": key})
    row = await cur.fetchone()
    if row is None:
        return None
    request_hash, order_id = row
    if request_hash != fingerprint:
        raise IdempotencyKeyReused(key)
    return await _read_order(cur, order_id)


async def get_order(pool: aiopg.Pool, order_id: UUID) -> Order | None:
    """The order with this id, or None."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        return await _read_order(cur, order_id)


async def _read_order(cur: aiopg.Cursor, order_id: UUID) -> Order | None:
    await cur.execute(queries.SELECT_ORDER, {"order_id": order_id})
    row = await cur.fetchone()
    if row is None:
        return None
    await cur.execute(queries.SELECT_ORDER_LINES, {"order_id": order_id})
    lines = [OrderLine(sku=sku, quantity=quantity) for sku, quantity in await cur.fetchall()]
    order_id, customer_id, status, placed_at = row
    return Order(
        order_id=order_id, customer_id=customer_id, status=status, items=lines, placed_at=placed_at
    )
