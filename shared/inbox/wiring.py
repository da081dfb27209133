"""Wiring a reader into a service's Faust app: its topic, dead letters and agent."""

from __future__ import annotations

import functools
from typing import Any

import faust
from opentelemetry import trace

from shared.app import metrics_of
from shared.db import HasPool
from shared.inbox.agent import batching_agent
from shared.inbox.dead_letters import DeadLetters, dead_letter_topic
from shared.inbox.metrics import DeadLettersWaiting, InboxMetrics, consumer_lag
from shared.inbox.reader import Reader
from shared.inbox.registry import Registry
from shared.inbox.replay import waiting_dead_letters
from shared.inbox.retention import DedupeRetention
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
    topic and its dead-letter topic, the dedupe's retention (which refuses to start with a
    window shorter than the topic keeps records) and the dead-letter producer. With the
    app's metrics, the reader counts what it does and the consumer's lag is sampled.
    """
    servers = settings.kafka_bootstrap_servers
    dead_letters_topic = dead_letter_topic(topic)
    dead_letters = DeadLetters(servers, dead_letters_topic, tracer=tracer)
    app.add_dependency(EnsureTopics(servers, {topic: partitions, dead_letters_topic: partitions}))
    # Refuses to start if the dedupe window is shorter than the topic keeps records; prunes.
    app.add_dependency(DedupeRetention(
        database, bootstrap_servers=servers, topic=topic, retention=settings.dedupe_retention,
        interval=settings.dedupe_cleanup_interval_seconds,
        batch_size=settings.dedupe_cleanup_batch_size))
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
        metrics.add_sampler(DeadLettersWaiting(
            metrics.meter, topic, functools.partial(waiting_dead_letters, servers, topic)))
    channel = app.topic(topic, key_serializer="raw", value_serializer="raw")
    app.agent(channel, name=agent_name)(
        batching_agent(reader, batch_size=settings.consumer_batch_size))
    return reader
