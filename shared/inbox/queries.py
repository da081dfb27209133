"""SQL statements of the inbox's retention (the dedupe's own claim is in `dedupe.py`)."""

# One bounded batch of the oldest dedupe rows past the window, oldest first (the index on
# processed_at finds them). SKIP LOCKED: replicas of a service pruning at once take
# different rows instead of waiting for each other.
PRUNE_PROCESSED = """
DELETE FROM processed_events
WHERE event_id = ANY(ARRAY(
    SELECT event_id FROM processed_events
    WHERE processed_at < now() - %(older_than)s::interval
    ORDER BY processed_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED))
"""
