"""The order service: accepts orders over HTTP and writes each with its event to the outbox."""
