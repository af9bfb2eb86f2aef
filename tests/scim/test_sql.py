"""Filters become SQL the database answers from its indexes (checked with the query plan),
never rows filtered in Python."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text

from authbridge.scim.filters import parse_filter
from authbridge.scim.resources import USER_SCHEMA, GroupModel, UserModel
from authbridge.storage import Storage
from authbridge.storage.models import Team, User
from authbridge.storage.scim.columns import USER_VALUES, group_columns, user_columns
from authbridge.storage.scim.filter_sql import FilterToSql
from authbridge.storage.scim.portable_sql import unselective
from authbridge.storage.scim.values import value_rows
from authbridge.storage.scim_models import ScimGroup, ScimUser, ScimUserValue

BASE = "http://t/v1/scim/v2/okta"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEEDED = 4000
# Filters on attributes kept in the value index, each naming one user among SEEDED.
INDEXED = [
    'emails[type eq "work" and value eq "u1234@example.com"]',
    'emails[type eq "work" and value co "@example.com"] and emails.value eq "u1234@example.com"',
    'emails.value eq "U1234@example.com"',
    'emails[primary eq true] and emails[value sw "u1234@"]',
    'phoneNumbers[type eq "mobile"].value eq "+1 555 01234"',
    'phoneNumbers.value eq "+1 555 01234"',
    'addresses[type eq "work"].locality eq "town 1234"',
    'title eq "Title 1234"',
    'nickName eq "nick1234" or userType eq "type 1234"',
    'name.middleName sw "middle1234"',
    'not (title eq "Title 1234") and title eq "Title 1235"',
    f'{ENTERPRISE}:employeeNumber eq "E1234"',
    f'{ENTERPRISE}:department eq "dept 1234"',
    f'{ENTERPRISE}:manager.value eq "m-1234"',
]


def _plan(storage: Storage, statement: Any) -> str:
    with storage.db.engine.connect() as connection:
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN " if storage.db.dialect == "sqlite" else "EXPLAIN "
        rows = connection.execute(text(prefix + str(compiled))).all()
    return "\n".join(str(row) for row in rows)


def _users(expression: str) -> Any:
    node = parse_filter(expression, UserModel, max_length=2048, max_terms=64)
    condition = FilterToSql(user_columns("okta", BASE), UserModel, USER_VALUES).visit(node)
    return (
        select(User.id)
        .join(ScimUser, ScimUser.user_id == User.id)
        .where(unselective(ScimUser.source == "okta"), condition)
    )


def _user_body(i: int) -> dict[str, Any]:
    return {
        "name": {"givenName": "Given", "familyName": f"family{i}", "middleName": f"middle{i}"},
        "emails": [
            {"value": f"u{i}@example.com", "type": "work", "primary": True},
            {"value": f"u{i}@home.test", "type": "home"},
        ],
        "phoneNumbers": [{"value": f"+1 555 0{i}", "type": "mobile"}],
        "addresses": [{"type": "work", "locality": f"Town {i}", "country": "US"}],
        "title": f"Title {i}",
        "nickName": f"nick{i}",
        "userType": f"type {i}",
        ENTERPRISE: {
            "employeeNumber": f"E{i}",
            "department": f"dept {i}",
            "manager": {"value": f"m-{i}", "$ref": f"../Users/m-{i}"},
        },
    }


def _seed(storage: Storage, count: int) -> None:
    """`count` users written straight to the tables, indexed as the service indexes them."""
    now = datetime.now(UTC)
    users, scim, values = [], [], []
    for i in range(count):
        uid, name = f"00000000-0000-4000-8000-{i:012d}", f"u{i}@example.com"
        attributes = _user_body(i)
        users.append({"id": uid, "username": name, "username_key": name, "created_at": now})
        scim.append({"user_id": uid, "source": "okta", "attributes": attributes, "version": 1})
        values.extend(
            {"user_id": uid, **row} for row in value_rows(UserModel, USER_SCHEMA, attributes)
        )
    # Core inserts, one executemany per table (the ORM bulk path goes row by row here), as
    # maintenance: a request's statement deadline is no bound for seeding 100k rows.
    with storage.db.without_timeouts() as connection:
        for table, rows in ((User, users), (ScimUser, scim), (ScimUserValue, values)):
            connection.execute(insert(table.__table__), rows)
    if storage.db.dialect == "postgresql":
        with storage.db.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()


def test_value_index_filters_find_users_by_index(storage: Storage) -> None:
    """Every filter on an indexed attribute reads the value table through an index (EXPLAIN,
    on a directory large enough that PostgreSQL's planner would scan if it could not)."""
    _seed(storage, SEEDED)
    for expression in INDEXED:
        statement = _users(expression)
        with storage.db.session() as session:
            found = session.scalars(statement).all()
        expected = 1235 if expression.startswith("not") else 1234
        assert found == [f"00000000-0000-4000-8000-{expected:012d}"], expression
        plan = _plan(storage, statement)
        if storage.db.dialect == "postgresql":
            assert "Seq Scan on scim_user_values" not in plan, (expression, plan)
            assert "using ix_scim_user_values_lookup" in plan, (expression, plan)
        else:
            assert "SCAN scim_user_values" not in plan, (expression, plan)
            assert "ix_scim_user_values_lookup" in plan, (expression, plan)


def test_column_lookups_use_their_indexes(storage: Storage) -> None:
    if storage.db.dialect == "sqlite":
        plan = _plan(storage, _users('userName eq "Ada@Example.com"'))
        assert "SEARCH users USING INDEX" in plan and "(username_key=?)" in plan
        plan = _plan(storage, _users('externalId eq "00u1"'))
        assert "SEARCH scim_users USING INDEX" in plan and "(source=? AND external_id=?)" in plan
        return
    # PostgreSQL's planner scans an empty table whatever its indexes: seed (and ANALYZE).
    _seed(storage, SEEDED)
    plan = _plan(storage, _users('userName eq "u1234@example.com"'))
    # The unique key's index, or the admin list's prefix index on the same column.
    assert "Seq Scan" not in plan and re.search(r"using \w*username_key\w* on users", plan), plan
    plan = _plan(storage, _users('externalId eq "00u1"'))
    assert "Seq Scan" not in plan, plan
    assert "using uq_scim_users_source_external_id on scim_users" in plan, plan


def test_member_filter_is_an_exists_on_the_membership_table(storage: Storage) -> None:
    node = parse_filter('members[value eq "u1"]', GroupModel, max_length=2048, max_terms=64)
    condition = FilterToSql(group_columns("okta", BASE), GroupModel).visit(node)
    statement = select(Team.id).join(ScimGroup, ScimGroup.team_id == Team.id).where(condition)
    sql = str(statement.compile(compile_kwargs={"literal_binds": True}))
    # This source's word (team_member_sources), not the team's union with other sources.
    assert "EXISTS" in sql and "team_member_sources.user_id = 'u1'" in sql
    assert "team_member_sources.source = 'scim:okta'" in sql
    if storage.db.dialect == "sqlite":
        assert "team_member_sources" in _plan(storage, statement)


def test_a_value_path_is_one_lookup_of_the_same_element() -> None:
    """`emails[type eq "work" and value co "@x"]`: both terms are on one row of `emails`
    (same user, same item), not on any two emails of the user."""
    sql = str(_users('emails[type eq "work" and value co "@x"]').compile())
    assert "scim_users.user_id IN (SELECT scim_user_values_1.user_id" in sql
    assert "scim_user_values_2.user_id = scim_user_values_1.user_id" in sql
    assert "scim_user_values_2.item = scim_user_values_1.item" in sql


def test_values_are_bound_never_spliced() -> None:
    for expression in ("userName eq \"x' OR '1'='1\"", "title eq \"x' OR '1'='1\""):
        compiled = _users(expression).compile()
        assert "OR '1'='1" not in str(compiled)
        assert "x' or '1'='1" in compiled.params.values()
