"""The built-in mock IdP (Pachyderm's MockIdP): signs in whoever is typed, for trying
authbridge out with no setup. Offered only while no upstream IdP is configured.

Mock identities are never email-verified, so they can never match `initialAdmins`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from authbridge.connectors.base import Landing, LoginRequest, SignupPolicy
from authbridge.connectors.errors import LoginFailed
from authbridge.connectors.identity import Identity

__all__ = ["MOCK_ID", "MockConnector"]

MOCK_ID = "mock"
MOCK_AUTHORIZE = "/v1/oauth/mock/authorize"


class MockConnector:
    type_name = "mock"
    problem_may_wait = False

    def __init__(self, *, allow_signup: bool = True) -> None:
        self.id = MOCK_ID
        self.display_name = "Mock IdP (testing only)"
        # Follows auth.local.allowSignup: an operator who closed sign-up closed it here too.
        self.signup = SignupPolicy(allow_signup=allow_signup)

    @property
    def landing(self) -> Landing:
        return "callback"

    def problem(self) -> str | None:
        return None

    def authorization_url(self, login: LoginRequest) -> str:
        return f"{MOCK_AUTHORIZE}?{urlencode({'state': login.state})}"

    def handle_callback(self, login: LoginRequest, params: Mapping[str, str]) -> Identity:
        email = params.get("email", "").strip()[:320]
        # Control characters are never part of a name (and PostgreSQL cannot store NUL).
        name = "".join(c for c in params.get("name", "") if c.isprintable()).strip()[:256] or None
        local, at, domain = email.rpartition("@")
        if (
            not at
            or not local
            or "." not in domain
            or any(c.isspace() for c in email)
            or not email.isprintable()
        ):
            raise LoginFailed("Enter an email address to sign in as.", None, code="bad_email")
        groups = tuple(
            dict.fromkeys(
                g.strip()[:128]
                for g in params.get("groups", "").split(",")
                if g.strip() and g.isprintable()
            )
        )
        return Identity(
            connector_id=self.id,
            subject=email.casefold(),
            username=email,
            email=email,
            email_verified=False,
            name=name,
            groups=groups[:20],
            claims={"email": email},
        )
