"""The event loop's PostgreSQL connections (storage/loop_connections.py) against the real
server: the same rows as the threads' path, bounded waits answered `Unavailable` (503), and
no connection reused after a failure, a timeout or a cancelled caller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from authbridge.storage import Storage
from authbridge.storage.database import Database, Timeouts
from authbridge.storage.errors import UNAVAILABLE, Unavailable
from authbridge.storage.hot import HotStatement
from authbridge.storage.loop_connections import LoopConnections
from authbridge.storage.loop_io import await_on_loop, run_on_loop
from authbridge.storage.models import UTCDateTime
from authbridge.web.grant_threads import GrantThreads

pytestmark = pytest.mark.postgres

SLEEP = HotStatement(
    "SELECT 1 AS slept, pg_backend_pid() AS pid FROM pg_sleep(:s)", columns=("slept", "pid")
)
NOW = HotStatement(
    "SELECT CAST(:t AS timestamptz) AS t",
    binds={"t": UTCDateTime()},
    columns=("t",),
    types={"t": UTCDateTime()},
)
BAD = HotStatement("SELECT CAST(:v AS integer) AS n, pg_backend_pid() AS pid", columns=("n", "pid"))


def _run(db: Database, function: object, *args: object) -> object:
    async def main() -> object:
        return await run_on_loop(GrantThreads(2, wait=5.0).run, function, *args)  # type: ignore[arg-type]

    return asyncio.run(main())


def _database(url: str, **timeouts: float) -> Database:
    return Database(url, pool_size=2, timeouts=Timeouts(**timeouts))


def test_the_loops_rows_are_the_threads_rows(postgres_server_url: str) -> None:
    """Differential: the grant's subject read and a typed timestamp, on the loop and in
    place, are equal (the same binds and result processors)."""
    storage = Storage.open(postgres_server_url)
    try:
        user = storage.users.create(username="loop@example.com", email="loop@example.com")
        storage.bindings.add("viewer", user_id=user.id, scope="workspace:w", origin="test")
        when = datetime(2026, 12, 2, 18, 30, 5, 123456, tzinfo=UTC)

        def both() -> tuple[object, object]:
            return storage.provider.subject(user.id), storage.db.loop_rows(NOW, {"t": when})

        on_loop = _run(storage.db, both)
        with storage.db.autocommit() as connection:
            in_place = (storage.provider.subject(user.id), NOW.rows(connection, {"t": when}))
        assert on_loop == in_place
        assert in_place[1][0].t == when
        assert in_place[0] is not None and in_place[0].grants  # the role rows came too
        assert storage.db.loop_connections is not None and storage.db.loop_connections.idle >= 1
    finally:
        storage.db.dispose()


def test_the_servers_statement_timeout_is_unavailable_and_keeps_the_connection(
    postgres_server_url: str,
) -> None:
    """The server cancels a statement past `statement_timeout` (SQLSTATE 57014): an outage
    for the caller (503), on a connection still in a known state."""
    db = _database(postgres_server_url, statement=0.3)
    try:
        connections = db.loop_connections
        assert connections is not None
        started = time.monotonic()
        with pytest.raises(UNAVAILABLE):
            _run(db, db.loop_rows, SLEEP, {"s": 5})
        assert time.monotonic() - started < 3.0
        assert connections.idle == 1
        assert _run(db, db.loop_rows, SLEEP, {"s": 0})[0].slept == 1  # type: ignore[index]
    finally:
        db.dispose()


def test_no_answer_by_the_clients_deadline_is_unavailable_and_drops_the_connection(
    postgres_server_url: str,
) -> None:
    """A server that does not answer (its own timeout not reached: a partition, a stalled
    host): the loop stops waiting at the deadline, and the connection, whose protocol state
    is unknown, is never reused."""
    db = _database(postgres_server_url, statement=10)
    try:
        _cargs, cparams = db.engine.dialect.create_connect_args(db.engine.url)
        connections = LoopConnections(
            {**cparams, **db.timeouts.postgres_connect_args()},
            db.engine.dialect,
            size=1,
            pool_wait=1.0,
            deadline=0.3,
        )

        def slow() -> object:
            return await_on_loop(connections.rows(SLEEP, {"s": 5}))

        started = time.monotonic()
        with pytest.raises(Unavailable, match="did not answer"):
            _run(db, slow)
        assert time.monotonic() - started < 3.0
        assert connections.idle == 0
    finally:
        db.dispose()


def test_a_full_pool_answers_unavailable_at_the_pool_wait(postgres_server_url: str) -> None:
    db = Database(postgres_server_url, pool_size=1, timeouts=Timeouts(pool=0.3, statement=5))
    try:
        connections = db.loop_connections
        assert connections is not None  # the least there is: 2 statements at a time

        async def main() -> tuple[object, float, BaseException | None]:
            threads = GrantThreads(2, wait=5.0)
            slow = asyncio.gather(
                *(run_on_loop(threads.run, db.loop_rows, SLEEP, {"s": 3}) for _ in range(2))
            )
            await asyncio.sleep(0.2)
            started = time.monotonic()
            refused: BaseException | None = None
            try:
                await run_on_loop(threads.run, db.loop_rows, SLEEP, {"s": 0})
            except Unavailable as exc:
                refused = exc
            waited = time.monotonic() - started
            return await slow, waited, refused

        slow, waited, refused = asyncio.run(main())
        assert isinstance(refused, Unavailable)
        assert 0.25 <= waited < 2.0  # refused at the wait, not once the slot freed
        assert [rows[0].slept for rows in slow] == [1, 1]  # type: ignore[attr-defined]
    finally:
        db.dispose()


def test_a_statement_error_is_sqlalchemys_and_keeps_the_connection(
    postgres_server_url: str,
) -> None:
    db = _database(postgres_server_url)

    def grant() -> tuple[object, DBAPIError, object]:
        first = db.loop_rows(BAD, {"v": "7"})
        with pytest.raises(DBAPIError) as raised:
            db.loop_rows(BAD, {"v": "not a number"})
        return first, raised.value, db.loop_rows(BAD, {"v": "8"})

    try:
        first, error, again = _run(db, grant)  # type: ignore[misc]
        assert not error.connection_invalidated
        assert first[0].n == 7 and again[0].n == 8
        assert first[0].pid == again[0].pid  # the same connection, still usable
    finally:
        db.dispose()


def test_a_connection_the_server_ended_is_replaced(postgres_server_url: str) -> None:
    db = _database(postgres_server_url)
    try:
        pid = _run(db, db.loop_rows, SLEEP, {"s": 0})[0].pid  # type: ignore[index]
        admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        admin.dispose()
        time.sleep(0.2)
        again = _run(db, db.loop_rows, SLEEP, {"s": 0})
        assert again[0].pid != pid  # type: ignore[index]
    finally:
        db.dispose()


def test_a_cancelled_caller_frees_its_slot_and_drops_its_connection(
    postgres_server_url: str,
) -> None:
    """A client that hung up mid-statement: its connection is closed (the statement's
    answer would still arrive on it), and the slot is free for the next grant."""
    db = Database(postgres_server_url, pool_size=1, timeouts=Timeouts(pool=1.0, statement=5))
    try:
        connections = db.loop_connections
        assert connections is not None

        async def main() -> object:
            threads = GrantThreads(2, wait=5.0)
            grant = asyncio.ensure_future(run_on_loop(threads.run, db.loop_rows, SLEEP, {"s": 2}))
            await asyncio.sleep(0.2)
            grant.cancel()
            with pytest.raises(asyncio.CancelledError):
                await grant
            assert connections.idle == 0
            return await asyncio.wait_for(
                run_on_loop(threads.run, db.loop_rows, SLEEP, {"s": 0}), 3
            )

        assert asyncio.run(main())[0].slept == 1  # type: ignore[index]
    finally:
        db.dispose()


def test_off_the_loop_nothing_uses_the_loops_connections(postgres_server_url: str) -> None:
    db = _database(postgres_server_url)
    try:
        assert db.loop_rows(SLEEP, {"s": 0}) is None
        assert db.loop_connections is not None and db.loop_connections.idle == 0
    finally:
        db.dispose()


# -- prepared statements on the loop's connections against psycopg's cursor ---------------

TYPED = HotStatement(
    "SELECT CAST(:text AS text) AS text, CAST(:flag AS boolean) AS flag,"
    " CAST(:count AS bigint) AS count, :when AS at, CAST(:text AS text) || '!' AS again,"
    " CAST(:missing AS text) AS missing",
    binds={"when": UTCDateTime()},
    columns=("text", "flag", "count", "at", "again", "missing"),
    types={"at": UTCDateTime()},
)
UNIQUE = HotStatement(
    "INSERT INTO loop_prepared_unique (k) VALUES (:k) RETURNING k", columns=("k",)
)
VALUES: list[dict[str, object]] = [
    {
        "text": "ünïcode ☃ 𝄞 ' \" \\ $1 %s :x",
        "flag": True,
        "count": 2**62,
        "when": datetime(2026, 12, 3, 10, 0, 0, 1, tzinfo=UTC),
        "missing": None,
    },
    {
        "text": "",
        "flag": False,
        "count": -1,
        "when": datetime(1970, 1, 1, tzinfo=UTC),
        "missing": None,
    },
    # The same statement with a value where the first had NULL: another parameter type.
    {
        "text": "x",
        "flag": None,
        "count": 0,
        "when": datetime(2999, 1, 1, tzinfo=UTC),
        "missing": "m",
    },
]


@contextmanager
def _scratch_table(url: str, name: str, *setup: str) -> Iterator[Engine]:
    """A table made for one test (`setup` statements after its creation), dropped after;
    yields the autocommit engine that made it."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
            for statement in setup:
                connection.execute(text(statement))
        yield admin
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
        admin.dispose()


