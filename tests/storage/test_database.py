"""The connection pool's figures (storage/database.py `Database.pool_stats`), which the
metrics export: connections in use and idle, and threads waiting for one."""

from __future__ import annotations

import threading
import time

from authbridge.storage.database import Database, PoolStats, Timeouts


def _until(check: object, what: str, bound: float = 30.0) -> None:
    deadline = time.monotonic() + bound
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {bound} s"
        time.sleep(0.01)


def test_pool_stats_count_checkouts_and_waiters(database_url: str) -> None:
    db = Database(database_url, pool_size=1, timeouts=Timeouts(pool=60.0))
    # PostgreSQL: the autocommit pool of the token endpoint's statements, 1 + 1, counts too.
    capacity = 2 if db.dialect == "sqlite" else 4
    try:
        db.ping()
        assert db.pool_stats() == PoolStats(in_use=0, idle=1, waiting=0, capacity=capacity)
        held = [db.engine.connect(), db.engine.connect()]  # pool_size 1 + overflow 1: full
        assert db.pool_stats() == PoolStats(in_use=2, idle=0, waiting=0, capacity=capacity)
        if db.dialect != "sqlite":
            with db.autocommit():
                assert db.pool_stats().in_use == 3
        waiter = threading.Thread(target=db.ping)
        waiter.start()
        _until(lambda: db.pool_stats().waiting == 1, "a thread waiting for a connection")
        held.pop().close()  # the waiter gets this one
        waiter.join(30)
        assert not waiter.is_alive()
        stats = db.pool_stats()
        assert stats.waiting == 0 and stats.in_use == 1
        held.pop().close()
        assert db.pool_stats().in_use == 0
    finally:
        db.dispose()


def test_an_in_memory_database_has_no_pool_to_watch() -> None:
    db = Database("sqlite://")
    assert db.pool_stats() is None
    db.dispose()


def test_sqlite_binds_none_as_null_without_asking_how_to_adapt_it(tmp_path: object) -> None:
    """A SQLite database registers an adapter for None (`bind_none_as_null`): Python 3.11's
    sqlite3 otherwise raised and dropped an AttributeError for each None it bound. Values
    stay what they were: None is stored as NULL, other values as themselves."""
    import sqlite3
    from pathlib import Path

    from sqlalchemy import text

    assert isinstance(tmp_path, Path)
    db = Database(f"sqlite:///{tmp_path / 'none.db'}")
    try:
        assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
        with db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (a TEXT, b INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (:a, :b)"), [{"a": None, "b": 1}])
            connection.exec_driver_sql("INSERT INTO t VALUES (?, ?)", ("x", None))
            rows = connection.exec_driver_sql(
                "SELECT a IS NULL, typeof(a), b IS NULL, typeof(b) FROM t ORDER BY rowid"
            ).all()
        assert [tuple(r) for r in rows] == [(1, "null", 0, "integer"), (0, "text", 1, "null")]
    finally:
        db.dispose()
