"""PostgreSQL access through aiopg: one pool per service, explicit transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import aiopg
import psycopg2.extensions
import psycopg2.extras

# psycopg2 errors that mean "try again", not "this input is wrong".
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    psycopg2.errors.SerializationFailure,
    psycopg2.errors.DeadlockDetected,
)


class HasPool(Protocol):
    """Where the open database pool is found once the app runs (`shared.resources.PostgresPool`)."""

    @property
    def pool(self) -> aiopg.Pool: ...


async def create_pool(dsn: str, *, minsize: int = 1, maxsize: int = 10) -> aiopg.Pool:
    """Open a connection pool; the caller closes it with `close_pool`."""
    psycopg2.extras.register_uuid()  # UUID parameters and uuid columns as uuid.UUID
    return await aiopg.create_pool(dsn, minsize=minsize, maxsize=maxsize, timeout=30.0)


async def close_pool(pool: aiopg.Pool) -> None:
    """Close a pool and wait for its connections to finish."""
    pool.close()
    await pool.wait_closed()


@asynccontextmanager
async def transaction(pool: aiopg.Pool) -> AsyncIterator[aiopg.Cursor]:
    """A cursor inside one transaction: committed on success, rolled back on any exception."""
    async with pool.acquire() as conn, conn.cursor() as cur, cur.begin():
        yield cur


def is_transient(error: BaseException) -> bool:
    """True for database errors that a retry can cure (lost connection, deadlock, ...)."""
    return isinstance(error, TRANSIENT_DB_ERRORS)


def quote_ident(name: str, cur: aiopg.Cursor) -> str:
    """Quote an SQL identifier (a database or slot name) safely."""
    return str(psycopg2.extensions.quote_ident(name, cur.raw))
