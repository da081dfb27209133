"""Debezium in tests: Kafka Connect started by the project's script, connectors per test.

Each test's connectors (one per outbox: the order database's, the inventory's) read their
world's outboxes through slots and publications of their own and write to the world's
topics; they are removed (slots and publications dropped) afterwards.
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


def connect_url() -> str:
    """The Connect REST API the project's script started: CONNECT_URL, else its CONNECT_PORT on
    this machine (the generated project's suite runs Connect on a port of its own)."""
    return os.environ.get("CONNECT_URL") or (
        f"http://127.0.0.1:{os.environ.get('CONNECT_PORT', '8083')}")


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
                  publication: str, outboxes: str = "order,inventory") -> dict[str, str]:
    """The environment in which `infra/connect.sh` registers connectors for `world`'s outboxes
    and topics, under names of their own (the tests' and the benchmarks' connectors): `name`,
    `slot` and `publication` for the order outbox, the same with `-inventory` (`_inventory`)
    for the inventory's."""
    return {
        **os.environ,
        "RELAY_MODE": "debezium",
        "DEBEZIUM_OUTBOXES": outboxes,
        "ORDER_DB_NAME": world.order_db_name,
        "ORDER_EVENTS_TOPIC": world.order_events_topic,
        "ORDER_EVENTS_PARTITIONS": str(settings.order_events_partitions),
        "INVENTORY_DB_NAME": world.inventory_db_name,
        "INVENTORY_EVENTS_TOPIC": world.inventory_events_topic,
        "INVENTORY_EVENTS_PARTITIONS": str(settings.inventory_events_partitions),
        # What `infra/connect.sh` reads from `.env` for the template (register.py alone
        # reads the environment only).
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
        "DEBEZIUM_CONNECTOR_NAME": name,
        "DEBEZIUM_SLOT_NAME": slot,
        "DEBEZIUM_PUBLICATION_NAME": publication,
        "DEBEZIUM_INVENTORY_CONNECTOR_NAME": f"{name}-inventory",
        "DEBEZIUM_INVENTORY_SLOT_NAME": f"{slot}_inventory",
        "DEBEZIUM_INVENTORY_PUBLICATION_NAME": f"{publication}_inventory",
    }


class Connector:
    """One test's outbox connectors: their names, registered and removed through connect.sh.

    `name`, `slot`, `publication` and `topic` are the order outbox's connector's.
    """

    def __init__(self, world: World, settings: CommonSettings) -> None:
        suffix = world.suffix
        self.name = f"outbox-test-{suffix}"
        self.slot = f"outbox_test_{suffix}"
        self.publication = f"outbox_test_{suffix}"
        self.topic = world.order_events_topic
        # Where Debezium's heartbeats go (they carry the slot position on an idle outbox).
        self.heartbeat_topic = f"__debezium-heartbeat.{self.name}"
        self.heartbeat_topics = {self.heartbeat_topic,
                                 f"__debezium-heartbeat.{self.name}-inventory"}
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
                                handle.heartbeat_topics.__contains__)


@asynccontextmanager
async def registered_connector(world: World) -> AsyncIterator[Connector]:
    """`connector_for(world)`, registered: Debezium relays the world's outbox meanwhile."""
    async with connector_for(world) as handle:
        handle.register()
        yield handle
