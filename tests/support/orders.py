"""Helpers for tests of the order service: settings and a running service for one test, and
applying answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import aiopg
import httpx

from services.order.app import create_app
from services.order.handlers import HANDLERS
from services.order.settings import OrderSettings
from shared.events import Envelope
from shared.inbox.reader import Outcome
from shared.inbox.reader import apply_event as apply_in_own_transaction
from tests.support.faust_apps import free_port, running_app

if TYPE_CHECKING:
    from tests.conftest import World


@asynccontextmanager
async def order_client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The order service running for `world`, and an HTTP client of it."""
    settings = order_settings(world)
    async with (
        running_app(create_app(settings)),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.order_http_port}") as http,
    ):
        yield http


def order_settings(world: World, **overrides: Any) -> OrderSettings:
    """Settings for one test: its world, its own consumer group and port, short timeouts."""
    values: dict[str, Any] = {
        **world.overrides(),
        "order_service_name": f"order-test-{uuid.uuid4().hex[:12]}",
        "order_http_port": free_port(),
        "consumer_session_timeout_seconds": 6.0,
        "consumer_retry_initial_seconds": 0.05,
        "consumer_retry_max_seconds": 0.5,
        **overrides,
    }
    return OrderSettings(**values)


async def apply_answer(pool: aiopg.Pool, event: Envelope) -> Outcome:
    """Apply one of inventory's answers as the order service's reader would."""
    return await apply_in_own_transaction(pool, HANDLERS, event)


async def order_status(pool: aiopg.Pool, order_id: uuid.UUID | str) -> str | None:
    """An order's status in the order service's database."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT status FROM orders WHERE order_id = %s", (str(order_id),))
        row = await cur.fetchone()
    return None if row is None else str(row[0])
