"""SCIM value index: every attribute value of a provisioned user, so filters on any attribute
are index seeks (RFC 7644 §3.4.2.2); existing users are indexed from their stored attributes.

Revision ID: 0003_scim_values
Revises: 0002_scim
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003_scim_values"
down_revision = "0002_scim"
branch_labels = None
depends_on = None

BATCH = 1000
# Code-point order on PostgreSQL whatever the database's locale (SQLite's BINARY already is).
KEY = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
FULL_KEY = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "scim_user_values",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("attr", sa.String(length=128), nullable=False),
        sa.Column("item", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value_key", KEY, nullable=True),
        sa.Column("value_full", FULL_KEY, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["scim_users.user_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "attr", "item"),
    )
    op.create_index(
        "ix_scim_user_values_lookup", "scim_user_values", ["attr", "value_key", "user_id"]
    )
    _backfill()


def _backfill() -> None:
    """Index the users provisioned before this revision from `scim_users.attributes`.

    The rows come from the indexer the service writes with (`authbridge.scim.values`, which
    imports no ORM model), so a backfilled user is indexed exactly as a new one is.
    """
    from authbridge.scim.resources import USER_SCHEMA, UserModel
    from authbridge.scim.values import value_rows

    users = sa.table(
        "scim_users", sa.column("user_id", sa.String), sa.column("attributes", sa.JSON)
    )
    values = sa.table(
        "scim_user_values",
        *(sa.column(name) for name in ("user_id", "attr", "item", "value_key", "value_full")),
    )
    connection = op.get_bind()
    last = ""
    while True:
        batch = connection.execute(
            sa.select(users.c.user_id, users.c.attributes)
            .where(users.c.user_id > last)
            .order_by(users.c.user_id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        rows: list[dict[str, Any]] = []
        for user_id, attributes in batch:
            for row in value_rows(UserModel, USER_SCHEMA, attributes or {}):
                rows.append({"user_id": user_id, **row})
        if rows:
            connection.execute(values.insert(), rows)
        last = batch[-1][0]


def downgrade() -> None:
    op.drop_index("ix_scim_user_values_lookup", table_name="scim_user_values")
    op.drop_table("scim_user_values")