def _library_rows(url: str, statement: HotStatement, params: dict[str, object]) -> list[object]:
    """What psycopg's own cursor gives for the statement (the path the loop took before)."""
    db = _database(url)
    try:
        with db.autocommit() as connection:
            return statement.rows(connection, params)
    finally:
        db.dispose()


def test_prepared_rows_are_psycopgs_cursors_rows(postgres_server_url: str) -> None:
    db = _database(postgres_server_url)

    connections = db.loop_connections
    assert connections is not None
    prepared: list[int] = []

    def grant() -> list[object]:
        rows = []
        for _ in range(2):
            rows += [db.loop_rows(TYPED, values) for values in VALUES]
            prepared.append(len(connections._idle[0]._statements))
        return rows

    try:
        on_loop = _run(db, grant)
        expected = [_library_rows(postgres_server_url, TYPED, v) for v in VALUES + VALUES]
        assert on_loop == expected
        assert expected[0][0].again == VALUES[0]["text"] + "!"  # type: ignore[index]
        assert connections.idle == 1
        # Prepared once per (text, parameter types), then reused.
        assert prepared[0] == prepared[1] >= 2
    finally:
        db.dispose()


def test_prepared_errors_are_psycopgs_cursors_errors(postgres_server_url: str) -> None:
    def grant(db: Database) -> list[DBAPIError]:
        db.loop_rows(UNIQUE, {"k": "one"})
        errors = []
        for statement, params in ((UNIQUE, {"k": "one"}), (BAD, {"v": "x"})):
            with pytest.raises(DBAPIError) as raised:
                db.loop_rows(statement, params)
            errors.append(raised.value)
        return errors

    unique = "CREATE TABLE loop_prepared_unique (k text PRIMARY KEY)"
    with _scratch_table(postgres_server_url, "loop_prepared_unique", unique):
        db = _database(postgres_server_url)
        try:
            on_loop = _run(db, grant, db)
        finally:
            db.dispose()
        library = []
        for statement, params in ((UNIQUE, {"k": "one"}), (BAD, {"v": "x"})):
            with pytest.raises(DBAPIError) as raised:
                _library_rows(postgres_server_url, statement, params)
            library.append(raised.value)
    for mine, theirs in zip(on_loop, library, strict=True):  # type: ignore[call-overload]
        assert type(mine) is type(theirs)
        assert type(mine.orig) is type(theirs.orig)
        assert mine.orig.sqlstate == theirs.orig.sqlstate
        assert str(mine.orig) == str(theirs.orig)
        assert not mine.connection_invalidated


