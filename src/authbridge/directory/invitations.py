"""Invitations: an administrator invites an email, optionally into teams and with role
bindings; the person accepts by a local sign-up through the one-time link, or by signing in
through any enabled IdP that proves that email (OIDC Core §5.1 `email_verified` true).

The link's token is 256 random bits; only its SHA-256 is stored, and using it is one
conditional UPDATE (`storage/invitations.py`), so it works once. With `smtp:` configured
the link is mailed (off the request thread) and never shown; otherwise it is returned once
to the administrator to pass on. Teams are the administrator's membership source (`local`,
through the one `MembershipEngine`), bindings go through `RoleBindings` with origin
`invitation:<id>`, so `bindings list` shows where they came from.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from authbridge.audit.events import Actor, AuditEvent, AuditSink, NullAudit, Target
from authbridge.clock import utcnow
from authbridge.directory.accounts import AccountError, LocalAccounts, normalize_email
from authbridge.directory.mail import Mail, Mailer
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.roles import RoleBindings, check_scope
from authbridge.storage import Storage
from authbridge.storage.invitation_models import Invitation
from authbridge.storage.models import User

__all__ = [
    "Grant",
    "InvitationError",
    "Invitations",
    "Issued",
    "invitation_path",
    "token_digest",
]

log = structlog.get_logger("authbridge.directory")
LIFETIME = timedelta(days=7)
MAX_TEAMS = 50
MAX_BINDINGS = 50
MAX_TEAM_NAME = 256


class InvitationError(ValueError):
    """The request cannot be done; `field` names the input at fault (None: the whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Grant:
    role: str
    scope: str = "system"


@dataclass(frozen=True)
class Issued:
    """An invitation just made or re-sent; `link` only when it was not mailed (shown once)."""

    invitation: Invitation
    link: str | None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_path(token: str) -> str:
    return f"/invite/{token}"


class Invitations:
    def __init__(
        self,
        storage: Storage,
        *,
        membership: MembershipEngine,
        bindings: RoleBindings,
        accounts: LocalAccounts | None,
        base_url: str,
        mailer: Mailer | None = None,
        audit: AuditSink | None = None,
        lifetime: timedelta = LIFETIME,
    ) -> None:
        self._storage = storage
        self._membership = membership
        self._bindings = bindings
        self._accounts = accounts
        self._base_url = base_url.rstrip("/")
        self.mailer = mailer
        self._audit: AuditSink = audit or NullAudit()
        self.lifetime = lifetime

    # -- the administrator's side (called by admin/invitations.py) ------------------------

    def _check(self, email: str, teams: Sequence[str], grants: Sequence[Grant]) -> str:
        try:
            email = normalize_email(email)
        except AccountError as exc:
            raise InvitationError(str(exc), "email") from None
        if len(teams) > MAX_TEAMS:
            raise InvitationError(f"at most {MAX_TEAMS} teams", "teams")
        for i, team in enumerate(teams):
            if not team.strip() or len(team) > MAX_TEAM_NAME or not team.isprintable():
                raise InvitationError("a team name is 1 to 256 printable characters", f"teams[{i}]")
        if len(grants) > MAX_BINDINGS:
            raise InvitationError(f"at most {MAX_BINDINGS} role bindings", "roleBindings")
        for i, grant in enumerate(grants):
            if grant.role not in self._bindings.catalog:
                raise InvitationError(f"no role {grant.role!r}", f"roleBindings[{i}].role")
            try:
                check_scope(grant.scope)
            except ValueError as exc:
                raise InvitationError(str(exc), f"roleBindings[{i}].scope") from None
        return email

    def _issue(self) -> tuple[str, str, datetime]:
        token = secrets.token_urlsafe(32)  # 256 bits
        return token, token_digest(token), utcnow() + self.lifetime

    def create(
        self,
        email: str,
        *,
        teams: Sequence[str] = (),
        grants: Sequence[Grant] = (),
        invited_by: str | None = None,
    ) -> Issued:
        email = self._check(email, teams, grants)
        token, digest, expires_at = self._issue()
        invitation = self._storage.invitations.create(
            email=email,
            token_hash=digest,
            teams=list(dict.fromkeys(t.strip() for t in teams)),
            bindings=[{"role": g.role, "scope": g.scope} for g in dict.fromkeys(grants)],
            expires_at=expires_at,
            invited_by=invited_by,
            emailed=self.mailer is not None,
        )
        return Issued(invitation, self._deliver(invitation, token, invited_by))

    def resend(self, invitation_id: str, *, invited_by: str | None = None) -> Issued | None:
        """A new link (and expiry) for a pending invitation, the old link void; None if there
        is no pending invitation of that id."""
        token, digest, expires_at = self._issue()
        emailed = self.mailer is not None
        if not self._storage.invitations.rekey(invitation_id, digest, expires_at, emailed):
            return None
        invitation = self._storage.invitations.get(invitation_id)
        assert invitation is not None
        return Issued(invitation, self._deliver(invitation, token, invited_by))

    def revoke(self, invitation_id: str) -> Invitation | None:
        """End a pending invitation; None if there is none pending of that id."""
        if not self._storage.invitations.revoke(invitation_id, utcnow()):
            return None
        return self._storage.invitations.get(invitation_id)

    def get(self, invitation_id: str) -> Invitation | None:
        return self._storage.invitations.get(invitation_id)

    def page(
        self, limit: int, after: tuple[str, str] | None, status: str | None = None
    ) -> list[Invitation]:
        return self._storage.invitations.page(limit, after, status=status)

    def _deliver(self, invitation: Invitation, token: str, inviter: str | None) -> str | None:
        link = f"{self._base_url}{invitation_path(token)}"
        if self.mailer is None:
            return link
        self.mailer.send(
            Mail(
                invitation.email,
                "invitation",
                {
                    "email": invitation.email,
                    "link": link,
                    "inviter": inviter,
                    "expires": f"{invitation.expires_at:%Y-%m-%d %H:%M}",
                },
            )
        )
        return None

    # -- the invited person's side --------------------------------------------------------

    def peek(self, token: str, now: datetime | None = None) -> Invitation | None:
        """The pending, unexpired invitation of a link (writing nothing), else None."""
        if not token or len(token) > 128:
            return None
        invitation = self._storage.invitations.by_token(token_digest(token))
        now = now or utcnow()
        if invitation is None or invitation.status != "pending" or invitation.expires_at <= now:
            return None
        return invitation

    def invited(self, email: str | None) -> bool:
        """Whether a live invitation names this (already verified) address."""
        return bool(email) and bool(self._storage.invitations.pending_for(email or "", utcnow()))

    def accept_local(self, token: str, *, password: str, name: str | None, actor: Actor) -> User:
        """A local account for the invited email, through the one account factory; the
        email counts as verified (the link was mailed to it, or handed over by an admin who
        vouches for it). AccountError (safe to show) when the link is not valid or the
        account cannot be made; the link then still works if it was valid."""
        if self._accounts is None or not self._accounts.settings.enabled:
            raise AccountError("Password sign-in is turned off; use an identity provider.")
        invitation = self._storage.invitations.claim(token_digest(token), utcnow())
        if invitation is None:
            raise AccountError("This invitation link was used already, revoked, or expired.")
        try:
            user = self._accounts.sign_up(
                email=invitation.email,
                password=password,
                name=name,
                self_service=False,
                email_verified=True,
            )
        except AccountError:
            self._storage.invitations.release(invitation.id)
            raise
        self._accepted(invitation, user, actor, "local")
        return user

    def accept_login(self, user: User, email: str, connector_id: str, actor: Actor) -> int:
        """Apply every live invitation of `email` (which the IdP proved) to `user`; how many."""
        accepted = 0
        for invitation in self._storage.invitations.pending_for(email, utcnow()):
            if self._storage.invitations.claim_id(invitation.id, utcnow()):
                self._accepted(invitation, user, actor, connector_id)
                accepted += 1
        return accepted

    def _accepted(self, invitation: Invitation, user: User, actor: Actor, method: str) -> None:
        self._storage.invitations.accepted_by(invitation.id, user.id)
        for team in invitation.teams:
            self._membership.add_local(team, user.id)
        for binding in invitation.bindings:
            try:
                self._bindings.grant(
                    str(binding["role"]),
                    user_id=user.id,
                    scope=str(binding["scope"]),
                    origin=f"invitation:{invitation.id}",
                )
            except ValueError as exc:  # the role was removed from the configuration since
                log.warning("invitation_binding_skipped", invitation=invitation.id, error=str(exc))
        log.info("invitation_accepted", invitation=invitation.id, user_id=user.id, method=method)
        self._audit.record(
            AuditEvent(
                type="invitation.accepted",
                actor=actor,
                target=Target("invitation", invitation.id, invitation.email),
                details={
                    "userId": user.id,
                    "method": method,
                    "teams": list(invitation.teams),
                    "roleBindings": list(invitation.bindings),
                },
            )
        )
