"""`BindingAdmin`: grants that are idempotent, names and scopes checked, the configuration's
bindings left to the configuration, and the last system administrator kept."""

from __future__ import annotations

import pytest

from authbridge.admin.bindings import BindingAdmin
from authbridge.admin.errors import Forbidden, InvalidRequest, NotFound, ReadOnly
from authbridge.admin.paging import PageRequest, encode_cursor
from authbridge.audit.events import Actor
from authbridge.directory.roles import CONFIG_ADMINS_ORIGIN, RoleBindings, RoleResolver
from authbridge.storage import Storage
from authbridge.storage.teams import TeamRef
from tests.admin.conftest import Recorder

ACTOR = Actor("user", id="admin-1")


@pytest.fixture
def audit() -> Recorder:
    return Recorder()


@pytest.fixture
def bindings(storage: Storage) -> RoleBindings:
    return RoleBindings(storage, RoleResolver.builtin())


@pytest.fixture
def admin(storage: Storage, bindings: RoleBindings, audit: Recorder) -> BindingAdmin:
    return BindingAdmin(storage, bindings, audit)


def _user(storage: Storage, name: str) -> str:
    return storage.users.create(username=name).id


def test_grant_is_idempotent_and_audited_once(
    storage: Storage, admin: BindingAdmin, audit: Recorder
) -> None:
    ada = _user(storage, "ada")
    row, added = admin.grant("editor", user_id=ada, scope="workspace:w1", actor=ACTOR)
    assert added and (row.role, row.scope, row.user_id, row.origin) == (
        "editor",
        "workspace:w1",
        ada,
        "api",
    )
    again, added_again = admin.grant("editor", user_id=ada, scope="workspace:w1", actor=ACTOR)
    assert not added_again and again.id == row.id
    assert audit.types() == ["binding.granted"]
    assert admin.get(row.id) == row
    cli, _ = admin.grant("viewer", user_id=ada, actor=Actor("cli", id="root"))
    assert cli.origin == "cli"


def test_unknown_role_bad_scope_and_missing_principal_are_invalid(
    storage: Storage, admin: BindingAdmin
) -> None:
    ada = _user(storage, "ada")
    with pytest.raises(InvalidRequest) as unknown:
        admin.grant("edtor", user_id=ada, actor=ACTOR)
    assert "edtor" in unknown.value.detail and "did you mean editor" in unknown.value.detail
    with pytest.raises(InvalidRequest) as scope:
        admin.grant("editor", user_id=ada, scope="work space", actor=ACTOR)
    assert scope.value.extensions["errors"][0]["field"] == "scope"
    with pytest.raises(InvalidRequest):
        admin.grant("editor", user_id="nobody", actor=ACTOR)
    with pytest.raises(InvalidRequest):
        admin.grant("editor", actor=ACTOR)
    assert admin.list(PageRequest.of(None, None), user_id=ada).items == []


def test_team_bindings_and_filters_and_pages(storage: Storage, admin: BindingAdmin) -> None:
    ada = _user(storage, "ada")
    team = storage.teams.add_member(TeamRef.own("local", "Crew"), ada)
    admin.grant("editor", team_id=team, scope="workspace:w1", actor=ACTOR)
    for scope in ("workspace:w2", "workspace:w3", "system"):
        admin.grant("viewer", user_id=ada, scope=scope, actor=ACTOR)
    every = PageRequest.of(None, None)
    assert [b.team_name for b in admin.list(every, team_id=team).items] == ["Crew"]
    assert len(admin.list(every, user_id=ada).items) == 3
    assert [b.scope for b in admin.list(every, scope="workspace:w1").items] == ["workspace:w1"]
    seen, cursor = [], None
    while True:
        page = admin.list(PageRequest.of(3, cursor))
        seen += [b.id for b in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert len(seen) == len(set(seen)) == 4
    assert admin.effective(ada)["authbridge_scoped_roles"] == {
        "workspace:w1": ["editor"],
    }


def test_configuration_bindings_are_read_only(storage: Storage, admin: BindingAdmin) -> None:
    boss = _user(storage, "boss")
    storage.bindings.add("admin", user_id=boss, origin=CONFIG_ADMINS_ORIGIN)
    [row] = admin.list(PageRequest.of(None, None), origin=CONFIG_ADMINS_ORIGIN).items
    with pytest.raises(ReadOnly) as refused:
        admin.revoke(row.id, actor=ACTOR)
    assert refused.value.extensions["managedBy"] == CONFIG_ADMINS_ORIGIN
    assert "configuration file" in refused.value.detail
    assert admin.get(row.id) == row


def test_the_last_system_admin_cannot_be_revoked(
    storage: Storage, admin: BindingAdmin, audit: Recorder
) -> None:
    root = _user(storage, "root")
    mine, _ = admin.grant("admin", user_id=root, actor=ACTOR)
    with pytest.raises(Forbidden):
        admin.revoke(mine.id, actor=ACTOR)
    # An inactive admin does not count; an active one through a team does.
    other = _user(storage, "other")
    theirs, _ = admin.grant("admin", user_id=other, actor=ACTOR)
    storage.users.set_active(other, False)
    with pytest.raises(Forbidden):
        admin.revoke(mine.id, actor=ACTOR)
    crew = storage.teams.add_member(TeamRef.own("local", "Admins"), _user(storage, "third"))
    team_binding, _ = admin.grant("admin", team_id=crew, actor=ACTOR)
    admin.revoke(mine.id, actor=ACTOR)
    with pytest.raises(Forbidden):  # now the team's binding is the last one
        admin.revoke(team_binding.id, actor=ACTOR)
    admin.revoke(theirs.id, actor=ACTOR)  # the inactive admin's binding may go
    assert audit.types()[-2:] == ["binding.revoked", "binding.revoked"]
    with pytest.raises(NotFound):
        admin.revoke(mine.id, actor=ACTOR)


def test_revoke_matching_and_unknown_user_for_effective(
    storage: Storage, admin: BindingAdmin
) -> None:
    ada = _user(storage, "ada")
    admin.grant("editor", user_id=ada, scope="workspace:w1", actor=ACTOR)
    gone = admin.revoke_matching("editor", user_id=ada, scope="workspace:w1", actor=ACTOR)
    assert gone.role == "editor"
    with pytest.raises(NotFound):
        admin.revoke_matching("editor", user_id=ada, scope="workspace:w1", actor=ACTOR)
    with pytest.raises(NotFound):
        admin.effective("nobody")


def test_a_forged_cursor_is_invalid_not_an_error(admin: BindingAdmin) -> None:
    for forged in (("9" * 40,), ("x",), ("1", "2")):
        with pytest.raises(InvalidRequest):
            admin.list(PageRequest.of(None, encode_cursor(forged)))
