"""Dead letters looked at and put back on their topic, each once.

A dead letter is a record of `<topic>.dlq` (`dead_letters.py`): the original key, value and
headers, plus `dlq_*` headers saying why it failed and where it was read. Once its cause is
fixed (a handler repaired, say), `replay` writes it back to its source topic, in the partition
it came from, with its original key, value and headers (without the `dlq_*` ones) and a
`replay_of` header naming the dead letter; and in the same Kafka transaction it writes one
record to the replay ledger, `<topic>.dlq.replays` (compacted, one partition, keyed by the
dead letter's `partition:offset`). So a dead letter is replayed exactly when the ledger says
so, and a second replay of it is refused. Applying a replayed event twice (the record
delivered again, say) changes nothing: the reader dedupes by event id.

Every run of one topic's replay uses the same transactional id: starting its producer fences
any other run still going (whose transaction is then aborted, and whose commit fails), and
the ledger is read only after that, so that it can no longer change under the run.

A dead letter is named by `PARTITION:OFFSET` in the dead-letter topic (`OFFSET` alone when
only one partition has it), or by the event id it carries.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition

from shared.inbox.dead_letters import dead_letter_topic
from shared.kafka import ensure_topic, kafka_admin, read_committed_consumer, transactional_producer
from shared.kafka_tracing import header_text

REPLAY_HEADER = "replay_of"
DEAD_LETTER_HEADER_PREFIX = "dlq_"
_READ_TIMEOUT_SECONDS = 60.0

Headers = tuple[tuple[str, bytes], ...]


def ledger_topic(topic: str) -> str:
    """The replay ledger of `topic`'s dead letters."""
    return f"{dead_letter_topic(topic)}.replays"


def replay_transactional_id(topic: str) -> str:
    """One id for every replay of `topic`'s dead letters: a second run fences the first."""
    return f"dead-letter-replay.{dead_letter_topic(topic)}"


class ReplayRefused(Exception):
    """The records asked for cannot be replayed (unknown, ambiguous or replayed already).

    The message is one line naming each of them; nothing was written.
    """


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, as it is stored there."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def ref(self) -> str:
        """What names it: `partition:offset` in the dead-letter topic."""
        return f"{self.partition}:{self.offset}"

    @property
    def time(self) -> datetime:
        """When it was dead-lettered (the record's timestamp)."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def reason(self) -> str | None:
        return header_text(self.headers, "dlq_reason")

    @property
    def source_topic(self) -> str | None:
        return header_text(self.headers, "dlq_source_topic")

    @property
    def source_partition(self) -> int | None:
        return _int_or_none(header_text(self.headers, "dlq_source_partition"))

    @property
    def source_offset(self) -> int | None:
        return _int_or_none(header_text(self.headers, "dlq_source_offset"))

    @property
    def event_id(self) -> str | None:
        """The `event_id` header, else the value's own field; None if neither has one."""
        return header_text(self.headers, "event_id") or _value_field(self.value, "event_id")

    @property
    def event_type(self) -> str | None:
        return header_text(self.headers, "event_type") or _value_field(self.value, "event_type")

    def replay_headers(self, dlq_topic: str) -> list[tuple[str, bytes]]:
        """The original headers, without the dead-letter ones, and one naming this record."""
        kept = [(key, value) for key, value in self.headers
                if not key.startswith(DEAD_LETTER_HEADER_PREFIX) and key != REPLAY_HEADER]
        return [*kept, (REPLAY_HEADER, f"{dlq_topic}[{self.partition}]@{self.offset}".encode())]


