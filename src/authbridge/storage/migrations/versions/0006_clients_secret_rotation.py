"""Zero-downtime client secret rotation: a client's previous secret digest and when it stops
being accepted (RFC 6749 §2.3.1 client authentication accepts either until then).

Revision ID: 0006_clients_secret_rotation
Revises: 0004_provider_expiry
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_clients_secret_rotation"
down_revision = "0004_provider_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(sa.Column("previous_secret_hash", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_secret_hash")
