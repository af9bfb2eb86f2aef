"""The OAuth endpoints' threads (web/grant_threads.py): few, a bounded wait for one, and no
thread token lost to a caller that went away (cancelled while waiting or while its work ran)."""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time

import anyio
import pytest

from authbridge.storage.errors import Unavailable
from authbridge.web.grant_threads import GrantThreads


class _Overlap:
    """Work that sleeps a little and records how many of its calls ran at once."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._running = 0
        self.most = 0

    def __call__(self) -> None:
        with self._lock:
            self._running += 1
            self.most = max(self.most, self._running)
        time.sleep(self._seconds)
        with self._lock:
            self._running -= 1


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
    work = _Overlap(0.02)

    async def main() -> None:
        threads = GrantThreads(3, wait=10.0)
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(threads.run, work)

    anyio.run(main)
    assert work.most == 3


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


def test_callers_cancelled_while_waiting_or_running_leak_no_thread_token() -> None:
    """A client that hung up (its caller cancelled before a thread was had, while waiting
    for one, or while its work ran) leaves no thread token behind."""
    work = _Overlap(0.01)

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
        # The work of callers that went away ends on its own (it cannot be stopped).
        with anyio.fail_after(2):
            while threads.busy:
                await anyio.sleep(0.005)
        # Still two at once, and no more.
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(threads.run, work)

    anyio.run(main)
    assert work.most == 2


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
        assert await threads.run(lambda: "served") == "served"
        assert threads.busy == 0

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


def test_work_sees_the_callers_context() -> None:
    """Context variables set by the request (its id, for the log lines the work writes)
    are the work's, and what the work sets does not leak back into the caller."""
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

    def work() -> str:
        seen = request_id.get()
        request_id.set("changed in the thread")
        return seen

    async def main() -> None:
        threads = GrantThreads(1, wait=1.0)
        request_id.set("req-1")
        assert await threads.run(work) == "req-1"
        assert request_id.get() == "req-1"

    anyio.run(main)
