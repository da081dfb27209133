"""What the order service does, independent of HTTP and Kafka.

Commands (`place_order`, `cancel_order`) write the order and its event to the outbox in one
transaction. Inventory's answers move the order through its statuses; their handlers run in
the inbox's transaction (`shared/inbox`), after it recorded the event's id, and `HANDLERS`
says which applies which event type:

    placed ──StockReserved──► confirmed          placed ──StockRejected──► rejected
    placed, confirmed ──cancel──► cancelling ──StockReleased──► cancelled
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import aiopg
from opentelemetry import trace

from services.order import queries
from services.order.models import Order, OrderStatus, PlaceOrder, StatusChange
from shared import outbox
from shared.db import transaction
from shared.events import (
    OrderCancelled,
    OrderCancelledPayload,
    OrderCreated,
    OrderCreatedPayload,
    OrderLine,
    StockRejected,
    StockReleased,
    StockReserved,
)
from shared.inbox.registry import Registry
from shared.tracing import INSTRUMENTATION_NAME, current_traceparent

logger = logging.getLogger(__name__)

CANCELLABLE: frozenset[OrderStatus] = frozenset({"placed", "confirmed"})

# (status now, inventory's answer) -> the next status; an answer that arrives while the
# order is being cancelled is recorded, and the order stays `cancelling`.
NEXT_STATUS: dict[tuple[str, str], OrderStatus] = {
    ("placed", "reserved"): "confirmed",
    ("placed", "rejected"): "rejected",
    ("cancelling", "reserved"): "cancelling",
    ("cancelling", "rejected"): "cancelling",
    ("cancelling", "released"): "cancelled",
}


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was used before for a different request body."""


class OrderRejected(Exception):
    """A rejected order cannot be cancelled: inventory holds nothing for it."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason or "rejected")
        self.reason = reason


@dataclass(frozen=True)
class Placed:
    """The outcome of `place_order`: the order, and whether it was a replay of an earlier one."""

    order: Order
    replayed: bool


@dataclass(frozen=True)
class Cancelling:
    """The outcome of `cancel_order`: the order, and whether this request started the cancel."""

    order: Order
    started: bool


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
    placed_at = datetime.now(UTC)
    order = Order(
        order_id=uuid.uuid4(),
        customer_id=request.customer_id,
        status="placed",
        items=request.items,
        placed_at=placed_at,
        status_history=[StatusChange(status="placed", at=placed_at)],
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
        await _record_status(cur, order.order_id, "placed", order.placed_at)
        await outbox.write(cur, event, traceparent)
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


async def cancel_order(
    pool: aiopg.Pool, order_id: UUID, *, tracer: trace.Tracer | None = None
) -> Cancelling | None:
    """Start cancelling an order: `cancelling`, and `OrderCancelled` to the outbox, at once.

    An order being cancelled, or cancelled, is returned as it is, and nothing is written; a
    rejected one raises `OrderRejected`; an unknown one gives None.
    """
    tracer = tracer or trace.get_tracer(INSTRUMENTATION_NAME)
    with tracer.start_as_current_span("outbox write", attributes={"order.id": str(order_id)}):
        async with transaction(pool) as cur:
            await cur.execute(queries.LOCK_ORDER, {"order_id": order_id})
            row = await cur.fetchone()
            if row is None:
                return None
            status = row[0]
            started = status in CANCELLABLE
            if status == "rejected":
                order = await _read_order(cur, order_id)
                raise OrderRejected(order.reason if order is not None else None)
            if started:
                now = datetime.now(UTC)
                await _set_status(cur, order_id, "cancelling", now)
                event = OrderCancelled(
                    event_id=uuid.uuid4(), aggregate_id=order_id, occurred_at=now,
                    payload=OrderCancelledPayload(order_id=order_id, cancelled_at=now))
                await outbox.write(cur, event, current_traceparent())
                trace.get_current_span().set_attributes(
                    {"event.id": str(event.event_id), "event.type": event.event_type})
            order = await _read_order(cur, order_id)
    assert order is not None  # locked above
    return Cancelling(order, started)


async def stock_reserved(cur: aiopg.Cursor, event: StockReserved) -> None:
    """Inventory holds the order's stock: `placed` -> `confirmed`."""
    await _answer(cur, event.payload.order_id, "reserved", None)


async def stock_rejected(cur: aiopg.Cursor, event: StockRejected) -> None:
    """Inventory could not hold the order's stock: `placed` -> `rejected`, with the reason."""
    await _answer(cur, event.payload.order_id, "rejected", event.payload.reason)


async def stock_released(cur: aiopg.Cursor, event: StockReleased) -> None:
    """Inventory gave the order's stock back: `cancelling` -> `cancelled`."""
    await _answer(cur, event.payload.order_id, "released", None)


# The one place that says which event types the order service applies. Another type on the
# topic is skipped (`shared/inbox/reader.py`).
HANDLERS = Registry({
    StockReserved: stock_reserved,
    StockRejected: stock_rejected,
    StockReleased: stock_released,
})


async def _answer(cur: aiopg.Cursor, order_id: UUID, stock_outcome: str,
                  reason: str | None) -> None:
    await cur.execute(queries.LOCK_ORDER, {"order_id": order_id})
    row = await cur.fetchone()
    if row is None:
        logger.warning("inventory answered %s for order %s, which is not ours", stock_outcome,
                       order_id)
        return
    status = row[0]
    next_status = NEXT_STATUS.get((status, stock_outcome))
    span = trace.get_current_span()
    if next_status is None:
        logger.warning("order %s is %s: inventory's answer %s changes nothing", order_id,
                       status, stock_outcome)
        span.set_attribute("order.status", status)
        return
    await cur.execute(queries.SET_STATUS, {"order_id": order_id, "status": next_status,
                                           "reason": reason, "stock_outcome": stock_outcome})
    if next_status != status:
        await _record_status(cur, order_id, next_status, datetime.now(UTC))
    span.set_attributes({"order.id": str(order_id), "order.status": next_status})


async def _set_status(cur: aiopg.Cursor, order_id: UUID, status: OrderStatus,
                      at: datetime) -> None:
    await cur.execute(queries.SET_STATUS, {"order_id": order_id, "status": status,
                                           "reason": None, "stock_outcome": None})
    await _record_status(cur, order_id, status, at)


async def _record_status(cur: aiopg.Cursor, order_id: UUID, status: OrderStatus,
                         at: datetime) -> None:
    await cur.execute(queries.INSERT_STATUS_CHANGE,
                      {"order_id": order_id, "status": status, "changed_at": at})


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
    await cur.execute(queries.SELECT_STATUS_HISTORY, {"order_id": order_id})
    history = [StatusChange(status=status, at=at) for status, at in await cur.fetchall()]
    order_id, customer_id, status, reason, placed_at = row
    return Order(
        order_id=order_id, customer_id=customer_id, status=status,
        reason=reason if status == "rejected" else None,
        items=lines, placed_at=placed_at, status_history=history,
    )
