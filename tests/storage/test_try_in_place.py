"""A call tried in place (storage/loop_io.py `try_in_place`): answered right here when it
needs no I/O; abandoned at its first storage call, offloadable or on a pooled connection,
before that call does anything, and whatever `except Exception` lies on the way."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from authbridge.storage.database import Database
from authbridge.storage.loop_io import NOT_IN_PLACE, offloadable, try_in_place


class _Store:
    def __init__(self) -> None:
        self.calls = 0

    @offloadable
    def write(self) -> str:
        self.calls += 1
        return "written"


def test_a_call_without_io_is_answered_in_place() -> None:
    assert try_in_place(lambda a, b: a + b, 2, 3) == 5


def test_the_first_offloadable_call_ends_the_attempt_before_it_runs() -> None:
    store = _Store()
    after: list[str] = []

    def grant() -> str:
        result = store.write()
        after.append("went on")
        return result

    assert try_in_place(grant) is NOT_IN_PLACE
    assert store.calls == 0 and after == []
    assert grant() == "written" and store.calls == 1  # outside an attempt: a plain call


def test_no_except_exception_on_the_way_takes_it_for_a_failure() -> None:
    """A failed grant's handler (audit event, refusal count) must not run for it."""
    store = _Store()
    handled: list[BaseException] = []

    def grant() -> str:
        try:
            return store.write()
        except Exception as exc:
            handled.append(exc)
            raise

    assert try_in_place(grant) is NOT_IN_PLACE
    assert handled == []


def test_a_pooled_connection_ends_the_attempt_before_checkout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with db.engine.connect() as conn:  # a connection waiting in the pool
            conn.execute(text("SELECT 1"))

        def read() -> object:
            with db.engine.connect() as conn:
                return conn.execute(text("SELECT 1")).scalar()

        assert try_in_place(read) is NOT_IN_PLACE
        assert read() == 1
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        db.dispose()


def test_an_attempt_ends_with_the_call() -> None:
    store = _Store()
    assert try_in_place(lambda: 1) == 1
    assert store.write() == "written"  # the next call is not in an attempt any more
