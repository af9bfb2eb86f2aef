"""SCIM's changes in the audit log: source, actor, target, and the state before and after.

Rows are written to `audit_events` in the transaction of the change they describe, so the
log never records a change that was rolled back and never misses one that was committed
(the one kind of event not written by `audit/log.py`'s background writer, for that
guarantee). The event's JSON log line is emitted once the transaction commits, in the
shape `audit/log.py` gives every other event.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session

from authbridge.clock import utcnow
from authbridge.storage import Storage
from authbridge.storage.audit import AuditFilter, AuditRecord, insert_records

__all__ = ["record", "scim_event_type", "trail"]

audit_log = structlog.get_logger("authbridge.audit")
_PAST = {"create": "created", "replace": "replaced", "patch": "patched", "delete": "deleted"}


def scim_event_type(resource_type: str, action: str) -> str:
    """`scim.user.created`, `scim.group.patched`, ... (subject first, like every event)."""
    return f"scim.{resource_type.lower()}.{_PAST.get(action, action)}"


def record(
    session: Session,
    *,
    source: str,
    actor: str,
    action: str,
    resource_type: str,
    resource_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    entry = AuditRecord(
        at=utcnow(),
        type=scim_event_type(resource_type, action),
        outcome="success",
        actor_kind="scim",
        actor_id=source,
        actor_name=actor,
        target_type="user" if resource_type == "User" else "team",
        target_id=resource_id,
        details={"source": source, "before": before, "after": after},
    )
    insert_records(session, [entry])

    def announce(_session: Session) -> None:
        # Only the summary: the before/after representations stay in the database.
        audit_log.info(
            entry.type,
            audit=True,
            outcome=entry.outcome,
            actor_kind=entry.actor_kind,
            actor_id=source,
            actor_name=actor,
            target_type=entry.target_type,
            target_id=resource_id,
        )

    event.listen(session, "after_commit", announce, once=True)


def trail(storage: Storage, resource_id: str) -> list[AuditRecord]:
    """Every recorded SCIM change of one resource, oldest first."""
    found = storage.audit.query(AuditFilter(target_id=resource_id), limit=10_000)
    return [r for r in reversed(found) if r.type.startswith("scim.")]
