"""Retention settings and the start-up comparison of the dedupe window with a topic's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from shared.durations import format_duration, parse_duration, parse_retention
from shared.inbox.retention import TopicRetention, window_problem
from shared.settings import ConsumerSettings, OutboxRetentionSettings

DAY_MS = 86_400_000
KAFKA_DEFAULTS = TopicRetention("order.events", retention_ms=7 * DAY_MS, segment_ms=7 * DAY_MS)


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", timedelta(days=7)),
    ("12h", timedelta(hours=12)),
    ("1d12h", timedelta(days=1, hours=12)),
    ("90s", timedelta(seconds=90)),
    ("1.5h", timedelta(minutes=90)),
    ("2w", timedelta(days=14)),
    ("30 m", timedelta(minutes=30)),
    ("604800", timedelta(days=7)),
    ("0", timedelta(0)),
    ("P7D", timedelta(days=7)),
    ("PT12H", timedelta(hours=12)),
    ("1 day, 2:00:00", timedelta(days=1, hours=2)),  # as str(timedelta) writes it
])
def test_durations_are_read_with_units_iso_8601_or_as_seconds(
    text: str, expected: timedelta
) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "7 days and a bit", "-1d", "-P1D", "7x"])
def test_anything_else_is_refused_saying_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_forever_is_a_retention_but_not_a_duration() -> None:
    assert parse_retention("forever") is None
    assert parse_retention(" Forever ") is None
    assert parse_retention("8d") == timedelta(days=8)
    with pytest.raises(ValueError, match="duration"):
        parse_duration("forever")


@pytest.mark.parametrize(("duration", "text"), [
    (timedelta(days=8), "8d"),
    (timedelta(days=1, hours=12), "1d12h"),
    (timedelta(seconds=90), "1m30s"),
    (timedelta(seconds=0.5), "0.5s"),
    (timedelta(0), "0s"),
    (None, "forever"),
])
def test_durations_are_written_back_the_way_settings_spell_them(
    duration: timedelta | None, text: str
) -> None:
    assert format_duration(duration) == text
    assert parse_retention(text) == duration


def test_settings_read_the_retentions_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUTBOX_RETENTION", "36h")
    monkeypatch.setenv("DEDUPE_RETENTION", "forever")
    assert OutboxRetentionSettings().outbox_retention == timedelta(hours=36)
    assert ConsumerSettings().dedupe_retention is None

    monkeypatch.setenv("DEDUPE_RETENTION", "a week")
    with pytest.raises(ValidationError, match="dedupe_retention"):
        ConsumerSettings()


def test_the_defaults_keep_dedupe_rows_longer_than_kafka_keeps_a_record_by_default() -> None:
    default = ConsumerSettings.model_fields["dedupe_retention"].default
    assert window_problem(default, KAFKA_DEFAULTS) is None
    assert OutboxRetentionSettings.model_fields["outbox_retention"].default == timedelta(days=7)


def test_a_window_as_long_as_retention_plus_one_segment_passes() -> None:
    assert KAFKA_DEFAULTS.longest == timedelta(days=14)
    assert window_problem(timedelta(days=14), KAFKA_DEFAULTS) is None
    assert window_problem(timedelta(days=30), KAFKA_DEFAULTS) is None
    assert window_problem(None, KAFKA_DEFAULTS) is None  # forever: nothing is ever deleted


def test_a_shorter_window_is_refused_in_one_line_naming_both_values_and_both_fixes() -> None:
    # Longer than retention.ms alone, yet a record may outlive it in a segment not yet deleted.
    problem = window_problem(timedelta(days=8), KAFKA_DEFAULTS)

    assert problem is not None
    assert "\n" not in problem
    assert "DEDUPE_RETENTION=8d" in problem
    assert "order.events" in problem
    assert "retention.ms=604800000 + segment.ms=604800000" in problem
    assert "set DEDUPE_RETENTION to 14d or more" in problem
    assert "lower the topic's retention.ms and segment.ms" in problem
    assert "at most 8d" in problem


def test_a_topic_that_keeps_records_forever_needs_a_dedupe_kept_forever() -> None:
    infinite = TopicRetention("t", retention_ms=-1, segment_ms=7 * DAY_MS)
    compacted = TopicRetention("t", retention_ms=7 * DAY_MS, segment_ms=DAY_MS,
                               cleanup_policy="compact")
    both = TopicRetention("t", retention_ms=DAY_MS, segment_ms=DAY_MS,
                          cleanup_policy="compact,delete")

    for topic, setting in ((infinite, "retention.ms=-1"), (compacted, "cleanup.policy=compact")):
        assert topic.longest is None
        problem = window_problem(timedelta(days=365), topic)
        assert problem is not None
        assert "\n" not in problem
        assert setting in problem
        assert "DEDUPE_RETENTION=forever" in problem
        assert "finite retention" in problem
        assert window_problem(None, topic) is None
    assert window_problem(timedelta(days=2), both) is None
