"""Blocking-style storage code run on the event loop, each wait a suspension (greenlets).

The token endpoint's grants are plain functions calling the stores. On PostgreSQL each
grant used to run in a thread (`web/grant_threads.py`): the hand-over, the GIL passing
between the loop and the thread, and SQLAlchemy's checkout cost more CPU than the grant's
one statement. Here a grant runs on the event loop in a greenlet instead (`run_on_loop`):

- its hot statements (`storage/loop_connections.py`) await an asyncio psycopg connection:
  the greenlet suspends, the loop serves other requests, the greenlet resumes with the rows;
- any other storage call it makes is a method marked `@offloadable`, which hands the whole
  call to the grant threads (`offload`) and suspends until it ends: a transaction, a
  counter, a key reload keep running as they always have, in a thread;
- a pooled SQLAlchemy connection checked out on the loop itself is a programming error
  (a missed `@offloadable`: it would block the loop for a round trip, or for the statement
  timeout if the database hangs), raised at once by `refuse_on_loop` (the pools' checkout
  hook), so tests find it.

A grant that needs no I/O at all (client_credentials with its client and service account
in memory) is first tried in place (`try_in_place`): its first storage call raises
`NeedsLoop`, and the grant is then run with `run_on_loop` from the start.

A lock held across an offloaded call would deadlock the loop (a second greenlet on the same
thread waiting for it), so a method that takes a lock and then does I/O is offloaded whole
(`tokens/keyring.py` `current`).

The greenlets are SQLAlchemy's own (`sqlalchemy.util.greenlet_spawn` and `await_`, the
machinery of its asyncio extension; `greenlet` is a runtime dependency of ours since
SQLAlchemy 2.1 no longer brings it). Where the offloaded calls go is a context variable set
by `run_on_loop`.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.concurrency import await_, in_greenlet

__all__ = [
    "NOT_IN_PLACE",
    "NeedsLoop",
    "NotInPlace",
    "OnLoopError",
    "await_on_loop",
    "offloadable",
    "offloadable_methods",
    "on_loop",
    "refuse_on_loop",
    "run_on_loop",
    "try_in_place",
]

T = TypeVar("T")
P = ParamSpec("P")

# What runs a blocking call in a thread and awaits it (web/grant_threads.py `run`).
Offload = Callable[..., Awaitable[Any]]
_offload: contextvars.ContextVar[Offload | None] = contextvars.ContextVar(
    "authbridge_offload", default=None
)


class OnLoopError(RuntimeError):
    """A blocking storage call reached the event loop without being offloaded."""


class NeedsLoop(BaseException):
    """A call tried in place reached its first I/O (`try_in_place`). Not an `Exception`:
    no `except Exception` on its way (a failed grant's audit event, a refusal's count) may
    take it for the call's own failure; the call is abandoned as if never made."""


class NotInPlace:
    """`try_in_place`'s answer when the call needs I/O."""


NOT_IN_PLACE = NotInPlace()
_in_place: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "authbridge_in_place", default=False
)


def try_in_place(function: Callable[..., T], *args: object) -> T | NotInPlace:
    """`function(*args)` right here if it needs no I/O, else `NOT_IN_PLACE` (the caller then
    runs it with `run_on_loop`). The first storage call, offloadable or on a pooled
    connection, ends the attempt, so `function` must change nothing before its first I/O:
    a grant's writes are its I/O, and its audit event and metrics come after the last.
    Spares a grant whose data is all in memory the greenlet (a client_credentials grant
    with its client and service account cached)."""
    token = _in_place.set(True)
    try:
        return function(*args)
    except NeedsLoop:
        return NOT_IN_PLACE
    finally:
        _in_place.reset(token)


async def run_on_loop(offload: Offload, function: Callable[..., T], *args: object) -> T:
    """`function(*args)` on this event loop; each `await_on_loop` inside it is awaited here,
    each `@offloadable` call runs through `offload`. The greenlet shares the task's context
    (the request id, for the log lines)."""
    token = _offload.set(offload)
    try:
        return await greenlet_spawn(function, *args)
    finally:
        _offload.reset(token)


def on_loop() -> bool:
    """Whether the caller runs inside `run_on_loop` (and may await through it)."""
    return _offload.get() is not None and in_greenlet()


def await_on_loop(awaitable: Awaitable[T]) -> T:
    """Suspend the calling greenlet until `awaitable` is done on the loop; its result."""
    return await_(awaitable)


def offloadable(method: Callable[P, T]) -> Callable[P, T]:
    """A blocking call that runs as is, or, inside `run_on_loop`, whole in a grant thread
    while the loop goes on."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        if _in_place.get():
            raise NeedsLoop
        offload = _offload.get()
        if offload is not None and in_greenlet():
            result: T = await_(offload(functools.partial(method, *args, **kwargs)))
            return result
        return method(*args, **kwargs)

    return call


C = TypeVar("C", bound=type)


def offloadable_methods(*keep: str) -> Callable[[C], C]:
    """A class decorator: every public method `@offloadable` but those named in `keep`
    (the ones that await on the loop themselves, or do no I/O)."""

    def decorate(cls: C) -> C:
        for name, value in list(vars(cls).items()):
            if name.startswith("_") or name in keep or not callable(value):
                continue
            if isinstance(value, staticmethod | classmethod | type):
                continue
            setattr(cls, name, offloadable(value))
        return cls

    return decorate


def refuse_on_loop(*_args: object) -> None:
    """A pool's checkout hook: no pooled connection is used on the event loop."""
    if _in_place.get():
        raise NeedsLoop
    if _offload.get() is not None and in_greenlet():
        raise OnLoopError(
            "a blocking storage call ran on the event loop: mark it @offloadable "
            "(storage/loop_io.py)"
        )
