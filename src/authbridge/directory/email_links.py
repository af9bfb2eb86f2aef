"""Links mailed to a local account's address: password reset and email verification.

Each link carries a random 256-bit token; only its SHA-256 is stored (the key-value store,
with an expiry), and using it is a DELETE that succeeds for exactly one caller.

Password reset (OWASP Forgot Password Cheat Sheet): the request answers the same, at once,
whether or not an account has the address — the lookup and the mail happen on the mail
thread (`Mailer.submit`), so neither the answer nor its timing tells who has an account.
The link lasts RESET_LIFETIME; resetting ends every session and refresh token of the user
through the one `Revocation`. Only local accounts (a password) get a link: an IdP's
accounts reset their password at the IdP.

Verification: a local sign-up's email is `email_verified: false` in tokens until its owner
follows the link mailed to it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import structlog

from authbridge.clock import utcnow
from authbridge.directory.accounts import AccountError, LocalAccounts, normalize_email
from authbridge.directory.mail import Mail, Mailer
from authbridge.directory.passwords import PasswordRejected, check_policy
from authbridge.directory.revocation import UserCredentialRevoker
from authbridge.storage import Storage
from authbridge.storage.models import User

__all__ = [
    "RESET_LIFETIME",
    "VERIFY_LIFETIME",
    "EmailVerification",
    "PasswordResets",
    "resettable",
]

log = structlog.get_logger("authbridge.directory")
RESET_LIFETIME = timedelta(minutes=30)
VERIFY_LIFETIME = timedelta(hours=48)
RESET_PREFIX = "pwreset:"
VERIFY_PREFIX = "verify:"
SEPARATOR = "\x1f"
# kind (also the mail template) -> key prefix, lifetime, page path
LINKS = {
    "password_reset": (RESET_PREFIX, RESET_LIFETIME, "/password/reset/"),
    "verify_email": (VERIFY_PREFIX, VERIFY_LIFETIME, "/email/verify/"),
}
MAX_TOKEN = 128


def _mail_link(
    storage: Storage,
    mailer: Mailer | None,
    user: User,
    kind: str,
    value: str,
    base: str,
    **context: object,
) -> str:
    """Store a new link's digest (lapsing after its kind's lifetime) and mail the link
    (without a mailer, only an administrator's act makes one: they pass it on)."""
    prefix, lifetime, path = LINKS[kind]
    token = secrets.token_urlsafe(32)  # 256 bits
    storage.values.put(prefix + _digest(token), value, expires_at=utcnow() + lifetime)
    link = f"{base}{path}{token}"
    if mailer is not None:
        assert user.email is not None
        mailer.send(Mail(user.email, kind, {"email": user.email, "link": link, **context}))
    return link


def _digest(token: str) -> str:
    """A token's SHA-256 in base64url (43 characters): with its prefix it fits the
    key-value store's 64-character names, which a hex digest (64) did not on PostgreSQL."""
    raw = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _fingerprint(password_hash: str | None) -> str:
    # A digest of the stored hash (itself salted): enough to notice a change, nothing more.
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:32]


def _name(prefix: str, token: str) -> str | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    return prefix + _digest(token)


def resettable(user: User, mailed: bool) -> bool:
    """Whether a reset link may be made for the user: an active local account (a password),
    with an address when the link is to be mailed."""
    return user.active and user.password_hash is not None and (bool(user.email) or not mailed)


@dataclass
class PasswordResets:
    """Without a mailer (no `smtp:`), nobody can ask for a link (`/password/forgot` is off)
    but an administrator can make one (`issue`) to pass on; the link works the same."""

    storage: Storage
    accounts: LocalAccounts
    mailer: Mailer | None
    revocation: UserCredentialRevoker
    base_url: str

    @property
    def mails(self) -> bool:
        return self.mailer is not None

    def request(self, email: str) -> None:
        """Queue the lookup and, for a local account, the mail; returns at once either way."""
        mailer = self.mailer
        try:
            email = normalize_email(email)
        except AccountError:
            return
        if mailer is not None:
            mailer.submit(lambda: self._send(email))

    def _send(self, email: str) -> None:
        user = self.storage.users.by_username(email)
        if user is None or not resettable(user, mailed=True):
            log.info("password_reset_no_account")  # the address is not logged
            return
        self.issue(user)
        log.info("password_reset_sent", user_id=user.id)

    def issue(self, user: User) -> str | None:
        """A new reset link for `user` (the caller checked `resettable`): mailed when a
        mailer is configured (None returned), else returned to be shown once."""
        link = _mail_link(
            self.storage,
            self.mailer,
            user,
            "password_reset",
            f"{user.id}{SEPARATOR}{_fingerprint(user.password_hash)}",
            base=self.base_url.rstrip("/"),
            minutes=int(RESET_LIFETIME.total_seconds() // 60),
        )
        return None if self.mails else link

    def user_for(self, token: str) -> User | None:
        """The account a live reset link is for (writing nothing), else None. A link is
        bound to the password it was sent for: once the password changes (by this link,
        another, or the account page), every other link sent before is void."""
        name = _name(RESET_PREFIX, token)
        value = self.storage.values.get(name) if name else None
        user_id, _, fingerprint = (value or "").partition(SEPARATOR)
        user = self.storage.users.get(user_id) if user_id else None
        if user is None or not user.active or not user.password_hash:
            return None
        return user if fingerprint == _fingerprint(user.password_hash) else None

    def reset(self, token: str, new_password: str) -> User:
        """Set the new password and end every session and refresh token of the user.
        AccountError (safe to show) for a link that is not live or a refused password; a
        refused password leaves the link usable."""
        name = _name(RESET_PREFIX, token)
        user = self.user_for(token)
        if name is None or user is None:
            raise AccountError("This reset link was used already or has expired.")
        try:
            check_policy(new_password, username=user.username)
        except PasswordRejected as exc:
            raise AccountError(str(exc)) from None
        if not self.storage.values.delete(name):  # the single use: one caller wins
            raise AccountError("This reset link was used already or has expired.")
        self.storage.users.set_password_hash(user.id, self.accounts.hashing.hash(new_password))
        ended = self.revocation.revoke_user(user.id)
        log.info("password_reset", user_id=user.id, credentials_ended=ended)
        return user


@dataclass
class EmailVerification:
    storage: Storage
    mailer: Mailer
    base_url: str

    def send(self, user: User) -> None:
        if not user.email or user.email_verified:
            return
        _mail_link(
            self.storage,
            self.mailer,
            user,
            "verify_email",
            f"{user.id}{SEPARATOR}{user.email}",
            base=self.base_url.rstrip("/"),
            hours=int(VERIFY_LIFETIME.total_seconds() // 3600),
        )

    def verify(self, token: str) -> bool:
        """Mark the address verified, once; False for a link that is not live (or an
        address the user has changed since)."""
        name = _name(VERIFY_PREFIX, token)
        value = self.storage.values.get(name) if name else None
        if name is None or value is None or not self.storage.values.delete(name):
            return False
        user_id, _, email = value.partition(SEPARATOR)
        return self.storage.users.verify_email(user_id, email)
