"""The audit trail of SCIM changes: source, actor, target, and the state before and after.

Rows are written in the transaction of the change they describe, so the trail never
records a change that was rolled back and never misses one that was committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from authbridge.clock import utcnow
from authbridge.storage import Storage
from authbridge.storage.scim_models import ScimAudit

__all__ = ["record", "record_refused_login", "trail"]

_INSERT = insert(ScimAudit)


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
    # A Core insert in the write's transaction: the audit row needs nothing back from the ORM.
    session.connection().execute(
        _INSERT,
        {
            "at": utcnow(),
            "source": source,
            "actor": actor[:128],
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "before": before,
            "after": after,
        },
    )


def trail(storage: Storage, resource_id: str) -> list[ScimAudit]:
    """Every recorded change of one resource, oldest first."""
    with storage.db.session() as session:
        return list(
            session.scalars(
                select(ScimAudit).where(ScimAudit.resource_id == resource_id).order_by(ScimAudit.id)
            )
        )


def record_refused_login(
    storage: Storage,
    *,
    source: str,
    connector_id: str,
    subject: str,
    user_id: str | None,
    reason: str,
) -> None:
    """Audit a login an authoritative source refused (`action` "login_refused", actor
    `login:<connector>`): there is no general audit log yet, so the source's trail holds
    it, beside the SCIM changes that explain it."""
    with storage.db.session() as session:
        record(
            session,
            source=source,
            actor=f"login:{connector_id}",
            action="login_refused",
            resource_type="User",
            resource_id=(user_id or "")[:36],
            before=None,
            after={"connector": connector_id, "subject": subject[:512], "reason": reason},
        )
