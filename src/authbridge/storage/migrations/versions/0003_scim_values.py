"""SCIM value index: every attribute value of a provisioned user, so filters on any attribute
are index seeks (RFC 7644 §3.4.2.2).

Schema only, and frozen: it imports nothing from authbridge. The rows are built by the live
indexing rules, so users provisioned before this revision are indexed by the app's command
`authbridge scim reindex` (`authbridge.storage.scim.reindex`), not here.

Revision ID: 0003_scim_values
Revises: 0002_scim
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_scim_values"
down_revision = "0002_scim"
branch_labels = None
depends_on = None

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


def downgrade() -> None:
    op.drop_index("ix_scim_user_values_lookup", table_name="scim_user_values")
    op.drop_table("scim_user_values")
