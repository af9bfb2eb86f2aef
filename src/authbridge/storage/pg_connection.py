"""The psycopg connection class of PostgreSQL engines (storage/database.py), in a module of
its own so that a SQLite service never imports psycopg."""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen

__all__ = ["DeadlineConnection"]

RV = TypeVar("RV")


class DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait on the server has a deadline.

    psycopg sends each operation through `wait()`, which takes a timeout but is given none
    for queries: a peer that stops answering without closing (a partition behind a proxy or
    a NAT that still acknowledges) would hold the thread for ever. On the deadline the
    connection is closed as broken, so the pool discards it and the caller gets an
    OperationalError (answered 503).
    """

    deadline: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        try:
            return super().wait(gen, interval, self.deadline if timeout is None else timeout)
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None and not self.closed:
                # Failed on the client side (timed out, or the socket died): the protocol
                # state is unknown, so the connection cannot be used again.
                self.pgconn.finish()
            raise
