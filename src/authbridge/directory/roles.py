"""System roles and who gets them at account creation (OpenMetadata's authorizer rules)."""

from __future__ import annotations

from authbridge.config.model import AuthorizerSettings

__all__ = [
    "ADMIN",
    "DEFAULT_ROLE",
    "EDITOR",
    "SYSTEM_ROLES",
    "VIEWER",
    "domain_allowed",
    "is_initial_admin",
]

ADMIN = "admin"
EDITOR = "editor"
VIEWER = "viewer"
SYSTEM_ROLES = (ADMIN, EDITOR, VIEWER)
DEFAULT_ROLE = VIEWER


def _domain(email: str) -> str:
    return email.rpartition("@")[2].casefold()


def domain_allowed(email: str | None, authorizer: AuthorizerSettings) -> bool:
    """`principalDomain`: only emails of that domain may have accounts (when it is set)."""
    if not authorizer.principal_domain:
        return True
    return email is not None and _domain(email) == authorizer.principal_domain.casefold()


def is_initial_admin(username: str, email: str | None, authorizer: AuthorizerSettings) -> bool:
    """Whether an account is named in `initialAdmins`.

    An entry with `@` names a full email. An entry without names the local part, as in
    OpenMetadata ("john.doe from john.doe@example.com"), and only within `principalDomain`
    when that is set. Callers must only ask this of verified emails.
    """
    candidates = {username.casefold()}
    if email:
        candidates.add(email.casefold())
    for entry in authorizer.initial_admins:
        entry = entry.strip().casefold()
        if "@" in entry:
            if entry in candidates:
                return True
            continue
        for candidate in candidates:
            local, at, _ = candidate.partition("@")
            if at and local == entry and domain_allowed(candidate, authorizer):
                return True
            if not at and candidate == entry:
                return True
    return False
