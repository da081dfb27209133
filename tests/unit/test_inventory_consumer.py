"""The inventory app's Kafka consumer reads committed transactions only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Consumer, Transport
from faust.types.enums import ProcessingGuarantee

from services.inventory.app import create_app
from services.inventory.consumer import ReadCommittedConsumer, ReadCommittedConsumerThread
from services.inventory.settings import InventorySettings
from shared.app import faust_app


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


async def test_the_worker_consumer_the_app_creates_reads_committed(
    settings: InventorySettings,
) -> None:
    app = create_app(settings)

    async with worker_consumer(app) as consumer:
        assert isinstance(cast(ReadCommittedConsumer, app.consumer)._thread,
                          ReadCommittedConsumerThread)
        assert consumer._isolation_level == "read_committed"
        # The rest is Faust's own choice: manual commits in the app's consumer group.
        assert consumer._group_id == settings.inventory_service_name
        assert consumer._enable_auto_commit is False


async def test_a_plain_faust_app_would_read_uncommitted(settings: InventorySettings) -> None:
    # What the override is for: without it, Faust reads records of aborted transactions.
    app = faust_app("plain", settings, web_host="127.0.0.1", web_port=8081)

    async with worker_consumer(app) as consumer:
        assert consumer._isolation_level == "read_uncommitted"


async def test_the_exactly_once_guarantee_stays_off(settings: InventorySettings) -> None:
    # The dedupe table gives exactly-once effects; Faust's exactly_once has duplicate bugs.
    guarantee = cast(ProcessingGuarantee, create_app(settings).conf.processing_guarantee)
    assert guarantee is ProcessingGuarantee.AT_LEAST_ONCE
