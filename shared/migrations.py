"""A small forward-only migration runner: numbered `.sql` files applied once, in order.

Each service keeps its migrations in its own `migrations/` folder (`0001_name.sql`, ...).
Applied versions are recorded in `schema_migrations` per migration set, each file in its own
transaction, under an advisory lock so concurrent runners (several replicas starting at once)
apply each file exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import aiopg

from shared.db import transaction

logger = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6F7574626F78  # any constant shared by every runner of this project

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    migration_set text NOT NULL,
    version       text NOT NULL,
    name          text NOT NULL,
    checksum      text NOT NULL,
    applied_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (migration_set, version)
)
"""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """A digest of the file, to notice an applied migration that was edited afterwards."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(package: str) -> list[Migration]:
    """The migrations shipped in `<package>/migrations`, sorted by version."""
    folder = resources.files(package).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILENAME.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise ValueError(f"migration file {entry.name!r} is not named NNNN_name.sql")
            continue
        found.append(Migration(match["version"], match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations of {package} share a version: {versions}")
    return found


async def apply_migrations(pool: aiopg.Pool, migration_set: str, package: str) -> list[str]:
    """Apply the migrations of `package` not yet applied; return the versions applied now."""
    applied_now = []
    async with transaction(pool) as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await cur.execute(_BOOKKEEPING)
    for migration in load_migrations(package):
        async with transaction(pool) as cur:
            await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            await cur.execute(
                "SELECT checksum FROM schema_migrations WHERE migration_set = %s AND version = %s",
                (migration_set, migration.version),
            )
            row = await cur.fetchone()
            if row is not None:
                if row[0] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration_set}/{migration.version}_{migration.name} was "
                        "edited after it was applied; add a new migration instead"
                    )
                continue
            await cur.execute(migration.sql)
            await cur.execute(
                "INSERT INTO schema_migrations (migration_set, version, name, checksum)"
                " VALUES (%s, %s, %s, %s)",
                (migration_set, migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.version)
            logger.info(
                "applied migration %s/%s_%s", migration_set, migration.version, migration.name
            )
    return applied_now
