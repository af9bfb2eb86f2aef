"""`GrantThreads`: the few threads the OAuth endpoints' blocking work runs in.

On PostgreSQL (or with Redis counters) a grant's storage calls block, so they leave the
event loop for a thread. Starlette's default is AnyIO's pool of 40: under 32 concurrent
clients that is 16 or more threads per worker contending for one GIL, each hand-over a
context switch, for work that is a third CPU and two thirds waiting on a loopback round
trip. A handful of threads keep the database busy as well, and a request queued behind them
costs nothing while it waits (bench/bench_provider.py --database, 32 clients: p99 of
client_credentials 246 ms with 40 threads, 96 ms with 4; see bench/README.md).

The wait for a thread is bounded like the wait for a pooled connection (`database.
poolTimeout`): a database that hangs holds every thread, and the requests behind them are
answered 503 at that bound instead of queueing until their clients give up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from authbridge.storage.errors import Unavailable

__all__ = ["GRANT_THREADS", "GrantThreads"]

GRANT_THREADS = 4
T = TypeVar("T")


class GrantThreads:
    def __init__(self, threads: int = GRANT_THREADS, *, wait: float = 2.0) -> None:
        self._threads = threads
        self._wait = wait
        # Made on first use, inside the running event loop.
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` in one of the threads; `Unavailable` (503) when none frees up
        within the wait."""
        limiter = self._limiter
        if limiter is None:
            limiter = self._limiter = anyio.CapacityLimiter(self._threads)
        acquired = False
        with anyio.move_on_after(self._wait):
            await limiter.acquire()
            acquired = True
        if not acquired:
            raise Unavailable(
                f"every one of the {self._threads} grant threads stayed busy for {self._wait} s"
            )
        try:
            return await anyio.to_thread.run_sync(function, *args)
        finally:
            limiter.release()
