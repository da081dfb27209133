"""Every app that consumes (inventory, order) reads committed Kafka transactions only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Consumer, Transport
from faust.types.enums import ProcessingGuarantee

from services.inventory.app import create_app as create_inventory_app
from services.inventory.settings import InventorySettings
from services.order.app import create_app as create_order_app
from services.order.settings import OrderSettings
from shared.app import faust_app
from shared.inbox.transport import ReadCommittedConsumer, ReadCommittedConsumerThread


@asynccontextmanager
async def worker_consumer(app: faust.App) -> AsyncIterator[AIOKafkaConsumer]:
    """The aiokafka consumer Faust's consumer thread would start (built, never started)."""
    thread = cast(Consumer, app.consumer)._thread
    consumer = thread._create_worker_consumer(cast(Transport, app.transport))
    try:
        yield consumer
    finally:
        await consumer.stop()
        thread.thread_loop.close()  # made for the thread, which never ran


@pytest.fixture
def settings(tmp_path: object) -> InventorySettings:
    return InventorySettings(data_dir=str(tmp_path))


def inventory_app(tmp_path: object) -> tuple[faust.App, str]:
    settings = InventorySettings(data_dir=str(tmp_path))
    return create_inventory_app(settings), settings.inventory_service_name


def order_app(tmp_path: object) -> tuple[faust.App, str]:
    settings = OrderSettings(data_dir=str(tmp_path))
    return create_order_app(settings), settings.order_service_name


CONSUMING_APPS = [inventory_app, order_app]


@pytest.mark.parametrize("make_app", CONSUMING_APPS, ids=["inventory", "order"])
async def test_the_worker_consumer_the_app_creates_reads_committed(
    make_app: Any, tmp_path: object,
) -> None:
    app, group = make_app(tmp_path)

    async with worker_consumer(app) as consumer:
        assert isinstance(cast(ReadCommittedConsumer, app.consumer)._thread,
                          ReadCommittedConsumerThread)
        assert consumer._isolation_level == "read_committed"
        # The rest is Faust's own choice: manual commits in the app's consumer group.
        assert consumer._group_id == group
        assert consumer._enable_auto_commit is False


async def test_a_plain_faust_app_would_read_uncommitted(settings: InventorySettings) -> None:
    # What the override is for: without it, Faust reads records of aborted transactions.
    app = faust_app("plain", settings, web_host="127.0.0.1", web_port=8081)

    async with worker_consumer(app) as consumer:
        assert consumer._isolation_level == "read_uncommitted"


@pytest.mark.parametrize("make_app", CONSUMING_APPS, ids=["inventory", "order"])
async def test_the_exactly_once_guarantee_stays_off(make_app: Any, tmp_path: object) -> None:
    # The dedupe table gives exactly-once effects; Faust's exactly_once has duplicate bugs.
    app, _ = make_app(tmp_path)
    guarantee = cast(ProcessingGuarantee, app.conf.processing_guarantee)
    assert guarantee is ProcessingGuarantee.AT_LEAST_ONCE
