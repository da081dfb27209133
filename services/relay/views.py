"""HTTP views of the relay: only `GET /health`."""

from __future__ import annotations

from faust.web import Request, Response, View

from services.relay.service import RelayService
from services.relay.settings import RelaySettings
from shared.health import database_problem
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
        problem = await database_problem(self.database)
        if problem is not None:
            return self.json({**body, "status": "unavailable", "database": problem}, status=503)
        running = self.relay.relay if self.relay is not None else None
        body["role"] = "publishing" if running is not None and running.is_publishing else "standby"
        return self.json(body)
