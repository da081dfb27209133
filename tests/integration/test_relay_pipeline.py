"""End to end with the polling relay: HTTP -> outbox -> relay -> Kafka -> inventory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiopg
import pytest

from services.relay.app import create_app as create_relay_app
from tests.conftest import World
from tests.support import pipeline as scenarios
from tests.support.faust_apps import free_port, running_app
from tests.support.pipeline import Pipeline, running_pipeline
from tests.support.relay import relay_settings


async def start_polling_relay(stack: AsyncExitStack, world: World) -> None:
    settings = relay_settings(world.overrides(), relay_http_port=free_port())
    await stack.enter_async_context(running_app(create_relay_app(settings)))


@pytest.fixture
async def pipeline(world: World, inventory_pool: aiopg.Pool) -> AsyncIterator[Pipeline]:
    async with running_pipeline(world, inventory_pool, start_polling_relay) as running:
        yield running


async def test_an_order_placed_over_http_takes_its_stock_once(pipeline: Pipeline) -> None:
    await scenarios.an_order_placed_over_http_takes_its_stock_once(pipeline)


async def test_an_order_larger_than_the_stock_is_rejected_and_changes_nothing(
    pipeline: Pipeline,
) -> None:
    await scenarios.an_order_larger_than_the_stock_is_rejected_and_changes_nothing(pipeline)


async def test_an_order_is_confirmed_and_its_cancellation_gives_the_stock_back(
    pipeline: Pipeline,
) -> None:
    await scenarios.an_order_is_confirmed_and_its_cancellation_gives_the_stock_back(pipeline)


async def test_two_hundred_orders_for_fifty_units_then_twenty_cancelled(
    pipeline: Pipeline,
) -> None:
    await scenarios.two_hundred_orders_for_fifty_units_then_twenty_cancelled(pipeline)


async def test_orders_cancelled_right_after_placing_all_end_cancelled_with_the_stock_whole(
    pipeline: Pipeline,
) -> None:
    await scenarios.orders_cancelled_right_after_placing_all_end_cancelled_with_the_stock_whole(
        pipeline)
