"""The connector interface, after Dex's `connector` package: small capability protocols.

A connector only turns an upstream login into an `Identity`; finding or creating the
account is the directory's job, and cookies, pages and redirects are the web layer's.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from authbridge.connectors.identity import Identity

__all__ = [
    "CallbackConnector",
    "Landing",
    "LoginRequest",
    "PasswordConnector",
    "RefreshConnector",
    "SignupPolicy",
]

# Where the IdP sends the browser back: `callback` for the code flow (query), `redirect`
# for implicit and hybrid responses (fragment or form_post) — Astronomer's two URLs;
# `saml` for a SAML IdP's HTTP-POST to our ACS (/v1/saml/acs/<connector>).
Landing = Literal["callback", "redirect", "saml"]


@dataclass(frozen=True)
class LoginRequest:
    """The values of one login attempt, kept server-side and bound to the browser.

    `state` (RFC 6749 §10.12) ties the answer to this browser, `nonce` (OIDC Core §3.1.2.1)
    ties the ID token to this attempt, `code_verifier` (RFC 7636) ties the code to us.
    """

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str

    @classmethod
    def fresh(cls, redirect_uri: str) -> LoginRequest:
        """New unguessable values (256 bits of state and nonce, a 64-character verifier)."""
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
        )


@dataclass(frozen=True)
class SignupPolicy:
    """Who may get a new account from this connector."""

    allow_signup: bool = True
    allowed_domains: tuple[str, ...] = ()
    # `signup: invite-only`: a first login makes an account only for an invited email the
    # IdP proved (directory/identities.py asks the invitations).
    invite_only: bool = False


@runtime_checkable
class CallbackConnector(Protocol):
    """A connector that sends the browser to the IdP and handles the answer."""

    id: str
    display_name: str
    signup: SignupPolicy
    # Whether problem() may wait (briefly) on the network; the login page then renders off
    # the event loop.
    problem_may_wait: bool

    @property
    def landing(self) -> Landing: ...

    def problem(self) -> str | None:
        """Why the button cannot be used right now (IdP down, misconfigured), or None."""
        ...

    def authorization_url(self, login: LoginRequest) -> str: ...

    def handle_callback(self, login: LoginRequest, params: Mapping[str, str]) -> Identity: ...


@runtime_checkable
class PasswordConnector(Protocol):
    """A connector that checks a username and password itself (LDAP): the login page shows
    a form of its own for each, labelled `username_prompt`."""

    id: str
    display_name: str
    username_prompt: str
    signup: SignupPolicy
    # Whether problem() may wait (briefly) on the network, as for CallbackConnector.
    problem_may_wait: bool

    def problem(self) -> str | None:
        """Why the form cannot be used right now (directory down, misconfigured), or None."""
        ...

    def login(self, username: str, password: str) -> Identity | None:
        """The identity if the password is right; None for a wrong password or unknown user
        alike; raises ConnectorError when the upstream cannot answer."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class RefreshConnector(Protocol):
    """A connector that can refresh an identity without the user (upstream refresh token)."""

    id: str

    def refresh(self, identity: Identity) -> Identity: ...
