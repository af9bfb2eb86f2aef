"""One PostgreSQL statement of a grant, made each way the token endpoint has made it: CPU
and wall time per statement, against a bare psycopg asyncio query in the same run.

    python bench/bench_grant_io.py [--database URL] [--calls 4000] [--concurrency 1,16]

Ways (the grant's `Q_SUBJECT`-shaped read, `HotStatement` on the driver's cursor):
  anyio thread + shared pool  what stop 23 shipped: `anyio.to_thread`, a pooled connection
                              switched into autocommit and back per checkout
  grant thread + autocommit   web/grant_threads.py's hand-over, the always-autocommit pool
  on the loop                 storage/loop_io.py `run_on_loop` + the loop's connections
  bare asyncio psycopg        the baseline: one AsyncConnection per caller slot, no pool
Each figure is the best of 3 rounds of CPU-seconds of the whole process per statement.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import anyio.to_thread
import psycopg
from sqlalchemy import create_engine

from authbridge.storage.database import Database
from authbridge.storage.hot import HotStatement
from authbridge.storage.loop_io import run_on_loop
from authbridge.web.grant_threads import GrantThreads

QUERY = HotStatement(
    "SELECT v.id, v.name, v.active FROM (VALUES ('u1', 'ada', true), ('u2', 'bob', false))"
    " AS v(id, name, active) WHERE v.id = :u",
    columns=("id", "name", "active"),
)
PARAMS = {"u": "u1"}


async def _measure(
    name: str, call: Callable[[], Awaitable[Any]], calls: int, concurrency: int
) -> tuple[str, float, float]:
    async def one() -> None:
        for _ in range(calls // concurrency):
            await call()

    best_cpu = best_wall = float("inf")
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        best_cpu = min(best_cpu, (time.process_time() - cpu) / calls * 1e6)
        best_wall = min(best_wall, (time.perf_counter() - wall) / calls * 1e6)
    return name, best_cpu, best_wall


async def run(url: str, calls: int, concurrency: int) -> list[tuple[str, float, float]]:
    db = Database(url, pool_size=16)  # the loop's connections: 8, as the baseline's
    shared = create_engine(db.url, pool_size=8).execution_options(isolation_level="AUTOCOMMIT")
    threads = GrantThreads(4, wait=5.0)
    raw_url = url.replace("postgresql+psycopg://", "postgresql://")
    bare = [await psycopg.AsyncConnection.connect(raw_url, autocommit=True) for _ in range(8)]
    free = asyncio.Queue[psycopg.AsyncConnection[Any]]()
    for connection in bare:
        free.put_nowait(connection)
    sql, values = QUERY.bound(db.engine.dialect, PARAMS)

    def in_place(engine: Any) -> list[Any]:
        with engine.connect() as connection:
            return QUERY.rows(connection, PARAMS)

    def hot_read() -> list[Any]:
        with db.autocommit() as connection:
            return QUERY.rows(connection, PARAMS)

    def on_loop() -> list[Any]:
        rows = db.loop_rows(QUERY, PARAMS)
        assert rows is not None
        return rows

    async def baseline() -> list[Any]:
        connection = await free.get()
        try:
            cursor = await connection.execute(sql, values)
            return await cursor.fetchall()
        finally:
            free.put_nowait(connection)

    ways: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("anyio thread + shared pool", lambda: anyio.to_thread.run_sync(in_place, shared)),
        ("grant thread + autocommit", lambda: threads.run(hot_read)),
        ("on the loop", lambda: run_on_loop(threads.run, on_loop)),
        ("bare asyncio psycopg", baseline),
    ]
    for _name, call in ways:  # warm: connections opened, statements prepared
        for _ in range(200):
            await call()
    results = [await _measure(name, call, calls, concurrency) for name, call in ways]
    for connection in bare:
        await connection.close()
    shared.dispose()
    db.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", default="1,16")
    args = parser.parse_args()
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        results = asyncio.run(run(args.database, args.calls, concurrency))
        base = results[-1][1]
        print(f"\n{concurrency} concurrent callers, {args.calls} statements, best of 3")
        print(f"  {'':30} {'µs CPU':>8} {'µs wall':>8} {'CPU / bare':>10}")
        for name, cpu, wall in results:
            print(f"  {name:30} {cpu:8.1f} {wall:8.1f} {cpu / base:10.2f}")


if __name__ == "__main__":
    main()
