"""HTTP views of the relay: only `GET /health`."""

from __future__ import annotations

from faust.web import Request, Response, View

from services.relay.service import RelayService
from services.relay.settings import RelaySettings
from shared.resources import PostgresPool


class HealthView(View):
    """`GET /health`: alive, the database answers, and whether this relay is publishing."""

    settings: RelaySettings
    database: PostgresPool | None
    relay: RelayService | None

    async def get(self, request: Request) -> Response:
        body: dict[str, str] = {"status": "ok", "mode": self.settings.relay_mode}
        if self.database is None:  # debezium mode: nothing to check here
            return self.json(body)
        try:
            async with self.database.pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT 1")
        except Exception as exc:  # any failure means "not ready"
            return self.json({**body, "status": "unavailable", "database": str(exc)}, status=503)
        running = self.relay.relay if self.relay is not None else None
        body["role"] = "publishing" if running is not None and running.is_publishing else "standby"
        return self.json(body)
