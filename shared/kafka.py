"""Kafka clients configured for exactly-once: transactional producers, read_committed readers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import NoError, TopicAlreadyExistsError, for_code

READ_COMMITTED = "read_committed"


def transactional_producer(
    bootstrap_servers: str, transactional_id: str, *, linger_ms: int = 5
) -> AIOKafkaProducer:
    """A producer with a transactional id, and so idempotent with `acks=all`.

    A second producer started with the same id fences this one: a zombie can no longer
    commit anything once its successor has called `begin_transaction`.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        transactional_id=transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
        max_batch_size=1024 * 1024,
    )


def idempotent_producer(bootstrap_servers: str, *, linger_ms: int = 5) -> AIOKafkaProducer:
    """An idempotent producer without transactions (`acks=all`), for dead letters."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
    )


def read_committed_consumer(
    bootstrap_servers: str, *topics: str, **kwargs: object
) -> AIOKafkaConsumer:
    """A consumer that only sees records of committed transactions."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        isolation_level=READ_COMMITTED,
        enable_auto_commit=False,
        **kwargs,
    )


async def ensure_topic(
    bootstrap_servers: str,
    name: str,
    *,
    partitions: int = 1,
    config: dict[str, str] | None = None,
) -> None:
    """Create a topic if it does not exist yet (replication factor 1 suits one local broker)."""
    topic = NewTopic(
        name, num_partitions=partitions, replication_factor=1, topic_configs=config or {}
    )
    async with kafka_admin(bootstrap_servers) as admin:
        # The broker answers each topic with an error code rather than raising.
        response = await admin.create_topics([topic])
    for answer in response.topic_errors:  # (topic, error_code[, error_message])
        error = for_code(answer[1])
        if error is not NoError and error is not TopicAlreadyExistsError:
            detail = answer[2] if len(answer) > 2 else error.description
            raise error(f"cannot create topic {name!r}: {detail}")


async def delete_topics(bootstrap_servers: str, wanted: Callable[[str], bool]) -> list[str]:
    """Delete every existing topic whose name is `wanted`; return their names, sorted."""
    async with kafka_admin(bootstrap_servers) as admin:
        names = sorted(name for name in await admin.list_topics() if wanted(name))
        if names:
            await admin.delete_topics(names)
    return names


@asynccontextmanager
async def kafka_admin(bootstrap_servers: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on the way out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()
