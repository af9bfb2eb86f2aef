"""Group commit on the event loop (storage/loop_batches.py): the grants of one turn share one
statement, each gets its own rows or its own error, and nothing one grant sends or does
(a bad value, hanging up) costs another its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from authbridge.storage import Storage
from authbridge.storage.database import Database, Timeouts
from authbridge.storage.errors import Unavailable
from authbridge.storage.hot import HotStatement
from authbridge.storage.loop_batches import BatchedStatement, LoopBatches
from authbridge.storage.loop_io import run_on_loop
from authbridge.storage.models import UTCDateTime
from authbridge.storage.provider_store import RefreshRow
from authbridge.web.grant_threads import GrantThreads

DIALECT = postgresql.psycopg.dialect()
ECHO = BatchedStatement(
    HotStatement("SELECT g.k, g.v FROM unnest(CAST(:k AS text[]), CAST(:v AS text[])) g(k, v)"),
    fields=("k", "v"),
    key="k",
    order="v",
)


class FakeDatabase:
    """`run` as `LoopConnections.rows` is called: each call's arrays, rows echoing them
    (a key asked for is answered unless it starts with 'none'), after `delay` seconds."""

    def __init__(self, delay: float = 0.0, error: BaseException | None = None) -> None:
        self.calls: list[dict[str, list[Any]]] = []
        self.delay = delay
        self.error = error

    async def run(self, _statement: HotStatement, arrays: Mapping[str, Any]) -> list[Any]:
        self.calls.append(dict(arrays))
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return [
            (k, v)
            for k, v in zip(arrays["k"], arrays["v"], strict=True)
            if not k.startswith("none")
        ]


def _batches(fake: FakeDatabase, parallel: int = 2, max_items: int = 64) -> LoopBatches:
    return LoopBatches(fake.run, DIALECT, parallel=parallel, max_items=max_items)


def test_the_grants_of_one_turn_share_one_statement_and_get_their_own_rows() -> None:
    fake = FakeDatabase()
    batches = _batches(fake)

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(batches.rows(ECHO, {"k": f"k{i}", "v": f"v{9 - i}"}) for i in range(10)),
            batches.rows(ECHO, {"k": "none-1", "v": "x"}),
        )

    answers = asyncio.run(main())
    assert len(fake.calls) == 1
    assert answers[:10] == [[(f"k{i}", f"v{9 - i}")] for i in range(10)]
    assert answers[10] == []  # no row for it: the caller judges it alone
    # Sorted by the order field: every batch takes its locks in one order.
    assert fake.calls[0]["v"] == sorted(fake.calls[0]["v"])


def test_a_batch_is_bounded_and_the_rest_go_in_the_next() -> None:
    fake = FakeDatabase()
    batches = _batches(fake, parallel=2, max_items=4)

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(batches.rows(ECHO, {"k": f"k{i}", "v": "v"}) for i in range(10))
        )

    answers = asyncio.run(main())
    assert [len(call["k"]) for call in fake.calls] == [4, 4, 2]
    assert answers == [[(f"k{i}", "v")] for i in range(10)]


def test_grants_arriving_while_every_batch_is_in_flight_go_together_next() -> None:
    fake = FakeDatabase(delay=0.05)
    batches = _batches(fake, parallel=1)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(batches.rows(ECHO, {"k": "first", "v": "v"}))
        await asyncio.sleep(0.01)  # the first batch is in flight
        later = [
            asyncio.ensure_future(batches.rows(ECHO, {"k": f"k{i}", "v": "v"})) for i in range(5)
        ]
        return await asyncio.gather(first, *later)

    answers = asyncio.run(main())
    assert [call["k"] for call in fake.calls] == [["first"], [f"k{i}" for i in range(5)]]
    assert answers[0] == [("first", "v")]


def test_an_outage_fails_every_grant_of_the_batch_once() -> None:
    fake = FakeDatabase(error=Unavailable("PostgreSQL did not answer"))
    batches = _batches(fake)

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(batches.rows(ECHO, {"k": f"k{i}", "v": "v"}) for i in range(3)),
            return_exceptions=True,
        )

    answers = asyncio.run(main())
    assert all(isinstance(a, Unavailable) for a in answers)
    assert len(fake.calls) == 1  # not retried grant by grant: the database is down


def test_a_caller_that_hangs_up_costs_the_others_nothing() -> None:
    fake = FakeDatabase(delay=0.05)
    batches = _batches(fake)

    async def main() -> tuple[list[Any], Any]:
        gone = asyncio.ensure_future(batches.rows(ECHO, {"k": "gone", "v": "v"}))
        stay = [
            asyncio.ensure_future(batches.rows(ECHO, {"k": f"k{i}", "v": "v"})) for i in range(3)
        ]
        await asyncio.sleep(0.01)
        gone.cancel()
        answers = await asyncio.gather(*stay)
        after = await batches.rows(ECHO, {"k": "after", "v": "v"})
        return answers, after

    answers, after = asyncio.run(main())
    assert answers == [[(f"k{i}", "v")] for i in range(3)]
    assert fake.calls[0]["k"] == ["gone", "k0", "k1", "k2"]  # its rotation still happened
    assert after == [("after", "v")]


# -- on PostgreSQL ----------------------------------------------------------------------

NUMBERS = BatchedStatement(
    HotStatement(
        "SELECT g.k, CAST(g.v AS integer) AS n"
        " FROM unnest(CAST(:k AS text[]), CAST(:v AS text[])) g(k, v)"
    ),
    fields=("k", "v"),
    key="k",
)


@pytest.mark.postgres
def test_one_grants_bad_value_fails_that_grant_only(postgres_server_url: str) -> None:
    """A value the statement cannot take fails the whole batch's statement: the batch is
    then run grant by grant, so only that grant gets the error."""
    db = Database(postgres_server_url, pool_size=2, timeouts=Timeouts())
    connections = db.loop_connections
    assert connections is not None
    batches = LoopBatches(connections.rows, db.engine.dialect, parallel=2)

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(
                batches.rows(NUMBERS, {"k": f"k{i}", "v": "x" if i == 2 else str(i)})
                for i in range(5)
            ),
            return_exceptions=True,
        )

    try:
        answers = asyncio.run(main())
        assert isinstance(answers[2], DBAPIError)
        assert answers[2].orig.sqlstate == "22P02"  # type: ignore[union-attr]
        assert [a for i, a in enumerate(answers) if i != 2] == [
            [(f"k{i}", i)] for i in (0, 1, 3, 4)
        ]
    finally:
        db.dispose()


def add_families(storage: Storage, user_id: str, count: int, now: datetime) -> None:
    """`count` fresh refresh tokens of client `cli`, `token-<i>` of `family-<i>`."""
    for i in range(count):
        storage.provider.add_refresh(
            f"token-{i}",
            RefreshRow(
                family_id=f"family-{i}",
                client_id="cli",
                user_id=user_id,
                scope="openid offline_access",
                auth_time=1,
                amr="pwd",
                acr=None,
                family_expires_at=now + timedelta(days=1),
                idle_expires_at=now + timedelta(hours=1),
            ),
        )


@pytest.mark.postgres
def test_a_batched_rotation_is_the_single_statements_rotation(postgres_server_url: str) -> None:
    """Differential: tokens rotated together on the loop (`Q_ROTATE`, one statement) give
    what each judged alone in a transaction (`_judge_rotation`, the statements SQLite and
    every refusal use) gives: the successor's row and the subject, with
    its roles; a used, an unknown and a foreign token are judged alike."""
    storage = Storage.open(postgres_server_url)
    try:
        user = storage.users.create(username="batch@example.com", email="batch@example.com")
        storage.bindings.add("viewer", user_id=user.id, scope="workspace:w", origin="test")
        now = datetime.now(UTC)
        store = storage.provider
        add_families(storage, user.id, 8, now)
        asks = [(f"token-{n}", f"next-{n}", "cli") for n in range(3)]
        asks += [("token-0", "next-again", "cli"), ("unknown", "next-u", "cli")]
        asks += [("token-3", "next-3", "other-client")]

        def rotate(h: str, s: str, c: str) -> Any:
            return store.rotate_refresh(h, s, now, 600, client_id=c)

        async def together() -> list[Any]:
            threads = GrantThreads(4, wait=5.0)
            return await asyncio.gather(*(run_on_loop(threads.run, rotate, *a) for a in asks))

        batched = asyncio.run(together())

        def judged(h: str, s: str, c: str) -> Any:
            return store._judge_rotation(h, s, now, 600, c, None)

        alone = [judged(f"token-{n + 4}", f"alone-{n}", "cli") for n in range(3)]
        alone += [judged("token-4", "alone-again", "cli"), judged("unknown", "alone-u", "cli")]
        alone += [judged("token-7", "alone-7", "other-client")]

        def shape(rotation: Any) -> tuple[Any, ...]:
            row = rotation.row
            return (
                rotation.problem,
                None if row is None else (row.scope, row.auth_time, row.amr, row.user_id),
                rotation.subject,
            )

        # The same token twice in one batch: one use wins, either one; the other is a replay.
        pair = sorted([batched[0], batched[3]], key=lambda r: r.problem or "")
        batched[0], batched[3] = pair
        assert [shape(r) for r in batched] == [shape(r) for r in alone]
        assert batched[0].subject is not None and batched[0].subject.grants
        problems = [r.problem for r in batched]
        assert problems == [None, None, None, "reused", "unknown", "other client"]
    finally:
        storage.db.dispose()


def test_times_are_bound_element_by_element() -> None:
    """An array of times gets each element's conversion (`UTCDateTime`: to UTC)."""
    timed = BatchedStatement(
        HotStatement("SELECT 1"), fields=("at",), key="at", binds={"at": UTCDateTime()}
    )
    from zoneinfo import ZoneInfo

    paris = datetime(2026, 12, 3, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    (converted,) = timed.arrays(DIALECT, [{"at": paris}])["at"]
    assert converted == paris and converted.tzinfo == UTC
    with pytest.raises(ValueError, match="naive"):
        timed.arrays(DIALECT, [{"at": datetime(2026, 12, 3)}])
