"""The dead-letter topic: records that can never be applied, kept with the reason why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from mode import Service
from opentelemetry import trace

from shared.kafka import idempotent_producer
from shared.kafka_tracing import header_text, start_publish_span
from shared.tracing import INSTRUMENTATION_NAME, traceparent_of


def dead_letter_topic(topic: str) -> str:
    """Where the records of `topic` that can never be applied go."""
    return f"{topic}.dlq"


@dataclass(frozen=True)
class SourceRecord:
    """A record as it was read from Kafka: where it came from and what it carried."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def dead_letter_headers(
    record: SourceRecord, reason: str, traceparent: str | None = None
) -> list[tuple[str, bytes]]:
    """The original headers plus why the record failed and where it came from.

    A `traceparent` given (the dead-letter publish span's) replaces the record's own, so the
    dead letter stays in the trace of the record that carried it.
    """
    kept = [(key, value) for key, value in record.headers
            if traceparent is None or key != "traceparent"]
    trace_context = [("traceparent", traceparent.encode())] if traceparent else []
    return [
        *kept,
        *trace_context,
        ("dlq_reason", reason.encode("utf-8", "replace")),
        ("dlq_source_topic", record.topic.encode()),
        ("dlq_source_partition", str(record.partition).encode()),
        ("dlq_source_offset", str(record.offset).encode()),
    ]


class DeadLetters(Service):
    """An idempotent producer to the dead-letter topic, started and stopped with the app."""

    def __init__(self, bootstrap_servers: str, topic: str, *,
                 tracer: trace.Tracer | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._tracer = tracer or trace.get_tracer(INSTRUMENTATION_NAME)
        self._producer: AIOKafkaProducer | None = None

    async def on_start(self) -> None:
        self._producer = idempotent_producer(self.bootstrap_servers)
        await self._producer.start()

    async def on_stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, record: SourceRecord, reason: str) -> None:
        """Write `record` to the dead-letter topic and wait until the broker has it.

        In a publish span, child of the current (processing) span, whose context it carries.
        """
        if self._producer is None:
            raise RuntimeError("the dead-letter producer is not started: start the app first")
        span = start_publish_span(self._tracer, self.topic, key=record.key,
                                  message_id=header_text(record.headers, "event_id"))
        with trace.use_span(span, end_on_exit=True):
            await self._producer.send_and_wait(
                self.topic, key=record.key, value=record.value,
                headers=dead_letter_headers(record, reason, traceparent_of(span)),
            )
