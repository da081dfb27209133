"""The inventory service: reserves stock for each `OrderCreated` exactly once."""
