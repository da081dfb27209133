"""Apply every service's migrations to its database: `python -m services.migrate`.

Each service has a database of its own; in each, beside the service's own tables, the
building blocks it uses keep theirs: the outbox (`shared/outbox`), the inbox's dedupe
(`shared/inbox`) and the relay's lease. A service's own migrations come first: databases made
before the building blocks had migrations of their own have some of their tables already,
which the building blocks' migrations then leave as they are.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging

from shared.db import close_pool, create_pool
from shared.migrations import apply_migrations
from shared.settings import CommonSettings


def migration_plan(settings: CommonSettings) -> list[tuple[str, str, str]]:
    """(migration set, package holding `migrations/`, database) in the order they apply.

    A service that is not there (a project generated without the polling relay) is left out.
    """
    plan = [
        (migration_set, package, database)
        for service, database in (("order", settings.order_db_name),
                                  ("inventory", settings.inventory_db_name))
        for migration_set, package in ((service, f"services.{service}"),
                                       ("outbox", "shared.outbox"),
                                       ("inbox", "shared.inbox"),
                                       ("relay", "services.relay"))
    ]
    return [step for step in plan if importlib.util.find_spec(step[1]) is not None]


async def migrate(settings: CommonSettings) -> dict[str, list[str]]:
    """Apply all pending migrations; return the versions applied per `database/set`."""
    applied: dict[str, list[str]] = {}
    for migration_set, package, database in migration_plan(settings):
        pool = await create_pool(settings.dsn(database), minsize=1, maxsize=2)
        try:
            applied[f"{database}/{migration_set}"] = await apply_migrations(
                pool, migration_set, package)
        finally:
            await close_pool(pool)
    return applied


def main() -> None:
    """Entry point of `python -m services.migrate`."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    applied = asyncio.run(migrate(CommonSettings()))
    for migration_set, versions in applied.items():
        logging.getLogger("services.migrate").info(
            "%s: %s", migration_set, ", ".join(versions) or "up to date"
        )


if __name__ == "__main__":
    main()
