"""`AuditLog`: one JSON line per event at once, rows stored in batches off the caller's
thread, and nothing a storage failure or a full queue can raise into the caller."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from structlog.testing import capture_logs

from authbridge.audit.events import Actor, AuditEvent, Target, frozen_details
from authbridge.audit.log import AuditLog
from authbridge.clock import utcnow
from authbridge.storage import Storage
from authbridge.storage.audit import Alike, AuditFilter, AuditRecord, AuditStore


class Recorder:
    """An AuditObserver that remembers what it was told."""

    def __init__(self) -> None:
        self.recorded: list[str] = []
        self.dropped: list[tuple[str, int]] = []

    def audit_recorded(self, event: AuditEvent) -> None:
        self.recorded.append(event.type)

    def audit_dropped(self, reason: str, count: int) -> None:
        self.dropped.append((reason, count))


class FakeStore:
    """Counts appends (each one INSERT); `fail` makes them raise; `gate` holds them."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[AuditRecord]] = []
        self.alike: list[list[tuple[AuditRecord, list[datetime]]]] = []
        self.fail = fail
        self.gate = threading.Event()
        self.gate.set()

    def append(self, records: Sequence[AuditRecord], alike: Sequence[Alike] = ()) -> None:
        self.gate.wait(5)
        if self.fail:
            raise ConnectionError("database down")
        copies = [record._replace(at=at) for record, times in alike for at in times]
        self.batches.append([*records, *copies])
        self.alike.append([(record, list(times)) for record, times in alike])


def _event(n: int = 0, **details: object) -> AuditEvent:
    return AuditEvent(
        "user.disabled",
        Actor("user", "admin-1", "root@example.com", address="203.0.113.7"),
        Target("user", f"u{n}"),
        details=details,
    )


def _log(store: object, **kwargs: object) -> AuditLog:
    return AuditLog(store, **kwargs)  # type: ignore[arg-type]


def test_events_are_stored_in_batches_not_one_insert_each() -> None:
    store = FakeStore()
    store.gate.clear()  # the writer holds its first batch while the rest queue up
    log = _log(store, batch=50, interval=0.05)
    for n in range(120):
        log.record(_event(n))
    store.gate.set()
    assert log.flush()
    stored = [r.target_id for batch in store.batches for r in batch]
    assert stored == [f"u{n}" for n in range(120)]
    assert len(store.batches) <= 4 and max(len(b) for b in store.batches) == 50
    log.close()


def test_record_never_waits_on_the_database() -> None:
    store = FakeStore()
    store.gate.clear()  # the database hangs
    log = _log(store)
    log.record(_event())
    log.record(_event(1))  # returns at once: queued
    assert not log.flush(timeout=0.1)
    store.gate.set()
    assert log.flush()
    log.close()


def test_a_failing_database_is_counted_and_logged_never_raised() -> None:
    observer = Recorder()
    log = _log(FakeStore(fail=True), observer=observer, interval=0.01)
    with capture_logs() as logs:
        log.record(_event())
        assert log.flush()
    assert observer.dropped == [("database", 1)]
    dropped = [e for e in logs if e["event"] == "audit_events_dropped"]
    assert dropped and dropped[0]["reason"] == "database" and dropped[0]["count"] == 1
    log.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    store = FakeStore()
    store.gate.clear()
    observer = Recorder()
    log = _log(store, observer=observer, capacity=2, batch=1)
    for n in range(10):
        log.record(_event(n))  # never blocks
    assert sum(c for reason, c in observer.dropped if reason == "overflow") >= 5
    store.gate.set()
    assert log.flush()
    log.close()


