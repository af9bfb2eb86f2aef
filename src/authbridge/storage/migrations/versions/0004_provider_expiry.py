"""Provider: a code's replay mark (so a concurrent replay revokes what the winner issued)
and each signing key's latest expiry of anything it signed (so rotation keeps it published).

Revision ID: 0004_provider_expiry
Revises: 0002_provider
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_provider_expiry"
down_revision = "0002_provider"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("oauth_codes") as batch:
        batch.add_column(sa.Column("replayed_at", TZ, nullable=True))
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("signed_until", TZ, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("signed_until")
    with op.batch_alter_table("oauth_codes") as batch:
        batch.drop_column("replayed_at")
