"""`UserAdmin` on each backend: the rules that protect an installation (self, the last
admin through a team, refused deletes end nothing), the version compared inside the write,
and the search."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from authbridge.admin.errors import Forbidden, InvalidRequest, NotFound, PreconditionFailed
from authbridge.admin.paging import PageRequest
from authbridge.admin.users import UserAdmin, UserFilter, user_filter
from authbridge.audit.events import Actor, NullAudit
from authbridge.clock import utcnow
from authbridge.directory.accounts import LocalAccounts
from authbridge.directory.pending_logins import PendingLogins
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import RoleBindings
from authbridge.provider.service import OpenIDProvider
from authbridge.storage import Storage
from authbridge.storage.models import User
from authbridge.tokens.issuer import issuer_for
from authbridge.tokens.keyring import keyring_for
from tests.conftest import make_settings

CLI = Actor("cli", id="root")
PASSWORD = "a long enough passphrase"


@pytest.fixture
def wired(storage: Storage, database_url: str) -> Iterator[tuple[UserAdmin, RoleBindings]]:
    settings = make_settings(database_url)
    keyring = keyring_for(settings, storage.keys, storage.changes)
    keyring.ensure_key()
    provider = OpenIDProvider(storage, keyring, issuer_for(settings, keyring), settings)
    revocation = Revocation(
        sessions=storage.sessions, tokens=provider, pending=PendingLogins(storage.values)
    )
    bindings = RoleBindings(storage, provider.roles)
    users = UserAdmin(
        storage=storage,
        accounts=LocalAccounts.of(storage, settings),
        revocation=revocation,
        provider=provider,
        catalog=bindings.catalog,
        audit=NullAudit(),
    )
    yield users, bindings


def _session(storage: Storage, user_id: str, tag: str) -> str:
    now = utcnow()
    id_hash = tag * 64
    storage.sessions.create(
        id_hash=id_hash,
        user_id=user_id,
        auth_method="local",
        now=now,
        expires_at=now + timedelta(hours=1),
    )
    return id_hash


def test_the_last_admin_through_a_team_cannot_be_disabled_or_deleted(
    wired: tuple[UserAdmin, RoleBindings], storage: Storage
) -> None:
    users, bindings = wired
    alice = users.create(CLI, email="alice@example.com", password=PASSWORD)
    team = storage.teams.add_member(_ref("admins"), alice.user.id)
    bindings.grant("admin", team_id=team, origin="test")
    session = _session(storage, alice.user.id, "a")
    with pytest.raises(Forbidden, match="last active system admin"):
        users.disable(CLI, alice.user.id)
    with pytest.raises(Forbidden, match="last active system admin"):
        users.delete(CLI, alice.user.id)
    with pytest.raises(Forbidden):
        users.update(CLI, alice.user.id, {"active": False}, "*")
    # A refused delete ended nothing.
    assert storage.sessions.get(session) is not None
    assert users.get(alice.user.id).user.active is True
    # A second, active admin: now the first may go.
    users.create(CLI, email="bob@example.com", password=PASSWORD, role="admin")
    assert users.disable(CLI, alice.user.id)[0].user.active is False
    assert storage.sessions.get(session) is None


def test_a_disabled_admin_does_not_count_as_the_one_who_remains(
    wired: tuple[UserAdmin, RoleBindings],
) -> None:
    users, _ = wired
    a = users.create(CLI, email="a@example.com", password=PASSWORD, role="admin")
    b = users.create(CLI, email="b@example.com", password=PASSWORD, role="admin")
    users.disable(CLI, b.user.id)
    with pytest.raises(Forbidden):
        users.disable(CLI, a.user.id)
    # The actor's own id is what "yourself" means.
    users.enable(CLI, b.user.id)
    with pytest.raises(Forbidden, match="yourself"):
        users.disable(Actor("user", id=b.user.id), b.user.id)


def test_the_version_changes_with_any_writer_and_is_compared_in_the_write(
    wired: tuple[UserAdmin, RoleBindings], storage: Storage
) -> None:
    users, _ = wired
    row = users.create(CLI, email="v@example.com", password=PASSWORD)
    version = users.version(row)
    # A writer that does not touch updated_at (raw SQL) still changes the version.
    with storage.db.session() as session:
        session.execute(update(User).where(User.id == row.user.id).values(name="Changed"))
    assert users.version(users.get(row.user.id)) != version
    with pytest.raises(PreconditionFailed):
        users.update(CLI, row.user.id, {"displayName": "Mine"}, version)
    assert users.get(row.user.id).user.name == "Changed"
    fresh = users.version(users.get(row.user.id))
    assert users.update(CLI, row.user.id, {"displayName": "Mine"}, fresh).user.name == "Mine"


def test_search_is_a_case_insensitive_prefix_with_keyset_pages(
    wired: tuple[UserAdmin, RoleBindings],
) -> None:
    users, _ = wired
    for i, name in enumerate(("Zed", "ann", "Anna", "bert", "annie")):
        users.create(CLI, email=f"{name}@example.com", password=PASSWORD, display_name=f"N{i}")
    first = users.search(UserFilter(q="AN"), PageRequest.of(2, None))
    assert [r.user.username for r in first.items] == ["ann@example.com", "Anna@example.com"]
    assert first.next_cursor is not None
    rest = users.search(UserFilter(q="an"), PageRequest.of(2, first.next_cursor))
    assert [r.user.username for r in rest.items] == ["annie@example.com"]
    assert rest.next_cursor is None
    by_display = users.search(UserFilter(q="n4"), PageRequest.of(10, None))
    assert [r.user.username for r in by_display.items] == ["annie@example.com"]
    with pytest.raises(InvalidRequest):
        users.search(UserFilter(role="nope"), PageRequest.of(10, None))


def _ref(name: str):  # type: ignore[no-untyped-def]
    from authbridge.storage.teams import TeamRef

    return TeamRef.own("local", name)


def test_two_writers_with_one_version_cannot_both_win(
    wired: tuple[UserAdmin, RoleBindings],
) -> None:
    """The If-Match comparison and the write are one transaction on each backend: of two
    patches sent with the same ETag at once, exactly one lands (no lost update)."""
    users, _ = wired
    row = users.create(CLI, email="race@example.com", password=PASSWORD)
    version = users.version(row)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def patch(name: str) -> None:
        barrier.wait()
        try:
            users.update(CLI, row.user.id, {"displayName": name}, version)
            outcomes.append("ok")
        except PreconditionFailed:
            outcomes.append("412")

    threads = [threading.Thread(target=patch, args=(n,)) for n in ("One", "Two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["412", "ok"]


def test_filters_by_team_role_source_and_status_combine(
    storage: Storage, wired: tuple[UserAdmin, RoleBindings]
) -> None:
    users, bindings = wired
    ada = users.create(CLI, email="ada@example.com", password=PASSWORD).user
    bob = storage.users.create(username="bob@example.com", email="bob@example.com")
    storage.users.link_identity(bob.id, "corp", "bob-sub")
    cy = users.create(CLI, email="cy@example.com", password=PASSWORD).user
    storage.users.set_active(cy.id, False)
    data = storage.teams.add_member(_ref("Data"), ada.id)
    storage.teams.add_member(_ref("Data"), bob.id)
    ops = storage.teams.add_member(_ref("Ops"), cy.id)
    bindings.grant("editor", team_id=ops, origin="test")  # a role through a team
    bindings.grant("editor", user_id=bob.id, origin="test")

    def names(**kw: str) -> list[str]:
        page = users.search(user_filter(**kw), PageRequest.of(50, None))
        return [r.user.username for r in page.items]

    assert names(team=data) == ["ada@example.com", "bob@example.com"]
    assert names(team=data, source="local") == ["ada@example.com"]
    assert names(team=data, source="corp") == ["bob@example.com"]
    assert names(role="editor") == ["bob@example.com", "cy@example.com"]
    assert names(role="editor", status="active") == ["bob@example.com"]
    assert names(role="editor", status="disabled", team=ops) == ["cy@example.com"]
    assert names(source="scim:okta") == []
    with pytest.raises(InvalidRequest):
        user_filter(status="asleep")


def test_teams_name_the_sources_of_each_membership(
    storage: Storage, wired: tuple[UserAdmin, RoleBindings]
) -> None:
    from authbridge.storage.teams import TeamRef

    users, _ = wired
    ada = users.create(CLI, email="ada@example.com", password=PASSWORD).user
    shared = TeamRef("Data", "local", ("local", "idp:corp"))
    data = storage.teams.add_member(shared, ada.id, "local")
    storage.teams.add_member(shared, ada.id, "idp:corp")
    ops = storage.teams.add_member(TeamRef.own("scim:okta", "Ops"), ada.id, "scim:okta")
    found = {t.id: t for t in users.teams(ada.id)}
    assert found[data].sources == ("idp:corp", "local")
    assert found[ops].sources == ("scim:okta",) and found[ops].managed_by == "scim:okta"
    assert [t.name for t in users.team_choices()] == ["Data", "Ops"]
    assert [t.name for t in users.team_choices(1)] == ["Data"]


def _with_resets(
    storage: Storage, users: UserAdmin, audit: object, mailer: object = None
) -> UserAdmin:
    from authbridge.directory.email_links import PasswordResets

    resets = PasswordResets(
        storage,
        users._accounts,
        mailer,  # type: ignore[arg-type]
        users._revocation,
        "https://id.example.com",
    )
    users._resets = resets
    users._audit = audit  # type: ignore[assignment]
    return users


def test_reset_password_without_a_mailer_returns_the_link_once_and_audits_it(
    storage: Storage, wired: tuple[UserAdmin, RoleBindings]
) -> None:
    from tests.admin.conftest import Recorded

    audit = Recorded()
    users = _with_resets(storage, wired[0], audit)
    ada = users.create(CLI, email="ada@example.com", password=PASSWORD).user
    link = users.reset_password(CLI, ada.id)
    assert link is not None and link.startswith("https://id.example.com/password/reset/")
    [event] = audit.of("user.password_reset_issued")
    assert event.target is not None and event.target.id == ada.id
    assert event.details == {"emailed": False}
    assert link.rsplit("/", 1)[1] not in repr(event)
    assert users._resets is not None
    assert users._resets.user_for(link.rsplit("/", 1)[1]) is not None


def test_reset_password_is_refused_where_there_is_no_local_password(
    storage: Storage, wired: tuple[UserAdmin, RoleBindings]
) -> None:
    users, _ = wired
    ada = users.create(CLI, email="ada@example.com", password=PASSWORD).user
    with pytest.raises(Forbidden):  # no resets wired: local accounts are off
        users.reset_password(CLI, ada.id)
    users = _with_resets(storage, users, NullAudit())
    bob = storage.users.create(username="bob@example.com", email="bob@example.com")
    with pytest.raises(Forbidden):
        users.reset_password(CLI, bob.id)
    users.disable(CLI, ada.id)
    with pytest.raises(Forbidden):
        users.reset_password(CLI, ada.id)


def test_find_person_by_username_id_or_an_email_one_user_has(
    wired: tuple[UserAdmin, RoleBindings], storage: Storage
) -> None:
    users, _ = wired
    ada = users.create(CLI, email="ada@example.com", password=PASSWORD).user
    assert users.find_person("ADA@example.com").user.id == ada.id  # the username
    assert users.find_person(ada.id).user.id == ada.id
    # An IdP account: its username is not its email, which still names it.
    gh = storage.users.create(username="gh:42", email="Grace@Example.com", roles=[])
    assert users.find_person("grace@example.COM").user.id == gh.id
    # A prefix of an email names nobody; two users with one email name nobody either.
    with pytest.raises(NotFound):
        users.find_person("grace@example.co")
    storage.users.create(username="gl:7", email="grace@example.com", roles=[])
    with pytest.raises(InvalidRequest, match="several users"):
        users.find_person("grace@example.com")
    with pytest.raises(NotFound):
        users.find_person("nobody")
