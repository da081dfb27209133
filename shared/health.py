"""`GET /health` for every service: alive, and its database answers."""

from __future__ import annotations

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


class HealthView(View):
    """`GET /health`: 200 when the service's database answers, 503 naming the problem if not."""

    database: PostgresPool

    async def get(self, request: Request) -> Response:
        problem = await database_problem(self.database)
        if problem is not None:
            return self.json({"status": "unavailable", "database": problem}, status=503)
        return self.json({"status": "ok"})
