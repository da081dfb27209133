"""What the inventory service does, independent of Kafka and HTTP.

`apply_event` is the only writer of reservations: one transaction records the event id (the
dedupe) and reserves every line of the order or none of them.
"""

from __future__ import annotations

from collections import Counter
from uuid import UUID

import aiopg

from services.inventory import queries
from services.inventory.models import Outcome, Reservation, ReservedLine, Stock
from shared.db import transaction
from shared.events import OrderCreated, OrderLine

DUPLICATE = Outcome(status="duplicate", reason="event already applied")


async def apply_event(pool: aiopg.Pool, event: OrderCreated) -> Outcome:
    """Apply an `OrderCreated` once: reserve all its lines or none; a repeat changes nothing."""
    async with transaction(pool) as cur:
        await cur.execute(queries.RECORD_EVENT, {
            "event_id": event.event_id, "event_type": event.event_type})
        if await cur.fetchone() is None:
            return DUPLICATE
        return await _reserve(cur, event)


async def _reserve(cur: aiopg.Cursor, event: OrderCreated) -> Outcome:
    order_id = event.payload.order_id
    wanted = _quantities_by_sku(event.payload.items)
    await cur.execute(queries.SAVEPOINT)
    reason = None
    # SKU order: two orders that share SKUs lock them in the same order, so never deadlock.
    for sku, quantity in wanted.items():
        await cur.execute(queries.RESERVE_LINE, {"sku": sku, "quantity": quantity})
        if await cur.fetchone() is None:
            reason = await _why_not(cur, sku, quantity)
            await cur.execute(queries.ROLLBACK_TO_SAVEPOINT)
            break
    status = "rejected" if reason else "reserved"
    await cur.execute(queries.INSERT_RESERVATION, {
        "order_id": order_id, "event_id": event.event_id, "status": status, "reason": reason})
    if await cur.fetchone() is None:
        # Another event already settled this order: give back what this one took.
        await cur.execute(queries.ROLLBACK_TO_SAVEPOINT)
        return Outcome(status="duplicate", reason=f"order {order_id} already has an outcome")
    if reason is None:
        for sku, quantity in wanted.items():
            await cur.execute(queries.INSERT_RESERVATION_LINE, {
                "order_id": order_id, "sku": sku, "quantity": quantity})
    await cur.execute(queries.RELEASE_SAVEPOINT)
    return Outcome(status=status, reason=reason)


def _quantities_by_sku(items: list[OrderLine]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for line in items:
        totals[line.sku] += line.quantity
    return dict(sorted(totals.items()))


async def _why_not(cur: aiopg.Cursor, sku: str, quantity: int) -> str:
    await cur.execute(queries.SELECT_STOCK, {"sku": sku})
    row = await cur.fetchone()
    if row is None:
        return f"unknown sku {sku}"
    return f"not enough stock for {sku}: {row[1]} available, {quantity} wanted"


async def get_stock(pool: aiopg.Pool, sku: str) -> Stock | None:
    """The stock of a SKU, or None when the SKU is unknown."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(queries.SELECT_STOCK, {"sku": sku})
        row = await cur.fetchone()
    return None if row is None else Stock(sku=row[0], available=row[1])


async def set_stock(pool: aiopg.Pool, sku: str, available: int) -> Stock:
    """Set how many units of a SKU are available, creating the SKU if it is new."""
    async with transaction(pool) as cur:
        await cur.execute(queries.SET_STOCK, {"sku": sku, "available": available})
        sku, available = await cur.fetchone()
    return Stock(sku=sku, available=available)


async def get_reservation(pool: aiopg.Pool, order_id: UUID) -> Reservation | None:
    """The outcome for an order, or None while its event has not been applied."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(queries.SELECT_RESERVATION, {"order_id": order_id})
        row = await cur.fetchone()
        if row is None:
            return None
        await cur.execute(queries.SELECT_RESERVATION_LINES, {"order_id": order_id})
        lines = [ReservedLine(sku=sku, quantity=quantity) for sku, quantity in await cur.fetchall()]
    order_id, event_id, status, reason, created_at = row
    return Reservation(order_id=order_id, event_id=event_id, status=status, reason=reason,
                       items=lines, created_at=created_at)
