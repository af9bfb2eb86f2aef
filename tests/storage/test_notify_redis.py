"""Change notifications over Redis pub/sub, against the real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import queue

import redis

from authbridge.storage.notify_redis import RedisBus
from tests.conftest import REDIS_URL

DEADLINE = 10.0


def test_a_publish_reaches_the_other_replica(redis_channel: str) -> None:
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


def test_the_listener_reconnects_after_redis_drops_it(redis_channel: str) -> None:
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
