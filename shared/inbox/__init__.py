"""The idempotent reader (inbox), a building block of every service that consumes events.

- `migrations/`: the `processed_events` dedupe table;
- `dedupe.claim(cursor, event)`: record an event id inside the caller's transaction;
- `registry.Registry`: the handler of each event type, registered in one place;
- `reader.Reader`: a batch of records applied in one transaction, each once; unknown event
  types skipped, invalid records dead-lettered;
- `agent`, `transport`, `wiring`: the Faust agent, the read_committed consumer, and
  `read_topic`, which puts them together in a service's app.

See `docs/building-blocks.md`.
"""
