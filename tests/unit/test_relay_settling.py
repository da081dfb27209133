"""Settling a batch in the background: the rows the next fetch skips, and how it ends."""

from __future__ import annotations

import asyncio
import gc
from typing import cast

import aiopg
import pytest

from services.relay import settling
from services.relay.checkpoint import Checkpoint
from services.relay.settling import Settling
from shared.outbox.publishing import Retention

BATCH = Checkpoint((3, 5, 9), "event-9")
NO_POOL = cast(aiopg.Pool, None)  # the fake settle needs none


class FakeSettle:
    """Stands in for `settling.settle_checkpoint`: each call waits for the test to let it end."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.error: Exception | None = None
        self.settled: list[Checkpoint] = []

    async def __call__(self, pool: object, checkpoint: Checkpoint, retention: Retention) -> int:
        await self.release.wait()
        if self.error is not None:
            raise self.error
        self.settled.append(checkpoint)
        return len(checkpoint.outbox_ids)


@pytest.fixture
def fake_settle(monkeypatch: pytest.MonkeyPatch) -> FakeSettle:
    fake = FakeSettle()
    monkeypatch.setattr(settling, "settle_checkpoint", fake)
    return fake


async def test_the_rows_being_settled_are_skipped_until_they_are_settled(
    fake_settle: FakeSettle,
) -> None:
    settling = Settling(NO_POOL, "mark")
    assert not await settling.finish()  # nothing to wait for

    settling.start(BATCH)
    assert settling.skipping == (3, 5, 9)
    with pytest.raises(RuntimeError, match="still being settled"):
        settling.start(Checkpoint((10,), "event-10"))

    fake_settle.release.set()
    assert await settling.finish()
    assert fake_settle.settled == [BATCH]
    assert not settling.skipping


async def test_a_failed_settling_is_raised_once_and_then_forgotten(
    fake_settle: FakeSettle,
) -> None:
    settling = Settling(NO_POOL, "mark")
    fake_settle.error = ConnectionError("database gone")
    fake_settle.release.set()

    settling.start(BATCH)
    with pytest.raises(ConnectionError):
        await settling.finish()
    assert not settling.skipping
    assert not await settling.finish()


async def test_an_abandoned_settling_runs_on_and_its_failure_is_not_reported(
    fake_settle: FakeSettle, caplog: pytest.LogCaptureFixture
) -> None:
    settling = Settling(NO_POOL, "mark")
    settling.start(BATCH)
    settling.abandon()
    assert not settling.skipping
    assert not await settling.finish()

    fake_settle.error = ConnectionError("database gone")
    fake_settle.release.set()
    await asyncio.sleep(0)  # the settling fails ...
    await asyncio.sleep(0)  # ... and its outcome is taken
    gc.collect()
    # (Other tests' garbage may be reported here too: look for this settling's error only.)
    assert not [record for record in caplog.records if "never retrieved" in record.getMessage()
                and "database gone" in str(record.exc_info or record.getMessage())]
