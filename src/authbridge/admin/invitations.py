"""Invitations as the admin API (`/api/v1/invitations`) and the CLI (`authbridge
invitations`) act on them: list, create, resend, revoke; every write audited
(`invitation.created`, `.resent`, `.revoked`; `.accepted` is recorded when the person
accepts, by `directory/invitations.py`). The link is never in an audit event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from authbridge.admin.errors import FieldError, InvalidRequest, NotFound
from authbridge.admin.paging import Page, PageRequest, encode_cursor
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.clock import utcnow
from authbridge.directory.invitations import Grant, InvitationError, Invitations, Issued
from authbridge.storage.invitation_models import Invitation
from authbridge.storage.invitations import STATUSES

__all__ = ["InvitationAdmin", "InvitationView"]


@dataclass(frozen=True)
class InvitationView:
    """An invitation as listed; `status` is `expired` for a pending one past its expiry."""

    invitation: Invitation
    status: str
    link: str | None = None


def _view(invitation: Invitation, link: str | None = None) -> InvitationView:
    status = invitation.status
    if status == "pending" and invitation.expires_at <= utcnow():
        status = "expired"
    return InvitationView(invitation, status, link)


def _target(invitation: Invitation) -> Target:
    return Target("invitation", invitation.id, invitation.email)


class InvitationAdmin:
    def __init__(self, invitations: Invitations, audit: AuditSink) -> None:
        self._invitations = invitations
        self._audit = audit

    @property
    def mails(self) -> bool:
        """Whether links are mailed (else returned once to the caller)."""
        return self._invitations.mailer is not None

    def list(self, page: PageRequest, *, status: str | None = None) -> Page[InvitationView]:
        """Newest first; `status` one of pending, accepted, expired, revoked."""
        after = page.after
        if after is not None and len(after) != 2:
            raise InvalidRequest("the cursor is malformed", [FieldError("cursor", "not a cursor")])
        if status is not None and status not in STATUSES:
            raise InvalidRequest(
                f"no status {status[:40]!r}", [FieldError("status", ", ".join(STATUSES))]
            )
        try:
            rows = self._invitations.page(
                page.limit, (after[0], after[1]) if after else None, status
            )
        except ValueError:
            raise InvalidRequest(
                "the cursor is malformed", [FieldError("cursor", "not a cursor")]
            ) from None
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        cursor = (
            encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id]) if more and rows else None
        )
        return Page([_view(r) for r in rows], cursor)

    def get(self, invitation_id: str) -> InvitationView:
        invitation = self._invitations.get(invitation_id)
        if invitation is None:
            raise NotFound(f"no invitation {invitation_id!r}")
        return _view(invitation)

    def create(
        self,
        actor: Actor,
        email: str,
        *,
        teams: Sequence[str] = (),
        grants: Sequence[Grant] = (),
    ) -> InvitationView:
        try:
            issued = self._invitations.create(
                email, teams=teams, grants=grants, invited_by=actor.name or actor.id
            )
        except InvitationError as exc:
            raise InvalidRequest(str(exc), [FieldError(exc.field or "body", str(exc))]) from None
        self._record("invitation.created", actor, issued)
        return _view(issued.invitation, issued.link)

    def resend(self, actor: Actor, invitation_id: str) -> InvitationView:
        issued = self._invitations.resend(invitation_id, invited_by=actor.name or actor.id)
        if issued is None:
            raise NotFound(f"no pending invitation {invitation_id!r}")
        self._record("invitation.resent", actor, issued)
        return _view(issued.invitation, issued.link)

    def revoke(self, actor: Actor, invitation_id: str) -> None:
        invitation = self._invitations.revoke(invitation_id)
        if invitation is None:
            raise NotFound(f"no pending invitation {invitation_id!r}")
        self._audit.record(
            AuditEvent(
                type="invitation.revoked",
                actor=actor,
                target=_target(invitation),
                details={"before": {"status": "pending"}, "after": {"status": "revoked"}},
            )
        )

    def _record(self, kind: str, actor: Actor, issued: Issued) -> None:
        invitation = issued.invitation
        self._audit.record(
            AuditEvent(
                type=kind,
                actor=actor,
                target=_target(invitation),
                details={
                    "teams": list(invitation.teams),
                    "roleBindings": list(invitation.bindings),
                    "expiresAt": invitation.expires_at.isoformat(),
                    "emailed": invitation.emailed,
                },
            )
        )
