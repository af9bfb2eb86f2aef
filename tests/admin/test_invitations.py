"""The admin service of invitations: every step audited with the actor, no link in any
event; errors are admin errors."""

from __future__ import annotations

import pytest

from authbridge.admin.errors import InvalidRequest, NotFound
from authbridge.admin.invitations import InvitationAdmin
from authbridge.admin.paging import PageRequest
from authbridge.audit.events import Actor, AuditEvent
from authbridge.directory.invitations import Grant, Invitations
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.roles import RoleBindings, RoleResolver
from authbridge.storage import Storage

ADMIN = Actor("user", id="u-admin", name="root@example.com")


class Recorded:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.fixture
def parts(sqlite_url: str) -> tuple[InvitationAdmin, Invitations, Recorded, Storage]:
    storage = Storage.open(sqlite_url)
    audit = Recorded()
    invitations = Invitations(
        storage,
        membership=MembershipEngine(storage),
        bindings=RoleBindings(storage, RoleResolver.builtin()),
        accounts=None,
        base_url="https://auth.example.com/",
        audit=audit,
    )
    return InvitationAdmin(invitations, audit), invitations, audit, storage


def test_each_step_is_audited_without_the_link(parts) -> None:
    admin, _invitations, audit, _storage = parts
    view = admin.create(ADMIN, "ada@example.com", teams=["t"], grants=[Grant("editor")])
    assert view.link is not None and view.link.startswith("https://auth.example.com/invite/")
    resent = admin.resend(ADMIN, view.invitation.id)
    admin.revoke(ADMIN, view.invitation.id)
    assert [e.type for e in audit.events] == [
        "invitation.created",
        "invitation.resent",
        "invitation.revoked",
    ]
    for event in audit.events:
        assert event.actor == ADMIN and event.target is not None
        assert event.target.id == view.invitation.id
        text = repr(event)
        assert view.link.rpartition("/")[2] not in text
        assert resent.link is not None and resent.link.rpartition("/")[2] not in text
    assert audit.events[0].details["roleBindings"] == [{"role": "editor", "scope": "system"}]
    assert audit.events[2].details == {
        "before": {"status": "pending"},
        "after": {"status": "revoked"},
    }


def test_acceptance_is_audited(parts) -> None:
    admin, invitations, audit, storage = parts
    admin.create(ADMIN, "ada@example.com", teams=["t"])
    user = storage.users.create(username="ada", email="ada@example.com", roles=[])
    person = Actor("user", id=user.id, name="ada")
    assert invitations.accept_login(user, "ADA@example.com", "corp", person) == 1
    event = audit.events[-1]
    assert event.type == "invitation.accepted" and event.actor == person
    assert event.details["method"] == "corp" and event.details["userId"] == user.id
    # Accepted once: a second login accepts nothing.
    assert invitations.accept_login(user, "ada@example.com", "corp", person) == 0


def test_errors_are_admin_errors(parts) -> None:
    admin, *_ = parts
    with pytest.raises(InvalidRequest):
        admin.create(ADMIN, "nope")
    with pytest.raises(NotFound):
        admin.resend(ADMIN, "missing")
    with pytest.raises(NotFound):
        admin.revoke(ADMIN, "missing")
    with pytest.raises(InvalidRequest):
        admin.list(PageRequest(2, ("only-one-part",)))


def test_list_by_status_refuses_an_unknown_one(parts) -> None:
    from authbridge.admin.errors import InvalidRequest
    from authbridge.admin.paging import PageRequest

    admin, _invitations, _audit, _storage = parts
    kept = admin.create(ADMIN, "kept@example.com")
    ended = admin.create(ADMIN, "ended@example.com")
    admin.revoke(ADMIN, ended.invitation.id)
    pending = admin.list(PageRequest(10), status="pending").items
    assert [v.invitation.email for v in pending] == [kept.invitation.email]
    revoked = admin.list(PageRequest(10), status="revoked").items
    assert [(v.invitation.email, v.status) for v in revoked] == [("ended@example.com", "revoked")]
    with pytest.raises(InvalidRequest):
        admin.list(PageRequest(10), status="gone")
