"""The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6; RFC 8628 §3.4) and what they issue.

Each grant returns the JSON of a successful token response (RFC 6749 §5.1) or raises
OAuthError with the RFC's error code (§5.2).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authbridge.clock import utcnow
from authbridge.directory.roles import RoleResolver
from authbridge.provider import pkce
from authbridge.provider.authorization import SUPPORTED_SCOPES
from authbridge.provider.clients import DEVICE_GRANT, Client
from authbridge.provider.errors import OAuthError
from authbridge.provider.events import GrantEvents, NoEvents
from authbridge.provider.principals import subject_principal
from authbridge.provider.secrets import digest, new_value
from authbridge.storage.provider_store import ProviderStore, RefreshRow, Subject
from authbridge.tokens.claims import Principal
from authbridge.tokens.issuer import TokenIssuer

__all__ = ["CODE_LIFETIME", "Grants"]

CODE_LIFETIME = 600  # RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes"
DEVICE_LIFETIME = 600
DEVICE_INTERVAL = 5
# How many distinct subjects' principals are kept (the least recently used go first).
_PRINCIPALS_MAX = 4096


@functools.lru_cache(maxsize=_PRINCIPALS_MAX)
def _principal_of(user: Subject, roles: RoleResolver) -> Principal:
    """A pure function of the subject's value (its user fields and role rows, read in the
    grant's own transaction) and of the configuration's roles, so kept by value: a change of
    role reads a different Subject and never meets a stale principal. Computing it
    (effective roles, sorting) was a tenth of a grant's CPU outside the database and the
    signature."""
    return subject_principal(user, roles)


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise OAuthError("invalid_request", f"{name} is missing")
    return value


@dataclass
class Grants:
    store: ProviderStore
    issuer: TokenIssuer
    audience: list[str]
    clock: Callable[[], datetime] = utcnow
    # The configuration's roles and team templates (OpenIDProvider passes its own).
    roles: RoleResolver = field(default_factory=RoleResolver.builtin)
    events: GrantEvents = field(default_factory=NoEvents)

    def _principal(self, user: Subject) -> Principal:
        return _principal_of(user, self.roles)

    # Issuing -----------------------------------------------------------------------

    def _issue(
        self,
        client: Client,
        user: Subject,
        scope: str,
        *,
        auth_time: int | None,
        nonce: str | None = None,
        refresh: str | None = None,
        family: RefreshRow | None = None,
        amr: str | None = None,
        acr: str | None = None,
    ) -> tuple[dict[str, Any], str, int, str | None]:
        """The token response; returns (body, access jti, access exp, family id).

        `auth_time`, `amr` (space-separated) and `acr`: how the person signed in, carried by
        both tokens (OIDC Core §2; RFC 9068 §2.2.1); None for a client acting for itself."""
        principal = self._principal(user)
        methods = tuple((amr or "").split())
        access = self.issuer.access_token(
            principal,
            audience=self.audience,
            client_id=client.client_id,
            scope=scope,
            lifetime=client.access_token_lifetime,
            auth_time=auth_time,
            amr=methods,
            acr=acr,
        )
        body: dict[str, Any] = {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": max(0, access.expires_at - int(self.clock().timestamp())),
        }
        if scope:
            body["scope"] = scope
        family_id = None
        if refresh is not None:
            body["refresh_token"] = refresh
            family_id = family.family_id if family else None
        if "openid" in scope.split() and family is None and auth_time is not None:
            body["id_token"] = self.issuer.id_token(
                principal,
                client_id=client.client_id,
                auth_time=auth_time,
                nonce=nonce,
                access_token=access.token,
                amr=methods,
                acr=acr,
            ).token
        return body, access.jti, access.expires_at, family_id

    def _new_family(
        self,
        client: Client,
        user: Subject,
        scope: str,
        auth_time: int,
        amr: str | None = None,
        acr: str | None = None,
    ) -> tuple[str, str] | None:
        """Start a refresh-token family when the client may refresh; (token, family id)."""
        if not client.allows_grant("refresh_token"):
            return None
        now = self.clock()
        token = new_value()
        family_id = uuid.uuid4().hex
        expires = now + timedelta(seconds=client.refresh_token_lifetime)
        self.store.add_refresh(
            digest(token),
            RefreshRow(
                family_id=family_id,
                client_id=client.client_id,
                user_id=user.id,
                scope=scope,
                auth_time=auth_time,
                amr=amr,
                acr=acr,
                family_expires_at=expires,
                idle_expires_at=min(
                    expires, now + timedelta(seconds=client.refresh_token_idle_timeout)
                ),
            ),
        )
        return token, family_id

    def _active_user(self, user_id: str | None, *, service: bool = False) -> Subject:
        if not user_id:
            user = None
        elif service:
            user = self.store.service_subject(user_id)
        else:
            user = self.store.subject(user_id)
        if user is None or not user.active:
            raise OAuthError("invalid_grant", "the user of this grant is disabled or gone")
        return user

    # Grants ------------------------------------------------------------------------

    def handle(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        grant_type = _required(form, "grant_type")
        handler = _HANDLERS.get(grant_type)
        if handler is None:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is unknown")
        if not client.allows_grant(grant_type):
            raise OAuthError("unauthorized_client", f"this client may not use {grant_type}")
        return handler(self, client, form)

    def authorization_code(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6)."""
        code = _required(form, "code")
        now = self.clock()
        code_hash = digest(code)
        row = self.store.redeem_code(code_hash, now)
        if row is None:
            raise OAuthError("invalid_grant", "the code is unknown, expired or not yours")
        if not row.first_use:
            # RFC 6749 §4.1.2: a code used twice is refused and what it issued is revoked,
            # whichever client presents it again (from another client, the code leaked).
            self._revoke_issued(row.family_id, row.access_jti, row.access_expires_at)
            raise OAuthError("invalid_grant", "the code was used already; its tokens are revoked")
        if row.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code is unknown, expired or not yours")
        if row.expires_at <= now:
            raise OAuthError("invalid_grant", "the code has expired")
        if form.get("redirect_uri") != row.redirect_uri:
            # RFC 6749 §4.1.3: required and identical when the request had one (OIDC: always).
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization")
        pkce.verify(row.code_challenge, form.get("code_verifier"))
        user = self._active_user(row.user_id)
        started = self._new_family(client, user, row.scope, row.auth_time, row.amr, row.acr)
        body, jti, exp, _ = self._issue(
            client,
            user,
            row.scope,
            auth_time=row.auth_time,
            nonce=row.nonce,
            refresh=started[0] if started else None,
            amr=row.amr,
            acr=row.acr,
        )
        family_id = started[1] if started else None
        expires = datetime.fromtimestamp(exp, UTC)
        if self.store.record_code_issue(code_hash, family_id, jti, expires):
            # A replay came while this redemption was issuing: it saw nothing to revoke yet,
            # so the revocation RFC 6749 §4.1.2 asks for happens here.
            self._revoke_issued(family_id, jti, expires)
            raise OAuthError("invalid_grant", "the code was used already; its tokens are revoked")
        return body

    def _revoke_issued(
        self, family_id: str | None, jti: str | None, expires: datetime | None
    ) -> None:
        """Revoke what one redemption of a code issued (its refresh family, its access token)."""
        if family_id:
            self.store.revoke_family(family_id)
        if jti and expires:
            self.store.revoke_jti(jti, expires)

    def refresh_token(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2)."""
        presented = _required(form, "refresh_token")
        now = self.clock()
        successor = new_value()
        asked = form.get("scope")
        outcome = self.store.rotate_refresh(
            digest(presented),
            digest(successor),
            now,
            client.refresh_token_idle_timeout,
            client_id=client.client_id,
            scope=asked or None,
        )
        row = outcome.row
        if outcome.problem == "reused":
            self.events.refresh_reuse_detected(
                client.client_id,
                user_id=row.user_id if row is not None else None,
                family_id=row.family_id if row is not None else None,
            )
        if outcome.problem == "other client" and row is not None:
            # A token of another client was presented: it leaked, so its family dies.
            self.store.revoke_family(row.family_id)
        if outcome.problem == "scope":
            # RFC 6749 §6: a refresh may narrow the scope, never widen it.
            raise OAuthError("invalid_scope", "scope exceeds what was granted")
        if outcome.problem == "expired":
            raise OAuthError("invalid_grant", "the refresh token has expired")
        if outcome.problem == "inactive":
            raise OAuthError("invalid_grant", "the user of this grant is disabled")
        if row is None or outcome.subject is None or outcome.problem is not None:
            raise OAuthError("invalid_grant", "the refresh token is unknown, used or revoked")
        scope = " ".join(dict.fromkeys(asked.split())) if asked else row.scope
        body, _, _, _ = self._issue(
            client,
            outcome.subject,
            scope,
            auth_time=row.auth_time,
            refresh=successor,
            family=row,
            amr=row.amr,
            acr=row.acr,
        )
        return body

    def client_credentials(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 6749 §4.4: a confidential client acting for its service account."""
        if client.public:
            raise OAuthError("unauthorized_client", "public clients cannot use client_credentials")
        if client.service_user_id is None:
            raise OAuthError("unauthorized_client", "this client has no service account")
        user = self._active_user(client.service_user_id, service=True)
        scopes = [s for s in (form.get("scope") or "").split() if s in SUPPORTED_SCOPES]
        scope = " ".join(s for s in dict.fromkeys(scopes) if s not in ("openid", "offline_access"))
        # No person signed in: no auth_time, amr or acr (scope never holds openid here).
        body, _, _, _ = self._issue(client, user, scope, auth_time=None)
        return body

    def device_code(self, client: Client, form: Mapping[str, str]) -> dict[str, Any]:
        """RFC 8628 §3.4-3.5: poll until the user decides; slow_down if polled too often."""
        device_code = _required(form, "device_code")
        now = self.clock()
        code_hash = digest(device_code)
        row = self.store.poll_device(code_hash, now)
        if row is None or row.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the device_code is unknown")
        if row.status == "consumed":
            raise OAuthError("invalid_grant", "the device_code was used already")
        if row.expires_at <= now:
            raise OAuthError("expired_token", "the device_code has expired; start again")
        if row.status == "denied":
            raise OAuthError("access_denied", "the user denied the request")
        if row.status == "pending":
            if row.last_polled_at and now - row.last_polled_at < timedelta(seconds=row.interval):
                self.store.slow_down(code_hash, row.interval + 5)
                raise OAuthError("slow_down", "poll less often (interval increased by 5 seconds)")
            raise OAuthError("authorization_pending", "the user has not decided yet")
        user = self._active_user(row.user_id)
        auth_time = row.auth_time or int(now.timestamp())
        started = self._new_family(client, user, row.scope, auth_time, row.amr, row.acr)
        body, _, _, _ = self._issue(
            client,
            user,
            row.scope,
            auth_time=auth_time,
            refresh=started[0] if started else None,
            amr=row.amr,
            acr=row.acr,
        )
        return body


# grant_type -> its grant (RFC 6749 §4.1.3, §6, §4.4; RFC 8628 §3.4), built once rather than
# as bound methods per request.
_HANDLERS: dict[str, Callable[[Grants, Client, Mapping[str, str]], dict[str, Any]]] = {
    "authorization_code": Grants.authorization_code,
    "refresh_token": Grants.refresh_token,
    "client_credentials": Grants.client_credentials,
    DEVICE_GRANT: Grants.device_code,
}
