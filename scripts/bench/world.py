"""The benchmark's own databases and topics: created fresh, migrated, dropped at the end.

Like the tests' `world` fixture (tests/conftest.py), with `bench_` names. Everything made is
remembered in a `Worlds` registry, so it is dropped even when a benchmark fails half-way.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

import psycopg2

from services.migrate import migrate
from shared.db import close_pool, create_pool
from shared.kafka import delete_topics, ensure_topic
from shared.settings import CommonSettings
from tests.support.world import World

logger = logging.getLogger(__name__)

# Written at COMMIT time of the transaction that inserts a row into `table`: a deferred
# constraint trigger runs after every statement of the transaction, right before it commits,
# so clock_timestamp() there is the commit time to within the WAL flush (track_commit_timestamp
# is off on the project's cluster). Stamped on both sides, an order's commit (orders) and its
# stock change's commit (reservations), by the same clock. Bench databases only.
COMMIT_STAMP = """
CREATE TABLE bench_commits (
    order_id     uuid PRIMARY KEY,
    committed_at timestamptz NOT NULL
);
CREATE FUNCTION bench_stamp_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_commits (order_id, committed_at) VALUES (NEW.order_id, clock_timestamp());
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER bench_stamp_commit
    AFTER INSERT ON {table} DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bench_stamp_commit();
"""


@dataclass
class Worlds:
    """Creates worlds and topics, and drops every one of them in `drop_all`."""

    settings: CommonSettings
    data_root: str
    databases: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    async def create(self, label: str, *, stamp_commits: bool = False) -> World:
        """Fresh, migrated `bench_orders_<hex>` / `bench_inventory_<hex>` and a fresh topic."""
        suffix = f"{label}_{uuid.uuid4().hex[:10]}"
        world = World(
            suffix=suffix,
            order_db_name=f"bench_orders_{suffix}",
            inventory_db_name=f"bench_inventory_{suffix}",
            order_events_topic=f"bench.order.events.{suffix}",
            inventory_events_topic=f"bench.inventory.events.{suffix}",
            data_dir=f"{self.data_root}/{suffix}",
        )
        admin = await create_pool(self.settings.dsn("postgres"), minsize=1, maxsize=1)
        try:
            async with admin.acquire() as conn, conn.cursor() as cur:
                for name in (world.order_db_name, world.inventory_db_name):
                    await cur.execute(f'CREATE DATABASE "{name}"')
                    self.databases.append(name)
        finally:
            await close_pool(admin)
        settings = self.settings.model_copy(update=world.overrides())
        await migrate(settings)
        if stamp_commits:
            for database, table in ((world.order_db_name, "orders"),
                                    (world.inventory_db_name, "reservations")):
                pool = await create_pool(settings.dsn(database), maxsize=1)
                try:
                    async with pool.acquire() as conn, conn.cursor() as cur:
                        await cur.execute(COMMIT_STAMP.format(table=table))
                finally:
                    await close_pool(pool)
        for events_topic in (world.order_events_topic, world.inventory_events_topic):
            await self.topic(events_topic)
            # What the services create next to it: checkpoints and dead letters.
            self.topics += [f"{events_topic}.relay-checkpoints", f"{events_topic}.dlq"]
        return world

    async def topic(self, name: str) -> str:
        """Create a topic with the events topic's partition count; dropped at the end."""
        await ensure_topic(self.settings.kafka_bootstrap_servers, name,
                           partitions=self.settings.order_events_partitions)
        self.topics.append(name)
        return name

    def forget_topic_later(self, name: str) -> None:
        """A topic something else creates (Connect's heartbeats, say): delete it at the end."""
        self.topics.append(name)

    async def drop_all(self) -> None:
        """Drop every database and delete every topic made; complain, never raise."""
        left = []
        for name in self.databases:
            if not await asyncio.to_thread(_drop_database, self.settings.dsn("postgres"), name):
                left.append(name)
        if left:
            logger.warning("could not drop bench databases %s; drop them by hand", left)
        self.databases.clear()
        if self.topics:
            try:
                await delete_topics(self.settings.kafka_bootstrap_servers,
                                    set(self.topics).__contains__)
            except Exception as exc:
                logger.warning("could not delete bench topics %s: %s", self.topics, exc)
            self.topics.clear()


def _drop_database(dsn: str, name: str, attempts: int = 5) -> bool:
    """DROP DATABASE ... WITH (FORCE), retried: a walsender of a just-removed connector may
    still be exiting (FORCE cannot end it)."""
    for attempt in range(attempts):
        try:
            conn = psycopg2.connect(dsn)
            conn.autocommit = True
            try:
                with conn.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return True
            finally:
                conn.close()
        except psycopg2.Error as exc:
            logger.debug("dropping %s (attempt %d): %s", name, attempt + 1, exc)
            time.sleep(2)
    return False
