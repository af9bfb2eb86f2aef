"""The psycopg connection class of PostgreSQL engines (storage/database.py), in a module of
its own so that a SQLite service never imports psycopg."""

from __future__ import annotations

import select
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.abc import PQGen

__all__ = ["DeadlineConnection", "open_without_round_trip"]

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


def open_without_round_trip(connection: psycopg.Connection[Any]) -> bool:
    """Whether an idle pooled connection is still open, asked of the socket, not the server.

    SQLAlchemy's `pool_pre_ping` sends a query at each checkout, and on a connection not in
    autocommit psycopg opens a transaction for it: two round trips before a grant's one
    statement. A server that ended the connection (a restart, `pg_terminate_backend`, an
    idle timeout) sent its last message and closed its end, so the idle socket is readable:
    reading what is there tells a closed connection (libpq marks it bad) from a benign
    message (a notice, a parameter change) without waiting. A peer gone without closing is
    not seen here, nor by a ping before the statement's deadline: the statement's deadline
    answers both (storage/database.py).
    """
    pgconn = connection.pgconn
    if connection.closed or pgconn.status != pq.ConnStatus.OK:
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    # A server's goodbye is a FATAL message then the end of the stream: the first read
    # takes the message (libpq hands it to the notice processor), the next one meets the
    # end and marks the connection bad. A benign message is read once and the socket is
    # quiet again.
    for _ in range(3):
        if not poller.poll(0):
            return pgconn.status == pq.ConnStatus.OK
        try:
            pgconn.consume_input()
        except psycopg.OperationalError:
            return False
    return False  # still more to read on an idle connection: not one to trust
