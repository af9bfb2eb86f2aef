"""The OAuth endpoints' threads (web/grant_threads.py): few, and a bounded wait for one."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from authbridge.storage.errors import Unavailable
from authbridge.web.grant_threads import GrantThreads


def test_work_runs_off_the_event_loop_and_returns_its_value() -> None:
    async def main() -> None:
        threads = GrantThreads(2, wait=1.0)
        loop_thread = threading.get_ident()
        assert await threads.run(threading.get_ident) != loop_thread
        assert await threads.run(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(ZeroDivisionError):
            await threads.run(lambda: 1 / 0)
        assert await threads.run(lambda: "still usable after a failure") == (
            "still usable after a failure"
        )

    anyio.run(main)


def test_no_more_than_the_threads_run_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async def main() -> None:
        threads = GrantThreads(3, wait=10.0)
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(threads.run, work)

    anyio.run(main)
    assert most == 3


def test_a_caller_behind_stuck_threads_gets_a_503_at_the_bound() -> None:
    """A database that hangs holds every thread: the next grant is refused after the pool
    wait (Unavailable answers 503), not queued; once the threads free up, grants go on."""
    release = threading.Event()

    async def main() -> None:
        threads = GrantThreads(2, wait=0.3)
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(threads.run, release.wait)
            await anyio.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await threads.run(lambda: "never runs")
            waited = time.monotonic() - started
            assert 0.25 <= waited < 2.0, waited
            release.set()
        assert await threads.run(lambda: "after") == "after"

    anyio.run(main)
