"""What the inventory service does, independent of Kafka and HTTP.

`apply_events` is the only writer of reservations. A batch of events is one statement (the
function `apply_order_events` of migration 0002), and so one transaction: each event's id is
recorded (the dedupe) with every line of its order reserved, or none of them; one commit makes
the whole batch durable, or none of it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

import aiopg

from services.inventory import queries
from services.inventory.models import Outcome, Reservation, ReservedLine, Stock
from shared.db import transaction
from shared.events import OrderCreated, OrderLine


async def apply_events(pool: aiopg.Pool, events: Sequence[OrderCreated]) -> list[Outcome]:
    """Apply `OrderCreated` events in order, in one transaction; one outcome per event.

    Each reserves all its lines or none; a repeat of an applied event changes nothing. Any
    error rolls the whole batch back: nothing of it is applied, so it can simply be retried.
    """
    if not events:
        return []
    batch = json.dumps([_arguments(event) for event in events])
    # One autocommitted statement is a transaction of its own: the whole batch in one round
    # trip, without BEGIN and COMMIT round trips around it.
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(queries.APPLY_ORDER_EVENTS, {"events": batch})
        rows = await cur.fetchall()
    if len(rows) != len(events):
        raise RuntimeError(f"{len(events)} events applied, {len(rows)} outcomes returned")
    return [Outcome(status=status, reason=reason) for status, reason in rows]


async def apply_event(pool: aiopg.Pool, event: OrderCreated) -> Outcome:
    """Apply one `OrderCreated` in a transaction of its own."""
    [outcome] = await apply_events(pool, [event])
    return outcome


def _arguments(event: OrderCreated) -> dict[str, object]:
    wanted = _quantities_by_sku(event.payload.items)
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "order_id": str(event.payload.order_id),
        "skus": list(wanted),
        "quantities": list(wanted.values()),
    }


def _quantities_by_sku(items: list[OrderLine]) -> dict[str, int]:
    # Lines of one SKU added up; the database function locks them in SKU order itself.
    totals: dict[str, int] = {}
    for line in items:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return totals


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
