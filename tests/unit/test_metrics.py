"""The metrics' pure parts: where they are pushed, gauges of sampled values, WAL positions,
and the delay a reader reports."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared.events import OrderCancelled
from shared.inbox.metrics import DeadLettersWaiting, InboxMetrics
from shared.metrics import Readings, ServiceMetrics, metric_exporter_names, service_metrics
from shared.outbox.backlog import lsn_value


def samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted((key, value) for key, value in sample.labels.items()
                                   if not key.startswith("otel_scope")))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_metrics_are_pushed_over_otlp_only_when_an_endpoint_or_the_exporter_says_so() -> None:
    assert metric_exporter_names({}) == []
    assert metric_exporter_names({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == ["otlp"]
    assert metric_exporter_names({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": " "}) == []
    assert metric_exporter_names({"OTEL_METRICS_EXPORTER": "none",
                                  "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == []
    assert metric_exporter_names({"OTEL_METRICS_EXPORTER": "otlp"}) == ["otlp"]


def test_readings_replaced_forget_the_series_no_longer_sampled() -> None:
    metrics = service_metrics("test")
    lag = Readings(metrics.meter, "inbox.lag.records", unit="{record}")
    lag.replace([({"topic": "t", "partition": 0}, 4.0), ({"topic": "t", "partition": 1}, 2.0)])
    assert samples(metrics)[("inbox_lag_records", (("partition", "1"), ("topic", "t")))] == 2.0
    lag.replace([({"topic": "t", "partition": 0}, 0.0)])
    found = {key: value for key, value in samples(metrics).items()
             if key[0] == "inbox_lag_records"}
    assert found == {("inbox_lag_records", (("partition", "0"), ("topic", "t"))): 0.0}


def test_a_failing_sampler_leaves_the_others_readings() -> None:
    metrics = service_metrics("test")
    backlog = Readings(metrics.meter, "outbox.pending.events", unit="{event}")

    async def fails() -> None:
        raise ConnectionError("database down")

    async def reads() -> None:
        backlog.set(7.0, {"topic": "t"})

    metrics.add_sampler(fails)
    metrics.add_sampler(reads)
    text = asyncio.run(metrics.render()).decode()
    assert 'outbox_pending_events{otel_scope_name="outbox-shop"' in text
    assert samples(metrics)[("outbox_pending_events", (("topic", "t"),))] == 7.0


def test_wal_positions_compare_as_postgres_orders_them() -> None:
    assert lsn_value("0/16B3748") < lsn_value("0/16B3750") < lsn_value("1/0")
    assert lsn_value("16/B374D848") == (0x16 << 32) + 0xB374D848


def test_the_delay_runs_from_the_events_time_naive_times_read_as_utc() -> None:
    metrics = service_metrics("test")
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    inbox = InboxMetrics(metrics.meter, "t", clock=lambda: now)
    naive = (now - timedelta(seconds=3)).replace(tzinfo=None)
    ahead = now + timedelta(seconds=5)  # a producer's clock ahead: 0, not negative
    for occurred in (now - timedelta(seconds=2), naive, ahead):
        order_id = uuid.uuid4()
        inbox.applied(OrderCancelled(
            event_id=uuid.uuid4(), aggregate_id=order_id, occurred_at=occurred,
            payload={"order_id": order_id, "cancelled_at": occurred}))
    found = samples(metrics)
    assert found[("inbox_event_delay_seconds_count", (("topic", "t"),))] == 3
    assert found[("inbox_event_delay_seconds_sum", (("topic", "t"),))] == 5.0


def test_dead_letters_are_counted_at_most_once_per_interval_however_often_scraped() -> None:
    metrics = service_metrics("test")
    counts = iter([2, 0])
    calls: list[float] = []
    now = [100.0]

    async def count() -> int:
        calls.append(now[0])
        return next(counts)

    metrics.add_sampler(DeadLettersWaiting(metrics.meter, "order.events", count, every=5.0,
                                           clock=lambda: now[0]))
    key = ("inbox_dead_letters_waiting", (("topic", "order.events"),))
    asyncio.run(metrics.render())
    now[0] = 104.0
    asyncio.run(metrics.render())
    assert samples(metrics)[key] == 2.0
    assert calls == [100.0]
    now[0] = 105.0
    asyncio.run(metrics.render())
    assert samples(metrics)[key] == 0.0
    assert calls == [100.0, 105.0]
