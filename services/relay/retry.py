"""Backoff for the relay loop: each distinct cause of failure is logged once, not every retry."""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError

from shared.db import is_transient


def is_transient_error(error: BaseException) -> bool:
    """True for errors a retry can cure: Kafka or database unavailable, a timeout, a lost socket."""
    return isinstance(error, KafkaError | OSError | TimeoutError) or is_transient(error)


def describe(error: BaseException) -> str:
    """`Type: message` of an error, without repeating the type when the message has it."""
    name, text = type(error).__name__, str(error)
    return text if text.startswith(name) else f"{name}: {text}"


class Backoff:
    """Exponential backoff between failed rounds, with one log line per distinct cause."""

    def __init__(self, logger: logging.Logger, *, first: float = 0.2, most: float = 10.0) -> None:
        self._logger = logger
        self._first = first
        self._most = most
        self._failures = 0
        self._last_cause: str | None = None

    def failed(self, error: Exception) -> float:
        """Record a failure, log it if its cause is new, and return the seconds to wait."""
        cause = describe(error)
        self._failures += 1
        delay = min(self._most, self._first * 2.0 ** min(self._failures - 1, 30))
        if cause != self._last_cause:
            self._last_cause = cause
            if is_transient_error(error):
                self._logger.warning("relay paused (%s); retrying with backoff", cause)
            else:
                self._logger.error("relay failed unexpectedly; retrying with backoff",
                                   exc_info=error)
        return delay

    def succeeded(self) -> None:
        """Record a successful round; log the recovery if failures came before it."""
        if self._failures:
            self._logger.info("relay resumed after %d failed attempts", self._failures)
        self._failures = 0
        self._last_cause = None
