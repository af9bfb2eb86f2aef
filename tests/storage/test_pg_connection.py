"""Pooled PostgreSQL connections the server closed are replaced at checkout, found by
their socket (storage/pg_connection.py `open_without_round_trip`) instead of a ping query."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, text

from authbridge.storage.database import Database
from authbridge.storage.pg_connection import open_without_round_trip

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres_server_url: str) -> str:
    return postgres_server_url


def _terminate(url: str, pids: set[int]) -> None:
    """What a restart or an administrator does to a backend: FATAL, then the socket closes."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for pid in pids:
            connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()


def _until(check: object, bound: float = 10.0) -> None:
    deadline = time.monotonic() + bound
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture
def raw(pg_url: str) -> Iterator[psycopg.Connection[object]]:
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection:
        yield connection


def test_an_idle_healthy_connection_is_open(raw: psycopg.Connection[object]) -> None:
    raw.execute("SELECT 1")
    raw.rollback()
    assert open_without_round_trip(raw) is True
    assert open_without_round_trip(raw) is True  # asking sent nothing and changed nothing
    assert raw.execute("SELECT 2").fetchone() == (2,)


def test_a_connection_the_server_ended_is_seen_closed(
    pg_url: str, raw: psycopg.Connection[object]
) -> None:
    pid = raw.info.backend_pid
    _terminate(pg_url, {pid})
    _until(lambda: not open_without_round_trip(raw))
    with pytest.raises(psycopg.OperationalError):
        raw.execute("SELECT 1")


def test_a_notice_waiting_on_the_socket_is_not_mistaken_for_a_close(
    pg_url: str, raw: psycopg.Connection[object]
) -> None:
    """Something the server sends an idle session (here a NOTIFY it listens to) is read
    and the connection stays usable."""
    raw.autocommit = True
    raw.execute("LISTEN authbridge_test_channel")
    other = psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    other.autocommit = True
    other.execute("NOTIFY authbridge_test_channel, 'x'")
    other.close()
    time.sleep(0.2)
    assert open_without_round_trip(raw) is True
    assert raw.execute("SELECT 3").fetchone() == (3,)


def test_the_pool_replaces_connections_a_restart_killed(pg_url: str) -> None:
    """Every pooled connection terminated (as by a server restart): the next statements
    succeed on new connections, none fails."""
    db = Database(pg_url, pool_size=2)
    try:
        # Both pools: transactions' and the autocommit statements' (1 + 1 for pool_size 2).
        with (
            db.engine.connect() as first,
            db.engine.connect() as second,
            db.autocommit() as third,
            db.autocommit() as fourth,
        ):
            held = [first, second, third, fourth]
            pids = {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in held}
        assert len(pids) == 4
        assert db.pool_stats().idle == 3  # the autocommit pool keeps 1, the overflow closes
        _terminate(pg_url, pids)
        time.sleep(0.2)
        for _ in range(4):
            with db.autocommit() as connection:
                pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            assert pid not in pids
            with db.engine.connect() as connection:
                pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            assert pid not in pids
        db.ping()
    finally:
        db.dispose()


def test_connections_killed_as_they_open_fail_as_an_outage_not_a_bug(pg_url: str) -> None:
    """A server killing sessions as fast as they open (a failover, an administrator's kill
    loop): a checkout whose reconnection is dead too must fail as an outage (an error that
    `UNAVAILABLE` names: 503), never SQLAlchemy's "connection is closed" (a 500); once the
    server lets sessions live, the next statement succeeds."""
    from sqlalchemy import event

    from authbridge.storage.errors import UNAVAILABLE

    db = Database(pg_url, pool_size=1)
    killing = True

    def kill_on_connect(dbapi_connection: psycopg.Connection[object], _record: object) -> None:
        if killing:
            _terminate(pg_url, {dbapi_connection.info.backend_pid})
            _until(lambda: not open_without_round_trip(dbapi_connection))

    for engine in db.engines:
        event.listen(engine, "connect", kill_on_connect)
    try:
        for _ in range(3):
            with pytest.raises(UNAVAILABLE), db.autocommit() as connection:
                connection.execute(text("SELECT 1"))
            with pytest.raises(UNAVAILABLE), db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        killing = False
        with db.autocommit() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


def _idle_in_transaction_too_long(db: Database) -> tuple[int, BaseException]:
    """A transaction the server ends for idling (idle_in_transaction_session_timeout, which
    storage/database.py sets to 6 statement timeouts): what its next statement raises."""
    with pytest.raises(Exception) as raised, db.engine.begin() as connection:
        connection.execute(text("SET idle_in_transaction_session_timeout = '100ms'"))
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        time.sleep(0.5)
        connection.execute(text("SELECT 1"))
    return pid, raised.value


def test_a_connection_killed_mid_transaction_is_not_reused(pg_url: str) -> None:
    """That request fails; its connection never goes back to the pool, and the next
    requests run on a sound one."""
    db = Database(pg_url, pool_size=1)
    try:
        pid, _ = _idle_in_transaction_too_long(db)
        for _ in range(3):
            with db.autocommit() as connection:
                assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        with db.session() as session:
            assert session.execute(text("SELECT 2")).scalar_one() == 2
    finally:
        db.dispose()


def test_a_transaction_ended_for_idling_is_an_outage(pg_url: str) -> None:
    """SQLSTATE 25P03 comes as psycopg's InternalError, a class UNAVAILABLE does not name;
    the connection went with it, so it is an outage all the same (503, not 500)."""
    from authbridge.storage.errors import UNAVAILABLE, lost_connection

    db = Database(pg_url, pool_size=1)
    try:
        _, error = _idle_in_transaction_too_long(db)
        assert isinstance(error, UNAVAILABLE) or lost_connection(error), type(error)
    finally:
        db.dispose()
