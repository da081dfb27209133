"""The transactional outbox, a building block of every service that publishes events.

- `migrations/`: the `outbox` table, the same in every database that has one;
- `write(cursor, event, traceparent)`: add an event inside the caller's own transaction;
- `records`: an outbox row and the Kafka record it becomes;
- `publishing`: reading the unpublished rows and settling (marking or deleting) published ones;
- `retention.prune`: deleting published rows older than `OUTBOX_RETENTION`, in batches.

One relay publishes any outbox, with either relay mode; see `docs/building-blocks.md`.
"""

from shared.outbox.writing import write

__all__ = ["write"]