@dataclass(frozen=True)
class Replay:
    """A ledger entry: a dead letter put back, where it went, and when."""

    ref: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    replayed_at: str | None = None

    @property
    def target(self) -> str:
        """Where the replayed record is, as `topic[partition]@offset`."""
        if self.topic is None:
            return "?"
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class DeadLetters:
    """Everything a dead-letter topic holds, and which of its records were replayed."""

    topic: str  # the source topic, whose dead letters these are
    letters: tuple[DeadLetter, ...]
    replays: dict[str, Replay] = field(default_factory=dict)

    @property
    def dlq_topic(self) -> str:
        return dead_letter_topic(self.topic)

    def replay_of(self, letter: DeadLetter) -> Replay | None:
        """Its ledger entry, or None while it is not replayed."""
        return self.replays.get(letter.ref)

    @property
    def waiting(self) -> list[DeadLetter]:
        """The records not replayed yet, in partition and offset order."""
        return [letter for letter in self.letters if letter.ref not in self.replays]


@dataclass(frozen=True)
class Selection:
    """Which dead letters a replay is for: by event id, by `[partition:]offset`, or all."""

    event_ids: tuple[str, ...] = ()
    offsets: tuple[str, ...] = ()
    every_waiting: bool = False


@dataclass(frozen=True)
class Replayed:
    """One dead letter a replay put back, and where it went."""

    letter: DeadLetter
    topic: str
    partition: int
    offset: int


def choose(state: DeadLetters, selection: Selection) -> list[DeadLetter]:
    """The dead letters to replay, in partition and offset order; raise ReplayRefused if any
    named one is unknown, ambiguous or replayed already (the message names each)."""
    if selection.every_waiting:
        return state.waiting
    by_ref = {letter.ref: letter for letter in state.letters}
    chosen: dict[str, DeadLetter] = {}
    unknown_ids, unknown_offsets, ambiguous, malformed = [], [], [], []
    replayed: list[str] = []
    for wanted in selection.event_ids:
        letters = [letter for letter in state.letters
                   if (letter.event_id or "").lower() == wanted.strip().lower()]
        if not letters:
            unknown_ids.append(wanted)
            continue
        waiting = [letter for letter in letters if state.replay_of(letter) is None]
        if not waiting:
            replayed.extend(_replayed_text(state, letter) for letter in letters)
        chosen.update((letter.ref, letter) for letter in waiting)
    for wanted in selection.offsets:
        refs = _refs_named(wanted, state.letters)
        if refs is None:
            malformed.append(wanted)
        elif not refs:
            unknown_offsets.append(wanted)
        elif len(refs) > 1:
            ambiguous.append(f"offset {wanted} is on partitions "
                             f"{', '.join(ref.split(':')[0] for ref in refs)}: name one as "
                             f"{' or '.join(refs)}")
        elif state.replays.get(refs[0]) is not None:
            replayed.append(_replayed_text(state, by_ref[refs[0]]))
        else:
            chosen[refs[0]] = by_ref[refs[0]]
    problems = []
    if malformed:
        problems.append(f"not an offset (OFFSET or PARTITION:OFFSET): {', '.join(malformed)}")
    if unknown_ids:
        problems.append(f"{state.dlq_topic} has no dead letter with event id "
                        f"{', '.join(unknown_ids)}")
    if unknown_offsets:
        problems.append(f"{state.dlq_topic} has no dead letter at offset "
                        f"{', '.join(unknown_offsets)}")
    problems.extend(ambiguous)
    if replayed:
        problems.append(f"replayed already, not again: {', '.join(dict.fromkeys(replayed))}")
    if problems:
        raise ReplayRefused("; ".join(problems))
    return sorted(chosen.values(), key=lambda letter: (letter.partition, letter.offset))


async def read_dead_letters(bootstrap_servers: str, topic: str) -> DeadLetters:
    """Every committed record of `<topic>.dlq`, and the replay ledger, read to their ends.

    A topic that does not exist is read as empty (and is not created).
    """
    dlq, ledger = dead_letter_topic(topic), ledger_topic(topic)
    partitions = await _partition_counts(bootstrap_servers, [dlq, ledger])
    read = await _read_to_end(bootstrap_servers, [
        TopicPartition(name, partition)
        for name in (dlq, ledger) for partition in range(partitions.get(name, 0))])
    records = [record for record in read if record.topic == dlq]
    replays = _replays_of(record for record in read if record.topic == ledger)
    letters = tuple(DeadLetter(
        partition=record.partition, offset=record.offset, timestamp_ms=record.timestamp,
        key=record.key, value=record.value, headers=tuple(record.headers or ()),
    ) for record in records)
    return DeadLetters(topic, letters, replays)


