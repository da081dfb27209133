"""Every SQL statement of the inventory service."""

# The rows an order needs, locked in SKU order, so that two transactions sharing SKUs wait
# for each other rather than deadlock.
LOCK_STOCK = """
SELECT sku, available FROM stock WHERE sku = ANY(%(skus)s) ORDER BY sku FOR UPDATE
"""

# An order has one outcome: nothing comes back if it has one already.
INSERT_RESERVATION = """
INSERT INTO reservations (order_id, event_id, status, reason)
VALUES (%(order_id)s, %(event_id)s, %(status)s, %(reason)s)
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id
"""

# skus and quantities are the order's lines, one entry per SKU, all of which fit.
TAKE_STOCK = """
WITH wanted AS (
    SELECT * FROM unnest(%(skus)s::text[], %(quantities)s::integer[]) AS w (sku, quantity)
), taken AS (
    UPDATE stock SET available = stock.available - wanted.quantity, updated_at = now()
    FROM wanted WHERE stock.sku = wanted.sku
)
INSERT INTO reservation_lines (order_id, sku, quantity)
SELECT %(order_id)s, sku, quantity FROM wanted
"""

LOCK_RESERVATION = """
SELECT status FROM reservations WHERE order_id = %(order_id)s FOR UPDATE
"""

# Locks the order's stock rows in SKU order, as LOCK_STOCK does, before giving them back.
LOCK_RESERVED_STOCK = """
SELECT stock.sku FROM stock JOIN reservation_lines USING (sku)
WHERE reservation_lines.order_id = %(order_id)s
ORDER BY stock.sku FOR UPDATE OF stock
"""

GIVE_BACK_STOCK = """
WITH returned AS (
    UPDATE stock SET available = stock.available + lines.quantity, updated_at = now()
    FROM reservation_lines AS lines
    WHERE lines.order_id = %(order_id)s AND stock.sku = lines.sku
    RETURNING lines.sku, lines.quantity
), released AS (
    UPDATE reservations SET status = 'released', released_at = now()
    WHERE order_id = %(order_id)s
)
SELECT sku, quantity FROM returned ORDER BY sku
"""

INSERT_RELEASED = """
INSERT INTO reservations (order_id, event_id, status, reason, released_at)
VALUES (%(order_id)s, %(event_id)s, 'released', 'cancelled before its stock was reserved',
        now())
"""

SELECT_RESERVATION = """
SELECT order_id, event_id, status, reason, created_at, released_at FROM reservations
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
