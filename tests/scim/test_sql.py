"""Filters become SQL the database answers from its indexes (checked with the query plan),
never rows filtered in Python."""

from __future__ import annotations

from sqlalchemy import select, text

from authbridge.scim.filters import parse_filter
from authbridge.scim.resources import GROUP_COLUMNS, USER_COLUMNS, GroupModel, UserModel
from authbridge.scim.sql import FilterToSql
from authbridge.storage import Storage
from authbridge.storage.models import Team, User
from authbridge.storage.scim_models import ScimGroup, ScimUser

SCHEMAS = ("urn:ietf:params:scim:schemas:core:2.0:User",)


def _plan(storage: Storage, statement: object) -> str:
    with storage.db.engine.connect() as connection:
        compiled = statement.compile(  # type: ignore[attr-defined]
            connection, compile_kwargs={"literal_binds": True}
        )
        prefix = "EXPLAIN QUERY PLAN " if storage.db.dialect == "sqlite" else "EXPLAIN "
        rows = connection.execute(text(prefix + str(compiled))).all()
    return "\n".join(str(row) for row in rows)


def _users(expression: str) -> object:
    node = parse_filter(expression, UserModel, max_length=2048, max_terms=64)
    condition = FilterToSql(USER_COLUMNS, SCHEMAS).visit(node)
    return (
        select(User.id)
        .join(ScimUser, ScimUser.user_id == User.id)
        .where(ScimUser.source == "okta", condition)
    )


def test_username_and_external_id_lookups_use_indexes(storage: Storage) -> None:
    if storage.db.dialect != "sqlite":
        return  # PostgreSQL's planner picks scans on empty tables; the bench measures it.
    plan = _plan(storage, _users('userName eq "Ada@Example.com"'))
    assert "SEARCH users USING INDEX" in plan and "(username_key=?)" in plan
    plan = _plan(storage, _users('externalId eq "00u1"'))
    assert "SEARCH scim_users USING INDEX" in plan and "(source=? AND external_id=?)" in plan
    plan = _plan(storage, _users('emails.value eq "a@b.c"'))
    assert "ix_scim_users_source_email" in plan


def test_member_filter_is_an_exists_on_the_membership_table(storage: Storage) -> None:
    node = parse_filter('members[value eq "u1"]', GroupModel, max_length=2048, max_terms=64)
    condition = FilterToSql(GROUP_COLUMNS, ("urn:ietf:params:scim:schemas:core:2.0:Group",)).visit(
        node
    )
    statement = select(Team.id).join(ScimGroup, ScimGroup.team_id == Team.id).where(condition)
    sql = str(statement.compile(compile_kwargs={"literal_binds": True}))
    assert "EXISTS" in sql and "team_members.user_id = 'u1'" in sql
    if storage.db.dialect == "sqlite":
        assert "team_members" in _plan(storage, statement)


def test_values_are_bound_never_spliced(storage: Storage) -> None:
    statement = _users("userName eq \"x' OR '1'='1\"")
    compiled = statement.compile()  # type: ignore[attr-defined]
    assert "OR '1'='1" not in str(compiled)
    assert "x' or '1'='1" in compiled.params.values()
