"""Every SQL statement of the order service."""

INSERT_ORDER = """
INSERT INTO orders (order_id, customer_id, status, placed_at)
VALUES (%(order_id)s, %(customer_id)s, %(status)s, %(placed_at)s)
"""

INSERT_ORDER_LINE = """
INSERT INTO order_lines (order_id, line_no, sku, quantity)
VALUES (%(order_id)s, %(line_no)s, %(sku)s, %(quantity)s)
"""

INSERT_OUTBOX = """
INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, schema_version,
                    payload, traceparent)
VALUES (%(event_id)s, %(aggregate_type)s, %(aggregate_id)s, %(event_type)s, %(schema_version)s,
        %(payload)s::jsonb, %(traceparent)s)
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

SELECT_ORDER = """
SELECT order_id, customer_id, status, placed_at FROM orders WHERE order_id = %(order_id)s
"""

SELECT_ORDER_LINES = """
SELECT sku, quantity FROM order_lines WHERE order_id = %(order_id)s ORDER BY line_no
"""
