"""The order service's reader killed with SIGKILL mid-stream, then restarted.

Answers it applied but whose offsets it had not committed are delivered again; the dedupe
table makes the second delivery change nothing, and every order still reaches its status.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiopg

from services.order.app import create_app
from services.order.handlers import place_order
from services.order.models import PlaceOrder
from shared.events import Envelope
from tests.conftest import World
from tests.support.faust_apps import running_app, wait_until
from tests.support.inventory import count, fetch_all, settings_env
from tests.support.inventory_events import stock_rejected, stock_reserved
from tests.support.order_events import publish, relay_producer
from tests.support.orders import order_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
ORDERS = 200
BEFORE_START = 100  # waiting on the topic when the reader starts
KILL_AFTER = 120  # applied answers; the rest is still being published when it is killed


async def test_answers_applied_by_a_killed_reader_are_applied_once_after_restart(
    world: World, orders_pool: aiopg.Pool, tmp_path: Path
) -> None:
    settings = order_settings(world, consumer_commit_interval_seconds=3600.0)
    servers, topic = settings.kafka_bootstrap_servers, settings.inventory_events_topic
    request = PlaceOrder.model_validate(
        {"customer_id": "c-1", "items": [{"sku": "SKU-1", "quantity": 1}]})
    order_ids = [(await place_order(orders_pool, request)).order.order_id for _ in range(ORDERS)]
    answers: list[Envelope] = [
        stock_reserved(order_id) if n % 3 else stock_rejected(order_id)
        for n, order_id in enumerate(order_ids)]
    expected = {str(order_id): "confirmed" if answer.event_type == "StockReserved" else "rejected"
                for order_id, answer in zip(order_ids, answers, strict=True)}

    async def stream() -> None:
        # Paced, so that the reader is killed while answers still arrive.
        async with relay_producer(servers) as producer:
            for start in range(BEFORE_START, ORDERS, 5):
                await publish(producer, topic, answers[start:start + 5])
                await asyncio.sleep(0.05)

    async with relay_producer(servers) as producer:
        await publish(producer, topic, answers[:BEFORE_START])

    async def applied_at_least(number: int) -> bool:
        assert worker.returncode is None, f"the order service exited early; see {log}"
        return await count(orders_pool, "processed_events") >= number

    log = tmp_path / "order.log"
    with log.open("wb") as output:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.order", "worker", "--loglevel", "warn",
            cwd=REPO_ROOT, env={**os.environ, **settings_env(settings)},
            stdout=output, stderr=output,
        )
        streaming: asyncio.Task[None] | None = None
        try:
            await wait_until(lambda: applied_at_least(1), within=60,
                             what=f"the reader to apply its first answer (log: {log})")
            streaming = asyncio.create_task(stream())
            await wait_until(lambda: applied_at_least(KILL_AFTER), within=60,
                             what=f"the reader to apply {KILL_AFTER} answers (log: {log})")
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        if streaming is not None:
            await streaming
    killed_at = await count(orders_pool, "processed_events")
    assert killed_at < ORDERS, "the reader was killed after the stream, not in the middle"

    async def all_final() -> bool:
        return await count(orders_pool, "processed_events") == ORDERS

    restarted = order_settings(world, order_service_name=settings.order_service_name)
    async with running_app(create_app(restarted)):
        await wait_until(all_final, within=60, what=f"{ORDERS} answers applied")

    statuses = dict(await fetch_all(orders_pool, "SELECT order_id::text, status FROM orders"))
    assert statuses == expected
    # Each order changed status once: `placed`, then its answer's.
    changes = await fetch_all(orders_pool, "SELECT order_id, count(*) FROM order_status_history "
                              "GROUP BY order_id HAVING count(*) <> 2")
    assert changes == []
    assert await count(orders_pool, "processed_events") == ORDERS
