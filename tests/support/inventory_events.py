"""Inventory's answers for tests, built from the real models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.events import (
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


def _envelope(order_id: uuid.UUID) -> dict[str, object]:
    return {"event_id": uuid.uuid4(), "aggregate_id": order_id, "occurred_at": datetime.now(UTC)}


def stock_reserved(order_id: uuid.UUID, sku: str = "SKU-1", quantity: int = 1) -> StockReserved:
    """Inventory holds the order's one line."""
    return StockReserved(**_envelope(order_id), payload=StockReservedPayload(
        order_id=order_id, items=[OrderLine(sku=sku, quantity=quantity)]))


def stock_rejected(order_id: uuid.UUID, sku: str = "SKU-1", quantity: int = 1) -> StockRejected:
    """Inventory could not hold the order's one line."""
    reason = f"not enough stock for {sku}: 0 available, {quantity} wanted"
    return StockRejected(**_envelope(order_id), payload=StockRejectedPayload(
        order_id=order_id, reason=reason,
        lines=[UnfitLine(sku=sku, quantity=quantity, reason=reason)]))


def stock_released(order_id: uuid.UUID, sku: str = "SKU-1", quantity: int = 1) -> StockReleased:
    """Inventory gave the order's line back."""
    return StockReleased(**_envelope(order_id), payload=StockReleasedPayload(
        order_id=order_id, items=[ReleasedLine(sku=sku, quantity=quantity)]))
