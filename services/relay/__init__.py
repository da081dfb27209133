"""The relay: publishes committed outbox rows to Kafka exactly once, one transaction a batch."""
