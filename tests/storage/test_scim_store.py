"""The SCIM stores' contract (`authbridge.storage.scim`: `UserStore`, `GroupStore`), the same
on SQLite and PostgreSQL: get, search (filter, sort, start index, count), create, update
under an expected version, delete, membership; and nothing left behind for a later sweep.

Bodies are built with scim2-models (the library, as `authbridge.scim` does), filters parsed by
its grammar: the stores take both already parsed.
"""

from __future__ import annotations

from typing import Any

import pytest
from scim2_models import Context, EnterpriseUser, Group, ScimFilter, User
from scim2_models.path import AttrPath, CompareOperator, Comparison, FilterNode
from sqlalchemy import func, select

from authbridge.config.model import ScimSettings
from authbridge.storage import Storage
from authbridge.storage.audit import AuditRow
from authbridge.storage.models import RoleBinding, TeamMember
from authbridge.storage.models import User as UserRow
from authbridge.storage.scim.errors import (
    ResourceMissing,
    StoreConflict,
    UnstorableValue,
    UnsupportedFilter,
    UnsupportedSort,
    VersionMismatch,
)
from authbridge.storage.scim.group_store import GroupFields, GroupStore, MemberChange
from authbridge.storage.scim.store import Search
from authbridge.storage.scim.user_store import UserStore
from authbridge.storage.scim_models import ScimUserValue

USER_MODEL: Any = User[EnterpriseUser]
BASE = "https://id.example.com/v1/scim/v2/okta"


def _stores(storage: Storage, source: str = "okta") -> tuple[UserStore, GroupStore]:
    settings = ScimSettings()
    shared: dict[str, Any] = {"source": source, "base_url": BASE}
    users = UserStore(storage, settings, model=USER_MODEL, **shared)
    groups = GroupStore(storage, settings, model=Group, **shared)
    return users, groups


def _user(name: str, **extra: Any) -> dict[str, Any]:
    body = {"schemas": [str(User.__schema__)], "userName": name, **extra}
    resource = USER_MODEL.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    dumped: dict[str, Any] = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return dumped


def _group(name: str, external_id: str | None = None) -> GroupFields:
    body = {"schemas": [str(Group.__schema__)], "displayName": name}
    return GroupFields(name, external_id, body)


def _filter(text: str, model: Any = USER_MODEL) -> FilterNode:
    node: FilterNode = ScimFilter[model](text).ast
    return node


def test_create_then_get_returns_the_resource(storage: Storage) -> None:
    users, _ = _stores(storage)
    created = users.create(_user("Ada@Example.com", externalId="00u1"), actor="okta")
    found = users.get(created["id"])
    assert found == created
    assert found["userName"] == "Ada@Example.com" and found["externalId"] == "00u1"
    assert found["meta"]["version"] == 'W/"1"'
    assert found["meta"]["location"] == f"{BASE}/Users/{created['id']}"


def test_get_of_an_unknown_or_other_sources_resource_is_missing(storage: Storage) -> None:
    users, _ = _stores(storage)
    other, _ = _stores(storage, source="microsoft")
    created = users.create(_user("ada@example.com"), actor="okta")
    with pytest.raises(ResourceMissing):
        users.get("no-such-id")
    with pytest.raises(ResourceMissing):
        other.get(created["id"])


def test_unique_attributes_conflict_naming_the_attribute(storage: Storage) -> None:
    users, groups = _stores(storage)
    users.create(_user("ada@example.com", externalId="x1"), actor="okta")
    with pytest.raises(StoreConflict) as taken:
        users.create(_user("ADA@example.com"), actor="okta")
    assert taken.value.attribute == "userName"
    with pytest.raises(StoreConflict) as external:
        users.create(_user("bob@example.com", externalId="x1"), actor="okta")
    assert external.value.attribute == "externalId"
    groups.create(_group("Admins"), [], actor="okta")
    with pytest.raises(StoreConflict) as name:
        groups.create(_group("admins"), [], actor="okta")
    assert name.value.attribute == "displayName"


def test_a_value_its_column_cannot_hold_is_refused(storage: Storage) -> None:
    users, _ = _stores(storage)
    with pytest.raises(UnstorableValue):
        users.create(_user("a" * 321), actor="okta")
    assert storage.users.count() == 0


def test_update_with_the_expected_version_writes_and_bumps_it(storage: Storage) -> None:
    users, _ = _stores(storage)
    created = users.create(_user("ada@example.com"), actor="okta")

    def rename(current: dict[str, Any]) -> dict[str, Any]:
        return {**current, "displayName": "Ada L."}

    after = users.update(created["id"], rename, actor="okta", action="patch", expected={1})
    assert after["displayName"] == "Ada L." and after["meta"]["version"] == 'W/"2"'
    assert users.get(created["id"]) == after


def test_update_with_another_version_is_refused_and_changes_nothing(storage: Storage) -> None:
    users, groups = _stores(storage)
    created = users.create(_user("ada@example.com"), actor="okta")
    with pytest.raises(VersionMismatch):
        users.update(created["id"], dict, actor="okta", action="patch", expected={7})
    assert users.get(created["id"]) == created  # the lock's bump rolled back too
    team = groups.create(_group("Admins"), [created["id"]], actor="okta")
    with pytest.raises(VersionMismatch):
        groups.update(
            team["id"],
            lambda _current: _group("Renamed"),
            [MemberChange("remove", everyone=True)],
            actor="okta",
            action="patch",
            expected=set(),
        )
    assert groups.get(team["id"]) == team


