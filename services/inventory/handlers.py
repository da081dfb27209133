"""What the inventory service does, independent of Kafka and HTTP.

The event handlers run inside the inbox's transaction (`shared/inbox`), after it recorded the
event's id: each changes the stock and writes its answer to the inventory's own outbox in
that one transaction, so a stock change and its outcome event commit together or not at all.
`HANDLERS` says which handler applies which event type.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import aiopg

from services.inventory import queries
from services.inventory.models import Reservation, ReservedLine, Stock
from shared import outbox
from shared.db import transaction
from shared.events import (
    Envelope,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    ReleasedLine,
    StockRejected,
    StockRejectedPayload,
    StockReleased,
    StockReleasedPayload,
    StockReserved,
    StockReservedPayload,
    UnfitLine,
)
from shared.inbox.registry import Registry
from shared.tracing import current_traceparent

logger = logging.getLogger(__name__)


async def reserve_stock(cur: aiopg.Cursor, event: OrderCreated) -> None:
    """Reserve every line of a new order or none; answer `StockReserved` or `StockRejected`.

    A second `OrderCreated` for an order that has an outcome already changes nothing.
    """
    order_id = event.payload.order_id
    wanted = _quantities_by_sku(event.payload.items)
    await cur.execute(queries.LOCK_STOCK, {"skus": sorted(wanted)})
    have = {sku: available for sku, available in await cur.fetchall()}
    unfit = [UnfitLine(sku=sku, quantity=quantity, reason=_why_unfit(sku, quantity, have))
             for sku, quantity in sorted(wanted.items())
             if have.get(sku, 0) < quantity]
    reason = "; ".join(line.reason for line in unfit) or None
    await cur.execute(queries.INSERT_RESERVATION, {
        "order_id": order_id, "event_id": event.event_id,
        "status": "rejected" if unfit else "reserved", "reason": reason,
    })
    if await cur.fetchone() is None:
        logger.info("order %s already has an outcome; event %s changes nothing",
                    order_id, event.event_id)
        return
    answer: Envelope
    if unfit:
        logger.info("order %s rejected: %s", order_id, reason)
        answer = StockRejected(**_envelope(order_id), payload=StockRejectedPayload(
            order_id=order_id, reason=reason or "", lines=unfit))
    else:
        await cur.execute(queries.TAKE_STOCK, {
            "order_id": order_id, "skus": list(wanted), "quantities": list(wanted.values())})
        answer = StockReserved(**_envelope(order_id), payload=StockReservedPayload(
            order_id=order_id, items=event.payload.items))
    await outbox.write(cur, answer, current_traceparent())


async def release_stock(cur: aiopg.Cursor, event: OrderCancelled) -> None:
    """Give back what a cancelled order had reserved (nothing if rejected); `StockReleased`."""
    order_id = event.payload.order_id
    await cur.execute(queries.LOCK_RESERVATION, {"order_id": order_id})
    row = await cur.fetchone()
    returned: list[ReleasedLine] = []
    if row is None:
        # Its OrderCreated was never applied (dead-lettered, say): nothing is held, and
        # none ever will be.
        await cur.execute(queries.INSERT_RELEASED,
                          {"order_id": order_id, "event_id": event.event_id})
    elif row[0] == "released":
        logger.info("order %s was released already; event %s changes nothing",
                    order_id, event.event_id)
        return
    elif row[0] == "reserved":
        await cur.execute(queries.LOCK_RESERVED_STOCK, {"order_id": order_id})
        await cur.execute(queries.GIVE_BACK_STOCK, {"order_id": order_id})
        returned = [ReleasedLine(sku=sku, quantity=quantity)
                    for sku, quantity in await cur.fetchall()]
    answer = StockReleased(**_envelope(order_id), payload=StockReleasedPayload(
        order_id=order_id, items=returned))
    await outbox.write(cur, answer, current_traceparent())


# The one place that says which event types the inventory applies. Another type on the
# topic is skipped (`shared/inbox/reader.py`).
HANDLERS = Registry({
    OrderCreated: reserve_stock,
    OrderCancelled: release_stock,
})


def _envelope(order_id: UUID) -> dict[str, object]:
    return {"event_id": uuid.uuid4(), "aggregate_id": order_id,
            "occurred_at": datetime.now(UTC)}


def _why_unfit(sku: str, quantity: int, have: dict[str, int]) -> str:
    if sku not in have:
        return f"unknown sku {sku}"
    return f"not enough stock for {sku}: {have[sku]} available, {quantity} wanted"


def _quantities_by_sku(items: Sequence[OrderLine]) -> dict[str, int]:
    # Lines of one SKU added up, in SKU order.
    totals: dict[str, int] = {}
    for line in sorted(items, key=lambda line: line.sku):
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
    order_id, event_id, status, reason, created_at, released_at = row
    return Reservation(order_id=order_id, event_id=event_id, status=status, reason=reason,
                       items=lines, created_at=created_at, released_at=released_at)
