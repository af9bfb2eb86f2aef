"""Red team of the group commit of refresh rotations (storage/loop_batches.py,
`Q_ROTATE`) on PostgreSQL: a batch that fails for want of time (a lock held, a
statement cancelled) must fail every grant once, within the deadline, not be retried grant
by grant, each retry waiting out the same deadline again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.errors
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from authbridge.storage import Storage
from authbridge.storage.database import CLIENT_MARGIN, Database, Timeouts
from authbridge.storage.errors import Unavailable
from authbridge.storage.hot import HotStatement
from authbridge.storage.loop_batches import LoopBatches
from authbridge.storage.loop_io import run_on_loop
from authbridge.web.grant_threads import GrantThreads
from tests.conftest import _fresh_postgres, make_settings
from tests.provider.conftest import CLIENTS
from tests.provider.test_token import _refresh, code_for, provider_of, redeem
from tests.storage.test_loop_batches import DIALECT, ECHO, add_families
from tests.web.conftest import AppFactory
from tests.web.test_pages import sign_up

STATEMENT = 0.5  # the server's statement_timeout and lock_timeout, seconds


def _storage(url: str) -> Storage:
    db = Database(_fresh_postgres(url), pool_size=4, timeouts=Timeouts(statement=STATEMENT))
    db.upgrade()
    return Storage(db)


def _tokens(storage: Storage, n: int) -> datetime:
    user = storage.users.create(username="gc@example.com", email="gc@example.com")
    now = datetime.now(UTC)
    add_families(storage, user.id, n, now)
    return now


def _rotate_together(storage: Storage, asks: list[tuple[str, str]], now: datetime) -> list[Any]:
    """Each ask rotated by a grant on the loop, all in one turn (one batch), each with the
    seconds it took."""

    def rotate(h: str, s: str) -> Any:
        started = time.monotonic()
        try:
            result: Any = storage.provider.rotate_refresh(h, s, now, 600, client_id="cli")
        except Exception as exc:  # the outcome is what the test looks at
            result = exc
        return result, time.monotonic() - started

    async def together() -> list[Any]:
        threads = GrantThreads(4, wait=30.0)
        return await asyncio.gather(*(run_on_loop(threads.run, rotate, *a) for a in asks))

    return asyncio.run(together())


@pytest.mark.postgres
def test_a_batch_waiting_on_a_lock_fails_once_not_grant_by_grant(
    postgres_server_url: str,
) -> None:
    """The tokens' rows locked by another transaction (an admin's revocation in progress):
    the batch's statement ends on lock_timeout (55P03). That is not one grant's bad value:
    retried grant by grant, each grant waited out lock_timeout again, the last one about
    (n + 1) x the deadline."""
    storage = _storage(postgres_server_url)
    n = 12
    try:
        now = _tokens(storage, n)
        with psycopg.connect(postgres_server_url.replace("+psycopg", "")) as locker:
            locker.execute("SELECT 1 FROM oauth_refresh_tokens FOR UPDATE")
            answers = _rotate_together(
                storage, [(f"token-{i}", f"next-{i}") for i in range(n)], now
            )
            locker.rollback()
        deadline = STATEMENT + CLIENT_MARGIN
        for result, seconds in answers:
            assert isinstance(result, Exception), result  # the database could not answer
            assert seconds < 3 * deadline, f"{seconds:.1f} s for a deadline of {deadline} s"
        # Nothing was rotated: every token is still fresh, once the lock is gone.
        for i in range(n):
            found = storage.provider.refresh_token(f"token-{i}")
            assert found is not None and found[1]
    finally:
        storage.db.dispose()


class _Batches:
    """`LoopConnections.rows` as two batches racing for the same tokens see it: a batch of
    several grants loses a deadlock (its locks taken in the plan's order), a grant alone
    gets its row (the other batch has committed by then)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def run(self, _statement: HotStatement, arrays: Mapping[str, Any]) -> list[Any]:
        self.calls.append(list(arrays["k"]))
        if len(arrays["k"]) > 1:
            error = psycopg.errors.DeadlockDetected("deadlock detected")
            raise DBAPIError.instance("", None, error, psycopg.Error)
        return [(k, "rotated") for k in arrays["k"]]


def test_a_batch_that_lost_a_deadlock_is_retried_grant_by_grant() -> None:
    """Two batches on two workers hold a replayed token each; a hash join locks rows in the
    table's order, not the sorted array's, so they may deadlock. The loser's grants must
    each still be judged: its innocent grants rotate and its replay is seen as a replay
    (which revokes the family), not a 503 that leaves the stolen family alive."""
    fake = _Batches()
    batches = LoopBatches(fake.run, DIALECT, parallel=2)

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(batches.rows(ECHO, {"k": f"k{i}", "v": "v"}) for i in range(3)),
            return_exceptions=True,
        )

    answers = asyncio.run(main())
    assert answers == [[(f"k{i}", "rotated")] for i in range(3)]
    assert fake.calls == [["k0", "k1", "k2"], ["k0"], ["k1"], ["k2"]]


@pytest.fixture
def pg_op(app_factory: AppFactory, postgres_server_url: str) -> TestClient:
    settings = make_settings(_fresh_postgres(postgres_server_url)).model_copy(
        update={"clients": CLIENTS}
    )
    op = app_factory(settings)
    assert provider_of(op).loop_io
    return op


