"""Run any of the project's Faust apps inside the test's own event loop.

    async with running_app(create_app(settings)) as app:
        ...  # the agents have their partitions and the web server answers

`app.start()` returns once the consumer has joined its group and the (empty) table recovery
is done; this waits in addition, with a deadline, until every agent's topic has partitions
assigned and the HTTP port accepts connections, and stops the app on the way out. Nothing
here installs signal handlers or touches logging, unlike `faust worker`.

Use a fresh app id (the consumer group) per test, so that no other test's worker shares the
group, and a free port per app (`free_port()`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import faust

DEFAULT_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, within: float = DEFAULT_TIMEOUT,
    interval: float = 0.05, what: str = "condition",
) -> None:
    """Poll `condition` until it is true; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def running_app(
    app: faust.App, *, within: float = DEFAULT_TIMEOUT
) -> AsyncIterator[faust.App]:
    """Start `app` in this event loop, wait until it consumes and serves, stop it on exit."""
    try:
        await asyncio.wait_for(app.start(), within)
        await wait_until(lambda: _ready(app), within=within, what=f"{app.conf.id} to be ready")
        yield app
    finally:
        await app.stop()
    if app.crashed:
        raise AssertionError(f"{app.conf.id} crashed") from app.crash_reason


async def _ready(app: faust.App) -> bool:
    if app.crashed:
        raise AssertionError(f"{app.conf.id} crashed while starting") from app.crash_reason
    return _has_assignment(app) and await _web_answers(app)


def _has_assignment(app: faust.App) -> bool:
    topics = {
        topic for agent in app.agents.values() for topic in getattr(agent.channel, "topics", ())
    }
    if not topics:
        return True
    assigned = {tp.topic for tp in app.consumer.assignment()}
    return topics <= assigned


async def _web_answers(app: faust.App) -> bool:
    if not app.conf.web_enabled:
        return True
    try:
        _, writer = await asyncio.open_connection(app.conf.web_bind, app.conf.web_port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True
