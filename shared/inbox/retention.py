"""The inbox's retention: dedupe rows older than `DEDUPE_RETENTION` are deleted, in batches.

A dedupe row is what refuses an event delivered again. Once it is gone, the same event is
applied anew; so the rows must outlive every record of the topic that could still be read,
by a consumer group that re-reads from the earliest offset (its committed offsets expired,
or reset by hand) as much as by one redelivering after a crash. Kafka keeps a record at
least `retention.ms`, and up to `retention.ms + segment.ms`: it deletes whole segments, once
their newest record is past the retention, and a segment takes records for up to
`segment.ms` (`log.roll.ms`) before the next one starts. That sum is the window the dedupe
must cover: at start-up the service asks Kafka for its topic's settings and refuses to start
if `DEDUPE_RETENTION` is shorter, saying in one line by how much and how to fix it.

A topic that keeps records forever (`retention.ms=-1`, or `cleanup.policy=compact` without
`delete`) needs `DEDUPE_RETENTION=forever`: the rows are then never deleted, and nothing is
checked. There is no setting to start anyway with a shorter window: it would apply some
redelivered event twice, which is what the inbox exists to prevent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiopg
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import NoError, for_code
from mode import Service

from shared.db import HasPool
from shared.durations import format_duration
from shared.inbox import queries
from shared.kafka import kafka_admin

logger = logging.getLogger(__name__)

# Kafka's defaults (`log.retention.hours`, `log.roll.hours`: 168), for a setting it leaves out.
KAFKA_DEFAULT_MS = 7 * 24 * 3600 * 1000
TOPIC_SETTINGS = ("retention.ms", "segment.ms", "cleanup.policy")


@dataclass(frozen=True)
class TopicRetention:
    """How long a topic keeps its records, as Kafka says (its settings' values)."""

    topic: str
    retention_ms: int
    segment_ms: int
    cleanup_policy: str = "delete"

    @property
    def forever(self) -> bool:
        """True when records are never deleted for their age."""
        return self.retention_ms < 0 or "delete" not in self.cleanup_policy.split(",")

    @property
    def longest(self) -> timedelta | None:
        """The longest a record may stay: retention.ms + segment.ms; None for forever."""
        if self.forever:
            return None
        return timedelta(milliseconds=self.retention_ms + self.segment_ms)

    def describe(self) -> str:
        """The settings that decide it, as `kafka-configs` spells them."""
        if self.retention_ms < 0:
            return f"retention.ms={self.retention_ms}"
        if self.forever:
            return f"cleanup.policy={self.cleanup_policy}"
        return f"retention.ms={self.retention_ms} + segment.ms={self.segment_ms}"


class DedupeWindowTooShort(Exception):
    """DEDUPE_RETENTION is shorter than the topic may keep a record; the message says why."""


def window_problem(dedupe_retention: timedelta | None, topic: TopicRetention) -> str | None:
    """Why the dedupe window cannot cover the topic's records, in one line; None if it can."""
    if dedupe_retention is None:
        return None
    longest = topic.longest
    configs = (f"kafka-configs --bootstrap-server ... --alter --entity-type topics "
               f"--entity-name {topic.topic} --add-config")
    if longest is None:
        return (
            f"DEDUPE_RETENTION={format_duration(dedupe_retention)} but topic {topic.topic} "
            f"keeps records forever ({topic.describe()}): an event delivered again after its "
            f"dedupe row is deleted would be applied twice; set DEDUPE_RETENTION=forever, or "
            f"give the topic a finite retention ({configs} cleanup.policy=delete,"
            f"retention.ms=<ms>)")
    if dedupe_retention >= longest:
        return None
    return (
        f"DEDUPE_RETENTION={format_duration(dedupe_retention)} is shorter than topic "
        f"{topic.topic} may keep a record, {format_duration(longest)} ({topic.describe()}; "
        f"Kafka deletes whole segments): an event delivered again after its dedupe row is "
        f"deleted would be applied twice; set DEDUPE_RETENTION to {format_duration(longest)} "
        f"or more, or lower the topic's retention.ms and segment.ms until their sum is at "
        f"most {format_duration(dedupe_retention)} ({configs} retention.ms=<ms>,segment.ms=<ms>)")


async def topic_retention(bootstrap_servers: str, topic: str) -> TopicRetention:
    """The topic's retention settings, asked of the broker (`DescribeConfigs`)."""
    wanted = ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(TOPIC_SETTINGS))
    async with kafka_admin(bootstrap_servers) as admin:
        [response] = await admin.describe_configs([wanted])
    # Each resource: (error_code, error_message, type, name, entries); each entry starts
    # with (name, value, ...).
    [resource] = response.resources
    error = for_code(resource[0])
    if error is not NoError:
        raise error(f"cannot read the settings of topic {topic!r}: {resource[1] or ''}")
    values: dict[str, Any] = {entry[0]: entry[1] for entry in resource[4]}
    return TopicRetention(
        topic=topic,
        retention_ms=int(values.get("retention.ms") or KAFKA_DEFAULT_MS),
        segment_ms=int(values.get("segment.ms") or KAFKA_DEFAULT_MS),
        cleanup_policy=str(values.get("cleanup.policy") or "delete"),
    )


