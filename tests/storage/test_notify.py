"""The change bus: in-process delivery, and PostgreSQL LISTEN/NOTIFY between two "replicas"
(two Database objects on one database), including a listener whose connection the server
kills (a database restart): it reconnects, asks for a resync, and delivers again."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from authbridge.storage.database import Database
from authbridge.storage.notify import LocalBus, PostgresBus, change_bus

DEADLINE = 10.0


def _next(received: queue.Queue[str]) -> str:
    return received.get(timeout=DEADLINE)


def test_local_bus_delivers_in_process_and_survives_a_broken_subscriber() -> None:
    bus = LocalBus()
    got: list[str] = []

    def broken(_payload: str) -> None:
        raise RuntimeError("boom")

    bus.subscribe("keys", broken)
    bus.subscribe("keys", got.append)
    bus.publish("keys", "k1")
    bus.publish("clients", "ignored")
    assert got == ["k1"]


def test_sqlite_gets_the_in_process_bus(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        assert type(change_bus(db)) is LocalBus
    finally:
        db.dispose()


@pytest.fixture
def replicas(postgres_server_url: str) -> Iterator[tuple[Database, Database]]:
    one, two = Database(postgres_server_url), Database(postgres_server_url)
    yield one, two
    one.dispose()
    two.dispose()


@pytest.mark.postgres
def test_notify_reaches_the_other_replica(replicas: tuple[Database, Database]) -> None:
    publisher, listener = PostgresBus(replicas[0]), PostgresBus(replicas[1])
    received: queue.Queue[str] = queue.Queue()
    listener.subscribe("keys", received.put)
    try:
        assert listener.listening.wait(DEADLINE)
        publisher.publish("keys", "rotated")
        assert _next(received) == "rotated"
    finally:
        listener.close()
        publisher.close()


@pytest.mark.postgres
def test_own_messages_are_delivered_once(replicas: tuple[Database, Database]) -> None:
    bus = PostgresBus(replicas[0])
    received: queue.Queue[str] = queue.Queue()
    bus.subscribe("clients", received.put)
    try:
        assert bus.listening.wait(DEADLINE)
        bus.publish("clients", "c1")
        bus.publish("clients", "c2")
        # Locally at once; the echo of NOTIFY is recognised and dropped.
        assert [_next(received), _next(received)] == ["c1", "c2"]
        time.sleep(0.5)  # not a timing assertion: gives a wrong echo time to show up
        assert received.empty()
    finally:
        bus.close()


@pytest.mark.postgres
def test_the_listener_reconnects_after_its_connection_is_killed(
    replicas: tuple[Database, Database],
) -> None:
    publisher, listener = PostgresBus(replicas[0]), PostgresBus(replicas[1])
    received: queue.Queue[str] = queue.Queue()
    listener.subscribe("keys", received.put)
    try:
        assert listener.listening.wait(DEADLINE)
        # What a database restart does to the listening connection.
        with replicas[0].engine.begin() as connection:
            killed = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND query LIKE 'LISTEN authbridge_changes%'"
                )
            ).all()
        assert killed
        # Back: every subscriber is told to resync ("") since messages may have been lost.
        assert _next(received) == ""
        deadline = time.monotonic() + DEADLINE
        while True:  # publish until the new LISTEN is in place
            publisher.publish("keys", "after")
            try:
                if received.get(timeout=0.5) == "after":
                    break
            except queue.Empty:
                assert time.monotonic() < deadline
    finally:
        listener.close()
        publisher.close()
