"""How a person signed in: `amr` (RFC 8176 values, space-separated) and `acr` on browser
sessions and on what a session yields (authorization codes, refresh tokens, device codes),
and the session's `authenticated_at` (OIDC Core §2 `auth_time`).

All nullable: rows made before this migration read as "methods unknown" (no amr/acr claim)
and a session's auth time as its created_at.

Frozen: imports nothing from authbridge.

Revision ID: 0007_mfa_upstream_authn_context
Revises: 0002_provider
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_mfa_upstream_authn_context"
down_revision = "0002_provider"
branch_labels = None
depends_on = None

_GRANT_TABLES = ("oauth_codes", "oauth_refresh_tokens", "oauth_device_codes")


def upgrade() -> None:
    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amr", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("acr", sa.String(length=256), nullable=True))
        batch_op.add_column(
            sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=True)
        )
    for table in _GRANT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("amr", sa.String(length=256), nullable=True))
            batch_op.add_column(sa.Column("acr", sa.String(length=256), nullable=True))


def downgrade() -> None:
    for table in _GRANT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("acr")
            batch_op.drop_column("amr")
    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.drop_column("authenticated_at")
        batch_op.drop_column("acr")
        batch_op.drop_column("amr")
