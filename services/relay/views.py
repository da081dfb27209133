"""HTTP views of the relay: only `GET /health`."""

from __future__ import annotations

from faust.web import Request, Response, View

from services.relay.service import RelayService
from services.relay.settings import RelaySettings
from shared.health import database_problem
from shared.resources import PostgresPool


class RelayHealthView(View):
    """`GET /health`: alive, the databases answer, and which outboxes this relay publishes.

    `role` is `publishing` while this relay publishes every outbox, `standby` while it
    publishes none (another relay does), `partial` in between; `outboxes` gives it by topic.
    """

    settings: RelaySettings
    databases: list[PostgresPool]
    service: RelayService | None

    async def get(self, request: Request) -> Response:
        body: dict[str, object] = {"status": "ok", "mode": self.settings.relay_mode}
        if self.service is None:  # debezium mode: nothing to check here
            return self.json(body)
        for database in self.databases:
            problem = await database_problem(database)
            if problem is not None:
                return self.json({**body, "status": "unavailable", "database": problem},
                                 status=503)
        roles = {relay.route.topic: "publishing" if relay.is_publishing else "standby"
                 for relay in self.service.relays}
        publishing = sum(role == "publishing" for role in roles.values())
        body["role"] = ("publishing" if roles and publishing == len(roles)
                        else "standby" if publishing == 0 else "partial")
        body["outboxes"] = roles
        return self.json(body)
