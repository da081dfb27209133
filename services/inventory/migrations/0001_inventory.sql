-- Stock per SKU; the CHECK is the last line of defence against overselling.
CREATE TABLE stock (
    sku        text PRIMARY KEY,
    available  integer NOT NULL CHECK (available >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Dedupe: an event id is recorded in the same transaction as the stock change it caused.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- The outcome of each order: every line reserved, or none.
CREATE TABLE reservations (
    order_id   uuid PRIMARY KEY,
    event_id   uuid NOT NULL REFERENCES processed_events (event_id),
    status     text NOT NULL CHECK (status IN ('reserved', 'rejected')),
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservation_lines (
    order_id uuid NOT NULL REFERENCES reservations (order_id),
    sku      text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);
