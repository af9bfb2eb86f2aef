"""An index on the revocation feed's value: the provider's own token checks look up a
subject's entries on every userinfo, introspection and authz/roles call.

Revision ID: 0005_redteam_feed_value_index
Revises: 0005_feed_revocation_feed
"""

from alembic import op

revision = "0005_redteam_feed_value_index"
down_revision = "0005_feed_revocation_feed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_revocation_feed_value", "revocation_feed", ["value"])


def downgrade() -> None:
    op.drop_index("ix_revocation_feed_value", table_name="revocation_feed")
