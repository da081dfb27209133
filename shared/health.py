"""`GET /health` for every service: alive, and its database answers."""

from __future__ import annotations

from collections.abc import Callable

import faust
from faust.web import Request, Response, View

from shared.resources import PostgresPool


async def database_problem(database: PostgresPool) -> str | None:
    """Why the database cannot serve a query right now, or None when it can."""
    try:
        async with database.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready", and says why
        return str(exc) or type(exc).__name__
    return None


def always_ready() -> str | None:
    """A service that is ready as soon as its database answers."""
    return None


class HealthView(View):
    """`GET /health`: 200 when the service is ready, 503 naming what it still waits for.

    Ready means its database answers and `not_ready()` (the service's own condition, such as
    a consumer that has its partitions) returns None.
    """

    database: PostgresPool
    not_ready: Callable[[], str | None] = staticmethod(always_ready)

    async def get(self, request: Request) -> Response:
        problem = await database_problem(self.database)
        if problem is not None:
            return self.json({"status": "unavailable", "database": problem}, status=503)
        waiting = self.not_ready()
        if waiting is not None:
            return self.json({"status": "starting", "waiting_for": waiting}, status=503)
        return self.json({"status": "ok"})


def consuming(app: faust.App, topic: str) -> Callable[[], str | None]:
    """A readiness check: ready once the app's consumer has partitions of `topic`.

    Before that, an event on the topic would wait unseen.
    """

    def not_consuming_yet() -> str | None:
        try:
            assigned = any(tp.topic == topic for tp in app.consumer.assignment())
        except Exception:  # the consumer is not started yet
            assigned = False
        return None if assigned else f"partitions of {topic}"

    return not_consuming_yet
