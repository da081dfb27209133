"""The topics a service reads and writes, created at start if missing."""

from __future__ import annotations

from typing import Any

from mode import Service

from shared.kafka import ensure_topic


class EnsureTopics(Service):
    """Creates each topic that does not exist yet, so the service may start before the relay.

    Without it the consumer could subscribe to a topic nobody created, and a broker that
    creates topics on first use would make it with its default partition count.
    """

    def __init__(self, bootstrap_servers: str, partitions_by_topic: dict[str, int],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bootstrap_servers = bootstrap_servers
        self.partitions_by_topic = partitions_by_topic

    async def on_start(self) -> None:
        for topic, partitions in self.partitions_by_topic.items():
            await ensure_topic(self.bootstrap_servers, topic, partitions=partitions)
