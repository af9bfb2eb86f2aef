"""`AuditLog`: the `AuditSink` of the app and the CLI.

`record()` does two things on the caller's thread, neither touching the database: it writes
the event as one JSON log line (logger `authbridge.audit`, so a log pipeline has every event
even when the database does not) and puts it on a bounded queue. A background thread takes
events off the queue and stores them in batches (one INSERT of up to `batch` rows, at least
every `interval` seconds), so the token endpoint pays for a log line and a queue put, never a
round trip.

An event that cannot be stored (the queue full, the database failing) is counted
(`AuditObserver.audit_dropped`, exported as authbridge_audit_events_dropped_total) and
logged; `record()` never raises for it. Its JSON line was already written, so the event is
not lost to whoever keeps the logs.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import asdict
from typing import Any, Protocol

import structlog

from authbridge.audit.events import AuditEvent
from authbridge.storage.audit import AuditRecord, AuditStore

__all__ = ["AuditLog", "AuditObserver", "NoObserver", "to_record"]

audit_log = structlog.get_logger("authbridge.audit")
log = structlog.get_logger("authbridge.audit.writer")

BATCH = 200
INTERVAL = 0.2
CAPACITY = 10_000
CLOSE_WAIT = 5.0


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
    """The event as its row."""
    actor, target = event.actor, event.target
    return AuditRecord(
        at=event.at,
        type=event.type,
        outcome=event.outcome,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        address=actor.address,
        user_agent=actor.user_agent,
        request_id=actor.request_id,
        target_type=target.type if target is not None else None,
        target_id=target.id if target is not None else None,
        target_name=target.name if target is not None else None,
        details=dict(event.details),
    )


def _line(event: AuditEvent) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "audit": True,
        "outcome": event.outcome,
        "at": event.at.isoformat(),
        "actor": {k: v for k, v in asdict(event.actor).items() if v is not None},
    }
    if event.target is not None:
        fields["target"] = {k: v for k, v in asdict(event.target).items() if v is not None}
    if event.details:
        fields["details"] = dict(event.details)
    return fields


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
    ) -> None:
        self._store = store
        self._observer: AuditObserver = observer if observer is not None else NoObserver()
        self._batch = batch
        self._interval = interval
        self._queue: queue.Queue[AuditRecord | None] = queue.Queue(maxsize=capacity)
        # Events queued or being written: flush() waits until it is zero.
        self._pending = 0
        self._idle = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        if store is not None:
            self._thread = threading.Thread(
                target=self._run, name="authbridge-audit-writer", daemon=True
            )
            self._thread.start()

    # The sink ------------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        """Log the event now and queue it for storage; never raises for storage."""
        try:
            audit_log.info(event.type, **_line(event))
            self._observer.audit_recorded(event)
        except Exception:  # a broken log sink or observer must not fail the caller
            log.exception("audit_log_line_failed", type=event.type)
        if self._store is None:
            return
        if self._closed:
            self._dropped("closed", 1, event.type)
            return
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(to_record(event))
        except queue.Full:
            self._done(1)
            self._dropped("overflow", 1, event.type)

    # Lifecycle -----------------------------------------------------------------------

    def flush(self, timeout: float = CLOSE_WAIT) -> bool:
        """Wait until every event recorded so far is stored (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = CLOSE_WAIT) -> None:
        """Store what is queued and stop the writer (Services.stop(), the CLI at exit)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                log.error("audit_writer_stuck", pending=self._pending)
                return
            self._thread.join(timeout)

    # The writer ----------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = time.monotonic() + self._interval
            while len(batch) < self._batch:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[AuditRecord]) -> None:
        assert self._store is not None
        try:
            self._store.append(batch)
        except Exception as exc:
            # The lines were logged at record(); the rows are lost: count and say so.
            self._dropped("database", len(batch), batch[0].type, error=exc)
        finally:
            self._done(len(batch))

    def _done(self, count: int) -> None:
        with self._idle:
            self._pending -= count
            if self._pending <= 0:
                self._idle.notify_all()

    def _dropped(
        self, reason: str, count: int, first: str, error: BaseException | None = None
    ) -> None:
        try:
            self._observer.audit_dropped(reason, count)
        except Exception:
            log.exception("audit_observer_failed")
        log.error(
            "audit_events_dropped",
            reason=reason,
            count=count,
            first_type=first,
            error=type(error).__name__ if error is not None else None,
        )
