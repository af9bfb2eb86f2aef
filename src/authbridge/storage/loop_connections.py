"""`LoopConnections`: PostgreSQL connections of the event loop, for the token endpoint's hot
statements run by grants on the loop (`storage/loop_io.py`).

psycopg's asyncio connections in autocommit: a statement is one round trip the loop waits
for without a thread (about 66 µs of CPU, against 140 µs or more for the same statement
handed to a thread under 16 concurrent callers: bench/README.md "grants on the loop").

The same bounds as the threads' pool (storage/database.py): a wait for a connection of at
most `database.poolTimeout`, a statement deadline of `statement_timeout` plus a margin
(on top of the server's own `statement_timeout`), the libpq connection parameters of
`Timeouts.postgres_connect_args` (connect timeout, keepalives, TCP user timeout). Every
failure is an `Unavailable` or SQLAlchemy's DBAPIError, as on the threads' path, so the
error handlers answer 503 alike. A connection whose use failed, timed out or was cancelled
(the client hung up) is closed, never reused: its protocol state is unknown. An idle one
the server closed is found by its socket at checkout (`open_without_round_trip`).

Connections belong to one event loop: a new loop (tests run several) starts a new set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg import generators, waiting
from psycopg.abc import PQGen
from psycopg.abc import Transformer as Adapting
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus, Format
from psycopg.pq.abc import PGresult
from sqlalchemy.engine import Dialect

from authbridge.storage.errors import Unavailable
from authbridge.storage.hot import HotStatement
from authbridge.storage.pg_connection import open_without_round_trip

__all__ = ["LoopConnections"]

RV = TypeVar("RV")
# Statements prepared per connection at most (the hot path has a handful).
_PREPARED_MAX = 64
# SQLSTATEs of a prepared statement that no longer fits: "cached plan must not change result
# type" (feature_not_supported) and invalid_sql_statement_name.
_STALE_PREPARED = frozenset(("0A000", "26000"))


class _LoopConnection(psycopg.AsyncConnection[Any]):
    """An asyncio connection whose interrupted wait ends at once.

    psycopg answers a wait interrupted mid-query (our deadline, a client that hung up) by
    sending the server a cancel request and waiting for the query to end, up to 5 s each:
    on a database gone silent that held the grant and its slot about 10 s past the
    deadline (tests/storage/test_loop_connections_redteam.py: 12 s for a 2 s deadline).
    Here the interruption is raised as is; `LoopConnections.rows` closes the connection,
    and the server's own `statement_timeout` ends the query.
    """

    _transformer: Adapting | None = None
    # (SQL text, parameter types) -> the name it is prepared under on this connection.
    _statements: dict[tuple[bytes, tuple[int, ...]], bytes]
    _prepares = 0  # statements prepared on this connection so far (their names' numbers)

    async def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        return await waiting.wait_async(gen, self.pgconn.socket, interval=interval, timeout=timeout)

    async def prepared_rows(self, sql: bytes, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of `sql` (`$n` placeholders) with `values`, as a server-side prepared
        statement (PostgreSQL's extended protocol: Parse once per connection, then Bind and
        Execute), through psycopg's own parts: its adapters dump the values and load the
        rows (`Transformer`, as a cursor does), its generator runs the protocol, and its
        errors are raised (`error_from_result`). What is left out is the cursor's
        machinery around them (the connection's lock, a cursor per statement, the query's
        conversion and the prepared-statement manager), about 60 µs of a 140 µs statement
        (bench/README.md "prepared on the loop"); tests/storage/test_loop_connections.py
        compares the two paths' rows and errors."""
        transformer = self._transformer
        if transformer is None:
            transformer = self._transformer = Transformer(self)
        params = transformer.dump_sequence(values, [PyFormat.AUTO] * len(values))
        types = transformer.types or ()
        key = (sql, types)
        name = self._statements.get(key)
        pgconn = self.pgconn
        if name is None and len(self._statements) >= _PREPARED_MAX:
            # Full (an integer's type follows its size, so a text may come with several
            # type lists): unprepared, as psycopg's cursor does past its own bound.
            pgconn.send_query_params(
                sql, params, param_types=types, param_formats=transformer.formats
            )
            result = self._checked(await self.wait(generators.execute(pgconn)))
        else:
            try:
                result = await self._run_prepared(key, name, params, transformer.formats)
            except psycopg.Error as exc:
                if name is None or exc.sqlstate not in _STALE_PREPARED:
                    raise
                # Prepared before a schema change that changed its result type, or gone
                # (DISCARD ALL): the server refused it before running it, and a failed
                # statement in autocommit changed nothing. Prepared again, once.
                result = await self._run_prepared(key, None, params, transformer.formats)
        transformer.set_pgresult(result)
        return transformer.load_rows(0, result.ntuples, tuple)

    async def _run_prepared(
        self,
        key: tuple[bytes, tuple[int, ...]],
        name: bytes | None,
        params: Sequence[Any],
        formats: list[Format] | None,
    ) -> PGresult:
        """The result of the statement `key` prepared under `name` (None: prepared now,
        under a name not used before on this connection)."""
        pgconn = self.pgconn
        if name is None:
            self._prepares += 1
            name = b"authbridge_%d" % self._prepares
            pgconn.send_prepare(name, key[0], param_types=key[1])
            self._checked(await self.wait(generators.execute(pgconn)))
            self._statements[key] = name
        pgconn.send_query_prepared(name, params, param_formats=formats)
        return self._checked(await self.wait(generators.execute(pgconn)))

    def _checked(self, results: list[PGresult]) -> PGresult:
        result = results[-1]
        if result.status not in (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK):
            raise psycopg.errors.error_from_result(result, encoding=self.info.encoding)
        return result


