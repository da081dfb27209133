"""Retrying an operation with exponential backoff until it succeeds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from shared.db import is_transient

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: `initial`, doubling each time, never above `maximum`."""

    initial: float
    maximum: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.maximum, self.initial * 2 ** (attempt - 1)))


async def retry_until_done(
    operation: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    give_up: Callable[[BaseException], bool],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run `operation` until it returns; errors for which `give_up` is true are raised at once.

    Only cancellation (the service stopping) ends the retries otherwise, so a record is
    never acked before its operation has succeeded.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except Exception as error:
            if give_up(error):
                raise
            delay = backoff.delay(attempt)
            if is_transient(error):
                logger.warning("attempt %d failed (%s); retrying in %.2fs", attempt, error, delay)
            else:
                logger.exception("attempt %d failed unexpectedly; retrying in %.2fs",
                                 attempt, delay)
            await sleep(delay)
