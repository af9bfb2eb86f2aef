"""SCIM credentials per source: list, add (the secret is shown once), retire (now or after
a grace, so the IdP can switch over first). A zero-downtime rotation is: add a second
credential, enter it at the IdP, retire the first (RFC 7644 §2 leaves authentication to
the service provider; both are accepted meanwhile)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest, NotFound
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.scim.auth import SOURCES
from authbridge.scim.credentials import Issued, Known, ScimCredentials

__all__ = [
    "MAX_ACTIVE",
    "MAX_RETIRE_AFTER",
    "CredentialState",
    "LastCredential",
    "ScimCredentialAdmin",
    "SourceSummary",
    "TooManyCredentials",
]

# RFC 7617 §2: a user-id containing a colon cannot be sent; kept to what IdP forms accept.
USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# More than a rotation needs, few enough that checking them all per request stays cheap.
MAX_ACTIVE = 5
MAX_RETIRE_AFTER = 30 * 24 * 3600

CredentialState = Literal["active", "retiring", "retired", "expired"]


class LastCredential(AdminError):
    """Retiring the source's last active credential stops its provisioning."""

    slug: ClassVar[str] = "last-credential"
    status: ClassVar[int] = 409
    title: ClassVar[str] = "Last active credential"


class TooManyCredentials(AdminError):
    slug: ClassVar[str] = "too-many-credentials"
    status: ClassVar[int] = 409
    title: ClassVar[str] = "Too many credentials"


@dataclass(frozen=True)
class SourceSummary:
    source: str
    scheme: str
    enabled: bool
    credential_count: int
    last_activity_at: datetime | None


def state_of(credential: Known, now: datetime) -> CredentialState:
    if credential.expires_at is not None and credential.expires_at <= now:
        return "expired"
    if credential.retired_at is None:
        return "active"
    return "retiring" if credential.retired_at > now else "retired"


def _public(credential: Known) -> dict[str, Any]:
    """What an audit event may say about a credential: never its secret nor its digest."""
    return {
        "source": credential.source,
        "id": credential.id,
        "kind": credential.scheme,
        "username": credential.username,
        "expiresAt": credential.expires_at.isoformat() if credential.expires_at else None,
        "retiredAt": credential.retired_at.isoformat() if credential.retired_at else None,
    }


class ScimCredentialAdmin:
    def __init__(self, credentials: ScimCredentials, audit: AuditSink) -> None:
        self._credentials = credentials
        self._audit = audit

    def _source(self, source: str) -> str:
        if source not in SOURCES:
            raise NotFound(f"no SCIM source {source!r}; the sources are {', '.join(SOURCES)}")
        return source

    def sources(self) -> list[SourceSummary]:
        """Each source: enabled when a credential is active; its last authenticated request
        (to the minute: uses are recorded at most once a minute)."""
        now = self._credentials.now()
        summaries = []
        for source, scheme in SOURCES.items():
            known = self._credentials.known(source)
            active = [k for k in known if k.active(now)]
            used = [k.last_used_at for k in known if k.last_used_at is not None]
            summaries.append(
                SourceSummary(source, scheme, bool(active), len(active), max(used, default=None))
            )
        return summaries

    def list(self, source: str) -> list[Known]:
        """The source's credentials, the environment's first, retired ones too (for 30
        days)."""
        return self._credentials.known(self._source(source))

    def get(self, source: str, credential_id: str) -> Known:
        for credential in self.list(source):
            if credential.id == credential_id:
                return credential
        raise NotFound(f"{source} has no credential {credential_id!r}")

    def add(
        self,
        source: str,
        *,
        actor: Actor,
        username: str | None = None,
        expires_at: datetime | None = None,
    ) -> Issued:
        """Generate a credential; its secret is in the result only."""
        self._source(source)
        now = self._credentials.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidRequest(
                "expiresAt must be in the future", [FieldError("expiresAt", "in the past")]
            )
        if username is not None and not USERNAME.fullmatch(username):
            raise InvalidRequest(
                "the username is 1 to 64 letters, digits, `.`, `_`, `@` or `-`",
                [FieldError("username", "no colon (RFC 7617 §2) nor spaces")],
            )
        if username is not None and SOURCES[source] != "basic":
            raise InvalidRequest(
                f"{source} takes a bearer token: no username",
                [FieldError("username", "only for HTTP Basic sources")],
            )
        active = [k for k in self._credentials.known(source) if k.active(now)]
        if len(active) >= MAX_ACTIVE:
            raise TooManyCredentials(
                f"{source} has {len(active)} active credentials; retire one first"
            )
        issued = self._credentials.issue(
            source, created_by=_who(actor), username=username, expires_at=expires_at
        )
        credential = issued.credential
        self._audit.record(
            AuditEvent(
                type="scim_credential.created",
                actor=actor,
                target=_target(credential),
                details={"after": _public(credential)},
            )
        )
        return issued

    def retire(
        self,
        source: str,
        credential_id: str,
        *,
        actor: Actor,
        retire_after: int = 0,
        force: bool = False,
    ) -> Known:
        """Retire now, or `retire_after` seconds from now. Refused (`LastCredential`) when no
        other credential would be active then, unless `force`: that stops provisioning."""
        self._source(source)
        if not 0 <= retire_after <= MAX_RETIRE_AFTER:
            raise InvalidRequest(
                f"retireAfter must be between 0 and {MAX_RETIRE_AFTER} seconds",
                [FieldError("retireAfter", f"0 to {MAX_RETIRE_AFTER}")],
            )
        now = self._credentials.now()
        at = now + timedelta(seconds=retire_after)
        known = self._credentials.known(source)
        before = next((k for k in known if k.id == credential_id), None)
        if before is None:
            raise NotFound(f"{source} has no credential {credential_id!r}")
        if not before.active(now):
            return before  # already retired or expired: nothing changes
        others = [k for k in known if k.id != credential_id and k.active(at)]
        if not others and not force:
            raise LastCredential(
                f"{credential_id} is {source}'s last active credential: retiring it stops "
                "provisioning from this source; add another first, or pass force=true"
            )
        after = self._credentials.retire(source, credential_id, at)
        if after is None:
            raise NotFound(f"{source} has no credential {credential_id!r}")
        self._audit.record(
            AuditEvent(
                type="scim_credential.retired",
                actor=actor,
                target=_target(after),
                details={
                    "before": _public(before),
                    "after": _public(after),
                    "retireAfter": retire_after,
                    "forced": force and not others,
                },
            )
        )
        return after


def _target(credential: Known) -> Target:
    return Target("scim_credential", f"{credential.source}/{credential.id}", credential.username)


def _who(actor: Actor) -> str:
    return f"{actor.kind}:{actor.name or actor.id or '-'}"
