-- A batch locks the stock rows of all its events first, in SKU order, before applying any.
--
-- apply_order_created locks each event's lines in SKU order, but a batch holds those locks
-- until it commits: two workers' batches that meet the same SKUs in opposite event order would
-- each hold a row the other waits for, and PostgreSQL would abort one of them (it is then
-- retried, the work done twice). Taking every row the batch will need up front, in one order
-- shared by all batches, leaves no such cycle: the second batch waits for the first.
CREATE OR REPLACE FUNCTION apply_order_events(p_events jsonb)
RETURNS TABLE (status text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    event record;
BEGIN
    PERFORM 1
    FROM stock
    WHERE sku IN (SELECT jsonb_array_elements_text(item -> 'skus')
                  FROM jsonb_array_elements(p_events) AS item)
    ORDER BY sku
    FOR UPDATE;

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
