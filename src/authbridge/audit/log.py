"""`AuditLog`: the `AuditSink` of the app and the CLI.

`record()` does two things on the caller's thread, neither touching the database: it writes
the event as one JSON log line (logger `authbridge.audit`, so a log pipeline has every event
even when the database does not) and puts it on a bounded queue. A background thread takes
events off the queue and stores them in batches (one transaction of up to `batch` rows, at
most one every `interval` seconds while events keep coming), so the token endpoint pays for a
log line and a queue put, never a round trip.

An event that cannot be stored (the queue full, the database failing) is counted
(`AuditObserver.audit_dropped`, exported as authbridge_audit_events_dropped_total) and
logged; `record()` never raises for it. Its JSON line was already written, so the event is
not lost to whoever keeps the logs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

import structlog

from authbridge.audit.events import AuditEvent
from authbridge.storage.audit import AuditRecord, AuditStore

__all__ = ["AuditLog", "AuditObserver", "NoObserver", "queued", "to_record"]

audit_log = structlog.get_logger("authbridge.audit")
log = structlog.get_logger("authbridge.audit.writer")

# At most this many events per write (one transaction), and at most one write per
# `INTERVAL` while fewer wait: a worker granting 2,500 tokens a second stores full
# batches back to back, one a quieter worker what came in the interval (bench/README.md
# "Stop 30" measured these values).
BATCH = 1000
INTERVAL = 0.5
CAPACITY = 10_000
CLOSE_WAIT = 5.0
# A full queue's error line: at most one per this many seconds (each drop is counted).
DROP_LINE_EVERY = 1.0


class AuditObserver(Protocol):
    """What the metrics are told (web/observability.py `Metrics` implements it)."""

    def audit_recorded(self, event: AuditEvent) -> None: ...

    def audit_dropped(self, reason: str, count: int) -> None: ...


class NoObserver:
    def audit_recorded(self, event: AuditEvent) -> None:
        return None

    def audit_dropped(self, reason: str, count: int) -> None:
        return None


def to_record(event: AuditEvent) -> AuditRecord:
    """The event as its row (positional: a named tuple built from keywords cost twice as
    much, on every token grant)."""
    actor, target = event.actor, event.target
    if target is None:
        target_type = target_id = target_name = None
    else:
        target_type, target_id, target_name = target.type, target.id, target.name
    return AuditRecord(
        event.at,
        event.type,
        event.outcome,
        actor.kind,
        actor.id,
        actor.name,
        actor.address,
        actor.user_agent,
        actor.request_id,
        target_type,
        target_id,
        target_name,
        dict(event.details),
    )


def queued(event: AuditEvent) -> AuditEvent | AuditRecord:
    """What `record()` queues: the event itself when its details are read-only
    (`frozen_details`, the token endpoint's), since they cannot change while queued and the
    writer stores events alike in one go (`_write`); otherwise its row, the details copied
    now."""
    return event if type(event.details) is MappingProxyType else to_record(event)


def _line(event: AuditEvent) -> dict[str, Any]:
    """The log line's fields: flat, only what is set (built by hand: `dataclasses.asdict`
    deep-copies and cost more than the rest of `record()` together)."""
    actor, target = event.actor, event.target
    fields: dict[str, Any] = {"audit": True, "outcome": event.outcome, "actor_kind": actor.kind}
    for name, value in (
        ("actor_id", actor.id),
        ("actor_name", actor.name),
        ("address", actor.address),
        ("user_agent", actor.user_agent),
        ("request_id", actor.request_id),
    ):
        if value is not None:
            fields[name] = value
    if target is not None:
        fields["target_type"] = target.type
        fields["target_id"] = target.id
        if target.name is not None:
            fields["target_name"] = target.name
    if event.details:
        fields["details"] = dict(event.details)
    return fields


class _Stop:
    """The writer's last item (close())."""


_STOP = _Stop()
# What the queue holds: an event (read-only details) or its row, a flush marker (set once
# everything before it is written), or the stop item.
_Item = AuditEvent | AuditRecord | threading.Event | _Stop


