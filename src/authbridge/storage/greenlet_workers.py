"""`greenlet_spawn` with greenlets kept for the next call: the same contract as SQLAlchemy's
(`sqlalchemy.util.greenlet_spawn`: run a blocking-style function whose `await_` calls
suspend it while the event loop awaits), on a greenlet that served an earlier call.

Why hand-written: a grant on PostgreSQL's event loop (storage/loop_io.py) ran in a new
greenlet each time, and a new greenlet costs far more than its creation: measured on the
real token grant (`OpenIDProvider.token`, thread CPU, 8 alternating rounds of 300), a new
greenlet added about 45 µs to a 100 µs call, a greenlet reused from an earlier call nothing
measurable (its first frames need fresh interpreter stack memory each time). A test runs
the same calls through both and compares what they return, raise and leave in the context
(tests/storage/test_greenlet_workers.py).

The greenlets are SQLAlchemy's kind for `await_` (`__sqlalchemy_greenlet_provider__`), one
idle pool per thread (greenlets never cross threads); each call runs in the caller's
context (`gr_context`), as SQLAlchemy's does.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import GreenletExit, getcurrent
from greenlet import greenlet as Greenlet  # noqa: N812 (the library's class, named as one)

__all__ = ["spawn"]

T = TypeVar("T")
# Idle greenlets kept per thread: the grants one worker has in flight at once, about.
MAX_IDLE = 64


class _Finished:
    """What a worker hands back when its call ended (anything else is an awaitable)."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error


class _Worker(Greenlet):  # type: ignore[misc]  # (greenlet ships no usable stubs for subclassing)
    # What SQLAlchemy's `await_` and `in_greenlet` look for.
    __sqlalchemy_greenlet_provider__ = True

    def __init__(self) -> None:
        super().__init__(self._serve)

    def _serve(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        while True:
            try:
                outcome = _Finished(function(*args), None)
            except GreenletExit:
                raise
            except BaseException as exc:
                outcome = _Finished(None, exc)
            function = args = None  # type: ignore[assignment]  # (not kept while idle)
            function, args = self.parent.switch(outcome)


class _Idle(threading.local):
    def __init__(self) -> None:
        self.workers: list[_Worker] = []


_idle = _Idle()


async def spawn(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a greenlet; each `await_` inside it is awaited here."""
    idle = _idle.workers
    worker = idle.pop() if idle else _Worker()
    here = getcurrent()
    worker.parent = here
    worker.gr_context = here.gr_context
    result = worker.switch(function, args)
    while not isinstance(result, _Finished):
        try:
            value = await result
        except BaseException:
            # Raised where the function awaited, so that it may handle it.
            result = worker.throw(*sys.exc_info())
        else:
            result = worker.switch(value)
    worker.gr_context = None
    if not worker.dead and len(idle) < MAX_IDLE:
        idle.append(worker)
    if result.error is not None:
        error, result.error = result.error, None
        raise error
    done: T = result.value
    return done
