-- Cancellations give stock back: a reservation is `released` once its order is cancelled
-- (its lines are kept, as what was held and returned). A cancellation that arrives before
-- any reservation records the order `released` with nothing held, so that a late
-- OrderCreated reserves nothing for it.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations
    ADD CONSTRAINT reservations_status_check
        CHECK (status IN ('reserved', 'rejected', 'released')),
    ADD COLUMN released_at timestamptz;

-- The batch functions of 0002 and 0003 did the dedupe themselves; the inbox does it now
-- (shared/inbox), and each handler writes its outcome event to the outbox.
DROP FUNCTION apply_order_events(jsonb);
DROP FUNCTION apply_order_created(uuid, text, uuid, text[], integer[]);
