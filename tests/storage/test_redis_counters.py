"""What only the Redis implementation promises: Redis owns expiry (every key it writes has
a TTL no longer than its window), keys stay under the configured prefix, and a Redis that
is down or silent is an error within the timeout (answered 503), never a hang and never a
counter that silently reads 0.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from authbridge.clock import utcnow
from authbridge.config.model import RedisSettings
from authbridge.storage import Storage
from authbridge.storage.counters import Counters, counters_for
from authbridge.storage.errors import UNAVAILABLE, RedisUnavailable

WINDOW = timedelta(minutes=15)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def storage(sqlite_url: str) -> Iterator[Storage]:
    store = Storage.open(sqlite_url)
    yield store
    store.db.dispose()


@pytest.fixture
def counters(storage: Storage, redis_url: str, redis_prefix: str) -> Iterator[Counters]:
    built = counters_for(storage.rate_limits, RedisSettings(url=redis_url, key_prefix=redis_prefix))
    yield built
    assert built.close is not None
    built.close()


def _keys(raw: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(raw.scan_iter(match=prefix + "*"))


@pytest.mark.redis
def test_every_key_expires_by_its_window_in_redis(
    counters: Counters, raw: redis.Redis, redis_prefix: str
) -> None:
    counters.rate.hit("a", now=utcnow(), window=WINDOW)
    counters.rate.hit("a", now=utcnow(), window=WINDOW)  # a second hit keeps the first TTL
    counters.replay.first_use("m", timedelta(minutes=10))
    keys = _keys(raw, redis_prefix)
    assert keys == [f"{redis_prefix}rl:a".encode(), f"{redis_prefix}seen:m".encode()]
    counter_ttl = raw.pttl(keys[0])
    marker_ttl = raw.pttl(keys[1])
    assert 0 < counter_ttl <= WINDOW.total_seconds() * 1000
    assert 0 < marker_ttl <= 10 * 60 * 1000


@pytest.mark.redis
def test_a_counter_left_without_ttl_gets_one_at_its_next_hit(
    counters: Counters, raw: redis.Redis, redis_prefix: str
) -> None:
    """A key written without expiry (by hand, or by an older writer) must not count for
    ever: the next hit gives it the window's TTL."""
    raw.set(f"{redis_prefix}rl:legacy", 5)
    assert counters.rate.hit("legacy", now=utcnow(), window=WINDOW) == 6
    assert 0 < raw.pttl(f"{redis_prefix}rl:legacy") <= WINDOW.total_seconds() * 1000


@pytest.mark.redis
def test_the_database_holds_no_counter_when_redis_does(
    counters: Counters, storage: Storage
) -> None:
    counters.rate.hit("a", now=utcnow(), window=WINDOW)
    counters.replay.first_use("m", timedelta(minutes=10))
    assert storage.rate_limits.count("a", now=utcnow(), window=WINDOW) == 0
    assert storage.rate_limits.garbage_collect(utcnow() + timedelta(days=2)) == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_bounded(call: object) -> BaseException | None:
    """Run `call` in a thread; the exception it ended with. A call still running after a
    minute is a hang (the test fails instead of hanging the suite)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()  # type: ignore[operator]
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert outcome, "the call hung on an unreachable Redis"
    return outcome[0]


def test_redis_down_is_unavailable_not_zero(storage: Storage) -> None:
    down = RedisSettings(url=f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    counters = counters_for(storage.rate_limits, down)
    for call in (
        lambda: counters.rate.hit("a", now=utcnow(), window=WINDOW),
        lambda: counters.rate.counts(["a"], now=utcnow(), window=WINDOW),
        lambda: counters.rate.clear("a"),
        lambda: counters.replay.first_use("m", timedelta(minutes=1)),
        counters.ping,
    ):
        error = _run_bounded(call)
        assert isinstance(error, RedisUnavailable)
        assert isinstance(error, UNAVAILABLE)  # what web/ answers with 503


def test_a_redis_that_accepts_but_never_answers_times_out(storage: Storage) -> None:
    """A partition or a stuck server: the connection opens, no reply ever comes. The
    socket timeout ends the wait (as the database's client-side deadline does)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        settings = RedisSettings(url=f"redis://127.0.0.1:{port}/0", timeout=0.2)
        counters = counters_for(storage.rate_limits, settings)
        error = _run_bounded(lambda: counters.rate.hit("a", now=utcnow(), window=WINDOW))
        assert isinstance(error, RedisUnavailable)
        assert "TimeoutError" in str(error)
