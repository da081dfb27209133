"""The relay's backoff: growing delays, and one log line per outage rather than per retry."""

from __future__ import annotations

import logging

import psycopg2
import pytest
from aiokafka.errors import KafkaConnectionError

from services.relay.retry import Backoff, is_transient_error

logger = logging.getLogger("test.relay.backoff")


def test_delays_grow_and_are_capped() -> None:
    backoff = Backoff(logger, first=0.5, most=3.0)

    delays = [backoff.failed(KafkaConnectionError("down")) for _ in range(6)]

    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_a_cause_is_logged_once_however_often_it_recurs(caplog: pytest.LogCaptureFixture) -> None:
    backoff = Backoff(logger)
    caplog.set_level(logging.INFO, logger=logger.name)

    for _ in range(5):
        backoff.failed(psycopg2.OperationalError("connection refused"))
    backoff.failed(KafkaConnectionError("broker gone"))
    backoff.succeeded()
    backoff.succeeded()

    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "relay paused (OperationalError: connection refused); retrying with backoff",
        "relay paused (KafkaConnectionError: broker gone); retrying with backoff",
        "relay resumed after 6 failed attempts",
    ]


def test_after_a_recovery_the_delay_starts_small_again() -> None:
    backoff = Backoff(logger, first=0.5, most=30.0)
    for _ in range(4):
        backoff.failed(TimeoutError())
    backoff.succeeded()

    assert backoff.failed(TimeoutError()) == 0.5


def test_an_unexpected_error_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backoff = Backoff(logger)
    try:
        raise ZeroDivisionError("a bug")
    except ZeroDivisionError as exc:
        backoff.failed(exc)

    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


@pytest.mark.parametrize(("error", "transient"), [
    (KafkaConnectionError(), True),
    (psycopg2.OperationalError(), True),
    (ConnectionResetError(), True),
    (TimeoutError(), True),
    (ValueError("bad checkpoint"), False),
])
def test_transient_errors_are_told_from_bugs(error: Exception, transient: bool) -> None:
    assert is_transient_error(error) is transient
