"""Helpers for tests of the inventory service: settings for one test, and what it wrote."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import aiopg
from aiokafka import TopicPartition
from pydantic import SecretStr

from services.inventory.handlers import HANDLERS
from services.inventory.settings import InventorySettings
from shared.events import Envelope
from shared.inbox.reader import Outcome
from shared.inbox.reader import apply_event as apply_in_own_transaction
from shared.kafka import kafka_admin
from shared.settings import CommonSettings
from tests.support.faust_apps import free_port

if TYPE_CHECKING:
    from tests.conftest import World


def inventory_settings(world: World, **overrides: Any) -> InventorySettings:
    """Settings for one test: its world, its own consumer group and port, short timeouts."""
    values: dict[str, Any] = {
        **world.overrides(),
        "inventory_service_name": f"inventory-test-{uuid.uuid4().hex[:12]}",
        "inventory_http_port": free_port(),
        "consumer_session_timeout_seconds": 6.0,
        "consumer_commit_interval_seconds": 0.2,
        "consumer_retry_initial_seconds": 0.05,
        "consumer_retry_max_seconds": 0.5,
        **overrides,
    }
    return InventorySettings(**values)


def settings_env(settings: CommonSettings) -> dict[str, str]:
    """The environment variables that give a service process these settings."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[name.upper()] = str(value)
    return env


async def fetch_all(pool: aiopg.Pool, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Every row of a query on the test's database."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall())


async def available(pool: aiopg.Pool, sku: str) -> int | None:
    """Units of `sku` in stock, None if the SKU is unknown."""
    rows = await fetch_all(pool, "SELECT available FROM stock WHERE sku = %s", sku)
    return rows[0][0] if rows else None


async def outcome_of(pool: aiopg.Pool, order_id: uuid.UUID) -> tuple[str, str | None] | None:
    """(status, reason) of an order's reservation, None while its event is not applied."""
    rows = await fetch_all(
        pool, "SELECT status, reason FROM reservations WHERE order_id = %s", order_id)
    return (rows[0][0], rows[0][1]) if rows else None


async def apply_event(pool: aiopg.Pool, event: Envelope) -> Outcome:
    """Apply one event as the inventory's reader would, in a transaction of its own."""
    return await apply_in_own_transaction(pool, HANDLERS, event)


async def statuses(pool: aiopg.Pool) -> dict[str, int]:
    """How many reservations have each status."""
    rows = await fetch_all(pool, "SELECT status, count(*) FROM reservations GROUP BY status")
    return {status: int(number) for status, number in rows}


async def count(pool: aiopg.Pool, table: str) -> int:
    """Rows in one of the inventory tables."""
    rows = await fetch_all(pool, f"SELECT count(*) FROM {table}")
    return int(rows[0][0])


async def committed_offsets(bootstrap_servers: str, group: str, topic: str) -> dict[int, int]:
    """The offsets a consumer group has committed on a topic, by partition."""
    async with kafka_admin(bootstrap_servers) as admin:
        offsets = await admin.list_consumer_group_offsets(group)
    return {tp.partition: meta.offset for tp, meta in offsets.items()
            if isinstance(tp, TopicPartition) and tp.topic == topic and meta.offset >= 0}
