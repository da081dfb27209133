"""Code shared by the order, relay and inventory services: events, settings, database, Kafka, tracing."""
