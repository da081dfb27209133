"""The databases, topics and data directory one test (or one benchmark) owns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class World:
    """Names of one test's own databases and topics, as settings overrides."""

    suffix: str
    order_db_name: str
    inventory_db_name: str
    order_events_topic: str
    inventory_events_topic: str
    data_dir: str

    def overrides(self) -> dict[str, str]:
        """Keyword arguments for any service's settings class."""
        return {
            "order_db_name": self.order_db_name,
            "inventory_db_name": self.inventory_db_name,
            "order_events_topic": self.order_events_topic,
            "inventory_events_topic": self.inventory_events_topic,
            "data_dir": self.data_dir,
        }

    def env(self) -> dict[str, str]:
        """The same, as environment variables for a service process."""
        return {name.upper(): value for name, value in self.overrides().items()}
