"""End to end with Debezium: HTTP -> outbox -> Kafka Connect -> Kafka -> inventory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiopg
import pytest

from tests.conftest import World
from tests.support import pipeline as scenarios
from tests.support.debezium import registered_connector
from tests.support.pipeline import Pipeline, running_pipeline


async def start_debezium(stack: AsyncExitStack, world: World) -> None:
    await stack.enter_async_context(registered_connector(world))


@pytest.fixture
async def pipeline(world: World, inventory_pool: aiopg.Pool) -> AsyncIterator[Pipeline]:
    async with running_pipeline(world, inventory_pool, start_debezium) as running:
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
