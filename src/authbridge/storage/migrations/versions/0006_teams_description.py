"""Teams get a description an administrator may set (`PATCH /api/v1/teams/{id}`).

Frozen: imports nothing from authbridge.

Revision ID: 0006_teams_description
Revises: 0005_teams_membership
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_teams_description"
down_revision = "0005_teams_membership"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("description")
