"""Dead letters listed and replayed (`shared/inbox/replay.py`), on the real Kafka and PostgreSQL.

What dead-letters here: nothing in the inventory both dead-letters and can be fixed later (an
unknown SKU or too little stock is a rejection, not a dead letter; a record its model refuses
stays refused). So the test deploys the inventory with a bug first: its `OrderCreated`
handler writes a reservation status the table's CHECK refuses, a record fault the reader
dead-letters. The fix is the real inventory, started in the same consumer group; the
replayed record is then applied by its real handler.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import aiopg
import httpx
import pytest
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord, TopicPartition

from services.inventory import app as inventory_app
from services.inventory.app import create_app
from services.inventory.handlers import release_stock, set_stock
from services.inventory.settings import InventorySettings
from shared.events import OrderCancelled, OrderCreated
from shared.inbox.dead_letters import DeadLetters, SourceRecord, dead_letter_topic
from shared.inbox.registry import Registry
from shared.inbox.replay import (
    Selection,
    ledger_topic,
    read_dead_letters,
    replay,
    waiting_dead_letters,
)
from shared.inbox.replay_cli import Target, run
from shared.kafka import ensure_topic, kafka_admin, read_committed_consumer
from shared.settings import CommonSettings
from tests.conftest import World
from tests.support.faust_apps import running_app, wait_until
from tests.support.inventory import (
    available,
    committed_offsets,
    count,
    inventory_settings,
    outcome_of,
    settings_env,
)
from tests.support.metrics import until_scraped
from tests.support.order_events import (
    order_created,
    publish,
    publish_raw,
    read_committed,
    record_of,
    relay_producer,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
INVENTORY_TOOL = "services.inventory.dead_letters"
ORDER_TOOL = "services.order.dead_letters"


async def reserve_stock_with_a_bug(cur: aiopg.Cursor, event: OrderCreated) -> None:
    """The release with a bug: it records the order with a status the table refuses."""
    await cur.execute(
        "INSERT INTO reservations (order_id, event_id, status) VALUES (%s, %s, 'pending')",
        (event.payload.order_id, event.event_id))


HANDLERS_WITH_A_BUG = Registry({OrderCreated: reserve_stock_with_a_bug,
                                OrderCancelled: release_stock})


@pytest.fixture
def settings(world: World) -> InventorySettings:
    return inventory_settings(world)


def metrics_client(settings: InventorySettings) -> httpx.AsyncClient:
    """A client of the running inventory's HTTP server (`/metrics`)."""
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.inventory_http_port}")


