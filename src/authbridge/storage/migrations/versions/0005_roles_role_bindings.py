"""Role bindings: one table gives a role to a user or a team at a scope.

Replaces `roles`, `user_roles` and `team_roles`. A user's rows become system-scope user
bindings (origin `migrated:user_roles`). `team_roles` rows are not carried over: SCIM's
team→role template was their only writer, and the template is now evaluated whenever a
user's roles are computed (for every team, however it was made), so copying its old output
would freeze it as bindings the template could no longer withdraw. Configured roles live
in the configuration; the `roles` table goes.

Revision ID: 0005_roles_role_bindings
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_roles_role_bindings"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "role_bindings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=256), nullable=False),
        sa.Column("principal", sa.String(length=48), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("team_id", sa.String(length=36), nullable=True),
        sa.Column("origin", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("principal", "role", "scope", name="uq_role_bindings"),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name="ck_role_bindings_one_principal"
        ),
    )
    op.create_index("ix_role_bindings_user", "role_bindings", ["user_id"])
    op.create_index("ix_role_bindings_team", "role_bindings", ["team_id"])
    op.create_index("ix_role_bindings_origin", "role_bindings", ["origin"])
    op.execute(
        "INSERT INTO role_bindings (role, scope, principal, user_id, team_id, origin, created_at)"
        " SELECT role_name, 'system', 'user:' || user_id, user_id, NULL, 'migrated:user_roles',"
        " CURRENT_TIMESTAMP FROM user_roles"
    )
    op.drop_table("user_roles")
    op.drop_table("team_roles")
    op.drop_table("roles")


def downgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    for table, key in (("user_roles", "user_id"), ("team_roles", "team_id")):
        op.create_table(
            table,
            sa.Column(key, sa.String(length=36), nullable=False),
            sa.Column("role_name", sa.String(length=64), nullable=False),
            sa.ForeignKeyConstraint(["role_name"], ["roles.name"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(
                [key], ["users.id" if key == "user_id" else "teams.id"], ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint(key, "role_name"),
        )
    # The built-in roles, and every other role bound anywhere, so the older code finds them.
    op.execute(
        "INSERT INTO roles (name, description, system) VALUES ('admin', '', true),"
        " ('editor', '', true), ('viewer', '', true)"
    )
    op.execute(
        "INSERT INTO roles (name, description, system) SELECT DISTINCT role, '', false"
        " FROM role_bindings WHERE role NOT IN ('admin', 'editor', 'viewer')"
    )
    op.execute(
        "INSERT INTO user_roles (user_id, role_name) SELECT DISTINCT user_id, role"
        " FROM role_bindings WHERE user_id IS NOT NULL AND scope = 'system'"
    )
    op.execute(
        "INSERT INTO team_roles (team_id, role_name) SELECT DISTINCT team_id, role"
        " FROM role_bindings WHERE team_id IS NOT NULL AND scope = 'system'"
    )
    op.drop_table("role_bindings")
