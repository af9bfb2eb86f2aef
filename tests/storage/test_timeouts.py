"""Every wait on the database is bounded (storage/database.py): a pool checkout, a new
connection, a statement, and a round trip through a SILENT network partition (packets
dropped, nothing closed), which TcpProxy.partition() plays."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from authbridge.storage.database import Database, Timeouts
from authbridge.storage.errors import UNAVAILABLE
from tests.e2e.tcp_proxy import TcpProxy, proxy_for

FAST = Timeouts(connect=1, statement=1, pool=0.5)


@pytest.fixture
def proxied(postgres_server_url: str) -> Iterator[tuple[TcpProxy, Database]]:
    proxy, url = proxy_for(postgres_server_url)
    proxy.restore()
    db = Database(url, pool_size=2, timeouts=FAST)
    try:
        yield proxy, db
    finally:
        proxy.heal()
        db.dispose()
        proxy.cut()


def _failure_within(seconds: float, work: object) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(UNAVAILABLE) as caught:
        work()  # type: ignore[operator]
    return caught.value, time.monotonic() - started


@pytest.mark.postgres
def test_every_postgres_connection_carries_timeouts_and_keepalives(
    proxied: tuple[TcpProxy, Database],
) -> None:
    _, db = proxied
    with db.engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "1s"
        assert connection.execute(text("SHOW lock_timeout")).scalar() == "1s"
        raw = connection.connection.dbapi_connection
        params = raw.info.get_parameters()  # type: ignore[union-attr]
        assert params["keepalives"] == "1" and params["connect_timeout"] == "1"
        assert params["tcp_user_timeout"] == "2000"


@pytest.mark.postgres
def test_a_slow_statement_is_cancelled_by_the_server(proxied: tuple[TcpProxy, Database]) -> None:
    _, db = proxied
    with db.engine.connect() as connection:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"):
            connection.execute(text("SELECT pg_sleep(30)"))
    assert time.monotonic() - started < 5


@pytest.mark.postgres
def test_maintenance_runs_without_the_request_timeouts(proxied: tuple[TcpProxy, Database]) -> None:
    _, db = proxied
    # Longer than both the server's statement timeout (1 s) and the client deadline (2 s).
    with db.without_timeouts() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "0"
        connection.execute(text("SELECT pg_sleep(2.5)"))
    with db.engine.connect() as connection:  # the same pooled connection: bounded again
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "1s"


@pytest.mark.postgres
def test_a_silent_partition_fails_fast_on_open_and_new_connections(
    proxied: tuple[TcpProxy, Database],
) -> None:
    proxy, db = proxied
    db.ping()  # a pooled connection, open through the proxy
    proxy.partition()
    # The pooled connection passes the checkout's socket check (nothing arrives on a silent
    # link) and its statement gets no answer: the client-side deadline (statement + 1 s)
    # ends it; the next request's fresh connection gets none (connect timeout, 1 s).
    _, took = _failure_within(10, db.ping)
    assert took < 2 * (FAST.statement + 1 + FAST.connect) + 1, took
    _, took = _failure_within(10, db.ping)
    assert took < 2 * (FAST.connect + 1), took
    proxy.heal()
    db.ping()  # back without a restart


def test_pool_exhaustion_is_an_outage_after_the_pool_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}", pool_size=1, timeouts=FAST)
    held = [db.engine.connect() for _ in range(2)]  # pool_size + max_overflow
    try:
        error, took = _failure_within(5, db.ping)
        assert isinstance(error, PoolTimeout) and took < 2 * FAST.pool + 1
    finally:
        for connection in held:
            connection.close()
        db.dispose()


def test_sqlite_waits_for_a_lock_only_the_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    db = Database(url, timeouts=FAST)
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    locked = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            locked.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(5)

        def write() -> None:
            with db.engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (2)"))

        _, took = _failure_within(5, write)
        assert took < 2 * FAST.statement + 1
    finally:
        release.set()
        thread.join()
        db.dispose()