class LoopConnections:
    def __init__(
        self,
        connect_args: Mapping[str, Any],
        dialect: Dialect,
        *,
        size: int,
        pool_wait: float,
        deadline: float,
    ) -> None:
        self._connect_args = dict(connect_args)
        self._dialect = dialect
        self._size = size
        self._pool_wait = pool_wait
        self._deadline = deadline
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[_LoopConnection] = []

    def _for_this_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._slots is None:
            for connection in self._idle:
                connection.pgconn.finish()  # of a loop gone: closed without awaiting
            self._idle = []
            self._loop, self._slots = loop, asyncio.Semaphore(self._size)
        return self._slots

    async def _checkout(self) -> _LoopConnection:
        while self._idle:
            connection = self._idle.pop()
            if open_without_round_trip(connection):  # type: ignore[arg-type]
                return connection
            connection.pgconn.finish()  # the server closed it (a restart, a kill)
        try:
            connection = await _LoopConnection.connect(
                autocommit=True, prepare_threshold=None, **self._connect_args
            )
            connection._statements = {}
        except psycopg.OperationalError as exc:
            raise Unavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        if not open_without_round_trip(connection):  # type: ignore[arg-type]
            connection.pgconn.finish()
            raise Unavailable("the server closed a new connection as it opened")
        return connection

    async def rows(self, statement: HotStatement, params: Mapping[str, Any]) -> list[Any]:
        """Every row of `statement` with `params`, converted as `HotStatement.rows` does."""
        slots = self._for_this_loop()
        if not slots.locked():
            await slots.acquire()  # one is free: no wait to bound (nor a timer to arm)
        else:
            try:
                async with asyncio.timeout(self._pool_wait):
                    await slots.acquire()
            except TimeoutError:
                raise Unavailable(
                    f"no PostgreSQL connection of the loop freed up within {self._pool_wait} s"
                ) from None
        connection: _LoopConnection | None = None
        reusable = False
        try:
            async with asyncio.timeout(self._deadline):
                connection = await self._checkout()
                sql, values = statement.numbered(self._dialect, params)
                try:
                    fetched = await connection.prepared_rows(sql, values)
                except psycopg.Error as exc:
                    lost = connection.closed or connection.broken
                    # A statement error (a constraint, a bad value) leaves the connection
                    # usable; anything on the connection itself does not, nor a prepared
                    # statement gone stale (its plan after a schema change, or gone).
                    reusable = (
                        not lost
                        and exc.sqlstate is not None
                        and exc.sqlstate not in _STALE_PREPARED
                    )
                    raise statement.driver_error(self._dialect, exc, lost=lost) from exc
            reusable = True
            return statement.converted(self._dialect, fetched)
        except TimeoutError:
            raise Unavailable(
                f"PostgreSQL did not answer within {self._deadline} s on the loop"
            ) from None
        finally:
            if connection is not None:
                if reusable and not connection.closed:
                    self._idle.append(connection)
                else:
                    with contextlib.suppress(Exception):
                        connection.pgconn.finish()
            slots.release()

    def close(self) -> None:
        """Close the idle connections (`Database.dispose`): their sockets, without the
        loop, which may be gone by then."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.pgconn.finish()

    @property
    def size(self) -> int:
        """How many connections the loop may hold at once."""
        return self._size

    @property
    def idle(self) -> int:
        return len(self._idle)
