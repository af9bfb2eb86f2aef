"""Storage errors, independent of the backend's own exception types."""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = [
    "MAYBE_UNAVAILABLE",
    "UNAVAILABLE",
    "UNSTORABLE",
    "Conflict",
    "RedisUnavailable",
    "StorageError",
    "Unavailable",
    "lost_connection",
]


class StorageError(Exception):
    """Base of storage errors."""


class Conflict(StorageError):
    """A unique key (username, connector+subject, team name) is already taken."""


class Unavailable(StorageError):
    """The database cannot be reached right now; callers answer 503 and retry later."""


class RedisUnavailable(Unavailable):
    """Redis, holding the rate-limit counters and replay markers, does not answer within
    `redis.timeout`: the request that needed it answers 503 (never let through unchecked)."""


# What "the database cannot answer right now" looks like from the backend: not started,
# unreachable, timed out (connect, statement, a silent partition), or no connection free in
# the pool within database.poolTimeout. Callers answer 503 with Retry-After. Named here so
# that no layer above storage has to import SQLAlchemy to recognise an outage.
UNAVAILABLE: tuple[type[Exception], ...] = (
    Unavailable,
    OperationalError,
    InterfaceError,
    PoolTimeout,
)
# Errors of other classes that are an outage when the connection was lost with them: a
# session PostgreSQL ended for idling in a transaction (SQLSTATE 25P03, which psycopg
# raises as an InternalError) is a FATAL message then a closed socket, as a restart is.
MAYBE_UNAVAILABLE: tuple[type[Exception], ...] = (DBAPIError,)


def lost_connection(exc: BaseException) -> bool:
    """Whether a database error came with the loss of its connection (SQLAlchemy's
    judgement, which invalidated the connection): an outage, whatever its class."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


# The database refused a value (a NUL, an out-of-range number): the client's input, never an
# outage; callers answer 400.
UNSTORABLE: tuple[type[Exception], ...] = (DataError,)