def test_update_without_an_expected_version_takes_any(storage: Storage) -> None:
    users, _ = _stores(storage)
    created = users.create(_user("ada@example.com"), actor="okta")
    after = users.update(created["id"], dict, actor="okta", action="replace")
    assert after["meta"]["version"] == 'W/"2"'


def test_an_error_raised_by_the_change_rolls_the_write_back(storage: Storage) -> None:
    users, _ = _stores(storage)
    created = users.create(_user("ada@example.com"), actor="okta")

    def refuse(_current: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("the protocol layer refuses")

    with pytest.raises(ValueError):
        users.update(created["id"], refuse, actor="okta", action="patch")
    assert users.get(created["id"]) == created


def test_search_filters_sorts_and_pages(storage: Storage) -> None:
    users, _ = _stores(storage)
    for name, title in (("carol", "cto"), ("ada", "ceo"), ("bob", "cfo"), ("dan", None)):
        extra = {"title": title} if title else {}
        users.create(_user(f"{name}@example.com", **extra), actor="okta")
    page = users.search(Search(filter=_filter('title sw "c"'), sort_by="userName"))
    assert page.total == 3
    assert [u["userName"] for u in page.resources] == [
        "ada@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    second = users.search(Search(sort_by="userName", descending=True, start_index=2, count=2))
    assert second.total == 4 and second.start_index == 2
    assert [u["userName"] for u in second.resources] == ["carol@example.com", "bob@example.com"]
    assert users.search(Search(count=0)).resources == []


def test_search_refuses_what_it_cannot_translate(storage: Storage) -> None:
    users, groups = _stores(storage)
    with pytest.raises(UnsupportedSort):
        users.search(Search(sort_by="noSuchAttribute"))
    with pytest.raises(UnsupportedFilter):
        # RFC 7644 §3.4.2.2: `co` on a boolean means nothing.
        users.search(Search(filter=Comparison(AttrPath("active"), CompareOperator.co, "t")))
    unknown = Comparison(AttrPath("noSuchAttribute"), CompareOperator.eq, "x")
    with pytest.raises(UnsupportedFilter):
        groups.search(Search(filter=unknown))


def test_membership_changes_and_skips_unknown_ids(storage: Storage) -> None:
    users, groups = _stores(storage)
    ada = users.create(_user("ada@example.com"), actor="okta")["id"]
    bob = users.create(_user("bob@example.com"), actor="okta")["id"]
    team = groups.create(_group("Admins"), [ada, "unknown"], actor="okta")
    assert [m["value"] for m in team["members"]] == [ada]

    def same(current: dict[str, Any]) -> GroupFields:
        return _group(current["displayName"])

    added = groups.update(team["id"], same, [MemberChange("add", [bob])], actor="o", action="p")
    assert sorted(m["value"] for m in added["members"]) == sorted([ada, bob])
    by_filter = MemberChange("remove", filter=_filter(f'value eq "{ada}"', Group))
    removed = groups.update(team["id"], same, [by_filter], actor="o", action="p")
    assert [m["value"] for m in removed["members"]] == [bob]
    assert [g["value"] for g in users.get(bob)["groups"]] == [team["id"]]
    found = users.search(Search(filter=_filter(f'groups.value eq "{team["id"]}"')))
    assert [u["id"] for u in found.resources] == [bob]


def test_delete_leaves_nothing_behind_for_a_sweep(storage: Storage) -> None:
    users, groups = _stores(storage)
    ada = users.create(_user("ada@example.com", title="ceo"), actor="okta")["id"]
    bob = users.create(_user("bob@example.com"), actor="okta")["id"]
    team = groups.create(_group("Admins"), [ada, bob], actor="okta")["id"]
    with pytest.raises(VersionMismatch):
        users.delete(ada, actor="okta", expected={5})
    users.delete(ada, actor="okta", expected={1})
    with pytest.raises(ResourceMissing):
        users.get(ada)
    with pytest.raises(ResourceMissing):
        users.delete(ada, actor="okta")
    with storage.db.session() as session:
        # The user's value rows and memberships went in the same transaction, not later.
        left = select(func.count()).select_from(ScimUserValue).where(ScimUserValue.user_id == ada)
        assert session.scalar(left) == 0
        assert list(session.scalars(select(TeamMember.user_id))) == [bob]
    assert [m["value"] for m in groups.get(team)["members"]] == [bob]
    groups.delete(team, actor="okta")
    with pytest.raises(ResourceMissing):
        groups.get(team)
    with storage.db.session() as session:
        assert session.scalar(select(func.count()).select_from(TeamMember)) == 0
        assert session.scalar(select(UserRow.id).where(UserRow.id == bob)) == bob  # stays
        # Bob's own binding (SCIM's default role) stays with him.
        held = select(RoleBinding.role, RoleBinding.origin).where(RoleBinding.user_id == bob)
        assert [tuple(row) for row in session.execute(held)] == [("viewer", "scim:okta")]
        actions = session.scalars(select(AuditRow.type).order_by(AuditRow.id))
        assert [a for a in actions if a.endswith(".deleted")] == [
            "scim.user.deleted",
            "scim.group.deleted",
        ]
