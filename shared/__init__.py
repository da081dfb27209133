"""Code shared by the services: events, settings, database, Kafka, tracing, logging."""