def test_each_event_is_one_json_line_at_once_with_no_secret() -> None:
    store = FakeStore()
    store.gate.clear()
    log = _log(store)
    with capture_logs() as logs:
        log.record(_event(7, grantType="refresh_token"))
        # Logged before it is stored (the writer is held).
        lines = [e for e in logs if e.get("audit")]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "user.disabled" and line["outcome"] == "success"
    assert (line["actor_kind"], line["actor_id"], line["actor_name"]) == (
        "user",
        "admin-1",
        "root@example.com",
    )
    assert line["address"] == "203.0.113.7"
    assert (line["target_type"], line["target_id"]) == ("user", "u7")
    assert line["details"] == {"grantType": "refresh_token"}
    store.gate.set()
    log.close()


def test_the_rendered_line_is_redacted_json() -> None:
    import io
    import json
    from contextlib import redirect_stderr

    from authbridge.web.observability import configure_logging

    configure_logging("info", "json")
    buffer = io.StringIO()
    log = _log(None)
    try:
        with redirect_stderr(buffer):
            # A secret must never be put in details; if one were, the redaction still holds.
            log.record(_event(1, client_secret="s3cr3t-value", note="Bearer abc.def.ghi"))
    finally:
        log.close()
    lines = [json.loads(x) for x in buffer.getvalue().splitlines() if x.startswith("{")]
    (line,) = [x for x in lines if x.get("audit")]
    assert "s3cr3t-value" not in json.dumps(line) and "abc.def.ghi" not in json.dumps(line)
    assert line["event"] == "user.disabled"


def test_disabled_logs_lines_but_stores_nothing() -> None:
    log = _log(None)
    with capture_logs() as logs:
        log.record(_event())
    assert [e["event"] for e in logs if e.get("audit")] == ["user.disabled"]
    assert log.flush(timeout=0.1)
    log.close()


def test_close_stores_what_is_queued_and_later_events_are_counted() -> None:
    store = FakeStore()
    observer = Recorder()
    log = _log(store, observer=observer, interval=5.0)
    for n in range(3):
        log.record(_event(n))
    log.close()
    assert sum(len(b) for b in store.batches) == 3
    log.record(_event(9))
    assert observer.dropped == [("closed", 1)]


@pytest.mark.parametrize("days", [30])
def test_stored_events_are_queried_and_expire_after_the_retention(
    storage: Storage, days: int
) -> None:
    store: AuditStore = storage.audit
    store.retention = timedelta(days=days)
    log = AuditLog(store)
    now = utcnow()
    log.record(AuditEvent("key.rotated", Actor.SYSTEM, at=now - timedelta(days=days + 1)))
    log.record(AuditEvent("key.rotated", Actor.SYSTEM, Target("key", "k2"), at=now))
    assert log.flush()
    log.close()
    assert len(store.query(AuditFilter(type="key.rotated"), limit=10)) == 2
    assert store.garbage_collect(now) == 1
    (kept,) = store.query(AuditFilter(), limit=10)
    assert kept.target_id == "k2" and kept.actor_kind == "system"


