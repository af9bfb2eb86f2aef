"""Red team of `refuse_on_loop` (storage/loop_io.py): a pooled connection asked for on the
event loop (a missed `@offloadable`) must fail at once with OnLoopError, as its docstring
says, also when the pool has no idle connection: not after blocking the loop for the pool
wait (and then misreported as a pool timeout: a 503 "outage" hiding the bug), nor after
opening a new connection on the loop."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import event, text

from authbridge.storage.database import Database, Timeouts
from authbridge.storage.loop_io import OnLoopError, run_on_loop
from authbridge.web.grant_threads import GrantThreads

pytestmark = pytest.mark.postgres


def test_a_checkout_on_the_loop_from_a_full_pool_is_refused_at_once(
    postgres_server_url: str,
) -> None:
    db = Database(postgres_server_url, pool_size=1, timeouts=Timeouts(pool=2.0))
    held = [db.engine.connect() for _ in range(2)]  # pool_size + max_overflow: all of it

    def missed_offload() -> int:
        with db.engine.connect() as connection:
            return int(connection.execute(text("SELECT 1")).scalar_one())

    async def main() -> float:
        started = time.monotonic()
        with pytest.raises(OnLoopError):
            await run_on_loop(GrantThreads(1, wait=1.0).run, missed_offload)
        return time.monotonic() - started

    try:
        took = asyncio.run(main())
    finally:
        for connection in held:
            connection.close()
        db.dispose()
    assert took < 0.5, took


def test_a_checkout_on_the_loop_opens_no_connection(postgres_server_url: str) -> None:
    db = Database(postgres_server_url, pool_size=2)
    connected: list[object] = []
    event.listen(db.engine, "connect", lambda *_: connected.append(1))

    def missed_offload() -> int:
        with db.engine.connect() as connection:
            return int(connection.execute(text("SELECT 1")).scalar_one())

    async def main() -> None:
        with pytest.raises(OnLoopError):
            await run_on_loop(GrantThreads(1, wait=1.0).run, missed_offload)

    try:
        asyncio.run(main())
        assert connected == []  # nothing was connected on the loop
    finally:
        db.dispose()
