"""The `RateCounter` / `ReplayCache` contract, run on every implementation: the database's
(SQLite, PostgreSQL) and Redis's (the real server at AUTHBRIDGE_TEST_REDIS_URL).

Each test gets a `Backend` that opens independent instances over one shared backend, as
replicas do (two Storage objects over one database, two Redis clients on one server), so
"shared" is asserted across instances, never within one object.

What is asserted is the contract the throttles rely on (OWASP Authentication Cheat Sheet,
"Login Throttling": failures counted per fixed window, shared by every replica) and the
single use of a marker (OIDC Core §3.1.2.1: a fresh sign-in counts for one request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from authbridge.clock import utcnow
from authbridge.config.model import RedisSettings
from authbridge.storage import Storage
from authbridge.storage.counters import Counters, counters_for, database_counters
from tests.conftest import _fresh_postgres

WINDOW = timedelta(minutes=15)


@dataclass
class Backend:
    """Opens instances (replicas) over one backend; closes them at the end."""

    name: str
    open: Callable[[], Counters]

    def instance(self) -> Counters:
        return self.open()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    closers: list[Callable[[], None]] = []
    if request.param == "redis":
        settings = RedisSettings(
            url=request.getfixturevalue("redis_url"),
            key_prefix=request.getfixturevalue("redis_prefix"),
        )
        # The database Redis replaces: it must stay empty of counters (checked below).
        storage = Storage.open(f"sqlite:///{tmp_path / 'redis-side.db'}")
        closers.append(storage.db.dispose)

        def open_redis() -> Counters:
            counters = counters_for(storage.rate_limits, settings)
            assert counters.close is not None
            closers.append(counters.close)
            return counters

        yield Backend("redis", open_redis)
        assert storage.rate_limits.garbage_collect(utcnow() + timedelta(days=2)) == 0
    else:
        url = (
            f"sqlite:///{tmp_path / 'counters.db'}"
            if request.param == "sqlite"
            else _fresh_postgres(request.getfixturevalue("postgres_server_url"))
        )
        Storage.open(url).db.dispose()  # migrate once

        def open_database() -> Counters:
            storage = Storage.open(url, migrate=False)
            closers.append(storage.db.dispose)
            return database_counters(storage.rate_limits)

        yield Backend(request.param, open_database)
    for close in closers:
        close()


def test_hits_count_up_within_a_window_and_clear_forgets(backend: Backend) -> None:
    counters = backend.instance().rate
    now = utcnow()
    assert [counters.hit("k", now=now, window=WINDOW) for _ in range(3)] == [1, 2, 3]
    assert counters.count("k", now=now, window=WINDOW) == 3
    assert counters.count("other", now=now, window=WINDOW) == 0
    counts = counters.counts(["k", "other"], now=now, window=WINDOW)
    assert counts.get("k") == 3 and counts.get("other", 0) == 0
    assert counters.counts([], now=now, window=WINDOW) == {}
    counters.clear("k")
    assert counters.count("k", now=now, window=WINDOW) == 0
    assert counters.hit("k", now=now, window=WINDOW) == 1


def test_counts_are_shared_by_every_instance(backend: Backend) -> None:
    first, second = backend.instance().rate, backend.instance().rate
    now = utcnow()
    first.hit("shared", now=now, window=WINDOW)
    assert second.hit("shared", now=now, window=WINDOW) == 2
    assert first.count("shared", now=now, window=WINDOW) == 2
    second.clear("shared")
    assert first.count("shared", now=now, window=WINDOW) == 0


def test_hits_from_racing_instances_are_all_counted(backend: Backend) -> None:
    instances = [backend.instance().rate for _ in range(4)]
    results: list[int] = []
    lock = threading.Lock()

    def hammer(index: int) -> None:
        for _ in range(10):
            value = instances[index % 4].hit("race", now=utcnow(), window=WINDOW)
            with lock:
                results.append(value)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Atomic increments: every value from 1 to 80 handed out exactly once.
    assert sorted(results) == list(range(1, 81))
    assert instances[0].count("race", now=utcnow(), window=WINDOW) == 80


def _lapsed(check: Callable[[], bool], within: float = 10.0) -> bool:
    """Whether `check` holds before `within` seconds pass (a window lapsing in real time:
    Redis owns its clock, so no fake clock can move it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_window_lapses_and_the_next_hit_starts_over(backend: Backend) -> None:
    counters = backend.instance().rate
    short = timedelta(milliseconds=300)
    assert counters.hit("brief", now=utcnow(), window=short) == 1
    assert counters.hit("brief", now=utcnow(), window=short) == 2
    assert _lapsed(lambda: counters.count("brief", now=utcnow(), window=short) == 0)
    assert counters.hit("brief", now=utcnow(), window=short) == 1


def test_a_marker_is_used_once_across_instances(backend: Backend) -> None:
    first, second = backend.instance().replay, backend.instance().replay
    assert first.first_use("reauth:abc", timedelta(minutes=10)) is True
    assert second.first_use("reauth:abc", timedelta(minutes=10)) is False  # replayed
    assert first.first_use("reauth:abc", timedelta(minutes=10)) is False
    assert second.first_use("reauth:other", timedelta(minutes=10)) is True


def test_of_instances_racing_with_one_marker_exactly_one_wins(backend: Backend) -> None:
    instances = [backend.instance().replay for _ in range(4)]
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def use(index: int) -> None:
        barrier.wait()
        wins.append(instances[index % 4].first_use("race-marker", timedelta(minutes=10)))

    threads = [threading.Thread(target=use, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1 and len(wins) == 8


def test_a_marker_is_forgotten_after_its_ttl(backend: Backend) -> None:
    """The ttl is the caller's promise that the marker itself is no longer acceptable by
    then (the reauth marker's is twice its signed lifetime); storage owns the forgetting."""
    replay = backend.instance().replay
    ttl = timedelta(milliseconds=300)
    assert replay.first_use("short-lived", ttl) is True
    assert _lapsed(lambda: replay.first_use("short-lived", ttl))


def test_the_backend_says_which_it_is(backend: Backend) -> None:
    counters = backend.instance()
    assert counters.backend == ("redis" if backend.name == "redis" else "database")
    assert (counters.ping is not None) == (backend.name == "redis")
