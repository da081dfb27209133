"""Wiring a reader into a service's Faust app: its topic, dead letters and agent."""

from __future__ import annotations

from typing import Any

import faust
from opentelemetry import trace

from shared.app import metrics_of
from shared.db import HasPool
from shared.inbox.agent import batching_agent
from shared.inbox.dead_letters import DeadLetters
from shared.inbox.metrics import InboxMetrics, consumer_lag
from shared.inbox.reader import Reader
from shared.inbox.registry import Registry
from shared.retry import Backoff
from shared.settings import ConsumerSettings
from shared.topics import EnsureTopics


def consumer_options(settings: ConsumerSettings) -> dict[str, Any]:
    """The `faust_app` options of an app that reads through the inbox.

    Offsets are committed only for records acked after applying them; stopping does not wait
    for a record stuck in retries (it is read again after the restart).
    """
    return {
        "stream_wait_empty": False,
        "broker_session_timeout": settings.consumer_session_timeout_seconds,
        "broker_heartbeat_interval": settings.consumer_session_timeout_seconds / 3,
        "broker_commit_interval": settings.consumer_commit_interval_seconds,
    }


def dead_letter_topic(topic: str) -> str:
    """Where the records of `topic` that can never be applied go."""
    return f"{topic}.dlq"


def read_topic(
    app: faust.App,
    *,
    topic: str,
    partitions: int,
    registry: Registry,
    database: HasPool,
    settings: ConsumerSettings,
    tracer: trace.Tracer,
    agent_name: str,
) -> Reader:
    """Read `topic` with an agent that applies each record once through `registry`.

    The app must read committed records only (`shared.inbox.transport.use_read_committed`,
    called right after creating it). Adds, as the app's dependencies, the creation of the
    topic and its dead-letter topic, and the dead-letter producer. With the app's metrics,
    the reader counts what it does and the consumer's lag is sampled.
    """
    servers = settings.kafka_bootstrap_servers
    dead_letters_topic = dead_letter_topic(topic)
    dead_letters = DeadLetters(servers, dead_letters_topic, tracer=tracer)
    app.add_dependency(EnsureTopics(servers, {topic: partitions, dead_letters_topic: partitions}))
    app.add_dependency(dead_letters)
    reader = Reader(
        database, registry, dead_letters,
        Backoff(settings.consumer_retry_initial_seconds, settings.consumer_retry_max_seconds),
        tracer=tracer,
    )
    metrics = metrics_of(app)
    if metrics is not None:
        reader.metrics = InboxMetrics(metrics.meter, topic)
        metrics.add_sampler(consumer_lag(app, topic, reader.metrics.lag))
    channel = app.topic(topic, key_serializer="raw", value_serializer="raw")
    app.agent(channel, name=agent_name)(
        batching_agent(reader, batch_size=settings.consumer_batch_size))
    return reader
