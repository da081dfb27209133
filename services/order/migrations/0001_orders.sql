-- Orders and their lines, as the order service owns them.
CREATE TABLE orders (
    order_id    uuid PRIMARY KEY,
    customer_id text NOT NULL,
    status      text NOT NULL DEFAULT 'placed',
    placed_at   timestamptz NOT NULL
);

CREATE TABLE order_lines (
    order_id uuid NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no  integer NOT NULL,
    sku      text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);

-- A retried POST /orders with the same Idempotency-Key returns the first order.
CREATE TABLE idempotency_keys (
    idempotency_key text PRIMARY KEY,
    request_hash    text NOT NULL,
    order_id        uuid NOT NULL REFERENCES orders (order_id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
