"""Change notifications over Redis pub/sub, against the real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import os
import queue
import secrets

import pytest
import redis

from authbridge.storage import notify
from authbridge.storage.notify_redis import RedisBus

REDIS_URL = os.environ.get("AUTHBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEADLINE = 10.0


@pytest.fixture
def channel(monkeypatch: pytest.MonkeyPatch) -> str:
    """A channel of this test's own: other runs on the same Redis never hear it."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    name = f"authbridge_test_{secrets.token_hex(6)}"
    monkeypatch.setattr(notify, "CHANNEL", name)
    import authbridge.storage.notify_redis as module

    monkeypatch.setattr(module, "CHANNEL", name)
    return name


def test_a_publish_reaches_the_other_replica(channel: str) -> None:
    publisher, listener = RedisBus(REDIS_URL), RedisBus(REDIS_URL)
    received: queue.Queue[str] = queue.Queue()
    listener.subscribe("revocations", received.put)
    try:
        assert listener.listening.wait(DEADLINE)
        publisher.publish("revocations", "")
        publisher.publish("keys", "not subscribed")
        assert received.get(timeout=DEADLINE) == ""
    finally:
        listener.close()
        publisher.close()


def test_the_listener_reconnects_after_redis_drops_it(channel: str) -> None:
    publisher, listener = RedisBus(REDIS_URL), RedisBus(REDIS_URL)
    received: queue.Queue[str] = queue.Queue()
    listener.subscribe("keys", received.put)
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        assert listener.listening.wait(DEADLINE)
        listener.listening.clear()
        # Drop this listener's connection only (what a Redis restart does to it); other
        # users of the shared Redis keep theirs.
        mine = [c for c in admin.client_list() if c.get("name") == listener.listener_name]
        assert mine
        for client in mine:
            admin.client_kill_filter(_id=client["id"])
        assert received.get(timeout=DEADLINE) == ""  # resync after the reconnect
        assert listener.listening.wait(DEADLINE)
        publisher.publish("keys", "after")
        assert received.get(timeout=DEADLINE) == "after"
    finally:
        listener.close()
        publisher.close()
        admin.close()
