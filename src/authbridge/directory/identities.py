"""Accounts from identity-provider logins: find, create, and keep teams in step.

A user is keyed by (connector id, subject) and nothing else: an email seen from a second
IdP never joins accounts on its own (an IdP that lets users set any address would
otherwise hand over someone else's account). A first login creates the account, its
identity link and its role in one transaction, so nothing is half-created. IdP groups
become teams owned by that connector, and membership is set again at every login.

Usernames are shown to every service in the platform's tokens, so a new account's name is
only what the IdP proved: its verified email, or a plain name (GitHub's login). Anything
else the user could have typed (an unverified email, an email-shaped `preferred_username`)
is kept under the connector's namespace, `<connector>:<name>`, and that namespace (any
name with a `:`) is reserved for names derived here. The last candidate is always free,
so squatting the others can never lock a first login out.

A first login through the connector bound to a SCIM source attaches to the account that
source provisioned (`directory/provisioning.py`: by the IdP's immutable id, or an email the
IdP proved). With `scim.<source>.authoritative: true`, that connector admits only people
the source provisioned and still has, active: anyone else is refused, logged and audited.
"""

from __future__ import annotations

import contextlib
import unicodedata
import uuid
from dataclasses import dataclass

import structlog

from authbridge.audit.events import Actor
from authbridge.clock import utcnow
from authbridge.config.model import AuthorizerSettings, ScimSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.connectors.identity import Identity
from authbridge.directory.accounts import IdentityLink, new_account
from authbridge.directory.invitations import Invitations
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.provisioning import authoritative_sources, find_provisioned
from authbridge.directory.roles import (
    ADMIN,
    CONFIG_ADMINS_ORIGIN,
    DEFAULT_ROLE,
    domain_allowed,
    is_initial_admin,
)
from authbridge.storage import Storage
from authbridge.storage.errors import Conflict
from authbridge.storage.models import User

__all__ = ["IdentityLinker", "SignInRefused", "namespaced_username", "provisioned_account"]

log = structlog.get_logger("authbridge.directory")
MAX_USERNAME = 320
# `<connector>:<name>`: the separator of the namespace each connector's names live in.
NAMESPACE = ":"


def namespaced_username(name: str) -> bool:
    """Whether a name is in some connector's `<connector>:` namespace (reserved for names
    derived from an identity; NFKC so a fullwidth colon U+FF1A counts too)."""
    return NAMESPACE in unicodedata.normalize("NFKC", name)