@pytest.mark.postgres
def test_a_migration_under_the_prepared_rotation_is_no_500(
    pg_op: TestClient, postgres_server_url: str
) -> None:
    """A rolling deploy's migration widens a column the rotation returns (amr varchar(256)
    -> varchar(512)): the loop's connections hold the rotation prepared with the old result
    type, and PostgreSQL refuses to run it ("cached plan must not change result type",
    0A000). The statement never ran: the grant must not end in a 500 (it was, once per
    connection), and the token it presented must still work."""
    op = pg_op
    assert sign_up(op).status_code == 303
    token = redeem(op, code_for(op)).json()["refresh_token"]
    first = _refresh(op, token)
    assert first.status_code == 200, first.text  # prepared on the loop's connection
    with psycopg.connect(postgres_server_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("ALTER TABLE oauth_refresh_tokens ALTER COLUMN amr TYPE varchar(512)")
    second = _refresh(op, first.json()["refresh_token"])
    assert second.status_code != 500, second.text
    if second.status_code != 200:  # refused as an outage: the token is still good
        assert second.status_code == 503, second.text
        second = _refresh(op, first.json()["refresh_token"])
    assert second.status_code == 200, second.text


@pytest.mark.postgres
def test_prepared_statements_gone_from_the_connection_are_prepared_again(
    postgres_server_url: str,
) -> None:
    """`DISCARD ALL` / `DEALLOCATE ALL` on a loop's connection (a pooler resetting the
    session, an extension): its prepared statements are gone (26000); the next use
    prepares it again instead of failing a grant (a ProgrammingError: a 500)."""
    db = Database(postgres_server_url, pool_size=1, timeouts=Timeouts())
    echo = HotStatement("SELECT CAST(:v AS text) AS v")
    connections = db.loop_connections
    assert connections is not None

    async def main() -> list[Any]:
        first = await connections.rows(echo, {"v": "a"})
        (connection,) = connections._idle
        await connection.execute("DEALLOCATE ALL")
        second = await connections.rows(echo, {"v": "b"})
        return [first, second, connections._idle == [connection]]

    try:
        first, second, kept = asyncio.run(main())
        assert [tuple(r) for r in first] == [("a",)]
        assert [tuple(r) for r in second] == [("b",)]
        assert kept  # the connection was fine: kept, not replaced
    finally:
        db.dispose()


class _Slow:
    """`LoopConnections.rows` on a database gone slow: each statement takes `delay`."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: list[list[str]] = []

    async def run(self, _statement: HotStatement, arrays: Mapping[str, Any]) -> list[Any]:
        self.calls.append(list(arrays["k"]))
        await asyncio.sleep(self.delay)
        return [(k, "rotated") for k in arrays["k"]]


def test_a_grant_behind_every_batch_in_flight_waits_no_longer_than_for_a_connection() -> None:
    """Every batch in flight (one per connection of the loop) on a database gone slow: a
    grant arriving then waited for one of them to end, then for its own batch, about two
    deadlines, where a statement alone waits at most `pool_wait` for a connection. It gets
    the same 503 after `pool_wait`, and its token is then not rotated behind its back
    (its client, told to retry, would present it again: a replay)."""
    slow = _Slow(delay=1.0)
    batches = LoopBatches(slow.run, DIALECT, parallel=1, wait=0.2)

    async def main() -> tuple[Any, Any, float]:
        first = asyncio.ensure_future(batches.rows(ECHO, {"k": "first", "v": "v"}))
        await asyncio.sleep(0.05)  # the one batch is in flight
        started = time.monotonic()
        behind = await asyncio.gather(
            batches.rows(ECHO, {"k": "behind", "v": "v"}), return_exceptions=True
        )
        waited = time.monotonic() - started
        return await first, behind[0], waited

    first, behind, waited = asyncio.run(main())
    assert first == [("first", "rotated")]
    assert isinstance(behind, Unavailable), behind
    assert waited < 0.9, waited  # not behind the batch in flight
    assert slow.calls == [["first"]]  # and never rotated


def test_the_grants_left_over_by_full_batches_wait_no_longer_either() -> None:
    """More grants in one turn than the batches in flight can hold (`max_items` each): the
    ones left over wait behind them too, and give up after `wait` as well."""
    slow = _Slow(delay=1.0)
    batches = LoopBatches(slow.run, DIALECT, parallel=1, max_items=2, wait=0.2)

    async def main() -> tuple[list[Any], float]:
        started = time.monotonic()
        grants = [
            asyncio.ensure_future(batches.rows(ECHO, {"k": f"k{i}", "v": "v"})) for i in range(5)
        ]
        await asyncio.wait(grants[2:])
        waited = time.monotonic() - started
        return await asyncio.gather(*grants, return_exceptions=True), waited

    answers, waited = asyncio.run(main())
    assert answers[:2] == [[("k0", "rotated")], [("k1", "rotated")]]
    assert all(isinstance(a, Unavailable) for a in answers[2:]), answers
    assert waited < 0.9, waited
    assert slow.calls == [["k0", "k1"]]
