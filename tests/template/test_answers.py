"""The pre-generation hook refuses unusable answers, saying what to type instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from template_hooks.answers import MAX_TOPIC_LENGTH, problems
from tests.template.conftest import CASES, Bake

DEFAULTS = {
    "project_name": "Outbox Shop",
    "project_slug": "outbox-shop",
    "description": "Orders and inventory.",
    "author_name": "Outbox Shop maintainers",
    "author_email": "",
    "python_version": "3.11",
    "order_events_topic": "order.events",
    "relay_mode": "both",
    "license": "MIT",
}


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            {"project_slug": "Outbox Shop"},
            'project_slug "Outbox Shop" cannot be used: it is the Python distribution name and '
            "the docker compose project name, so it may hold only lowercase letters, digits, "
            "'-' and '_', and must start and end with a letter or digit. "
            'Type "outbox-shop" instead.',
        ),
        ({"project_slug": "-shop-"}, 'Type "shop" instead.'),
        ({"project_slug": "shop.v2"}, 'Type "shop-v2" instead.'),
        ({"project_slug": "ñandú"}, 'Type "nandu" instead.'),
        (
            {"order_events_topic": "order events"},
            'order_events_topic "order events" would be refused by Kafka: a topic name holds '
            "only letters, digits, '.', '_' and '-', is not '.' or '..', and here has at most "
            f"{MAX_TOPIC_LENGTH} characters (Kafka allows 249, and the services add "
            '".relay-checkpoints" to it). Type "order-events" instead.',
        ),
        ({"order_events_topic": ".."}, 'Type "order.events" instead.'),
        ({"order_events_topic": "o" * 240}, f'Type "{"o" * MAX_TOPIC_LENGTH}" instead.'),
        ({"author_email": "nobody"}, 'author_email "nobody" is not an email address.'),
    ],
)
def test_unusable_answer_stops_generation_with_what_to_type(
    bake: Bake,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    answers: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(FailedHookException):
        bake(tmp_path, **answers)
    assert message in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == [], "a refused project leaves nothing behind"


@pytest.mark.parametrize("case", CASES)
def test_matrix_answers_are_accepted(case: str) -> None:
    assert problems({**DEFAULTS, **CASES[case], "project_slug": "x"}) == []


def test_every_rule_reports_at_once() -> None:
    found = problems({**DEFAULTS, "project_name": " ", "description": "two\nlines"})
    assert found == [
        'project_name is empty. Type one, e.g. "Outbox Shop".',
        "description holds a line break or another control character. Type it on one line.",
    ]


def test_choices_are_checked_even_when_cookiecutter_is_bypassed() -> None:
    found = problems({**DEFAULTS, "relay_mode": "kafka-streams"})
    assert found == [
        'relay_mode "kafka-streams" is not offered. Type one of: both, polling, debezium.'
    ]