async def replay(
    bootstrap_servers: str, topic: str, selection: Selection, *,
    before_commit: Callable[[], Awaitable[object]] | None = None,
) -> list[Replayed]:
    """Put the chosen dead letters of `topic` back on their source topic, in one transaction.

    Raises ReplayRefused (nothing written) when a named record is unknown, ambiguous or was
    replayed already, also by a run that finished while this one started. Returns what was
    replayed: nothing when `every_waiting` finds every record replayed. `before_commit` runs
    inside the transaction, just before its commit (tests use it to race a second run).
    """
    state = await read_dead_letters(bootstrap_servers, topic)
    # Refused before the producer starts: a mistyped id must not fence a run in progress.
    if not choose(state, selection):
        return []
    ledger = ledger_topic(topic)
    await ensure_topic(bootstrap_servers, ledger, partitions=1,
                       config={"cleanup.policy": "compact"})
    producer = transactional_producer(bootstrap_servers, replay_transactional_id(topic))
    # Starting it fences any other run: its open transaction is aborted, or completed first.
    await producer.start()
    try:
        # Only now is the ledger final: no other run can commit to it any more.
        fresh = await read_dead_letters(bootstrap_servers, topic)
        chosen = choose(replace(state, replays=fresh.replays), selection)
        if not chosen:
            return []
        await producer.begin_transaction()
        try:
            replayed = await _send(producer, state.dlq_topic, topic, chosen)
            await _record(producer, ledger, replayed)
            if before_commit is not None:
                await before_commit()
            await producer.commit_transaction()
        except BaseException:
            with suppress(Exception):  # fenced, say: the transaction is aborted anyway
                await producer.abort_transaction()
            raise
    finally:
        await producer.stop()
    return replayed


