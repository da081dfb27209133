-- Orders learn their outcome: statuses beyond `placed`, the reason of a rejection, and when
-- each status was reached. `stock_outcome` is inventory's last answer (reserved, rejected,
-- released), kept also when it arrives while the order is being cancelled.
ALTER TABLE orders
    ADD COLUMN reason text,
    ADD COLUMN stock_outcome text
        CHECK (stock_outcome IN ('reserved', 'rejected', 'released')),
    ADD CONSTRAINT orders_status_check
        CHECK (status IN ('placed', 'confirmed', 'rejected', 'cancelling', 'cancelled'));

-- Each status is reached at most once (the state machine has no cycle).
CREATE TABLE order_status_history (
    order_id   uuid NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    status     text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, status)
);

INSERT INTO order_status_history (order_id, status, changed_at)
SELECT order_id, status, placed_at FROM orders;
