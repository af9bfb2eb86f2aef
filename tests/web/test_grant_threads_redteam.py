"""Red team of web/grant_threads.py: cancelled callers (a client that hung up, while it
waited for a thread or while its work ran) leave no thread token behind, and a cancelled
caller's work never runs beside more than the threads allowed."""

from __future__ import annotations

import contextlib
import threading
import time

import anyio
import pytest

from authbridge.storage.errors import Unavailable
from authbridge.web.grant_threads import GrantThreads


def test_callers_cancelled_while_waiting_or_running_leak_no_thread_token() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1

    async def main() -> None:
        threads = GrantThreads(2, wait=5.0)
        for round_ in range(40):
            async with anyio.create_task_group() as group:
                for _ in range(6):
                    group.start_soon(threads.run, work)
                # Cancel at varied moments: before a thread is had, while waiting for
                # one, while the work runs.
                await anyio.sleep((round_ % 5) * 0.004)
                group.cancel_scope.cancel()
        limiter = threads._limiter
        assert limiter is not None and limiter.borrowed_tokens == 0
        # Still two at once, and no more.
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(threads.run, work)

    anyio.run(main)
    assert most == 2


def test_a_caller_cancelled_at_the_wait_bound_leaks_nothing() -> None:
    """Callers whose own deadline equals the wait bound race the bound's 503: whichever
    wins, no token is lost and no more than the threads run."""
    release = threading.Event()

    async def main() -> None:
        threads = GrantThreads(1, wait=0.05)
        async with anyio.create_task_group() as group:
            group.start_soon(threads.run, release.wait)
            await anyio.sleep(0.01)
            for _ in range(50):
                with anyio.move_on_after(0.05):
                    with contextlib.suppress(Unavailable):
                        await threads.run(lambda: None)
            release.set()
        limiter = threads._limiter
        assert limiter is not None and limiter.borrowed_tokens == 0
        assert await threads.run(lambda: "served") == "served"

    anyio.run(main)


def test_work_of_a_cancelled_caller_holds_its_thread_until_it_ends() -> None:
    """The thread's work cannot be stopped: its token is given back when it ends, not when
    its caller goes, so a hung-up client cannot make room for a fifth concurrent query."""
    started = threading.Event()
    release = threading.Event()

    async def main() -> None:
        threads = GrantThreads(1, wait=0.2)
        async with anyio.create_task_group() as group:

            async def caller() -> None:
                with anyio.move_on_after(0.01):
                    await threads.run(lambda: (started.set(), release.wait(5)))

            group.start_soon(caller)
            await anyio.to_thread.run_sync(started.wait)
            await anyio.sleep(0.05)  # the caller's deadline passed
            with pytest.raises(Unavailable):
                await threads.run(lambda: "must wait")
            release.set()
        assert await threads.run(lambda: "after") == "after"

    anyio.run(main)
