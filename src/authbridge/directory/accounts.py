"""Accounts: the one factory every new account goes through, and local username/password
accounts (sign-up, sign-in, change of password).

`new_account` is how an account is made, whoever asks: local sign-up and the CLI (through
`LocalAccounts`), a first IdP login (`identities.py`, with its identity link in the same
transaction). It cleans the display name, gives the default role unless told otherwise,
and refuses a taken username or identity with `Conflict`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from authbridge.config import Settings
from authbridge.config.model import AuthorizerSettings, LocalAuthSettings
from authbridge.directory.passwords import PasswordHashing, PasswordRejected, check_policy
from authbridge.directory.roles import ADMIN, DEFAULT_ROLE, domain_allowed
from authbridge.storage import Storage
from authbridge.storage.errors import Conflict
from authbridge.storage.models import User
from authbridge.storage.users import IdentityLink, UserStore

__all__ = [
    "AccountError",
    "AccountExists",
    "IdentityLink",
    "LocalAccounts",
    "PasswordRefused",
    "display_name",
    "has_control_characters",
    "new_account",
    "normalize_email",
]

LOCAL_CONNECTOR = "local"


class AccountError(ValueError):
    """A request about an account cannot be done; the message is safe to show the user.

    `field` names the form field at fault (`email`, `password`, `current_password`,
    `new_password`), so the page moves focus there and marks it invalid (WCAG 3.3.1).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AccountExists(AccountError):
    """The username (the email, for a local account) is taken already."""


class PasswordRefused(AccountError):
    """The password fails the policy (the message says which rule)."""


def has_control_characters(text: str) -> bool:
    """C0 controls and DEL: never part of a name, and PostgreSQL cannot store NUL."""
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def normalize_email(email: str) -> str:
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or any(c.isspace() for c in email)
        or has_control_characters(email)
        # An unquoted ":" is not valid in an address (RFC 5322 §3.2.3), and `<connector>:`
        # names are reserved for accounts made from IdP logins (NFKC: fullwidth colons too).
        or ":" in unicodedata.normalize("NFKC", email)
        or len(email) > 320
    ):
        raise AccountError("Enter a valid email address.", field="email")
    # The domain part is case-insensitive (RFC 5321 §2.4); the local part is kept as typed.
    return f"{local}@{domain.lower()}"


def display_name(name: str | None) -> str | None:
    """A display name as stored: control characters dropped, at most 256 characters."""
    cleaned = "".join(c for c in (name or "") if not has_control_characters(c)).strip()[:256]
    return cleaned or None


def new_account(
    users: UserStore,
    *,
    username: str,
    email: str | None = None,
    email_verified: bool = False,
    name: str | None = None,
    password_hash: str | None = None,
    roles: Sequence[str] = (DEFAULT_ROLE,),
    role_origin: str = "default",
    identity: IdentityLink | None = None,
    kind: str = "person",
) -> User:
    """Create an account (a person, or a `service` / `robot` principal) with its roles and,
    for an IdP login, its identity link, in one transaction. Conflict if the username
    (case-insensitively) or identity is taken. Callers check their own admission rules
    (sign-up policy, domains) first."""
    return users.create(
        username=username,
        email=email,
        email_verified=email_verified,
        name=display_name(name),
        password_hash=password_hash,
        roles=roles,
        role_origin=role_origin,
        identity=identity,
        kind=kind,
    )


@dataclass
class LocalAccounts:
    storage: Storage
    hashing: PasswordHashing
    settings: LocalAuthSettings
    authorizer: AuthorizerSettings

    @classmethod
    def of(cls, storage: Storage, settings: Settings) -> LocalAccounts:
        """Local accounts as the settings configure them (argon2 costs, policy, domains)."""
        local = settings.auth.local
        costs = local.password_hash
        hashing = PasswordHashing(costs.memory_cost, costs.time_cost, costs.parallelism)
        return cls(storage, hashing, local, settings.authorizer)

    def sign_up(
        self,
        *,
        email: str,
        password: str,
        name: str | None = None,
        admin: bool = False,
        self_service: bool = True,
        origin: str = "default",
        role: str | None = None,
        email_verified: bool = False,
    ) -> User:
        """Create a local account whose username is its email address.

        Self-service sign-up never grants admin: a local email is unverified, so matching it
        against `initialAdmins` would let anyone claim an admin's address first. Admins come
        from the one-time setup link, the CLI, or an IdP login with a verified email.
        `role` (an operator's choice: the CLI, the admin API) replaces the default role; the
        caller checks that it exists.
        `email_verified` only for a caller that proved the address (an invitation's link,
        which was mailed to it).
        """
        if self_service and not (self.settings.enabled and self.settings.allow_signup):
            raise AccountError("Sign-up is turned off; ask an administrator for an account.")
        if self_service and (admin or role is not None):
            raise AccountError("Self-service sign-up cannot choose a role.")
        role = role or (ADMIN if admin else DEFAULT_ROLE)
        email = normalize_email(email)
        if not domain_allowed(email, self.authorizer):
            raise AccountError(
                f"Only {self.authorizer.principal_domain} addresses may have accounts here.",
                field="email",
            )
        try:
            check_policy(password, username=email)
        except PasswordRejected as exc:
            raise PasswordRefused(str(exc), field="password") from None
        try:
            return new_account(
                self.storage.users,
                username=email,
                email=email,
                email_verified=email_verified,
                name=name,
                password_hash=self.hashing.hash(password),
                roles=[role],
                # Who gave a role (`setup`, `bootstrap`, `cli`, `api`) shows in `bindings list`.
                role_origin="default" if role == DEFAULT_ROLE else origin,
            )
        except Conflict:
            raise AccountExists(
                "An account with this email exists already.", field="email"
            ) from None

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right; None otherwise, in the same time either way."""
        user = self.storage.users.by_username(username.strip()) if username else None
        stored = user.password_hash if user is not None else None
        ok = self.hashing.verify(stored, password)
        if not ok or user is None or not user.active:
            return None
        if stored is not None and self.hashing.needs_rehash(stored):
            self.storage.users.set_password_hash(user.id, self.hashing.hash(password))
        return user

    def change_password(self, user: User, current: str, new: str) -> None:
        if not self.hashing.verify(user.password_hash, current):
            raise AccountError("The current password is not right.", field="current_password")
        try:
            check_policy(new, username=user.username)
        except PasswordRejected as exc:
            raise AccountError(str(exc), field="new_password") from None
        self.storage.users.set_password_hash(user.id, self.hashing.hash(new))