async def check_dedupe_window(
    bootstrap_servers: str, topic: str, dedupe_retention: timedelta | None
) -> TopicRetention | None:
    """Raise DedupeWindowTooShort unless the window covers the topic; None if it is forever."""
    if dedupe_retention is None:
        return None
    found = await topic_retention(bootstrap_servers, topic)
    problem = window_problem(dedupe_retention, found)
    if problem is not None:
        raise DedupeWindowTooShort(problem)
    return found


async def prune_processed(
    pool: aiopg.Pool, *, older_than: timedelta, batch_size: int, pause: float = 0.0
) -> int:
    """Delete the dedupe rows older than `older_than`, `batch_size` per statement; how many."""
    deleted = 0
    while True:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(queries.PRUNE_PROCESSED,
                              {"older_than": older_than, "limit": batch_size})
            batch = int(cur.rowcount)
        deleted += batch
        if batch < batch_size:
            return deleted
        await asyncio.sleep(pause)


class DedupeRetention(Service):
    """Checks at start that the dedupe window covers the topic, then prunes periodically.

    Start it after the topic exists (`EnsureTopics`) and the pool is open; a window that is
    too short stops the app from starting (`DedupeWindowTooShort`, logged in one line).
    `counted`, if given, is called with the number of rows each sweep deleted.
    """

    def __init__(self, database: HasPool, *, bootstrap_servers: str, topic: str,
                 retention: timedelta | None, interval: float, batch_size: int,
                 counted: Callable[[int], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._database = database
        self._bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.retention = retention
        self._interval = interval
        self._batch_size = batch_size
        self._counted = counted
        self._pruning: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        try:
            found = await check_dedupe_window(self._bootstrap_servers, self.topic,
                                              self.retention)
        except DedupeWindowTooShort as refused:
            logger.critical("refusing to start: %s", refused)
            raise
        if found is not None:
            logger.info("dedupe rows are kept %s; topic %s keeps a record up to %s (%s)",
                        format_duration(self.retention), self.topic,
                        format_duration(found.longest), found.describe())

    async def on_started(self) -> None:
        if self.retention is not None:
            self._pruning = asyncio.create_task(self._prune_forever(self.retention),
                                             name=f"dedupe retention {self.topic}")

    async def on_stop(self) -> None:
        task, self._pruning = self._pruning, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def prune_once(self) -> int:
        """One sweep: delete the rows past the window now; how many."""
        if self.retention is None:
            return 0
        deleted = await prune_processed(self._database.pool, older_than=self.retention,
                                        batch_size=self._batch_size)
        if self._counted is not None:
            self._counted(deleted)
        if deleted:
            logger.info("deleted %d dedupe rows older than %s", deleted,
                        format_duration(self.retention))
        return deleted

    async def _prune_forever(self, retention: timedelta) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception as exc:  # the next sweep tries again; reading goes on meanwhile
                logger.warning("could not delete dedupe rows older than %s: %s",
                               format_duration(retention), exc)
            await asyncio.sleep(self._interval)
