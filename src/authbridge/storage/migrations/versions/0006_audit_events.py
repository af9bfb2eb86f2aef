"""The audit log (issue 13 part 3): one append-only table of events, queried by actor,
target, type and time, newest first.

SCIM's trail moves here: every `scim_audit` row is copied as an event (`scim.<resource>.
<action>`, actor the source, details {source, actor, before, after}; a refused login as
`signin.refused`), then `scim_audit` is dropped. Downgrade recreates `scim_audit` empty:
events are not copied back (the audit log is the one trail from this revision on).

Frozen: imports nothing from authbridge.

Revision ID: 0006_audit_events
Revises: 0002_scim
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006_audit_events"
down_revision = "0002_scim"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
PAST = {"create": "created", "replace": "replaced", "patch": "patched", "delete": "deleted"}
BATCH = 1000


def _event(row: Any) -> dict[str, Any]:
    details = {"source": row.source, "actor": row.actor, "before": row.before, "after": row.after}
    common = {
        "at": row.at,
        "outcome": "success",
        "address": None,
        "user_agent": None,
        "request_id": None,
        "target_id": row.resource_id or None,
        "target_name": None,
    }
    if row.action == "login_refused":
        after = row.after or {}
        return {
            **common,
            "type": "signin.refused",
            "outcome": "failure",
            "actor_kind": "anonymous",
            "actor_id": None,
            "actor_name": str(after.get("subject", ""))[:255] or None,
            "target_type": "user" if row.resource_id else None,
            "details": {**details, "method": "idp", "connector": after.get("connector")},
        }
    resource = str(row.resource_type).lower()
    return {
        **common,
        "type": f"scim.{resource}.{PAST.get(row.action, row.action)}",
        "actor_kind": "scim",
        "actor_id": row.source,
        "actor_name": row.actor,
        "target_type": "user" if resource == "user" else "team",
        "details": details,
    }


def upgrade() -> None:
    events = op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", TZ, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor_kind", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(255), nullable=True),
        sa.Column("actor_name", sa.String(255), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("target_type", sa.String(32), nullable=True),
        sa.Column("target_id", sa.String(255), nullable=True),
        sa.Column("target_name", sa.String(255), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at", "id"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor_id", "at"])
    op.create_index("ix_audit_events_target", "audit_events", ["target_type", "target_id", "at"])
    op.create_index("ix_audit_events_type", "audit_events", ["type", "at"])

    old = sa.table(
        "scim_audit",
        sa.column("id", sa.Integer()),
        sa.column("at", TZ),
        sa.column("source", sa.String()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("resource_type", sa.String()),
        sa.column("resource_id", sa.String()),
        sa.column("before", sa.JSON()),
        sa.column("after", sa.JSON()),
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(old).where(old.c.id > last).order_by(old.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(sa.insert(events), [_event(row) for row in rows])
        last = rows[-1].id
    op.drop_index("ix_scim_audit_resource", table_name="scim_audit")
    op.drop_index("ix_scim_audit_at", table_name="scim_audit")
    op.drop_table("scim_audit")


def downgrade() -> None:
    op.create_table(
        "scim_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scim_audit_resource", "scim_audit", ["resource_id", "at"])
    op.create_index("ix_scim_audit_at", "scim_audit", ["at"])
    for name in ("type", "target", "actor", "at"):
        op.drop_index(f"ix_audit_events_{name}", table_name="audit_events")
    op.drop_table("audit_events")
