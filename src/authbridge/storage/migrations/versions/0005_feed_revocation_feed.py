"""The revocation feed (issue 15 part 3): revoked token ids and deactivated subjects since a
cursor, each kept until the tokens it covers have expired.

Revision ID: 0005_feed_revocation_feed
Revises: 0004_provider_expiry
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_feed_revocation_feed"
down_revision = "0004_provider_expiry"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "revocation_feed",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("revoked_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_index("ix_revocation_feed_expires_at", "revocation_feed", ["expires_at"])
    # The provider's own token checks look up a subject's entries on every call.
    op.create_index("ix_revocation_feed_value", "revocation_feed", ["value"])


def downgrade() -> None:
    op.drop_index("ix_revocation_feed_value", table_name="revocation_feed")
    op.drop_index("ix_revocation_feed_expires_at", table_name="revocation_feed")
    op.drop_table("revocation_feed")