class SignInRefused(Exception):
    """The IdP vouched for someone this service does not let in; the message says why."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        reason: str = "policy",
        source: str | None = None,
        user_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # For the audit log's `signin.refused` event (web/oauth_client_routes.py records it):
        # why, which authoritative SCIM source refused, and whose account it was.
        self.reason = reason
        self.source = source
        self.user_id = user_id


def provisioned_account(
    storage: Storage, identity: Identity, scim_settings: ScimSettings | None = None
) -> User | None:
    """An account SCIM provisioned for this identity before its first login (issue 6),
    matched with the verified email as the only username the IdP vouched for."""
    verified = identity.email if identity.email and identity.email_verified else None
    return find_provisioned(
        storage, identity.connector_id, identity.subject, verified, scim_settings, identity.claims
    )


def _domain(email: str) -> str:
    return email.rpartition("@")[2].casefold()


@dataclass
class IdentityLinker:
    storage: Storage
    authorizer: AuthorizerSettings
    scim_settings: ScimSettings | None = None
    # The one membership engine the app built (teams config included); a bare one otherwise.
    membership: MembershipEngine | None = None
    # Invitations a login that proves their email accepts (and `signup: invite-only` needs).
    invitations: Invitations | None = None

    def sign_in(self, identity: Identity, policy: SignupPolicy) -> User:
        """The active user for this identity, created on first login when allowed."""
        user = self.storage.users.by_identity(identity.connector_id, identity.subject)
        linked = user is not None
        if user is None:
            user = provisioned_account(self.storage, identity, self.scim_settings)
        authoritative = authoritative_sources(identity.connector_id, self.scim_settings)
        if authoritative:
            self._check_authoritative(identity, user, authoritative)
        if user is not None and not linked and user.active:
            self._link(user, identity)
        if user is None:
            user = self._create(identity, policy)
        if not user.active:
            raise SignInRefused(
                "This account is disabled.", "An administrator deactivated this user."
            )
        self.storage.users.touch_identity(
            identity.connector_id, identity.subject, identity.email, utcnow()
        )
        self.sync_teams(user.id, identity)
        verified = identity.email if identity.email_verified else None
        if self.invitations is not None and verified:
            actor = Actor("user", id=user.id, name=user.username)
            self.invitations.accept_login(user, verified, identity.connector_id, actor)
        return user

    def preview(self, identity: Identity, policy: SignupPolicy) -> tuple[User | None, str]:
        """Which account this login would land on, and how, writing nothing (the dry run):
        the user (None: a new account or a refusal) and one sentence saying why."""
        user = self.storage.users.by_identity(identity.connector_id, identity.subject)
        how = "signs in to the account linked to this identity"
        if user is None:
            user = provisioned_account(self.storage, identity, self.scim_settings)
            how = "links this identity to the account SCIM provisioned"
        sources = authoritative_sources(identity.connector_id, self.scim_settings)
        source = self.storage.users.provisioned_by(user.id) if user is not None else None
        if sources and (user is None or source not in sources):
            return (
                None,
                f"refused: {', '.join(sources)} is authoritative and did not provision this person",
            )
        if user is not None and not user.active:
            return user, "refused: the account is deactivated"
        if user is None:
            if self._invitation_needed(policy) and not self._invited(identity):
                if policy.invite_only:
                    return None, "refused: invite-only, and no invitation names a verified email"
                return None, "refused: sign-up is off"
            return None, "creates a new account"
        return user, how

    def _check_authoritative(
        self, identity: Identity, user: User | None, sources: list[str]
    ) -> None:
        """Refuse (and audit) a login an authoritative source does not vouch for: someone it
        never provisioned or has deleted (no account of it), or has deactivated."""
        source = self.storage.users.provisioned_by(user.id) if user is not None else None
        if user is not None and source in sources and user.active:
            return
        if user is not None and source in sources:
            reason = "deactivated"
            message = "Your account was deactivated by your organisation's directory."
        else:
            source = sources[0]
            reason = "not_provisioned"
            message = (
                "Your organisation's directory has not given you an account here, or has "
                "removed it. Ask your administrator to assign you to this application."
            )
        hint = (
            f"scim.{source}.authoritative is true: only people {source} provisioned and "
            f"still has, active, may sign in through {identity.connector_id} ({reason})."
        )
        log.warning(
            "idp_sign_in_refused_by_source",
            provider=identity.connector_id,
            source=source,
            reason=reason,
            user_id=user.id if user is not None else None,
        )
        raise SignInRefused(
            message,
            hint,
            reason=reason,
            source=source,
            user_id=user.id if user is not None else None,
        )

    def _check_domains(self, identity: Identity, policy: SignupPolicy) -> None:
        # Only a verified address says anything about which organisation someone is in.
        email = identity.email if identity.email_verified else None
        if self.authorizer.principal_domain and not domain_allowed(email, self.authorizer):
            raise SignInRefused(
                f"Only verified {self.authorizer.principal_domain} addresses may have accounts "
                "here.",
                "authorizer.principalDomain refused this sign-up.",
            )
        if policy.allowed_domains and (
            email is None or _domain(email) not in policy.allowed_domains
        ):
            raise SignInRefused(
                "Your address's domain may not sign up through this identity provider.",
                f"allowedDomains of {identity.connector_id} refused this sign-up.",
            )

    @staticmethod
    def _proved(name: str, verified: str | None) -> bool:
        """Whether the IdP vouched for `name` as a bare username: not in a connector's
        namespace and, when email-shaped, its verified address (OIDC Core §5.7: only a
        verified `email` is one the user controls; `preferred_username` is any string)."""
        if namespaced_username(name):
            return False
        if "@" not in unicodedata.normalize("NFKC", name):
            return True
        return verified is not None and name.casefold() == verified.casefold()

    def _usernames(self, identity: Identity) -> list[str]:
        verified = identity.email if identity.email and identity.email_verified else None
        prefix = f"{identity.connector_id}{NAMESPACE}"
        candidates = []
        for name in (verified, identity.username):
            if name:
                candidates.append(name if self._proved(name, verified) else prefix + name)
        # The identity key itself: free unless someone squatted it (a SCIM userName, an
        # account from before namespaces were reserved, another user's namespaced name) ...
        key = (prefix + identity.subject)[:MAX_USERNAME]
        candidates.append(key)
        # ... so the last one is unguessable, and a first login is never locked out.
        candidates.append(f"{key[: MAX_USERNAME - 13]}~{uuid.uuid4().hex[:12]}")
        return [c[:MAX_USERNAME] for c in dict.fromkeys(candidates) if c]

    @staticmethod
    def _invitation_needed(policy: SignupPolicy) -> bool:
        return policy.invite_only or not policy.allow_signup

    def _invited(self, identity: Identity) -> bool:
        """An invitation names the email this IdP proved (never an unverified one: anyone
        can type an invited person's address into an IdP that does not check it)."""
        verified = identity.email if identity.email_verified else None
        return self.invitations is not None and self.invitations.invited(verified)

    def _create(self, identity: Identity, policy: SignupPolicy) -> User:
        if self._invitation_needed(policy) and not self._invited(identity):
            if policy.invite_only:
                raise SignInRefused(
                    "You have no account here yet, and this identity provider admits only "
                    "invited people. Ask an administrator for an invitation to the address "
                    "your identity provider verifies.",
                    f"signup is invite-only for {identity.connector_id}: no live invitation "
                    "names this login's verified email.",
                )
            raise SignInRefused(
                "You have no account here yet, and sign-up through this identity provider is "
                "turned off.",
                f"allowSignup is false for {identity.connector_id}; invite the user first.",
            )
        self._check_domains(identity, policy)
        admin = identity.email_verified and is_initial_admin(
            identity.email or "", identity.email, self.authorizer
        )
        link = IdentityLink(identity.connector_id, identity.subject, identity.email)
        for username in self._usernames(identity):
            if self.storage.users.by_username(username) is not None:
                continue
            try:
                user = new_account(
                    self.storage.users,
                    username=username,
                    email=identity.email,
                    email_verified=identity.email_verified,
                    name=identity.name,
                    roles=[ADMIN if admin else DEFAULT_ROLE],
                    role_origin=CONFIG_ADMINS_ORIGIN if admin else "default",
                    identity=link,
                )
            except Conflict:
                # A concurrent first login of the same identity won, or the name was taken
                # between our check and the insert: use whichever exists now.
                existing = self.storage.users.by_identity(identity.connector_id, identity.subject)
                if existing is not None:
                    return existing
                continue
            log.info("user_created", provider=identity.connector_id, user_id=user.id, admin=admin)
            return user
        raise SignInRefused("Your account could not be created; try again.")

    def _link(self, user: User, identity: Identity) -> None:
        # Conflict: a concurrent login linked it already, which is what we want.
        with contextlib.suppress(Conflict):
            self.storage.users.link_identity(
                user.id, identity.connector_id, identity.subject, identity.email
            )

    def sync_teams(self, user_id: str, identity: Identity) -> None:
        """Record what this login's groups say about the user's teams (the membership
        engine: the connector's own teams, or teams configured as shared with it)."""
        engine = self.membership or MembershipEngine(self.storage)
        engine.apply_login(user_id, identity)
