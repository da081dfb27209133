"""A worker killed after applying events but before committing their offsets.

Kafka then delivers those events again to the next worker; the dedupe table makes the
second delivery change nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiopg
from aiokafka.structs import RecordMetadata

from services.inventory.app import create_app
from services.inventory.handlers import set_stock
from tests.conftest import World
from tests.support.faust_apps import running_app, wait_until
from tests.support.inventory import (
    available,
    committed_offsets,
    count,
    inventory_settings,
    settings_env,
)
from tests.support.order_events import order_created, publish, relay_producer

REPO_ROOT = Path(__file__).resolve().parents[2]
BEFORE_CRASH = 20
AFTER_CRASH = 5


def next_offsets(sent: list[RecordMetadata]) -> dict[int, int]:
    """Per partition, the offset after the last record written."""
    offsets: dict[int, int] = {}
    for record in sent:
        offsets[record.partition] = max(offsets.get(record.partition, 0), record.offset + 1)
    return offsets


async def test_events_applied_by_a_killed_worker_are_applied_once_after_restart(
    world: World, inventory_pool: aiopg.Pool, tmp_path: Path
) -> None:
    # The killed worker would commit offsets only every hour: none are committed when it dies.
    settings = inventory_settings(world, consumer_commit_interval_seconds=3600.0)
    servers, topic = settings.kafka_bootstrap_servers, settings.order_events_topic
    group = settings.inventory_service_name
    await set_stock(inventory_pool, "APPLE", 100)
    async with relay_producer(servers) as producer:
        sent = await publish(
            producer, topic, [order_created(("APPLE", 1)) for _ in range(BEFORE_CRASH)])

    async def applied(expected: int) -> bool:
        assert worker.returncode is None, f"the worker exited early; see {log}"
        return await count(inventory_pool, "processed_events") == expected

    log = tmp_path / "inventory.log"
    with log.open("wb") as output:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.inventory", "worker", "--loglevel", "warn",
            cwd=REPO_ROOT, env={**os.environ, **settings_env(settings)},
            stdout=output, stderr=output,
        )
        try:
            await wait_until(lambda: applied(BEFORE_CRASH), within=30,
                             what=f"the worker to apply {BEFORE_CRASH} events (log: {log})")
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()

    # Nothing was committed, so every applied event will be delivered again.
    assert sum((await committed_offsets(servers, group, topic)).values()) == 0
    assert await available(inventory_pool, "APPLE") == 100 - BEFORE_CRASH

    async with relay_producer(servers) as producer:
        sent += await publish(
            producer, topic, [order_created(("APPLE", 1)) for _ in range(AFTER_CRASH)])
    restarted = inventory_settings(world, inventory_service_name=group)

    async def everything_consumed() -> bool:
        committed = await committed_offsets(servers, group, topic)
        return all(committed.get(partition, 0) >= offset
                   for partition, offset in next_offsets(sent).items())

    async with running_app(create_app(restarted)):
        # Committed offsets at the end of every partition: the new worker read every record,
        # the ones the killed worker had applied included.
        await wait_until(everything_consumed, within=30, what="the group to commit every offset")

    total = BEFORE_CRASH + AFTER_CRASH
    assert await count(inventory_pool, "processed_events") == total
    assert await count(inventory_pool, "reservations") == total
    assert await available(inventory_pool, "APPLE") == 100 - total
