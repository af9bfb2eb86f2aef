"""storage/greenlet_workers.py `spawn` against SQLAlchemy's `greenlet_spawn`: the same calls
through both return, raise and leave in the context the same things; and `spawn` serves
the next call on a greenlet it kept."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.concurrency import await_, in_greenlet

from authbridge.storage import greenlet_workers
from authbridge.storage.greenlet_workers import spawn

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def _value(value: object) -> object:
    await asyncio.sleep(0)
    return value


async def _boom(message: str) -> None:
    await asyncio.sleep(0)
    raise KeyError(message)


def _plain() -> object:
    return ("plain", in_greenlet())


def _two_awaits() -> object:
    return [await_(_value(1)), await_(_value("two"))]


def _raises() -> object:
    raise ValueError("from the function")


def _handles() -> object:
    try:
        await_(_boom("from the awaitable"))
    except KeyError as exc:
        return f"handled {exc}"
    return "not raised"


def _does_not_handle() -> object:
    await_(_boom("unhandled"))
    return "not raised"


def _context() -> object:
    before = seen.get()
    seen.set("set inside")
    return before, await_(_value(seen.get()))


CALLS: list[Callable[[], object]] = [
    _plain,
    _two_awaits,
    _raises,
    _handles,
    _does_not_handle,
    _context,
]


async def _outcome(runner: Callable[..., Awaitable[Any]], call: Callable[[], object]) -> object:
    seen.set("set outside")
    try:
        value = await runner(call)
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc), seen.get())
    return ("returned", value, seen.get())


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.__name__)
def test_each_call_ends_as_sqlalchemys_does(call: Callable[[], object]) -> None:
    async def both() -> tuple[object, object]:
        ours = await asyncio.create_task(_outcome(spawn, call))
        theirs = await asyncio.create_task(_outcome(greenlet_spawn, call))
        return ours, theirs

    ours, theirs = asyncio.run(both())
    assert ours == theirs


def test_a_cancelled_call_is_cancelled_where_it_waits_in_both() -> None:
    def waits(log: list[str]) -> object:
        try:
            return await_(asyncio.sleep(10))
        finally:
            log.append("finally ran")

    async def cancelled(runner: Callable[..., Awaitable[Any]]) -> list[str]:
        log: list[str] = []
        task = asyncio.create_task(runner(waits, log))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return log

    async def both() -> tuple[list[str], list[str]]:
        return await cancelled(spawn), await cancelled(greenlet_spawn)

    ours, theirs = asyncio.run(both())
    assert ours == theirs == ["finally ran"]


def test_concurrent_calls_each_get_their_own_answer() -> None:
    def echo(index: int) -> object:
        first = await_(_value(index))
        second = await_(_value(index * 10))
        return first, second

    async def many() -> list[object]:
        return list(await asyncio.gather(*(spawn(echo, i) for i in range(40))))

    assert asyncio.run(many()) == [(i, i * 10) for i in range(40)]


def test_the_next_call_reuses_a_kept_greenlet_even_after_a_failure() -> None:
    def who() -> object:
        from greenlet import getcurrent

        return getcurrent()

    async def calls() -> tuple[object, object, object]:
        first = await spawn(who)
        with pytest.raises(ValueError):
            await spawn(_raises)
        second = await spawn(who)
        return first, second, await spawn(_plain)

    first, second, plain = asyncio.run(calls())
    assert first is second
    assert plain == ("plain", True)
    assert len(greenlet_workers._idle.workers) <= greenlet_workers.MAX_IDLE
