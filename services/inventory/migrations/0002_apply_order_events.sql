-- Applying OrderCreated events in the database: a batch of them is one statement, one round
-- trip, and the caller's one transaction (nothing here commits).

-- One event: the dedupe, the stock check, the reservation and the stock change. skus and
-- quantities are the order's lines, one entry per SKU (the caller adds up repeated SKUs).
-- Returns one row: status 'reserved', 'rejected' (reason says why) or 'duplicate'.
CREATE FUNCTION apply_order_created(
    p_event_id   uuid,
    p_event_type text,
    p_order_id   uuid,
    p_skus       text[],
    p_quantities integer[]
) RETURNS TABLE (status text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    line record;
    have integer;
    verdict text := 'reserved';
    why text;
BEGIN
    -- Dedupe: the first transaction to record the event id applies it. A concurrent
    -- duplicate waits here until the first commits (then finds it taken) or rolls back.
    INSERT INTO processed_events (event_id, event_type)
    VALUES (p_event_id, p_event_type)
    ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'duplicate', 'event already applied';
        RETURN;
    END IF;

    -- Lock and check the lines in SKU order (two orders sharing SKUs never deadlock), and
    -- change nothing before every line has passed: all lines are reserved, or none. One
    -- primary-key lookup per line, whatever the table's size or its dead row versions.
    FOR line IN
        SELECT wanted.sku, wanted.quantity
        FROM unnest(p_skus, p_quantities) AS wanted (sku, quantity)
        ORDER BY wanted.sku
    LOOP
        SELECT available INTO have FROM stock WHERE sku = line.sku FOR UPDATE;
        IF NOT FOUND THEN
            verdict := 'rejected';
            why := format('unknown sku %s', line.sku);
            EXIT;
        ELSIF have < line.quantity THEN
            verdict := 'rejected';
            why := format('not enough stock for %s: %s available, %s wanted',
                          line.sku, have, line.quantity);
            EXIT;
        END IF;
    END LOOP;

    -- An order has one outcome: a second event for the same order finds it taken, and
    -- changes nothing more.
    INSERT INTO reservations (order_id, event_id, status, reason)
    VALUES (p_order_id, p_event_id, verdict, why)
    ON CONFLICT (order_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'duplicate', format('order %s already has an outcome', p_order_id);
        RETURN;
    END IF;

    IF verdict = 'reserved' THEN
        FOR line IN
            SELECT wanted.sku, wanted.quantity
            FROM unnest(p_skus, p_quantities) AS wanted (sku, quantity)
        LOOP
            UPDATE stock SET available = available - line.quantity, updated_at = now()
            WHERE sku = line.sku;
            INSERT INTO reservation_lines (order_id, sku, quantity)
            VALUES (p_order_id, line.sku, line.quantity);
        END LOOP;
    END IF;
    RETURN QUERY SELECT verdict, why;
END
$$;

-- A batch: p_events is a JSON array of objects with the arguments above as keys (event_id,
-- event_type, order_id, skus, quantities). They are applied in the array's order, which is
-- the order they were read from Kafka; one (status, reason) row per event, in that order.
CREATE FUNCTION apply_order_events(p_events jsonb)
RETURNS TABLE (status text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    event record;
BEGIN
    FOR event IN
        SELECT args.*
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS item (value, position),
             jsonb_to_record(item.value) AS args (
                 event_id uuid, event_type text, order_id uuid, skus text[], quantities integer[])
        ORDER BY item.position
    LOOP
        RETURN QUERY SELECT * FROM apply_order_created(
            event.event_id, event.event_type, event.order_id, event.skus, event.quantities);
    END LOOP;
END
$$;
