"""Every SQL statement of the order service (the outbox's are in `shared/outbox`)."""

INSERT_ORDER = """
INSERT INTO orders (order_id, customer_id, status, placed_at)
VALUES (%(order_id)s, %(customer_id)s, %(status)s, %(placed_at)s)
"""

INSERT_ORDER_LINE = """
INSERT INTO order_lines (order_id, line_no, sku, quantity)
VALUES (%(order_id)s, %(line_no)s, %(sku)s, %(quantity)s)
"""

INSERT_STATUS_CHANGE = """
INSERT INTO order_status_history (order_id, status, changed_at)
VALUES (%(order_id)s, %(status)s, %(changed_at)s)
"""

# Taken first in the transaction so that two concurrent requests with one key serialise.
CLAIM_IDEMPOTENCY_KEY = "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))"

SELECT_IDEMPOTENCY_KEY = """
SELECT request_hash, order_id FROM idempotency_keys WHERE idempotency_key = %(key)s
"""

INSERT_IDEMPOTENCY_KEY = """
INSERT INTO idempotency_keys (idempotency_key, request_hash, order_id)
VALUES (%(key)s, %(request_hash)s, %(order_id)s)
"""

# Every change of status locks the order first: a cancellation and an answer from inventory
# arriving together are applied one after the other.
LOCK_ORDER = "SELECT status FROM orders WHERE order_id = %(order_id)s FOR UPDATE"

SET_STATUS = """
UPDATE orders SET status = %(status)s, reason = COALESCE(%(reason)s, reason),
                  stock_outcome = COALESCE(%(stock_outcome)s, stock_outcome)
WHERE order_id = %(order_id)s
"""

SELECT_ORDER = """
SELECT order_id, customer_id, status, reason, placed_at FROM orders
WHERE order_id = %(order_id)s
"""

SELECT_ORDER_LINES = """
SELECT sku, quantity FROM order_lines WHERE order_id = %(order_id)s ORDER BY line_no
"""

SELECT_STATUS_HISTORY = """
SELECT status, changed_at FROM order_status_history WHERE order_id = %(order_id)s
ORDER BY changed_at, status
"""
