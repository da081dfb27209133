"""Debezium in tests: Kafka Connect started by the project's script, one connector per test.

Each test's connector reads its own world's outbox through a slot and a publication of its
own and writes to the world's topic; it is removed (slot and publication dropped) afterwards.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from shared.kafka import delete_topics
from shared.settings import CommonSettings
from tests.support.world import World

REPO_ROOT = Path(__file__).resolve().parents[2]
CONNECT_SH = REPO_ROOT / "infra" / "connect.sh"


def connect_sh(command: str, env: dict[str, str] | None = None) -> str:
    """Run `infra/connect.sh <command>`; fail the test with its one-line error."""
    done = subprocess.run(
        ["bash", str(CONNECT_SH), command],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, f"connect.sh {command}: {done.stderr.strip() or done.stdout}"
    return done.stdout


def connector_env(world: World, settings: CommonSettings, *, name: str, slot: str,
                  publication: str) -> dict[str, str]:
    """The environment in which `infra/connect.sh` registers a connector for `world`'s outbox
    and topic, under names of its own (the tests' and the benchmarks' connectors)."""
    return {
        **os.environ,
        "RELAY_MODE": "debezium",
        "ORDER_DB_NAME": world.order_db_name,
        "ORDER_EVENTS_TOPIC": world.order_events_topic,
        "ORDER_EVENTS_PARTITIONS": str(settings.order_events_partitions),
        # What `infra/connect.sh` reads from `.env` for the template (register.py alone
        # reads the environment only).
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
        "DEBEZIUM_CONNECTOR_NAME": name,
        "DEBEZIUM_SLOT_NAME": slot,
        "DEBEZIUM_PUBLICATION_NAME": publication,
    }


class Connector:
    """One test's outbox connector: its names, registered and removed through connect.sh."""

    def __init__(self, world: World, settings: CommonSettings) -> None:
        suffix = world.suffix
        self.name = f"outbox-test-{suffix}"
        self.slot = f"outbox_test_{suffix}"
        self.publication = f"outbox_test_{suffix}"
        self.topic = world.order_events_topic
        # Where Debezium's heartbeats go (they carry the slot position on an idle outbox).
        self.heartbeat_topic = f"__debezium-heartbeat.{self.name}"
        self.env = {
            **connector_env(world, settings, name=self.name, slot=self.slot,
                            publication=self.publication),
            # Confirm slot positions every second, so the tests need not wait long.
            "DEBEZIUM_HEARTBEAT_INTERVAL_MS": "1000",
        }
        self.registered = False

    def register(self) -> None:
        """Create the connector and wait until it runs."""
        self.registered = True
        connect_sh("register", self.env)

    def unregister(self) -> None:
        """Delete the connector, its offsets, slot and publication."""
        connect_sh("unregister", self.env)


@asynccontextmanager
async def connector_for(world: World) -> AsyncIterator[Connector]:
    """Connect running, and a connector for `world` that is removed on the way out."""
    settings = CommonSettings()
    connect_sh("start")
    handle = Connector(world, settings)
    try:
        yield handle
    finally:
        if handle.registered:
            handle.unregister()
            await delete_topics(settings.kafka_bootstrap_servers,
                                {handle.heartbeat_topic}.__contains__)


@asynccontextmanager
async def registered_connector(world: World) -> AsyncIterator[Connector]:
    """`connector_for(world)`, registered: Debezium relays the world's outbox meanwhile."""
    async with connector_for(world) as handle:
        handle.register()
        yield handle
