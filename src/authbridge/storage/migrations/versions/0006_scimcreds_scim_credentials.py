"""SCIM credentials per source (issue 13): generated credentials stored as SHA-256 digests,
and the environment credential's marker (id `env`: its use and retirement).

Revision ID: 0006_scim_credentials
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_scim_credentials"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scim_credentials",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("username", sa.String(128), nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("created_at", TZ, nullable=True),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("expires_at", TZ, nullable=True),
        sa.Column("retired_at", TZ, nullable=True),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("source", "id"),
    )
    op.create_index("ix_scim_credentials_retired_at", "scim_credentials", ["retired_at"])


def downgrade() -> None:
    op.drop_index("ix_scim_credentials_retired_at", table_name="scim_credentials")
    op.drop_table("scim_credentials")