class AuditLog:
    """The audit log. `store` None: events are only logged (audit.enabled false)."""

    def __init__(
        self,
        store: AuditStore | None,
        *,
        observer: AuditObserver | None = None,
        batch: int = BATCH,
        interval: float = INTERVAL,
        capacity: int = CAPACITY,
        synchronous: bool = False,
        line: Callable[[str, Mapping[str, Any]], bool] | None = None,
    ) -> None:
        self._store = store
        # Writes the JSON line cheaply when it can (web/observability.py `info_line`);
        # False, or none given: structlog writes it.
        self._line = line
        self._observer: AuditObserver = observer if observer is not None else NoObserver()
        self._batch = batch
        self._interval = interval
        # What the writer is to take, oldest first. A deque, whose append and popleft are
        # atomic, and an Event the writer waits on only when it has nothing to do: a put is
        # an append (and a wake-up when the writer sleeps), where queue.Queue took a lock
        # and notified a condition per event, and the writer as much per get.
        self._pending: deque[_Item] = deque()
        self._capacity = capacity
        self._wake = threading.Event()
        # Set by flush() and close(): the writer stops gathering and writes what is queued.
        self._hurry = threading.Event()
        # Overflow drops not yet in an error line, and when the last line was written.
        self._overflow_lock = threading.Lock()
        self._overflow_unsaid = 0
        self._overflow_said_at = -DROP_LINE_EVERY
        self._idle = False
        self._closed = False
        self._thread: threading.Thread | None = None
        # A CLI command is short-lived and calls few acts: each event is stored before the
        # act returns, so nothing depends on an exit hook running.
        self._synchronous = synchronous
        if store is not None and not synchronous:
            self._thread = threading.Thread(
                target=self._run, name="authbridge-audit-writer", daemon=True
            )
            self._thread.start()

    # The sink ------------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        """Log the event now and queue it for storage; never raises for storage."""
        try:
            fields = _line(event)
            if self._line is None or not self._line(event.type, fields):
                audit_log.info(event.type, **fields)
            self._observer.audit_recorded(event)
        except Exception:  # a broken log sink or observer must not fail the caller
            log.exception("audit_log_line_failed", type=event.type)
        if self._store is None:
            return
        if self._closed:
            self._dropped("closed", 1, event.type)
            return
        if self._synchronous:
            self._write([to_record(event)])
            return
        if len(self._pending) >= self._capacity:
            self._dropped("overflow", 1, event.type)
            return
        self._put(queued(event))

    def _put(self, item: _Item) -> None:
        self._pending.append(item)
        if self._idle:  # set by the writer before its last look at `_pending`: see _take
            self._wake.set()

    # Lifecycle -----------------------------------------------------------------------

    def flush(self, timeout: float = CLOSE_WAIT) -> bool:
        """Wait until every event recorded so far is stored (or dropped); False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            return True
        marker = threading.Event()
        self._put(marker)  # past the capacity if need be: one per caller waiting
        self._hurry.set()
        return marker.wait(timeout)

    def close(self, timeout: float = CLOSE_WAIT) -> None:
        """Store what is queued and stop the writer (Services.stop(), the CLI at exit)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._put(_STOP)
            self._hurry.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("audit_writer_stuck", queued=len(self._pending))

    # The writer ----------------------------------------------------------------------

    def _take(self) -> _Item:
        """The oldest item, waiting for one. The writer says it is idle, then looks once
        more: an item put before that look is found by it, one put after sees `_idle` and
        wakes the writer (the Event is cleared before `_idle` is set, never after a set)."""
        while True:
            try:
                return self._pending.popleft()
            except IndexError:
                pass
            self._wake.clear()
            self._idle = True
            if not self._pending:
                self._wake.wait()
            self._idle = False

    def _run(self) -> None:
        # When the next write may start: a batch gathers for `interval` from its first
        # event, and while events keep coming the writer stores at most once per
        # `interval` (unless a full batch waits), so a busy writer wakes once per write
        # and stores what came in the meantime: a token grant's share of a write's fixed
        # cost (its commit, its WAL pages) is a fraction of what it was with a write per
        # 200 events (bench/README.md "Stop 30").
        next_write = 0.0
        while True:
            idle = not self._pending
            item = self._take()
            if isinstance(item, _Stop):
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            now = time.monotonic()
            if idle:
                next_write = max(next_write, now + self._interval)
            if next_write > now and len(self._pending) < self._batch - 1 and not self._closed:
                self._hurry.wait(next_write - now)  # flush() and close() end it early
            self._hurry.clear()
            next_write = time.monotonic() + self._interval
            batch: list[AuditEvent | AuditRecord] = [item]
            markers: list[threading.Event] = []
            stop = False
            while len(batch) < self._batch:
                try:
                    item = self._pending.popleft()
                except IndexError:
                    break
                if isinstance(item, _Stop):
                    stop = True
                    break
                if isinstance(item, threading.Event):
                    markers.append(item)  # set once what came before it is written
                    break
                batch.append(item)
            self._write(batch)
            for marker in markers:
                marker.set()
            if stop:
                return

    def _write(self, batch: Sequence[AuditEvent | AuditRecord]) -> None:
        """Store a batch. Queued events whose actor, target and details are the same
        objects (a client's token grants: `provider/events.AuditedEvents` keeps them) are
        alike but for their time: each such group is one row and its times, which the
        store inserts without building a row per event (bench/README.md "Stop 29").
        Grouping by `id` is sound while `batch` holds every event, so no id is reused."""
        assert self._store is not None
        records: list[AuditRecord] = []
        alike: dict[tuple[object, ...], tuple[AuditEvent, list[datetime]]] = {}
        for item in batch:
            if isinstance(item, AuditEvent):
                key = (item.type, item.outcome, id(item.actor), id(item.target), id(item.details))
                group = alike.get(key)
                if group is None:
                    alike[key] = group = (item, [])
                group[1].append(item.at)
            else:
                records.append(item)
        try:
            self._store.append(records, [(to_record(e), times) for e, times in alike.values()])
        except Exception as exc:
            # The lines were logged at record(); the rows are lost: count and say so.
            self._dropped("database", len(batch), batch[0].type, error=exc)

    def _dropped(
        self, reason: str, count: int, first: str, error: BaseException | None = None
    ) -> None:
        """Count dropped events and say so. A full queue drops every event recorded while
        it stays full (thousands a second): each is counted, but their error line is
        written at most once per `DROP_LINE_EVERY` seconds, with how many it covers."""
        try:
            self._observer.audit_dropped(reason, count)
        except Exception:
            log.exception("audit_observer_failed")
        if reason == "overflow":
            with self._overflow_lock:
                self._overflow_unsaid += count
                now = time.monotonic()
                if now < self._overflow_said_at + DROP_LINE_EVERY:
                    return
                self._overflow_said_at = now
                count, self._overflow_unsaid = self._overflow_unsaid, 0
        log.error(
            "audit_events_dropped",
            reason=reason,
            count=count,
            first_type=first,
            error=type(error).__name__ if error is not None else None,
        )
