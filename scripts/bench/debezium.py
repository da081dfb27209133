"""Debezium on Kafka Connect, beside the relay: a connector of the bench's own per world.

Registered with `infra/connect.sh register` exactly as the project registers it (the
template `infra/debezium/outbox-connector.json`); the tuned variant then updates the
connector's config over Connect's REST API with the settings below added, since the template
has no placeholders for them. `unregister` removes the connector, its offsets, slot and
publication.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import time
import urllib.parse
from types import ModuleType
from typing import Any

from scripts.bench.procs import REPO_ROOT
from shared.settings import CommonSettings
from tests.support.debezium import connector_env
from tests.support.world import World

CONNECT_SH = REPO_ROOT / "infra" / "connect.sh"
REGISTER_PY = REPO_ROOT / "infra" / "debezium" / "register.py"

# Debezium's defaults are poll.interval.ms=500, max.batch.size=2048, max.queue.size=8192.
TUNED: dict[str, str] = {
    "poll.interval.ms": "10",
    "max.batch.size": "8192",
    "max.queue.size": "32768",
}


def _register_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_debezium_register", REGISTER_PY)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {REGISTER_PY}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def connect_sh(command: str, env: dict[str, str]) -> str:
    """`infra/connect.sh <command>`; raise with its error line."""
    done = subprocess.run(["bash", str(CONNECT_SH), command], env=env, capture_output=True,
                          text=True, timeout=240, stdin=subprocess.DEVNULL, check=False,
                          cwd=REPO_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"connect.sh {command}: {done.stderr.strip() or done.stdout}")
    return done.stdout


class Connector:
    """The outbox connector of one bench world."""

    def __init__(self, world: World, settings: CommonSettings, *,
                 outboxes: str = "order") -> None:
        self.name = f"bench-outbox-{world.suffix}".replace("_", "-")
        self.slot = f"bench_outbox_{world.suffix}"
        self.heartbeat_topic = f"__debezium-heartbeat.{self.name}"
        # With the inventory's outbox too (the round trip), its connector's heartbeats.
        self.heartbeat_topics = [self.heartbeat_topic, f"{self.heartbeat_topic}-inventory"]
        self.env = connector_env(world, settings, name=self.name, slot=self.slot,
                                 publication=self.slot, outboxes=outboxes)
        self.registered = False
        self.tuning: dict[str, str] = {}

    async def register(self) -> None:
        """Create the connector with the project's config and wait until it runs."""
        self.registered = True
        await asyncio.to_thread(connect_sh, "register", self.env)
        self.tuning = {}

    async def configure(self, extra: dict[str, str]) -> None:
        """Update the running connector's config with `extra` on top of the template."""
        await asyncio.to_thread(self._configure, extra)
        self.tuning = dict(extra)

    def _configure(self, extra: dict[str, str]) -> None:
        register: Any = _register_module()
        connector = register.render(self.env)
        base = register.connect_url(self.env)
        quoted = urllib.parse.quote(self.name, safe="")
        status, body = register.call("PUT", f"{base}/connectors/{quoted}/config",
                                     {**connector["config"], **extra})
        if status not in (200, 201):
            raise RuntimeError(f"updating connector {self.name}: {status} {body}")
        time.sleep(3)  # the update restarts the task; do not see the old one as running
        register.wait_until_running(base, self.name, 120)

    async def unregister(self) -> None:
        """Delete the connector, its offsets, slot and publication."""
        if self.registered:
            await asyncio.to_thread(connect_sh, "unregister", self.env)
            self.registered = False
