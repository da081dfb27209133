"""Every SQL statement of the inventory service."""

# Dedupe: the first transaction to record an event id applies it; the others find it taken.
# A concurrent duplicate waits here until the first commits (then gets no row) or rolls back.
RECORD_EVENT = """
INSERT INTO processed_events (event_id, event_type)
VALUES (%(event_id)s, %(event_type)s)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

# Lines are reserved inside a savepoint so a later line that fails undoes the earlier ones.
SAVEPOINT = "SAVEPOINT reserve_lines"
ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT reserve_lines"
RELEASE_SAVEPOINT = "RELEASE SAVEPOINT reserve_lines"

# Takes the row lock and checks the stock in one statement: no row means unknown or too few.
RESERVE_LINE = """
UPDATE stock SET available = available - %(quantity)s, updated_at = now()
WHERE sku = %(sku)s AND available >= %(quantity)s
RETURNING available
"""

# An order has one outcome; a second event for the same order finds it taken.
INSERT_RESERVATION = """
INSERT INTO reservations (order_id, event_id, status, reason)
VALUES (%(order_id)s, %(event_id)s, %(status)s, %(reason)s)
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id
"""

INSERT_RESERVATION_LINE = """
INSERT INTO reservation_lines (order_id, sku, quantity)
VALUES (%(order_id)s, %(sku)s, %(quantity)s)
"""

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
