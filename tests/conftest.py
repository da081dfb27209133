"""Fixtures shared by all tests: settings, and an isolated world per test.

Integration tests talk to the real PostgreSQL and Kafka that `infra/up.sh` started. Each test
that needs them gets databases and a topic of its own (fresh names), so tests never see each
other's rows or records. Both are removed at the end of the run: the broker would otherwise
keep thousands of test topics, and their metadata, from one `make test` to the next.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator

import aiopg
import psycopg2
import pytest

from services.migrate import migrate
from shared.db import close_pool, create_pool
from shared.kafka import delete_topics, ensure_topic
from shared.settings import CommonSettings
from tests.support.world import World

__all__ = ["World"]

os.environ.setdefault("POSTGRES_PASSWORD", "outbox-dev-password")
os.environ.setdefault("ENVIRONMENT", "test")


TEST_DATABASE_PREFIX = "test_"


@pytest.fixture(scope="session")
def created_databases() -> Iterator[list[str]]:
    """Databases this test run created, dropped together at the end of the run.

    Dropping waits for a checkpoint, so it is done once a run rather than once a test.
    """
    names: list[str] = []
    yield names
    conn = psycopg2.connect(CommonSettings().dsn("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in names:
                try:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except psycopg2.Error as exc:
                    # Still in use by something this role may not end (a replication
                    # connection, say): the database stays behind, in the test cluster only.
                    warnings.warn(f"left database {name} behind: {exc}", stacklevel=1)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def created_topics() -> Iterator[list[str]]:
    """Names of topics this test run created; each is deleted at the end of the run, with
    every topic named after it (the services derive `<topic>.dlq`, `<topic>.relay-checkpoints`
    and so on)."""
    names: list[str] = []
    yield names
    if not names:
        return
    prefixes = tuple(names)
    try:
        asyncio.run(delete_topics(CommonSettings().kafka_bootstrap_servers,
                                  lambda name: name.startswith(prefixes)))
    except Exception as exc:  # the broker may be gone already; its topics are local anyway
        warnings.warn(f"left {len(names)} test topics behind: {exc}", stacklevel=1)


@pytest.fixture
def common_settings() -> CommonSettings:
    """Settings as a user's environment (or `.env`) gives them."""
    return CommonSettings()


@pytest.fixture
async def world(
    common_settings: CommonSettings,
    tmp_path: object,
    created_databases: list[str],
    created_topics: list[str],
) -> World:
    """Fresh, migrated databases and fresh topics; all are removed after the run."""
    suffix = uuid.uuid4().hex[:12]
    created = World(
        suffix=suffix,
        order_db_name=f"{TEST_DATABASE_PREFIX}orders_{suffix}",
        inventory_db_name=f"{TEST_DATABASE_PREFIX}inventory_{suffix}",
        order_events_topic=f"order.events.test-{suffix}",
        inventory_events_topic=f"inventory.events.test-{suffix}",
        data_dir=str(tmp_path),
    )
    admin = await create_pool(common_settings.dsn("postgres"), minsize=1, maxsize=1)
    try:
        async with admin.acquire() as conn, conn.cursor() as cur:
            for name in (created.order_db_name, created.inventory_db_name):
                await cur.execute(f'CREATE DATABASE "{name}"')
                created_databases.append(name)
    finally:
        await close_pool(admin)
    settings = common_settings.model_copy(update=created.overrides())
    await migrate(settings)
    for topic in (created.order_events_topic, created.inventory_events_topic):
        created_topics.append(topic)
        await ensure_topic(
            settings.kafka_bootstrap_servers, topic, partitions=settings.order_events_partitions)
    return created


@pytest.fixture
async def orders_pool(common_settings: CommonSettings, world: World) -> AsyncIterator[aiopg.Pool]:
    """A pool on this test's orders database."""
    pool = await create_pool(common_settings.dsn(world.order_db_name), maxsize=4)
    yield pool
    await close_pool(pool)


@pytest.fixture
async def inventory_pool(
    common_settings: CommonSettings, world: World
) -> AsyncIterator[aiopg.Pool]:
    """A pool on this test's inventory database."""
    pool = await create_pool(common_settings.dsn(world.inventory_db_name), maxsize=4)
    yield pool
    await close_pool(pool)
