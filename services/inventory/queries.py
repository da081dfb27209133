"""Every SQL statement of the inventory service."""

# Dedupe, stock check, reservation and stock change of a batch of OrderCreated events in one
# round trip (migration 0002), one transaction: one (status, reason) row per event, in order.
APPLY_ORDER_EVENTS = "SELECT status, reason FROM apply_order_events(%(events)s::jsonb)"

SELECT_RESERVATION = """
SELECT order_id, event_id, status, reason, created_at FROM reservations
WHERE order_id = %(order_id)s
"""

SELECT_RESERVATION_LINES = """
SELECT sku, quantity FROM reservation_lines WHERE order_id = %(order_id)s ORDER BY sku
"""

SELECT_STOCK = "SELECT sku, available FROM stock WHERE sku = %(sku)s"

SET_STOCK = """
INSERT INTO stock (sku, available) VALUES (%(sku)s, %(available)s)
ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available, updated_at = now()
RETURNING sku, available
"""