async def tool(settings: CommonSettings, *args: str,
               module: str = INVENTORY_TOOL) -> subprocess.CompletedProcess[str]:
    """Run the dead-letter tool as a user does, with these settings in its environment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=REPO_ROOT,
        env={**os.environ, **settings_env(settings)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return subprocess.CompletedProcess(list(args), process.returncode, stdout.decode(),
                                       stderr.decode())


async def tool_here(settings: CommonSettings, *args: str) -> subprocess.CompletedProcess[str]:
    """The same tool in this process (its own event loop, in a thread): quicker."""
    out, err = io.StringIO(), io.StringIO()
    target = Target(settings.kafka_bootstrap_servers, settings.order_events_topic)
    status = await asyncio.to_thread(
        run, list(args), lambda: target, prog="dead_letters", reader="the inventory's reader",
        topic_setting="ORDER_EVENTS_TOPIC", out=out, err=err)
    return subprocess.CompletedProcess(list(args), status, out.getvalue(), err.getvalue())


async def committed_records(servers: str, topic: str) -> list[ConsumerRecord]:
    """Every committed record of `topic` (read_committed, up to the last stable offsets)."""
    async with kafka_admin(servers) as admin:  # every topic: naming one would create it
        described = {item["topic"]: item for item in await admin.describe_topics()}
    if topic not in described:
        return []
    tps = [TopicPartition(topic, partition)
           for partition in range(len(described[topic]["partitions"]))]
    consumer = read_committed_consumer(servers, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        found: list[ConsumerRecord] = []
        async with asyncio.timeout(30):
            for tp in tps:
                while await consumer.position(tp) < end[tp]:
                    fetched = await consumer.getmany(tp, timeout_ms=100)
                    found.extend(record for record in fetched.get(tp, [])
                                 if record.offset < end[tp])
        return found
    finally:
        await consumer.stop()


async def dead_letter(settings: CommonSettings, *records: SourceRecord) -> None:
    """Put records on the dead-letter topic as the reader does (its producer, its headers)."""
    dlq = dead_letter_topic(settings.order_events_topic)
    await ensure_topic(settings.kafka_bootstrap_servers, dlq,
                       partitions=settings.order_events_partitions)
    letters = DeadLetters(settings.kafka_bootstrap_servers, dlq)
    await letters.start()
    try:
        for record in records:
            await letters.send(record, f"a fault of record {record.offset}")
    finally:
        await letters.stop()


def dlq_partition(settings: CommonSettings, event: OrderCreated) -> int:
    """The dead-letter topic's partition its record goes to (the producer's key hash)."""
    key = record_of(event)[0]
    partitions = list(range(settings.order_events_partitions))
    return int(DefaultPartitioner()(key, partitions, partitions))


def source_record(settings: CommonSettings, event: OrderCreated, *, partition: int,
                  offset: int) -> SourceRecord:
    key, value, headers = record_of(event)
    return SourceRecord(settings.order_events_topic, partition, offset, key, value,
                        tuple(headers))


async def test_a_dead_letter_replayed_once_its_cause_is_fixed_is_applied_once(
    settings: InventorySettings, inventory_pool: aiopg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers, topic = settings.kafka_bootstrap_servers, settings.order_events_topic
    dlq = dead_letter_topic(topic)
    await set_stock(inventory_pool, "APPLE", 10)
    event = order_created(("APPLE", 3))
    order_id = event.payload.order_id

    # 1. The inventory with the bug dead-letters the order, and moves past it.
    with monkeypatch.context() as patch:
        patch.setattr(inventory_app, "HANDLERS", HANDLERS_WITH_A_BUG)
        with_a_bug = create_app(settings)
    async with running_app(with_a_bug), relay_producer(servers) as producer:
        [sent] = await publish(producer, topic, [event])
        [dead] = await read_committed(servers, dlq, count=1)

        async def moved_past() -> bool:
            offsets = await committed_offsets(servers, settings.inventory_service_name, topic)
            return bool(offsets.get(sent.partition) == sent.offset + 1)

        # The fixed inventory will never read the original record again: only the replay.
        await wait_until(moved_past, what="the dead-lettered record's offset committed")
        async with metrics_client(settings) as client:
            await until_scraped(client, "inbox_dead_letters_waiting", 1, topic=topic)
    assert await outcome_of(inventory_pool, order_id) is None
    assert await available(inventory_pool, "APPLE") == 10
    assert await count(inventory_pool, "processed_events") == 0
    assert await waiting_dead_letters(servers, topic) == 1
    ref = f"{dead.partition}:{dead.offset}"

    # 2. `list`, the real entry point: one line, all of it.
    listed = await tool(settings, "list")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.startswith(f"{ref} time=20")
    assert f" source={topic}[{sent.partition}]@{sent.offset} " in line
    assert f" type=OrderCreated event_id={event.event_id} replayed=no " in line
    assert ' reason="CheckViolation: new row for relation \\"reservations\\"' in line
    assert f" value={record_of(event)[1].decode()[:60]}..." in line
    assert listed.stderr.strip().splitlines()[-1] == f"{dlq}: 1 dead letters, 1 not replayed"

    # 3. The fix is deployed (the real inventory, same consumer group); the replay.
    async with running_app(create_app(settings)), relay_producer(servers) as producer:
        replayed = await tool(settings, "replay", "--event-id", str(event.event_id))
        assert replayed.returncode == 0, replayed.stderr
        [said] = replayed.stdout.splitlines()
        assert said.startswith(
            f"replayed {ref} (event {event.event_id}, OrderCreated) as {topic}[{sent.partition}]@")

        async def reserved() -> bool:
            return await outcome_of(inventory_pool, order_id) is not None

        await wait_until(reserved, what="the replayed order's outcome")
        assert await outcome_of(inventory_pool, order_id) == ("reserved", None)
        assert await available(inventory_pool, "APPLE") == 7
        assert await count(inventory_pool, "processed_events") == 1

        # On the source topic: the original, then the replay, as it was, saying what it is.
        original, again = await committed_records(servers, topic)
        assert (again.partition, again.key, again.value) == (
            sent.partition, original.key, original.value)
        assert said.endswith(f"@{again.offset}")
        assert not [name for name, _ in again.headers if name.startswith("dlq_")]
        assert [header for header in again.headers if header[0] != "traceparent"] == [
            *record_of(event)[2], ("replay_of", f"{dlq}[{dead.partition}]@{dead.offset}".encode())]
        assert await waiting_dead_letters(servers, topic) == 0
        async with metrics_client(settings) as client:
            await until_scraped(client, "inbox_dead_letters_waiting", 0, topic=topic)
        relisted = await tool_here(settings, "list")
        [line] = relisted.stdout.splitlines()
        assert f" replayed={topic}[{again.partition}]@{again.offset} " in line

        # 4. A second replay of the same record is refused, by id or by offset; --all finds
        # nothing to do; nothing new on the source topic or in the ledger.
        refused = await tool(settings, "replay", "--event-id", str(event.event_id))
        assert (refused.returncode, refused.stdout) == (2, "")
        [error] = refused.stderr.splitlines()
        assert error == (f"error: replayed already, not again: {ref} (event {event.event_id}, "
                         f"replayed as {topic}[{again.partition}]@{again.offset}); "
                         "nothing was replayed")
        by_offset = await tool_here(settings, "replay", "--offset", ref)
        assert by_offset.returncode == 2
        assert f"replayed already, not again: {ref} " in by_offset.stderr
        everything = await tool_here(settings, "replay", "--all")
        assert (everything.returncode, everything.stdout) == (0, "")
        assert "nothing to replay" in everything.stderr
        assert len(await committed_records(servers, topic)) == 2
        assert len(await committed_records(servers, ledger_topic(topic))) == 1

        # 5. The replayed record delivered again (a relay's re-send, say) changes nothing.
        await publish_raw(producer, topic, [(again.key, again.value, list(again.headers))],
                          partition=again.partition)
        later = order_created(("APPLE", 1))
        await publish(producer, topic, [later], partition=again.partition)

        async def later_applied() -> bool:
            return await outcome_of(inventory_pool, later.payload.order_id) is not None

        await wait_until(later_applied, what="the order after the duplicate")
    assert await outcome_of(inventory_pool, order_id) == ("reserved", None)
    assert await available(inventory_pool, "APPLE") == 10 - 3 - 1
    assert await count(inventory_pool, "processed_events") == 2
    assert await count(inventory_pool, "reservation_lines") == 2


async def test_unknown_ids_and_offsets_are_refused_on_one_line_and_nothing_is_written(
    settings: InventorySettings,
) -> None:
    servers, topic = settings.kafka_bootstrap_servers, settings.order_events_topic
    first = order_created(("APPLE", 1))
    second = order_created(("PEAR", 1))
    while dlq_partition(settings, second) == dlq_partition(settings, first):
        second = order_created(("PEAR", 1))
    # Both at offset 0 of their partition of the dead-letter topic: `0` alone is ambiguous.
    await dead_letter(settings, source_record(settings, first, partition=0, offset=5),
                      source_record(settings, second, partition=1, offset=7))
    state = await read_dead_letters(servers, topic)
    assert {(letter.partition, letter.offset) for letter in state.letters} == {
        (dlq_partition(settings, first), 0), (dlq_partition(settings, second), 0)}
    stranger = uuid.uuid4()
    low, high = sorted((dlq_partition(settings, first), dlq_partition(settings, second)))
    second_ref = f"{dlq_partition(settings, second)}:0"

    cases = {
        ("--event-id", str(stranger)): f"has no dead letter with event id {stranger}",
        ("--event-id", str(first.event_id), "--event-id", "nope"):
            "has no dead letter with event id nope",
        ("--offset", f"{low}:9", "--offset", "42", "--offset", f"{high}:0"):
            f"has no dead letter at offset {low}:9, 42",
        ("--offset", "abc"): "not an offset (OFFSET or PARTITION:OFFSET): abc",
        ("--offset", "0"): f"offset 0 is on partitions {low}, {high}: name one as {low}:0 or "
                           f"{high}:0",
        ("--all", "--offset", f"{low}:0"): "replay needs --all, or --event-id / --offset",
        (): "replay needs --all, or --event-id / --offset",
        ("--bogus",): "unrecognized arguments: --bogus",
    }
    for args, message in cases.items():
        result = await tool_here(settings, "replay", *args)
        assert (result.returncode, result.stdout) == (2, ""), args
        [line] = result.stderr.splitlines()
        assert line.startswith("error: "), (args, line)
        assert message in line, (args, line)
    # The real entry point says the same, on one line.
    result = await tool(settings, "replay", "--event-id", str(stranger), "--offset", "3:3")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"error: {dead_letter_topic(topic)} has no dead letter with event id {stranger}; "
        f"{dead_letter_topic(topic)} has no dead letter at offset 3:3; nothing was replayed"]

    assert await committed_records(servers, topic) == []
    assert await committed_records(servers, ledger_topic(topic)) == []
    assert await waiting_dead_letters(servers, topic) == 2
    listed = await tool_here(settings, "list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [f"{low}:0", f"{high}:0"]
    assert all(" replayed=no " in line for line in listed.stdout.splitlines())
    # With the same input made right, the replay goes through.
    result = await tool_here(settings, "replay", "--offset", second_ref, "--event-id",
                             str(first.event_id))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert len(await committed_records(servers, topic)) == 2
    assert await waiting_dead_letters(servers, topic) == 0


async def test_a_second_replay_started_meanwhile_fences_the_first_and_the_record_goes_once(
    settings: InventorySettings,
) -> None:
    servers, topic = settings.kafka_bootstrap_servers, settings.order_events_topic
    event = order_created(("APPLE", 1))
    await dead_letter(settings, source_record(settings, event, partition=2, offset=3))
    second: list[object] = []

    async def second_run() -> None:
        # While the first run's transaction is open, with its record written.
        second.extend(await replay(servers, topic, Selection(every_waiting=True)))

    with pytest.raises(KafkaError):
        await replay(servers, topic, Selection(event_ids=(str(event.event_id),)),
                     before_commit=second_run)
    assert len(second) == 1
    [record] = await committed_records(servers, topic)
    assert record.value == record_of(event)[1]
    assert len(await committed_records(servers, ledger_topic(topic))) == 1
    assert await waiting_dead_letters(servers, topic) == 0
    refused = await tool_here(settings, "replay", "--all")
    assert (refused.returncode, refused.stdout) == (0, "")


async def test_the_order_services_tool_replays_the_dead_letters_of_inventory_events(
    world: World,
) -> None:
    settings = inventory_settings(world)  # any service's settings name the same topics
    servers, topic = settings.kafka_bootstrap_servers, settings.inventory_events_topic
    dlq = dead_letter_topic(topic)
    await ensure_topic(servers, dlq, partitions=settings.inventory_events_partitions)
    letters = DeadLetters(servers, dlq)
    await letters.start()
    try:
        await letters.send(SourceRecord(topic, 1, 4, b"order-1", b'{"event_type": "Nope"', ()),
                           "value: Invalid JSON")
    finally:
        await letters.stop()

    listed = await tool(settings, "list", module=ORDER_TOOL)
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.startswith("1:0 ")
    assert f" source={topic}[1]@4 type=- event_id=- replayed=no " in line
    assert line.endswith(' reason="value: Invalid JSON" value={"event_type": "Nope"')
    replayed = await tool(settings, "replay", "--offset", "0", module=ORDER_TOOL)
    assert replayed.returncode == 0, replayed.stderr
    [record] = await committed_records(servers, topic)
    assert (record.partition, record.key, record.value) == (1, b"order-1", b'{"event_type": "Nope"')
    assert list(record.headers) == [("replay_of", f"{dlq}[1]@0".encode())]


def test_help_says_what_each_tool_does_without_any_settings() -> None:
    env = {name: value for name, value in os.environ.items() if name != "POSTGRES_PASSWORD"}
    for module, topic in ((INVENTORY_TOOL, "order.events"), (ORDER_TOOL, "inventory.events")):
        result = subprocess.run([sys.executable, "-m", module, "--help"], cwd="/",
                                env={**env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert "dead letters" in result.stdout
        assert topic in result.stdout
        assert "replay --event-id ID" in result.stdout
