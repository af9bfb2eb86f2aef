"""SCIM 2.0 provisioning: per-source users and groups, and the audit of every change.

Revision ID: 0002_scim
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_scim"
down_revision = "0001"
branch_labels = ("scim",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scim_users",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("given_name_key", sa.String(length=256), nullable=True),
        sa.Column("family_name_key", sa.String(length=256), nullable=True),
        sa.Column("email_key", sa.String(length=320), nullable=True),
        sa.Column("display_name_key", sa.String(length=256), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("source", "external_id", name="uq_scim_users_source_external_id"),
    )
    for name, columns in (
        ("ix_scim_users_source_created", ["source", "created_at", "user_id"]),
        ("ix_scim_users_source_email", ["source", "email_key"]),
        ("ix_scim_users_source_family", ["source", "family_name_key"]),
        ("ix_scim_users_source_given", ["source", "given_name_key"]),
        ("ix_scim_users_source_display", ["source", "display_name_key"]),
        ("ix_scim_users_source_modified", ["source", "modified_at"]),
    ):
        op.create_index(name, "scim_users", columns)
    op.create_table(
        "scim_groups",
        sa.Column("team_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id"),
        sa.UniqueConstraint("source", "external_id", name="uq_scim_groups_source_external_id"),
    )
    op.create_index(
        "ix_scim_groups_source_created", "scim_groups", ["source", "created_at", "team_id"]
    )
    op.create_index("ix_scim_groups_source_modified", "scim_groups", ["source", "modified_at"])
    op.create_table(
        "scim_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scim_audit_resource", "scim_audit", ["resource_id", "at"])
    op.create_index("ix_scim_audit_at", "scim_audit", ["at"])


def downgrade() -> None:
    op.drop_table("scim_audit")
    op.drop_table("scim_groups")
    op.drop_table("scim_users")
