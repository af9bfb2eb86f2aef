"""`GrantThreads`: the few threads the OAuth endpoints' blocking work runs in.

A grant's blocking storage calls leave the event loop for one of these threads: on
PostgreSQL those a grant on the loop offloads (`storage/loop_io.py`: all but its hot
statements), and with Redis counters on SQLite the whole grant. Starlette's default is
AnyIO's pool of 40: under 32 concurrent clients that is 16 or more threads per worker
contending for one GIL, each hand-over a context switch, for work that is a third CPU and
two thirds waiting on a loopback round trip. A handful of threads keep the database busy as
well, and a request queued behind them costs nothing while it waits
(bench/bench_provider.py --database, 32 clients: p99 of client_credentials 246 ms with 40
threads, 96 ms with 4; see bench/README.md).

The hand-over itself is asyncio's and a queue's, not `anyio.to_thread`: AnyIO's costs a
worker-thread lookup, a cancel scope and two extra loop wake-ups per call (a no-op call
129 µs of CPU there, 52 µs here; a PostgreSQL query in the thread at 16 concurrent callers
289 µs there, 141 µs here: bench/README.md "grant threads"). Because at most `threads`
calls run at once (the semaphore), each call finds a thread idle on the queue.

The wait for a thread is bounded like the wait for a pooled connection (`database.
poolTimeout`): a database that hangs holds every thread, and the requests behind them are
answered 503 at that bound instead of queueing until their clients give up. A caller that
goes away (its client hung up) cannot stop its work in the thread: the thread stays
counted busy until the work ends, so hung-up clients never make room for more concurrent
queries than `threads`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from authbridge.storage.errors import Unavailable

__all__ = ["GRANT_THREADS", "GrantThreads"]

GRANT_THREADS = 4
T = TypeVar("T")

# One call handed to a thread: where to answer, the future, the caller's context, the work.
_Call = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    asyncio.Semaphore,
    contextvars.Context,
    Callable[..., Any],
    tuple[object, ...],
]


class GrantThreads:
    def __init__(self, threads: int = GRANT_THREADS, *, wait: float = 2.0) -> None:
        self._threads = threads
        self._wait = wait
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._started = False
        self._starting = threading.Lock()
        # Made on first use inside a running loop (one per loop: tests run several).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._busy = 0

    @property
    def busy(self) -> int:
        """Threads running work now (or still finishing it for a caller that went away)."""
        return self._busy

    def _settle(
        self,
        future: asyncio.Future[Any],
        slots: asyncio.Semaphore,
        result: object,
        error: BaseException | None,
    ) -> None:
        """On the loop, once the work ended: the thread is free again, and the caller (if
        it is still there) gets the result."""
        self._busy -= 1
        slots.release()
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def _start(self) -> None:
        with self._starting:
            if self._started:
                return
            for number in range(self._threads):
                threading.Thread(
                    target=self._serve, name=f"authbridge-grant-{number}", daemon=True
                ).start()
            self._started = True

    def _serve(self) -> None:
        while True:
            loop, future, slots, context, function, args = self._calls.get()
            result: object = None
            error: BaseException | None = None
            try:
                result = context.run(function, *args)
            except BaseException as exc:  # handed to the caller, as a call in place would
                error = exc
            # A loop closed meanwhile (shutdown) has nobody waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._settle, future, slots, result, error)
            del future, result, error  # no reference kept while idle

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` in one of the threads; `Unavailable` (503) when none frees up
        within the wait."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._slots is None:
            self._loop, self._slots = loop, asyncio.Semaphore(self._threads)
        slots = self._slots
        if not self._started:
            self._start()
        try:
            async with asyncio.timeout(self._wait):
                await slots.acquire()
        except TimeoutError:
            raise Unavailable(
                f"every one of the {self._threads} grant threads stayed busy for {self._wait} s"
            ) from None
        # From here the slot is the thread's: released by `_settle` when the work ends,
        # whether or not this caller is still waiting for it.
        self._busy += 1
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, slots, contextvars.copy_context(), function, args))
        return await future
