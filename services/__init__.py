"""The order, relay and inventory services."""
