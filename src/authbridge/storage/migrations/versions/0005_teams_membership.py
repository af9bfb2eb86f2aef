"""Teams keyed by the source that manages them, and memberships recorded per source.

`teams.managed_by` names the owning source (`scim:<source>`, `idp:<connector>`, `local`);
`teams.name_fold` keeps the case-insensitive name (SCIM filters on displayName) and
`teams.name_key` becomes `<managed_by>/<casefolded name>`, so a SCIM group named like a
team first seen in login claims is a team of its own instead of a permanent 409. The
unique constraint stays on `name_key` (changing what it holds needs no table rebuild, which
on SQLite would cascade-delete the memberships). `team_member_sources` holds each source's
word; `team_members` stays the materialized union that readers use.

Frozen: imports nothing from authbridge.

Revision ID: 0005_teams_membership
Revises: 0003_scim_values
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_teams_membership"
down_revision = "0003_scim_values"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("managed_by", sa.String(length=160), nullable=False, server_default="local")
        )
        batch_op.add_column(
            sa.Column("name_fold", sa.String(length=256), nullable=False, server_default="")
        )
    if bind.dialect.name == "postgresql":
        op.alter_column("teams", "name_key", type_=sa.String(length=512))
    # Before: `source` was "local", "scim:<source>", or a bare connector id (login teams).
    op.execute(
        "UPDATE teams SET managed_by = CASE WHEN source = 'local' THEN 'local' "
        "WHEN source LIKE 'scim:%' THEN source ELSE 'idp:' || source END"
    )
    op.execute("UPDATE teams SET name_fold = name_key")
    op.execute("UPDATE teams SET name_key = managed_by || '/' || name_key")
    op.create_index("ix_teams_name_fold", "teams", ["name_fold"], unique=False)
    op.create_table(
        "team_member_sources",
        sa.Column("team_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "user_id", "source"),
    )
    op.create_index(
        "ix_team_member_sources_user", "team_member_sources", ["user_id", "source"], unique=False
    )
    op.execute(
        "INSERT INTO team_member_sources (team_id, user_id, source) "
        "SELECT m.team_id, m.user_id, t.managed_by FROM team_members m "
        "JOIN teams t ON t.id = m.team_id"
    )


def downgrade() -> None:
    op.drop_index("ix_team_member_sources_user", table_name="team_member_sources")
    op.drop_table("team_member_sources")
    op.drop_index("ix_teams_name_fold", table_name="teams")
    # Two teams of one name (distinct sources) cannot go back to one key space: keep the
    # first. `managed_by` stays: dropping a column rebuilds the table on SQLite, and the
    # rebuild's DROP TABLE would cascade-delete every membership.
    op.execute(
        "DELETE FROM teams WHERE id NOT IN (SELECT min(id) FROM teams GROUP BY "
        "substr(name_key, length(managed_by) + 2))"
    )
    op.execute("UPDATE teams SET name_key = substr(name_key, length(managed_by) + 2)")
