"""Indexes for the admin API's user list (`GET /api/v1/users`).

On PostgreSQL, a `q` prefix search (`LIKE 'q%'`) on `username_key`, `lower(email)` and
`lower(name)` can use a btree only with `text_pattern_ops` (unless the database collation
is C), so each gets one; the role filter reads `role_bindings` by (role, scope). SQLite
gets the role index only (its LIKE is case-insensitive and would not use these anyway;
the embedded database is not where 100k users live).

Frozen: imports nothing from authbridge.

Revision ID: 0006_users_admin_indexes
Revises: 0005_roles_role_bindings
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_users_admin_indexes"
down_revision = "0005_roles_role_bindings"
branch_labels = None
depends_on = None

PATTERN_INDEXES = (
    ("ix_users_username_key_prefix", "username_key"),
    ("ix_users_email_prefix", "lower(email)"),
    ("ix_users_name_prefix", "lower(name)"),
)


def upgrade() -> None:
    op.create_index("ix_role_bindings_role_scope", "role_bindings", ["role", "scope"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, expression in PATTERN_INDEXES:
        op.create_index(
            name,
            "users",
            [sa.text(f"{expression} text_pattern_ops")],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _ in PATTERN_INDEXES:
            op.drop_index(name, table_name="users")
    op.drop_index("ix_role_bindings_role_scope", table_name="role_bindings")
