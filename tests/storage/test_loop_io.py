"""Grants on the event loop (storage/loop_io.py): blocking-style code whose awaits suspend it,
whose `@offloadable` calls run in the grant threads while the loop goes on, and which may
never check a pooled connection out on the loop itself."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from authbridge.storage.database import Database
from authbridge.storage.loop_io import (
    OnLoopError,
    await_on_loop,
    offloadable,
    offloadable_methods,
    on_loop,
    run_on_loop,
)
from authbridge.web.grant_threads import GrantThreads

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


async def _value(value: object, delay: float = 0.0) -> object:
    await asyncio.sleep(delay)
    return value


async def _fail() -> None:
    raise ZeroDivisionError("from the loop")


def test_code_on_the_loop_awaits_returns_and_raises_as_a_plain_call() -> None:
    def grant() -> tuple[object, bool]:
        seen = await_on_loop(_value("rows"))
        with pytest.raises(ZeroDivisionError, match="from the loop"):
            await_on_loop(_fail())
        return seen, on_loop()

    async def main() -> None:
        threads = GrantThreads(2, wait=1.0)
        assert await run_on_loop(threads.run, grant) == ("rows", True)
        assert not on_loop()
        with pytest.raises(KeyError):
            await run_on_loop(threads.run, {}.__getitem__, "missing")

    asyncio.run(main())


def test_the_code_shares_the_requests_context() -> None:
    """The request id bound by the middleware is seen by the grant (its log lines), in
    the greenlet and in the offloaded calls alike."""

    @offloadable
    def in_thread() -> str:
        return request_id.get()

    def grant() -> tuple[str, str]:
        return request_id.get(), in_thread()

    async def main() -> None:
        request_id.set("req-7")
        assert await run_on_loop(GrantThreads(1, wait=1.0).run, grant) == ("req-7", "req-7")

    asyncio.run(main())


def test_offloaded_calls_run_in_a_thread_while_the_loop_goes_on() -> None:
    loop_thread: list[int] = []
    ticks: list[float] = []

    @offloadable
    def blocking() -> int:
        time.sleep(0.2)
        return threading.get_ident()

    async def ticker() -> None:
        for _ in range(8):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        threads = GrantThreads(2, wait=1.0)
        started = time.monotonic()
        worker, _ = await asyncio.gather(run_on_loop(threads.run, blocking), ticker())
        assert worker != loop_thread[0]
        # The ticker ran while the offloaded call slept, not after it.
        assert ticks[-1] - started < 0.18
        # Outside a grant the same function is a plain call on the caller's thread.
        assert blocking() == loop_thread[0]

    asyncio.run(main())


def test_a_lock_held_across_storage_calls_does_not_stall_the_loop() -> None:
    """Two grants on one loop needing the same lock-guarded reload (the key ring's): with
    the method offloaded whole, the second waits for the lock in a thread, not on the
    loop's own thread (where it would wait for ever for a greenlet that cannot resume)."""

    class Ring:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.reloads = 0

        @offloadable
        def reload(self) -> int:
            with self.lock:
                time.sleep(0.05)
                self.reloads += 1
                return self.reloads

    ring = Ring()

    async def main() -> list[int]:
        threads = GrantThreads(4, wait=2.0)
        return await asyncio.wait_for(
            asyncio.gather(*(run_on_loop(threads.run, ring.reload) for _ in range(4))), 5
        )

    assert sorted(asyncio.run(main())) == [1, 2, 3, 4]


def test_a_class_decorator_offloads_its_public_methods_only() -> None:
    @offloadable_methods("kept")
    class Store:
        remote = False

        def public(self) -> int:
            return threading.get_ident()

        def kept(self) -> int:
            return threading.get_ident()

        def _private(self) -> int:
            return threading.get_ident()

    store = Store()

    def grant() -> tuple[int, int, int]:
        return store.public(), store.kept(), store._private()

    async def main() -> None:
        here = threading.get_ident()
        public, kept, private = await run_on_loop(GrantThreads(1, wait=1.0).run, grant)
        assert public != here and kept == here and private == here

    asyncio.run(main())
    assert Store.remote is False


def test_a_connection_checked_out_on_the_loop_is_refused(tmp_path: Path) -> None:
    """A missed `@offloadable` fails at once and loudly (tests find it), instead of blocking
    the loop for a round trip, or for the statement timeout when the database hangs."""
    db = Database(f"sqlite:///{tmp_path / 'loop.db'}")

    def query() -> int:
        with db.engine.connect() as connection:
            return int(connection.execute(text("SELECT 1")).scalar_one())

    async def main() -> None:
        threads = GrantThreads(1, wait=1.0)
        with pytest.raises(OnLoopError, match="offloadable"):
            await run_on_loop(threads.run, query)
        assert await run_on_loop(threads.run, offloadable(query)) == 1
        assert query() == 1  # off the loop: a plain call

    try:
        asyncio.run(main())
    finally:
        db.dispose()
