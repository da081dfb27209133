"""Creating and deleting topics on the real broker (`shared.kafka`), as tests and benchmarks do."""

from __future__ import annotations

import uuid

from shared.kafka import delete_topics, ensure_topic, kafka_admin
from shared.settings import CommonSettings


async def topics_on(servers: str) -> set[str]:
    async with kafka_admin(servers) as admin:
        return set(await admin.list_topics())


async def test_topics_named_after_a_prefix_are_deleted_and_others_kept(
    common_settings: CommonSettings,
) -> None:
    servers = common_settings.kafka_bootstrap_servers
    prefix = f"order.events.cleanup-{uuid.uuid4().hex[:12]}"
    ours = [prefix, f"{prefix}.dlq", f"{prefix}.relay-checkpoints"]
    neighbour = f"{prefix[:-1]}x"  # shares all but the prefix's last character
    for name in [*ours, neighbour]:
        await ensure_topic(servers, name, partitions=2)
    try:
        deleted = await delete_topics(servers, lambda name: name.startswith(prefix))

        assert deleted == sorted(ours)
        left = await topics_on(servers)
        assert not left & set(ours)
        assert neighbour in left
        # Nothing left to delete: a second call is a no-op.
        assert await delete_topics(servers, lambda name: name.startswith(prefix)) == []
    finally:
        await delete_topics(servers, {*ours, neighbour}.__contains__)
