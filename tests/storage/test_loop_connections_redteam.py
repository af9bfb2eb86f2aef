"""Red team of the loop's PostgreSQL connections (storage/loop_connections.py) against a
database gone SILENT (a partition: tests/e2e/tcp_proxy.py), where a server-side timeout
never answers and only the client's bounds hold: the statement deadline must answer within
itself, and a caller that hung up must end at once, each freeing its slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from authbridge.storage.database import Database, Timeouts
from authbridge.storage.errors import UNAVAILABLE, Unavailable, lost_connection
from authbridge.storage.hot import HotStatement
from authbridge.storage.loop_io import run_on_loop
from authbridge.web.grant_threads import GrantThreads
from tests.e2e.tcp_proxy import TcpProxy, proxy_for

pytestmark = pytest.mark.postgres

ONE = HotStatement("SELECT 1 AS one", columns=("one",))
STATEMENT = 1.0  # the deadline on the loop: this plus CLIENT_MARGIN (1 s)


@pytest.fixture
def silent(postgres_server_url: str) -> Iterator[tuple[TcpProxy, Database]]:
    """A database behind a proxy, with one warm connection of the loop; then partitioned."""
    proxy, url = proxy_for(postgres_server_url)
    proxy.restore()
    db = Database(url, pool_size=2, timeouts=Timeouts(statement=STATEMENT, pool=0.5))
    try:
        yield proxy, db
    finally:
        db.dispose()
        proxy.heal()
        proxy.cut()


def test_a_silent_database_is_unavailable_at_the_deadline(
    silent: tuple[TcpProxy, Database],
) -> None:
    """psycopg answers an interrupted wait by sending the server a cancel request and
    waiting for the query to end (up to 5 s each): against a silent database that held the
    grant (and its slot) about 10 s past the deadline."""
    proxy, db = silent
    connections = db.loop_connections
    assert connections is not None

    async def main() -> float:
        threads = GrantThreads(2, wait=5.0)
        await run_on_loop(threads.run, db.loop_rows, ONE, {})  # warm: one idle connection
        assert connections.idle == 1
        proxy.partition()
        started = time.monotonic()
        with pytest.raises(Unavailable, match="did not answer"):
            await run_on_loop(threads.run, db.loop_rows, ONE, {})
        took = time.monotonic() - started
        assert connections.idle == 0
        return took

    took = asyncio.run(main())
    assert took < STATEMENT + 1.0 + 1.0, took


def test_a_caller_that_hangs_up_on_a_silent_database_ends_at_once(
    silent: tuple[TcpProxy, Database],
) -> None:
    """A client gone mid-statement: its grant's task is cancelled, and must end now, not
    after psycopg's cancel request and wait; its slot is the next grant's at once."""
    proxy, db = silent
    connections = db.loop_connections
    assert connections is not None

    async def main() -> float:
        threads = GrantThreads(2, wait=5.0)
        await run_on_loop(threads.run, db.loop_rows, ONE, {})
        await run_on_loop(threads.run, db.loop_rows, ONE, {})
        proxy.partition()
        grants = [
            asyncio.ensure_future(run_on_loop(threads.run, db.loop_rows, ONE, {})) for _ in range(2)
        ]
        await asyncio.sleep(0.2)  # both sent their statement into the silence
        started = time.monotonic()
        for grant in grants:
            grant.cancel()
        results = await asyncio.gather(*grants, return_exceptions=True)
        took = time.monotonic() - started
        assert all(isinstance(r, asyncio.CancelledError) for r in results), results
        assert connections.idle == 0
        return took

    took = asyncio.run(main())
    assert took < 0.5, took


SLEEP = HotStatement("SELECT 1 AS slept FROM pg_sleep(:s)", columns=("slept",))


def test_a_database_restart_mid_statement_is_an_outage_and_the_loop_reconnects(
    silent: tuple[TcpProxy, Database],
) -> None:
    """The database goes away (connections reset, new ones refused) with a statement in
    flight and a connection idle: both grants are outages (503 by web/errors.py), at once;
    once it is back the next grant opens a new connection and succeeds."""
    proxy, db = silent
    connections = db.loop_connections
    assert connections is not None
    threads = GrantThreads(2, wait=5.0)

    async def grant(statement: HotStatement, params: dict[str, object]) -> object:
        return await run_on_loop(threads.run, db.loop_rows, statement, params)

    async def main() -> None:
        await asyncio.gather(grant(ONE, {}), grant(ONE, {}))  # two warm connections
        assert connections.idle == 2
        in_flight = asyncio.ensure_future(grant(SLEEP, {"s": 0.8}))
        await asyncio.sleep(0.2)
        proxy.cut()
        started = time.monotonic()
        failures = await asyncio.gather(in_flight, grant(ONE, {}), return_exceptions=True)
        assert time.monotonic() - started < 0.5
        for failure in failures:
            assert isinstance(failure, Exception), failures
            assert isinstance(failure, UNAVAILABLE) or lost_connection(failure), failures
        assert connections.idle == 0
        proxy.restore()
        assert (await grant(ONE, {}))[0].one == 1  # type: ignore[index]
        assert connections.idle == 1

    asyncio.run(main())


def test_a_backend_terminated_mid_statement_is_an_outage(postgres_server_url: str) -> None:
    """pg_terminate_backend (an admin, a failover) of the loop's connection while its
    statement runs: SQLSTATE 57P01 on a connection the server then closes. An outage (503
    by web/errors.py), not a 500; the connection is not reused; the next grant succeeds."""
    from sqlalchemy import create_engine, text

    db = Database(postgres_server_url, pool_size=2, timeouts=Timeouts(statement=5))
    connections = db.loop_connections
    assert connections is not None
    threads = GrantThreads(2, wait=5.0)
    pids = HotStatement("SELECT pg_backend_pid() AS pid", columns=("pid",))

    async def main() -> object:
        pid = (await run_on_loop(threads.run, db.loop_rows, pids, {}))[0].pid
        in_flight = asyncio.ensure_future(run_on_loop(threads.run, db.loop_rows, SLEEP, {"s": 3}))
        await asyncio.sleep(0.3)
        admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        admin.dispose()
        failure = (await asyncio.gather(in_flight, return_exceptions=True))[0]
        assert isinstance(failure, Exception), failure
        assert isinstance(failure, UNAVAILABLE) or lost_connection(failure), repr(failure)
        again = await run_on_loop(threads.run, db.loop_rows, pids, {})
        assert again[0].pid != pid
        return failure

    try:
        asyncio.run(main())
    finally:
        db.dispose()