def test_an_idle_writer_wakes_for_each_event_from_any_thread() -> None:
    """The writer sleeps when it has nothing; events put from several threads while it goes
    to sleep, sleeps or wakes are all stored, none waits for a later one to be noticed."""
    store = FakeStore()
    log = _log(store, batch=1000, interval=0.0)
    for round_ in range(30):
        threads = [
            threading.Thread(target=lambda t=t, r=round_: log.record(_event(100 * r + t)))
            for t in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert log.flush(timeout=2.0)  # stored, with no event after them to wake the writer
        stored = {r.target_id for batch in store.batches for r in batch}
        assert {f"u{100 * round_ + t}" for t in range(4)} <= stored
    log.close()
    assert sum(len(b) for b in store.batches) == 120


def test_closing_a_stuck_writer_says_so_and_returns() -> None:
    store = FakeStore()
    store.gate.clear()  # the database hangs
    log = _log(store, interval=0.0)
    log.record(_event())
    with capture_logs() as logs:
        log.close(timeout=0.2)
    assert [e["event"] for e in logs] == ["audit_writer_stuck"]
    store.gate.set()


def test_events_alike_but_for_their_time_are_handed_over_as_one_row_and_its_times() -> None:
    """Events sharing their actor, target and read-only details (the token endpoint's,
    provider/events.py) reach the store as one row and its times, in the order recorded;
    equal values in other objects, or details a caller could still change, are rows of
    their own, and a change to such details after record() is not stored."""
    store = FakeStore()
    store.gate.clear()
    log = _log(store, batch=50, interval=0.05)
    client = Actor("client", "sa-etl", address="127.0.0.1")
    target = Target("client", "sa-etl")
    details = frozen_details({"grantType": "client_credentials"})
    grants = [AuditEvent("token.issued", client, target, "success", details) for _ in range(5)]
    other_client = AuditEvent(
        "token.issued", Actor("client", "sa-etl", address="127.0.0.1"), target, "success", details
    )
    changing = {"grantType": "client_credentials"}
    mutable = AuditEvent("token.issued", client, target, "success", changing)
    log.record(grants[0])
    log.record(other_client)
    log.record(mutable)
    changing["grantType"] = "changed after record()"
    for grant in grants[1:]:
        log.record(grant)
    store.gate.set()
    assert log.flush()
    log.close()
    groups = [group for batch in store.alike for group in batch]
    assert [(record.actor_id, times) for record, times in groups] == [
        ("sa-etl", [g.at for g in grants]),
        ("sa-etl", [other_client.at]),
    ]
    assert all(record.details == {"grantType": "client_credentials"} for record, _ in groups)
    rows = [r for batch in store.batches for r in batch]
    assert len(rows) == 7
    assert [r.details for r in rows].count({"grantType": "client_credentials"}) == 7


def test_a_busy_writer_stores_at_most_once_per_interval() -> None:
    """While events keep coming, one write per `interval` holds all that came meanwhile
    (a write's fixed cost, its commit and WAL pages, shared by more events): two writes
    never start closer than the interval unless a full batch is waiting. A slower machine
    only spreads them further."""
    import itertools
    import time

    starts: list[float] = []

    class TimedStore(FakeStore):
        def append(self, records: Sequence[AuditRecord], alike: Sequence[Alike] = ()) -> None:
            starts.append(time.monotonic())
            super().append(records, alike)

    store = TimedStore()
    log = _log(store, batch=100_000, interval=0.1)
    recorded = 0
    until = time.monotonic() + 0.5
    while time.monotonic() < until:
        log.record(_event(recorded))
        recorded += 1
        time.sleep(0.001)
    log.close()
    assert sum(len(b) for b in store.batches) == recorded
    # The last write is close()'s, at once.
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts[:-1])]
    assert gaps and min(gaps) >= 0.1 - 0.005
    assert len(starts) <= 0.5 / 0.1 + 2


def test_a_flush_ends_the_gathering_at_once() -> None:
    """A batch gathers for `interval` from its first event; flush() (and close()) end
    the wait, so a caller that needs its events stored does not wait out the interval."""
    store = FakeStore()
    log = _log(store, interval=30.0)
    log.record(_event(1))
    assert log.flush(timeout=5.0)
    assert [r.target_id for batch in store.batches for r in batch] == ["u1"]
    log.close()


def test_a_full_queue_counts_every_drop_but_logs_few_lines() -> None:
    """While the queue stays full every event is dropped and counted, but a flood of
    events must not become a flood of error lines: one line per second at most, which
    says how many drops it covers."""
    store = FakeStore()
    store.gate.clear()  # the database hangs: the queue fills and stays full
    observer = Recorder()
    log = _log(store, observer=observer, capacity=5, batch=1, interval=0.0)
    with capture_logs() as logs:
        for n in range(500):
            log.record(_event(n))
    drops = sum(c for reason, c in observer.dropped if reason == "overflow")
    lines = [e for e in logs if e["event"] == "audit_events_dropped"]
    assert drops >= 490
    assert 1 <= len(lines) <= 2 and sum(line["count"] for line in lines) <= drops
    assert lines[0]["reason"] == "overflow" and lines[0]["count"] == 1
    store.gate.set()
    assert log.flush()
    log.close()
