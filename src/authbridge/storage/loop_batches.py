"""Group commit on the event loop: the same hot statement of several grants in one round
trip (PostgreSQL), for the refresh rotation (`provider_store.Q_ROTATE`).

Under load a worker's grants arrive together: every request the loop read in one turn
reaches its rotation in that same turn. Each rotation alone cost a statement: about 100 µs
of the worker's CPU for the protocol, and on the server a statement, a transaction and a
commit whose WAL flush it waits for, about 400 µs of PostgreSQL's CPU
(bench/README.md "group commit"). A `BatchedStatement` takes each parameter as an array,
one element per grant (`unnest`), so one statement rotates every token the turn brought;
each row it returns carries the `key` of the grant it belongs to.

How a batch forms: the first grant of a turn schedules the batch for the next turn
(`call_soon`), so the rest of this turn's grants join it; while `parallel` batches are in
flight, new grants wait for one to end and go together in the next. Every grant's
parameters are independent (its own token), and the statement treats each element as the
single statement did; PostgreSQL applies them in one transaction, so a batch commits or
fails whole: each of its grants gets the rows or the error (`Unavailable` when the
database is down or slow, as alone). A grant whose caller went away keeps its place in the
batch: the rotation it asked for happens, as it did when a lone statement was cut off
after it was sent.

A grant waiting behind every batch in flight waits at most `wait` seconds (the pool's
wait for a connection, as a statement alone), then gets `Unavailable` and leaves the queue.

One batch holds at most `max_items` grants (a statement's size and its row locks stay
bounded); the rest wait for the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from authbridge.storage.errors import Unavailable
from authbridge.storage.hot import HotStatement

__all__ = ["BatchedStatement", "LoopBatches"]


@dataclass(frozen=True)
class BatchedStatement:
    """A statement over arrays: `statement` takes one `:name` array per name of `fields`
    (element i of each is grant i's), and returns `key`'s value as its first column."""

    statement: HotStatement
    fields: tuple[str, ...]
    key: str
    # The field the items are sorted by: every batch takes its row locks in one order, so
    # two batches never wait for each other in a cycle (a deadlock would fail both).
    order: str | None = None
    # The column types of fields whose elements need converting (as `HotStatement` binds).
    binds: Mapping[str, TypeEngine[Any]] = field(default_factory=dict)

    # The binds' converters by dialect name, worked out at first use.
    _converters: dict[str, dict[str, Callable[[Any], Any]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def arrays(self, dialect: Dialect, items: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """One array per field, element i from `items[i]`, each converted by its type."""
        converters = self._converters.get(dialect.name)
        if converters is None:
            converters = self._converters[dialect.name] = {
                name: convert
                for name, type_ in self.binds.items()
                if (convert := type_.dialect_impl(dialect).bind_processor(dialect)) is not None
            }
        arrays: dict[str, list[Any]] = {}
        for name in self.fields:
            values = [item[name] for item in items]
            converter = converters.get(name)
            arrays[name] = values if converter is None else [converter(v) for v in values]
        return arrays


_Waiting = tuple[Mapping[str, Any], "asyncio.Future[list[Any]]"]
RunRows = Callable[[HotStatement, Mapping[str, Any]], Any]  # an awaitable of rows


class _Batcher:
    """The grants waiting for one statement, on one event loop."""

    def __init__(
        self,
        batched: BatchedStatement,
        run: RunRows,
        dialect: Dialect,
        parallel: int,
        max_items: int,
        wait: float | None,
    ) -> None:
        self.batched = batched
        self.dialect = dialect
        self.run = run
        self.parallel = parallel
        self.max_items = max_items
        self.wait = wait
        self.waiting: list[_Waiting] = []
        self.in_flight = 0
        self.scheduled = False
        self.tasks: set[asyncio.Task[None]] = set()
        # The grants waiting behind every batch in flight: when each gives up.
        self.timers: dict[asyncio.Future[list[Any]], asyncio.TimerHandle] = {}

    def add(self, loop: asyncio.AbstractEventLoop, params: Mapping[str, Any]) -> Any:
        future: asyncio.Future[list[Any]] = loop.create_future()
        waiting = (params, future)
        self.waiting.append(waiting)
        if self.in_flight < self.parallel:
            if not self.scheduled:
                self.scheduled = True
                loop.call_soon(self._start, loop)
        else:
            self._wait_behind(loop, waiting)
        return future

    def _wait_behind(self, loop: asyncio.AbstractEventLoop, waiting: _Waiting) -> None:
        # Behind every batch in flight, as a statement waits for a connection: at most
        # `wait`, then out of the queue (never rotated later) with the same 503.
        if self.wait is not None and waiting[1] not in self.timers:
            self.timers[waiting[1]] = loop.call_later(self.wait, self._give_up, waiting)

    def _give_up(self, waiting: _Waiting) -> None:
        self.timers.pop(waiting[1], None)
        if waiting in self.waiting:
            self.waiting.remove(waiting)
            _fail(
                [waiting],
                Unavailable(f"no PostgreSQL connection of the loop freed up within {self.wait} s"),
            )

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.scheduled = False
        while self.waiting and self.in_flight < self.parallel:
            batch, self.waiting = (
                self.waiting[: self.max_items],
                self.waiting[self.max_items :],
            )
            for _params, future in batch:
                timer = self.timers.pop(future, None)
                if timer is not None:
                    timer.cancel()
            self.in_flight += 1
            task = loop.create_task(self._flush(loop, batch))
            self.tasks.add(task)  # held: the loop keeps only weak references to tasks
            task.add_done_callback(self.tasks.discard)
        for waiting in self.waiting:  # left over by full batches: behind them too
            self._wait_behind(loop, waiting)

    async def _flush(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting]) -> None:
        try:
            order = self.batched.order
            if order is not None:
                batch.sort(key=lambda waiting: waiting[0][order])
            try:
                await self._run_batch(batch)
            except DBAPIError as exc:
                if len(batch) == 1 or exc.connection_invalidated or not _per_grant(exc):
                    raise
                # The statement failed on a value or on the order of its locks, the
                # connection is fine: one grant's input (or a replay in two batches) must
                # not fail the others, so each is run alone. Not so for time run out (a
                # lock held, a statement cancelled): alone, each would wait it out again,
                # the last grant n times the deadline.
                for waiting in batch:
                    try:
                        await self._run_batch([waiting])
                    except Exception as alone:
                        _fail([waiting], alone)
        except BaseException as exc:  # every grant still waiting gets it
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.in_flight -= 1
            if self.waiting and not self.scheduled:
                self._start(loop)

    async def _run_batch(self, batch: list[_Waiting]) -> None:
        batched = self.batched
        arrays = batched.arrays(self.dialect, [params for params, _ in batch])
        rows = await self.run(batched.statement, arrays)
        by_key: dict[Any, list[Any]] = {}
        for row in rows:
            by_key.setdefault(row[0], []).append(row)
        for params, future in batch:
            if not future.done():
                future.set_result(by_key.get(params[batched.key], []))


def _fail(batch: list[_Waiting], exc: BaseException) -> None:
    for _params, future in batch:
        if not future.done():
            future.set_exception(exc)


# SQLSTATE classes of an error a batch can meet that its grants would not meet alone: a
# value of one grant (data exception, integrity constraint violation), or locks taken in an
# order of the plan's (transaction rollback: 40P01 deadlock_detected; a hash join takes its
# row locks in the table's order, not the array's). Any other (no SQLSTATE: the connection;
# 55P03 lock_not_available, 57014 query_canceled...) would meet every grant alike.
_PER_GRANT_ERRORS = ("22", "23", "40")


def _per_grant(exc: DBAPIError) -> bool:
    """Whether the statement failed on what the grants brought together (retried grant by
    grant), not on the connection, the database or the time it had."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate is not None and sqlstate[:2] in _PER_GRANT_ERRORS


class LoopBatches:
    """The batches of each `BatchedStatement`, on one event loop; `run` runs a statement
    with its arrays and returns its rows (`LoopConnections.rows`)."""

    def __init__(
        self,
        run: RunRows,
        dialect: Dialect,
        *,
        parallel: int,
        max_items: int = 64,
        wait: float | None = None,
    ) -> None:
        self._run = run
        self._dialect = dialect
        self._parallel = max(1, parallel)
        self._max_items = max_items
        self._wait = wait
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batchers: dict[int, _Batcher] = {}

    async def rows(self, batched: BatchedStatement, params: Mapping[str, Any]) -> list[Any]:
        """The rows of `batched` that belong to this grant (`params[batched.key]`)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._batchers = loop, {}
        batcher = self._batchers.get(id(batched))
        if batcher is None:
            batcher = _Batcher(
                batched, self._run, self._dialect, self._parallel, self._max_items, self._wait
            )
            self._batchers[id(batched)] = batcher
        rows: list[Any] = await batcher.add(loop, params)
        return rows