async def waiting_dead_letters(bootstrap_servers: str, topic: str) -> int:
    """How many records of `<topic>.dlq` are not replayed yet (0 if it does not exist).

    Cheap: the dead-letter topic is not read, only its offsets (its producer is idempotent
    and not transactional, so each record takes one offset); the small ledger is read fully,
    and its entries for records that retention removed already are not counted.
    """
    dlq, ledger = dead_letter_topic(topic), ledger_topic(topic)
    partitions = await _partition_counts(bootstrap_servers, [dlq, ledger])
    if not partitions.get(dlq):
        return 0
    tps = [TopicPartition(dlq, partition) for partition in range(partitions[dlq])]
    consumer = read_committed_consumer(bootstrap_servers, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        async with asyncio.timeout(_READ_TIMEOUT_SECONDS):
            begin = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    replays = _replays_of(await _read_to_end(bootstrap_servers, [
        TopicPartition(ledger, partition) for partition in range(partitions.get(ledger, 0))]))
    total: int = sum(end[tp] - begin[tp] for tp in tps)
    replayed = 0
    for ref in replays:
        partition, _, offset = ref.partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            continue
        tp = TopicPartition(dlq, int(partition))
        if tp in begin and begin[tp] <= int(offset) < end[tp]:
            replayed += 1
    return max(total - replayed, 0)


async def _send(producer: AIOKafkaProducer, dlq_topic: str, topic: str,
                letters: Sequence[DeadLetter]) -> list[Replayed]:
    sending = []
    for letter in letters:
        target = letter.source_topic or topic
        sending.append((letter, target, await producer.send(
            target, key=letter.key, value=letter.value,
            headers=letter.replay_headers(dlq_topic), partition=letter.source_partition)))
    await producer.flush()
    replayed = []
    for letter, target, future in sending:
        sent = await future
        replayed.append(Replayed(letter, target, sent.partition, sent.offset))
    return replayed


async def _record(producer: AIOKafkaProducer, ledger: str, replayed: Iterable[Replayed]) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for item in replayed:
        body = {"event_id": item.letter.event_id, "event_type": item.letter.event_type,
                "topic": item.topic, "partition": item.partition, "offset": item.offset,
                "replayed_at": now}
        await producer.send(ledger, key=item.letter.ref.encode(), partition=0,
                            value=json.dumps(body, separators=(",", ":")).encode())


async def _partition_counts(bootstrap_servers: str, topics: Sequence[str]) -> dict[str, int]:
    """How many partitions each of `topics` has, for those that exist.

    Asks for the metadata of every topic: asking for named ones would create them on a broker
    that creates topics on first use.
    """
    async with kafka_admin(bootstrap_servers) as admin:
        described = await admin.describe_topics()
    return {item["topic"]: len(item["partitions"]) for item in described
            if item["topic"] in topics and item["error_code"] == 0 and item["partitions"]}


async def _read_to_end(bootstrap_servers: str,
                       partitions: Sequence[TopicPartition]) -> list[ConsumerRecord]:
    """Every committed record of `partitions`, from their beginnings to their last stable
    offsets, in topic, partition and offset order.

    One consumer, assigned once: aiokafka 0.14 can swallow the cancellation its `stop()` sends
    to the fetcher while a new assignment is cancelling the fetches of the old one, and then
    never stops; and its `stop()` right after `start()` raises CancelledError. So nothing is
    started when there is nothing to read, and the assignment never changes.
    """
    if not partitions:
        return []
    consumer = read_committed_consumer(bootstrap_servers, fetch_max_wait_ms=20)
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(_READ_TIMEOUT_SECONDS):
            tps = list(partitions)
            begin = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)  # read_committed: the last stable offsets
            pending = {tp for tp in tps if end[tp] > begin[tp]}
            if pending:
                consumer.assign(sorted(pending))
                for tp in pending:
                    consumer.seek(tp, begin[tp])
            while pending:
                fetched = await consumer.getmany(*pending, timeout_ms=100)
                for tp, records in fetched.items():
                    found.extend(record for record in records if record.offset < end[tp])
                for tp in list(pending):
                    # Transaction markers take offsets too: the position passes them.
                    if await consumer.position(tp) >= end[tp]:
                        pending.discard(tp)
    finally:
        await consumer.stop()
    return sorted(found, key=lambda record: (record.topic, record.partition, record.offset))


def _replays_of(records: Iterable[ConsumerRecord]) -> dict[str, Replay]:
    """The ledger's entries by dead letter (the last record of each key wins)."""
    replays: dict[str, Replay] = {}
    for record in records:
        if record.key is None:
            continue
        ref = record.key.decode("utf-8", "replace")
        if record.value is None:  # a tombstone: the entry was removed on purpose
            replays.pop(ref, None)
            continue
        try:
            body = json.loads(record.value)
            replays[ref] = Replay(ref, str(body["topic"]), int(body["partition"]),
                                  int(body["offset"]), str(body.get("replayed_at") or ""))
        except (ValueError, TypeError, KeyError):
            replays[ref] = Replay(ref)  # the key alone says it was replayed
    return replays


def _refs_named(wanted: str, letters: Sequence[DeadLetter]) -> list[str] | None:
    """The refs `OFFSET` or `PARTITION:OFFSET` names among `letters`; None if malformed."""
    partition_text, colon, offset_text = wanted.strip().rpartition(":")
    if not offset_text.isdigit() or (colon and not partition_text.isdigit()):
        return None
    offset = int(offset_text)
    partition = int(partition_text) if colon else None
    return [letter.ref for letter in letters
            if letter.offset == offset and partition in (None, letter.partition)]


def _replayed_text(state: DeadLetters, letter: DeadLetter) -> str:
    done = state.replay_of(letter)
    target = done.target if done is not None else "?"
    return f"{letter.ref} (event {letter.event_id or '-'}, replayed as {target})"


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _value_field(value: bytes | None, name: str) -> str | None:
    try:
        body = json.loads(value or b"")
    except ValueError:
        return None
    found = body.get(name) if isinstance(body, dict) else None
    return str(found) if isinstance(found, str | int) and found != "" else None
