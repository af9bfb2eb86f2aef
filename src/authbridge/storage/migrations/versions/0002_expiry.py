"""Expiry columns: each rate-limit counter and each expiring key value says when it lapses,
so that garbage collection needs no knowledge of who wrote the row.

Revision ID: 0002_expiry
Revises: 0001

Counters written before this have no expiry: they are collected by their window start
(see `RateLimitStore.garbage_collect`). Pending IdP logins written before it are deleted.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_expiry"
down_revision = "0001"
branch_labels = ("expiry",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("rate_limit_counters") as table:
        table.add_column(sa.Column("expires_at", TZ, nullable=True))
        table.create_index("ix_rate_limit_counters_expires_at", ["expires_at"])
    with op.batch_alter_table("key_values") as table:
        table.add_column(sa.Column("expires_at", TZ, nullable=True))
        table.create_index("ix_key_values_expires_at", ["expires_at"])
    # Pending logins (ten minutes each) had no expiry column to be collected by: drop them.
    # A login begun before the upgrade is started again (the page says so).
    op.execute("DELETE FROM key_values WHERE name LIKE 'oauth-login:%'")


def downgrade() -> None:
    with op.batch_alter_table("key_values") as table:
        table.drop_index("ix_key_values_expires_at")
        table.drop_column("expires_at")
    with op.batch_alter_table("rate_limit_counters") as table:
        table.drop_index("ix_rate_limit_counters_expires_at")
        table.drop_column("expires_at")
