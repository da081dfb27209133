"""Smoke tests of the local infrastructure started by ``infra/up.sh``.

They talk to the real PostgreSQL cluster and Kafka broker and check the
properties the outbox services rely on: Kafka transactions (read_committed
isolation and producer fencing), PostgreSQL LISTEN/NOTIFY through aiopg, and
logical replication slots for Debezium.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import aiopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, ProducerFenced

BOOTSTRAP_SERVERS = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
POSTGRES_HOST = os.environ.get("POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("POSTGRES_PORT", "55432"))
POSTGRES_USER = os.environ.get("POSTGRES_USER", "outbox")
POSTGRES_PASSWORD = os.environ.get("POSTGRES_PASSWORD", "outbox-dev-password")
ORDER_DB_NAME = os.environ.get("ORDER_DB_NAME", "orders")
INVENTORY_DB_NAME = os.environ.get("INVENTORY_DB_NAME", "inventory")

# Generous bounds: the first transaction on a fresh broker creates the
# __transaction_state topic, which takes a few seconds on a small machine.
TIMEOUT = 30.0


def dsn(database: str) -> str:
    return (
        f"host={POSTGRES_HOST} port={POSTGRES_PORT} dbname={database} "
        f"user={POSTGRES_USER} password={POSTGRES_PASSWORD}"
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    """A fresh single-partition topic, deleted afterwards."""
    name = unique("infra-smoke")
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP_SERVERS)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=name, num_partitions=1, replication_factor=1)])
        yield name
    finally:
        try:
            await admin.delete_topics([name])
        finally:
            await admin.close()


def transactional_producer(transactional_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP_SERVERS,
        transactional_id=transactional_id,
        enable_idempotence=True,
        request_timeout_ms=int(TIMEOUT * 1000),
    )


async def read_committed(topic: str, until: bytes) -> list[bytes]:
    """Values visible to a read_committed consumer, up to and including `until`."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP_SERVERS,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            while until not in values:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    values.extend(record.value for record in records)
    finally:
        await consumer.stop()
    return values


async def test_read_committed_consumer_sees_only_committed_transactions(
    topic: str,
) -> None:
    producer = transactional_producer(unique("infra-smoke-txn"))
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"committed-1")

        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"aborted")
        await producer.abort_transaction()

        # A later committed record proves the consumer read past the aborted one.
        async with producer.transaction():
            await producer.send_and_wait(topic, b"committed-2")
    finally:
        await producer.stop()

    values = await read_committed(topic, until=b"committed-2")
    assert values == [b"committed-1", b"committed-2"]


async def test_second_producer_with_same_transactional_id_fences_the_first(
    topic: str,
) -> None:
    transactional_id = unique("infra-smoke-fence")
    first = transactional_producer(transactional_id)
    second = transactional_producer(transactional_id)
    await first.start()
    try:
        await first.begin_transaction()
        await first.send_and_wait(topic, b"from-first")

        # Starting the second producer bumps the epoch of the transactional id
        # and aborts the first producer's open transaction.
        await second.start()
        try:
            async with second.transaction():
                await second.send_and_wait(topic, b"from-second")

            async def zombie_commit() -> None:
                await first.send_and_wait(topic, b"zombie")
                await first.commit_transaction()

            with pytest.raises(ProducerFenced):
                await asyncio.wait_for(zombie_commit(), TIMEOUT)
        finally:
            await second.stop()
    finally:
        # A fenced producer may fail to shut down cleanly.
        with contextlib.suppress(KafkaError):
            await first.stop()

    values = await read_committed(topic, until=b"from-second")
    assert values == [b"from-second"]


async def test_listen_notify_through_aiopg() -> None:
    channel = unique("infra_smoke").replace("-", "_")
    payload = uuid.uuid4().hex
    async with aiopg.connect(dsn(ORDER_DB_NAME)) as listener:
        async with listener.cursor() as cur:
            await cur.execute(f'LISTEN "{channel}"')
        async with aiopg.connect(dsn(ORDER_DB_NAME)) as notifier, notifier.cursor() as cur:
            await cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))
        message = await asyncio.wait_for(listener.notifies.get(), TIMEOUT)
    assert message.channel == channel
    assert message.payload == payload


@pytest.mark.parametrize("database", [ORDER_DB_NAME, INVENTORY_DB_NAME])
async def test_logical_replication_slot_can_be_created_and_dropped(
    database: str,
) -> None:
    slot = unique("infra_smoke_slot").replace("-", "_")
    async with aiopg.connect(dsn(database)) as conn, conn.cursor() as cur:
        await cur.execute("SHOW wal_level")
        assert await cur.fetchone() == ("logical",)

        await cur.execute(
            "SELECT slot_name FROM pg_create_logical_replication_slot(%s, 'pgoutput')",
            (slot,),
        )
        assert await cur.fetchone() == (slot,)
        try:
            await cur.execute(
                "SELECT plugin, slot_type, database FROM pg_replication_slots WHERE slot_name = %s",
                (slot,),
            )
            assert await cur.fetchone() == ("pgoutput", "logical", database)
        finally:
            await cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))

        await cur.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        )
        assert await cur.fetchone() == (0,)
