"""Exactly once across crashes: the relay dies at each step, a successor takes over.

A crash is an exception from the relay's fault seam, after which the dead relay's producer is
abandoned without being closed: a zombie that still holds its transaction, as a process that
froze would. The successor uses the same transactional id, and a read_committed consumer must
then see every event exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiopg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerFenced
from psycopg2 import OperationalError

from services.relay import settling
from services.relay.relay import CRASH_POINTS, FaultHook, Relay
from shared.db import close_pool, create_pool
from shared.settings import CommonSettings
from tests.conftest import World
from tests.support.outbox import event_id_counts, insert_event, outbox_rows, read_all
from tests.support.relay import (
    ProducerLog,
    order_route,
    relay_settings,
    unpublished_count,
    wait_until,
)

Check = Callable[[], Awaitable[bool]]
BATCH = 4
ROWS = 10  # three batches: 4, 4, 2


class Crash(Exception):
    """The relay process dies here."""


def crash_in_second_batch(point: str) -> FaultHook:
    """A fault hook that lets the first batch through and crashes the second at `point`."""
    seen: list[str] = []

    async def hook(reached: str) -> None:
        seen.append(reached)
        if reached == point and seen.count(point) == 2:
            raise Crash(point)

    return hook


@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("retention", ["mark", "delete"])
async def test_every_event_is_published_exactly_once_whichever_step_the_relay_dies_at(
    world: World, orders_pool: aiopg.Pool, point: str, retention: str
) -> None:
    settings = relay_settings(world.overrides(), relay_batch_size=BATCH,
                              relay_retention=retention)
    expected = [await insert_event(orders_pool, str(uuid.uuid4()), 1) for _ in range(ROWS)]
    first_producers = ProducerLog(settings)
    first = Relay(orders_pool, order_route(settings), settings, producer_factory=first_producers,
                  crash_at=crash_in_second_batch(point))
    successor = Relay(orders_pool, order_route(settings), settings)
    try:
        await first.open()
        with pytest.raises(Crash):
            await first.drain()
        (zombie,) = first_producers.made

        await successor.open()
        assert await successor.drain() > 0

        records = await read_all(settings)
        assert event_id_counts(records) == dict.fromkeys(expected, 1)
        assert await unpublished_count(orders_pool) == 0
        if retention == "delete":
            assert await outbox_rows(orders_pool) == []

        # The zombie wakes up and tries to finish (or start) a transaction: it is fenced.
        with pytest.raises(ProducerFenced):
            await _publish_as_zombie(zombie, settings.order_events_topic,
                                     in_transaction=point in ("before_send", "after_send"))
        assert b"zombie" not in {record.value for record in await read_all(settings)}
    finally:
        await successor.close()
        await first_producers.stop_all()


async def test_no_batch_is_committed_while_the_one_before_it_failed_to_settle(
    world: World, orders_pool: aiopg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full batch is settled while the next one is fetched and packed: if that settling
    # fails, the next batch must not be published, or the failed one would no longer be the
    # last committed checkpoint that recovery settles, and would be published twice.
    settings = relay_settings(world.overrides(), relay_batch_size=BATCH)
    expected = [await insert_event(orders_pool, str(uuid.uuid4()), 1) for _ in range(ROWS)]
    real_settle = settling.settle_checkpoint
    failures = [OperationalError("server closed the connection unexpectedly")]

    async def settle_failing_once(*args: Any) -> int:
        if failures:
            raise failures.pop()
        return await real_settle(*args)

    monkeypatch.setattr(settling, "settle_checkpoint", settle_failing_once)
    first = Relay(orders_pool, order_route(settings), settings)
    successor = Relay(orders_pool, order_route(settings), settings)
    try:
        await first.open()
        with pytest.raises(OperationalError):
            await first.drain()
        assert len(await read_all(settings)) == BATCH  # the first batch, and nothing after it
        assert await unpublished_count(orders_pool) == ROWS

        await successor.open()  # recovery settles the first batch
        assert await unpublished_count(orders_pool) == ROWS - BATCH
        assert await successor.drain() == ROWS - BATCH
    finally:
        await successor.close()
        await first.close()

    assert event_id_counts(await read_all(settings)) == dict.fromkeys(expected, 1)
    assert await unpublished_count(orders_pool) == 0


async def test_a_standby_takes_over_when_the_publishing_relay_dies_mid_stream(
    common_settings: CommonSettings, world: World, orders_pool: aiopg.Pool
) -> None:
    settings = relay_settings(world.overrides(), relay_batch_size=20, relay_lease_seconds=2.0,
                              relay_poll_interval_seconds=0.1)
    orders = [str(uuid.uuid4()) for _ in range(8)]
    steps = 30
    # Each relay gets its own pool, as two processes would.
    pools = [await create_pool(common_settings.dsn(world.order_db_name), maxsize=4)
             for _ in range(2)]
    first = Relay(pools[0], order_route(settings), settings, holder="first")
    second = Relay(pools[1], order_route(settings), settings, holder="second")
    tasks: list[asyncio.Task[None]] = []
    try:
        tasks.append(asyncio.create_task(first.run()))
        await wait_until(_is_publishing(first), within=15, what="the first relay to lead")
        tasks.append(asyncio.create_task(second.run()))
        writer = asyncio.create_task(_write_steps(orders_pool, orders, steps))

        await wait_until(_published_at_least(orders_pool, len(orders) * steps // 3),
                         within=15, what="a third of the events to be published")
        tasks[0].cancel()  # killed: no clean shutdown, the lease is left to expire
        killed = time.monotonic()
        await wait_until(_is_publishing(second), within=30, what="the standby to take over")
        print(f"\nstandby took over {time.monotonic() - killed:.2f}s after the holder died "
              f"(lease: {settings.relay_lease_seconds}s)")

        await writer
        await wait_until(_none_unpublished(orders_pool), within=30, what="the rest")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for relay in (second, first):
            with contextlib.suppress(Exception):
                await relay.close()
        for pool in pools:
            await close_pool(pool)

    records = await read_all(settings)
    assert len(records) == len(orders) * steps
    assert set(event_id_counts(records).values()) == {1}
    for order_id in orders:
        sequence = [json.loads(r.value)["sequence"] for r in records
                    if r.key == order_id.encode()]
        assert sequence == list(range(1, steps + 1)), f"order {order_id} out of order"


async def _publish_as_zombie(
    zombie: AIOKafkaProducer, topic: str, *, in_transaction: bool
) -> None:
    if not in_transaction:
        await zombie.begin_transaction()
    await (await zombie.send(topic, b"zombie", key=b"zombie"))
    await zombie.commit_transaction()


async def _write_steps(pool: aiopg.Pool, orders: list[str], steps: int) -> None:
    for step in range(1, steps + 1):
        for order_id in orders:
            await insert_event(pool, order_id, step)
        await asyncio.sleep(0.02)


def _is_publishing(relay: Relay) -> Check:
    async def check() -> bool:
        return relay.is_publishing
    return check


def _published_at_least(pool: aiopg.Pool, count: int) -> Check:
    async def check() -> bool:
        rows = await outbox_rows(pool)
        return sum(row.published for row in rows) >= count
    return check


def _none_unpublished(pool: aiopg.Pool) -> Check:
    async def check() -> bool:
        return await unpublished_count(pool) == 0
    return check


async def test_a_relay_fenced_by_another_stands_down_and_nothing_is_duplicated(
    world: World, orders_pool: aiopg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    # The intruder ignores the lease, as a misconfigured or half-dead relay might: correctness
    # must not depend on the lease, only on the shared transactional id.
    settings = relay_settings(world.overrides(), relay_batch_size=5, relay_lease_seconds=2.0)
    runner = Relay(orders_pool, order_route(settings), settings, holder="runner")
    intruder = Relay(orders_pool, order_route(settings), settings, holder="intruder")
    running = asyncio.create_task(runner.run())
    try:
        await wait_until(_is_publishing(runner), within=15, what="the runner to lead")
        await intruder.open()  # the runner's producer is fenced from now on
        for _ in range(12):
            await insert_event(orders_pool, str(uuid.uuid4()), 1)
        await intruder.drain()  # races with the runner for the same rows

        for _ in range(12):  # rows the runner must try, and fail, to publish with its producer
            await insert_event(orders_pool, str(uuid.uuid4()), 1)
        await wait_until(lambda: _logged(caplog, "another relay took over"), within=15,
                         what="the runner to notice it was fenced")
        await wait_until(_none_unpublished(orders_pool), within=15, what="all rows")
        await wait_until(_is_publishing(runner), within=15, what="the runner to lead again")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await runner.close()
        await intruder.close()

    records = await read_all(settings)
    assert len(records) == 24
    assert set(event_id_counts(records).values()) == {1}


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)