def test_past_the_prepared_bound_statements_run_unprepared(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("authbridge.storage.loop_connections._PREPARED_MAX", 1)
    db = _database(postgres_server_url)
    try:
        on_loop = _run(db, lambda: [db.loop_rows(TYPED, values) for values in VALUES])
        assert on_loop == [_library_rows(postgres_server_url, TYPED, v) for v in VALUES]
        connections = db.loop_connections
        assert connections is not None and len(connections._idle[0]._statements) == 1
    finally:
        db.dispose()


def test_a_prepared_statement_gone_stale_is_prepared_again(postgres_server_url: str) -> None:
    """A schema change under a prepared statement ("cached plan must not change result
    type"): prepared again at once, so the grant gets the new shape."""
    shape = HotStatement("SELECT * FROM loop_prepared_shape WHERE k = :k")

    def grant(db: Database, admin: Engine) -> tuple[object, object, object]:
        before = db.loop_rows(shape, {"k": "a"})
        with admin.connect() as connection:
            connection.execute(text("ALTER TABLE loop_prepared_shape ADD COLUMN v integer"))
        try:
            during: object = db.loop_rows(shape, {"k": "a"})
        except DBAPIError as exc:
            during = exc.orig.sqlstate  # type: ignore[union-attr]
        return before, during, db.loop_rows(shape, {"k": "a"})

    with _scratch_table(
        postgres_server_url,
        "loop_prepared_shape",
        "CREATE TABLE loop_prepared_shape (k text)",
        "INSERT INTO loop_prepared_shape VALUES ('a')",
    ) as admin:
        db = _database(postgres_server_url)
        try:
            before, during, after = _run(db, grant, db, admin)  # type: ignore[misc]
        finally:
            db.dispose()
    assert before == [("a",)]
    assert during == [("a", None)]
    assert after == [("a", None)]
