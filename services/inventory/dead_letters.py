"""The dead-letter topic: records that can never be applied, kept with the reason why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from mode import Service

from shared.kafka import idempotent_producer


@dataclass(frozen=True)
class SourceRecord:
    """A record as it was read from Kafka: where it came from and what it carried."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def dead_letter_headers(record: SourceRecord, reason: str) -> list[tuple[str, bytes]]:
    """The original headers plus why the record failed and where it came from."""
    return [
        *record.headers,
        ("dlq_reason", reason.encode("utf-8", "replace")),
        ("dlq_source_topic", record.topic.encode()),
        ("dlq_source_partition", str(record.partition).encode()),
        ("dlq_source_offset", str(record.offset).encode()),
    ]


class DeadLetters(Service):
    """An idempotent producer to the dead-letter topic, started and stopped with the app."""

    def __init__(self, bootstrap_servers: str, topic: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._producer: AIOKafkaProducer | None = None

    async def on_start(self) -> None:
        self._producer = idempotent_producer(self.bootstrap_servers)
        await self._producer.start()

    async def on_stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, record: SourceRecord, reason: str) -> None:
        """Write `record` to the dead-letter topic and wait until the broker has it."""
        if self._producer is None:
            raise RuntimeError("the dead-letter producer is not started: start the app first")
        await self._producer.send_and_wait(
            self.topic, key=record.key, value=record.value,
            headers=dead_letter_headers(record, reason),
        )
