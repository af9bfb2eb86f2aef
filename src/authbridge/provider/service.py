"""The OpenID Provider: one object the web layer and the CLI call, over storage and keys.

Over 400 lines because it is the one facade of every endpoint (authorize, token, device,
userinfo, revocation, introspection, logout) and of client administration; each method
is short and delegates the protocol to `authorization`, `grants` and `clients`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from authbridge.clock import utcnow
from authbridge.config.model import Settings
from authbridge.directory.accounts import new_account
from authbridge.directory.roles import RoleResolver
from authbridge.directory.throttle import CredentialThrottle
from authbridge.provider.authorization import (
    SUPPORTED_SCOPES,
    AuthorizationRequest,
    AuthorizationResponse,
)
from authbridge.provider.clients import (
    DEVICE_GRANT,
    Client,
    ClientRegistry,
    authenticate_client,
    client_problems,
    presented_credentials,
)
from authbridge.provider.device import DeviceVerification, new_user_code
from authbridge.provider.errors import OAuthError
from authbridge.provider.events import GrantEvents, NoEvents, grant_label
from authbridge.provider.grants import CODE_LIFETIME, DEVICE_INTERVAL, DEVICE_LIFETIME, Grants
from authbridge.provider.principals import subject_principal, userinfo_claims
from authbridge.provider.secrets import digest, new_value
from authbridge.provider.verification import OwnTokens
from authbridge.storage import Storage
from authbridge.storage.counters import RateCounter
from authbridge.storage.errors import Conflict
from authbridge.storage.models import User
from authbridge.storage.notify import Topic
from authbridge.storage.provider_store import ProviderStore, RefreshRow
from authbridge.tokens.issuer import TokenIssuer
from authbridge.tokens.keyring import KeyRing

__all__ = [
    "MAX_PREVIOUS_SECRET_SECONDS",
    "SUBJECT_REVOCATION_LIFETIME",
    "NewClient",
    "OpenIDProvider",
    "RotatedSecret",
]

# How long a deactivated subject stays on the revocation feed: the longest an access token
# not tracked by its id can live (tokens.accessTokenLifetime and a client's own are at most
# 86400 s), plus a verifier's clock tolerance. Robot tokens are revoked by id instead.
SUBJECT_REVOCATION_LIFETIME = timedelta(seconds=86400 + 600)


# How long a rotated-out client secret may stay accepted: a month covers the slowest
# change-managed rollout of a client's configuration; longer is a second permanent secret.
MAX_PREVIOUS_SECRET_SECONDS = 30 * 86400


@dataclass(frozen=True)
class NewClient:
    client: Client
    secret: str | None


@dataclass(frozen=True)
class RotatedSecret:
    """A rotation's new secret (shown once) and until when the old one is accepted."""

    secret: str
    previous_expires_at: datetime | None


class OpenIDProvider:
    def __init__(
        self,
        storage: Storage,
        keyring: KeyRing,
        issuer: TokenIssuer,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        store: ProviderStore | None = None,
        counters: RateCounter | None = None,
        events: GrantEvents | None = None,
    ) -> None:
        self.storage = storage
        self.keyring = keyring  # (the admin's key listing and rotation use the same ring)
        # The grants' persistence: the storage's own, or one injected (tests).
        self.store = store if store is not None else storage.provider
        self.issuer = issuer
        self.settings = settings
        self.clock = clock
        self.registry = ClientRegistry(settings.clients, self._registered_client)
        # Failed client authentications and device-code guesses: the database's counters, or
        # the Redis ones the wiring chose (`storage.counters.counters_for`).
        counters = counters if counters is not None else storage.rate_limits
        # Whether storage calls are cheap enough to run on the caller's event loop: SQLite's
        # in-process statements are; a Redis round trip (up to its timeout) is not.
        self.inline_io = storage.db.dialect == "sqlite" and not counters.remote
        # Whether the token endpoint's grants may run on the event loop, awaiting their hot
        # statements there and handing every other storage call to a thread
        # (storage/loop_io.py): PostgreSQL, which has the loop's own connections.
        self.loop_io = storage.db.dialect == "postgresql"
        self.own_tokens = OwnTokens(keyring, settings.server.issuer)
        # Told how each token request ended (the metrics); nobody by default.
        self.events: GrantEvents = events if events is not None else NoEvents()
        # Effective roles from the configuration's roles and team templates (built once).
        self.roles = RoleResolver.from_settings(settings)
        self.grants = Grants(
            self.store,
            issuer,
            settings.access_token_audience,
            clock=clock,
            roles=self.roles,
            events=self.events,
        )
        self.throttle = CredentialThrottle(counters, "oauth-client")
        self.device_verification = DeviceVerification(
            self.store, counters, self._client_name, clock
        )

    def _authenticate(
        self,
        authorization: str | None,
        form: Mapping[str, str],
        address: str | None,
        *,
        allow_public: bool = True,
    ) -> Client:
        """Client authentication (RFC 6749 §2.3) behind the failure throttle: §2.3.1 says the
        server "MUST protect any endpoint utilizing it against brute force attacks".

        Too many failures for this client id from this address, or from this address at
        all, within a short window answer 429 with Retry-After before the secret is checked
        (RFC 6749 defines no error code for it; `temporarily_unavailable` says "retry
        later", where `invalid_client` would wrongly say the secret is wrong).
        `address` None (no network caller) is not throttled.
        """
        if address is None:
            return authenticate_client(
                self.registry, authorization, form, allow_public=allow_public, now=self.clock()
            )
        presented = presented_credentials(authorization, form)  # malformed: no guess made
        client_id = presented[0]
        attempt = self.throttle.check(client_id, address)
        if attempt.throttled:
            raise OAuthError(
                "temporarily_unavailable",
                f"too many failed client authentications; retry in {attempt.retry_after} s",
                status=429,
                retry_after=attempt.retry_after,
            )
        try:
            client = authenticate_client(
                self.registry,
                authorization,
                form,
                allow_public=allow_public,
                presented=presented,
                now=self.clock(),
            )
        except OAuthError as exc:
            if exc.error == "invalid_client":
                self.throttle.failed(client_id, address)
            raise
        self.throttle.succeeded(client_id, address, attempt)
        return client

    def _client_name(self, client_id: str) -> str:
        client = self.registry.get(client_id)
        return client.name if client else client_id

    def _registered_client(self, client_id: str) -> Client | None:
        row = self.store.client(client_id)
        return Client.from_row(row) if row is not None else None

    # Authorization endpoint --------------------------------------------------------

    def hint_subject(self, request: AuthorizationRequest) -> str | None:
        """`sub` of a valid id_token_hint; a hint we did not sign is an invalid_request."""
        if request.id_token_hint is None:
            return None
        claims = self.own_tokens.id_token_hint(request.id_token_hint)
        if claims is None or not isinstance(claims.get("sub"), str):
            raise request.error("invalid_request", "id_token_hint is not an ID token we issued")
        return str(claims["sub"])

    def authorize(
        self,
        request: AuthorizationRequest,
        user: User,
        auth_time: int,
        *,
        amr: Sequence[str] = (),
        acr: str | None = None,
    ) -> AuthorizationResponse:
        """Issue what the response type asks for (OIDC Core §3.1.2.5, §3.2.2.5); `amr`/`acr`
        say how the session signed in and go into its tokens (OIDC Core §2)."""
        client = request.client
        now = self.clock()
        if request.response_type == "code":
            code = new_value()
            self.store.add_code(
                digest(code),
                client_id=client.client_id,
                user_id=user.id,
                redirect_uri=request.redirect_uri,
                scope=request.scope,
                nonce=request.nonce,
                code_challenge=request.code_challenge,
                auth_time=auth_time,
                amr=" ".join(amr) or None,
                acr=acr,
                expires_at=now + timedelta(seconds=CODE_LIFETIME),
            )
            return request.target.respond({"code": code})
        subject = self.store.subject(user.id)
        assert subject is not None
        principal = subject_principal(subject, self.roles)
        params: dict[str, str] = {}
        access_token = None
        if request.response_type == "id_token token":
            issued = self.issuer.access_token(
                principal,
                audience=self.settings.access_token_audience,
                client_id=client.client_id,
                scope=request.scope,
                lifetime=client.access_token_lifetime,
                auth_time=auth_time,
                amr=amr,
                acr=acr,
            )
            access_token = issued.token
            params.update(
                access_token=issued.token,
                token_type="Bearer",
                expires_in=str(issued.expires_at - int(now.timestamp())),
                scope=request.scope,
            )
        params["id_token"] = self.issuer.id_token(
            principal,
            client_id=client.client_id,
            auth_time=auth_time,
            nonce=request.nonce,
            access_token=access_token,
            amr=amr,
            acr=acr,
        ).token
        return request.target.respond(params)

    # Token endpoint ----------------------------------------------------------------

    def token(
        self, authorization: str | None, form: Mapping[str, str], address: str | None = None
    ) -> dict[str, Any]:
        grant_type = grant_label(form.get("grant_type"))
        client_id: str | None = None
        try:
            client = self._authenticate(authorization, form, address)
            client_id = client.client_id
            body = self.grants.handle(client, form)
        except OAuthError as exc:
            self.events.grant(grant_type, client_id, exc.error, address=address)
            raise
        except Exception:
            self.events.grant(grant_type, client_id, "server_error", address=address)
            raise
        self.events.grant(grant_type, client_id, "success", address=address)
        return body

    @staticmethod
    def in_place_first(endpoint: str, form: Mapping[str, str]) -> bool:
        """Whether a call usually needs no storage at all, so that an event loop may try it
        in place before giving it a greenlet (`storage/loop_io.py` `try_in_place`): a
        client_credentials grant (RFC 6749 §4.4), whose client and service account are
        cached. Its first storage call happens before anything it changes."""
        return endpoint == "token" and form.get("grant_type") == "client_credentials"

    # Device authorization (RFC 8628 §3.1-3.2) --------------------------------------

    def device_authorization(
        self, authorization: str | None, form: Mapping[str, str], address: str | None = None
    ) -> dict[str, Any]:
        client = self._authenticate(authorization, form, address)
        if not client.allows_grant(DEVICE_GRANT):
            raise OAuthError("unauthorized_client", "this client may not use the device grant")
        scope = " ".join(
            s for s in dict.fromkeys((form.get("scope") or "").split()) if s in SUPPORTED_SCOPES
        )
        device_code = new_value()
        expires = self.clock() + timedelta(seconds=DEVICE_LIFETIME)
        for _ in range(5):
            user_code = new_user_code()
            if self.store.add_device(
                digest(device_code),
                user_code=user_code,
                client_id=client.client_id,
                scope=scope,
                expires_at=expires,
                interval=DEVICE_INTERVAL,
            ):
                break
        else:
            raise OAuthError("temporarily_unavailable", "could not allot a user code", status=503)
        verification = self.settings.server.issuer + "/device"
        return {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification,
            "verification_uri_complete": f"{verification}?user_code={user_code}",
            "expires_in": DEVICE_LIFETIME,
            "interval": DEVICE_INTERVAL,
        }

    # Userinfo, revocation, introspection -------------------------------------------

    def access_claims(self, token: str) -> dict[str, Any] | None:
        """Claims of a live access token: signed by us, unexpired, not revoked, user active."""
        claims = self.own_tokens.access_token(token)
        if claims is None:
            return None
        jti = claims.get("jti")
        if not isinstance(jti, str) or self.store.jti_revoked(jti):
            return None
        user = self.store.user(str(claims.get("sub")))
        if user is None or not user.active:
            return None
        # A user revoked after the token was issued (a password change, a deactivation
        # since undone) leaves untracked access tokens alive unless the feed's subject
        # entry is asked, as every middleware does; no usable iat cannot prove "after".
        iat = claims.get("iat")
        if type(iat) is not int or self.store.subject_revoked(
            user.id, datetime.fromtimestamp(iat, UTC), self.clock()
        ):
            return None
        return claims

    def userinfo(self, token: str) -> dict[str, object]:
        """OIDC Core §5.3: claims of the token's user, as its scope allows.

        Errors follow RFC 6750 §3.1, as OIDC Core §5.3.3 asks. A token that is not ours,
        expired, revoked or whose user is gone is `invalid_token` (401). A valid token
        that was not granted the `openid` scope is `insufficient_scope` (403): §3.1 defines
        it as "the request requires higher privileges than provided by the access token",
        which is exactly the case, whereas `invalid_token` would tell the client to get a
        new token of the same kind, which would fail the same way. That includes service
        account and robot tokens: they speak for no signed-in end-user (RFC 6749 §4.4), so
        the description says so instead of calling a valid token invalid.
        """
        claims = self.access_claims(token)
        if claims is None:
            raise OAuthError(
                "invalid_token", "the access token is invalid, expired or revoked", status=401
            )
        scope = str(claims.get("scope", ""))
        if "openid" not in scope.split():
            kind = claims.get("principal_type")
            if kind in ("service", "robot"):
                raise OAuthError(
                    "insufficient_scope",
                    f"this token belongs to a {kind} principal, not a signed-in user; "
                    "userinfo needs a token granted with the openid scope",
                    status=403,
                )
            raise OAuthError(
                "insufficient_scope",
                "userinfo needs a token granted with the openid scope",
                status=403,
            )
        user = self.store.subject(str(claims["sub"]))
        if user is None:
            raise OAuthError("invalid_token", "the user of this token is gone", status=401)
        return userinfo_claims(subject_principal(user, self.roles), scope)

    def revoke(
        self, authorization: str | None, form: Mapping[str, str], address: str | None = None
    ) -> None:
        """RFC 7009 §2.1: revoke a token of this client; unknown tokens are not an error."""
        client = self._authenticate(authorization, form, address)
        token = form.get("token")
        if not token:
            raise OAuthError("invalid_request", "token is missing")
        found = self.store.refresh_token(digest(token))
        kind = "unknown"
        if found is not None:
            if found[0].client_id == client.client_id:
                # §2.1: revoking a refresh token should revoke its whole grant.
                self.store.revoke_family(found[0].family_id)
                kind = "refresh_token"
        else:
            claims = self.own_tokens.access_token(token)
            if claims is not None and claims.get("client_id") == client.client_id:
                exp = datetime.fromtimestamp(claims["exp"], UTC)
                self.store.revoke_jti(str(claims["jti"]), exp)
                kind = "access_token"
        self.events.token_revoked(client.client_id, kind, address=address)

    def introspect(
        self, authorization: str | None, form: Mapping[str, str], address: str | None = None
    ) -> dict[str, Any]:
        """RFC 7662 §2: only authenticated confidential clients may ask."""
        client = self._authenticate(authorization, form, address, allow_public=False)
        token = form.get("token")
        if not token:
            raise OAuthError("invalid_request", "token is missing")
        claims = self.access_claims(token)
        if claims is not None:
            return {"active": True, "token_type": "Bearer", **claims}
        found = self.store.refresh_token(digest(token))
        if found is not None and found[1]:
            row, _ = found
            now = self.clock()
            user = self.store.user(row.user_id)
            if (
                user is not None
                and user.active
                and now < row.family_expires_at
                and now < row.idle_expires_at
            ):
                return {
                    "active": True,
                    "token_type": "refresh_token",
                    "client_id": row.client_id,
                    "sub": row.user_id,
                    "scope": row.scope,
                    "exp": int(min(row.family_expires_at, row.idle_expires_at).timestamp()),
                    "iss": self.settings.server.issuer,
                }
        self.events.introspected_inactive(client.client_id, address=address)
        return {"active": False}

    def revoke_user(self, user_id: str) -> int:
        """Revoke the user's refresh tokens and tracked access tokens, and put the user on
        the revocation feed until every access token issued before now has expired."""
        now = self.clock()
        return self.store.revoke_user(user_id, now, now + SUBJECT_REVOCATION_LIFETIME)

    def grants_of_user(self, user_id: str) -> list[RefreshRow]:
        """The user's live refresh-token families (the apps they connected), newest first."""
        return self.store.live_families_of_user(user_id, self.clock())

    def revoke_grant(self, user_id: str, family_id: str) -> bool:
        """RFC 7009 §2.1 for one grant of the user: its refresh-token family ends (a token
        of another user's family is left alone)."""
        return self.store.revoke_family_of_user(user_id, family_id) > 0

    def revoke_robot_token(self, jti: str) -> bool:
        """Revoke one robot token by its id (on the revocation feed until it expires)."""
        return self.store.revoke_robot_token(jti, self.clock())

    # RP-initiated logout -----------------------------------------------------------

    def logout_client_id(self, params: Mapping[str, str]) -> str | None:
        """OIDC RP-Initiated Logout §2: the client asking, by `client_id` or else by the
        `aud` of an id_token_hint we issued (so the page can name the app)."""
        if params.get("client_id"):
            return params["client_id"]
        hint = params.get("id_token_hint")
        claims = self.own_tokens.id_token_hint(hint) if hint else None
        audience = claims.get("aud") if claims is not None else None
        return audience if isinstance(audience, str) else None

    def logout_target(self, params: Mapping[str, str]) -> tuple[str | None, str | None, bool]:
        """OIDC RP-Initiated Logout §2-3: (redirect URI or None, user id of the hint, hint ok).

        A post_logout_redirect_uri is followed only when registered for the client named by
        the id_token_hint's `aud` or by `client_id`; otherwise it is an error.
        """
        hint = params.get("id_token_hint")
        claims = self.own_tokens.id_token_hint(hint) if hint else None
        if hint and claims is None:
            raise OAuthError("invalid_request", "id_token_hint is not an ID token we issued")
        client_id = params.get("client_id")
        if claims is not None:
            audience = claims.get("aud")
            hinted = audience if isinstance(audience, str) else None
            if client_id and hinted and client_id != hinted:
                raise OAuthError("invalid_request", "client_id differs from the id_token_hint")
            client_id = client_id or hinted
        target = params.get("post_logout_redirect_uri")
        if target:
            client = self.registry.get(client_id)
            if client is None:
                raise OAuthError(
                    "invalid_request", "post_logout_redirect_uri needs client_id or id_token_hint"
                )
            if target not in client.post_logout_redirect_uris:
                raise OAuthError("invalid_request", "post_logout_redirect_uri is not registered")
        subject = str(claims["sub"]) if claims is not None and "sub" in claims else None
        return target, subject, claims is not None

    # Clients, service accounts and robot tokens (admin) -----------------------------

    def add_client(self, client: Client) -> NewClient:
        """Register a client; a confidential one gets a secret, shown once, stored hashed."""
        problems = client_problems(client)
        if problems:
            raise ValueError("; ".join(f"{key}: {msg}" if key else msg for key, msg in problems))
        if client.client_id in self.registry.static_ids():
            raise Conflict(f"client {client.client_id!r} is defined in the config file")
        secret = None if client.public else new_value()
        stored = replace(client, secret_hash=digest(secret) if secret else None)
        self.store.add_client(stored.row())
        self.storage.changes.publish(Topic.CLIENTS, client.client_id)
        return NewClient(stored, secret)

    def clients(self) -> list[Client]:
        return [
            *self.registry.static_clients(),
            *(Client.from_row(row) for row in self.store.clients()),
        ]

    def remove_client(self, client_id: str) -> bool:
        self.registry.forget(client_id)
        removed = self.store.remove_client(client_id)
        # Every replica's client cache forgets it now, not after its CACHE_SECONDS.
        self.storage.changes.publish(Topic.CLIENTS, client_id)
        return removed

    def update_client(
        self, client_id: str, change: Callable[[Client], Client]
    ) -> tuple[Client, Client] | None:
        """Change a registered client's name and settings (`change` runs in the write
        transaction and may raise to abort; it must keep the client valid); None when there
        is no registered client. Published like a removal, so caches drop the old copy."""
        if client_id in self.registry.static_ids():
            raise Conflict(f"client {client_id!r} is defined in the config file")
        changed = self.store.update_client(
            client_id, lambda row: change(Client.from_row(row)).row()
        )
        if changed is None:
            return None
        self.registry.forget(client_id)
        self.storage.changes.publish(Topic.CLIENTS, client_id)
        return Client.from_row(changed[0]), Client.from_row(changed[1])

    def rotate_client_secret(
        self, client_id: str, previous_expires_in: int = 0
    ) -> RotatedSecret | None:
        """A new secret (RFC 6749 §2.3.1) for a registered confidential client, a service
        account's included; None when there is no such client.

        The old secret stays accepted for `previous_expires_in` seconds (0: refused at once,
        at most MAX_PREVIOUS_SECRET_SECONDS), so the client's own replicas can switch over
        without downtime; a secret older than the old one is refused from now on. The change
        is published, so every replica's client cache takes it at once rather than after its
        CACHE_SECONDS. Grants the client holds stay valid."""
        if client_id in self.registry.static_ids():
            raise Conflict(f"client {client_id!r} is defined in the config file")
        if not 0 <= previous_expires_in <= MAX_PREVIOUS_SECRET_SECONDS:
            raise ValueError(
                f"previous secret expiry: between 0 and {MAX_PREVIOUS_SECRET_SECONDS} seconds"
            )
        secret = new_value()
        expires = (
            self.clock() + timedelta(seconds=previous_expires_in) if previous_expires_in else None
        )
        if not self.store.set_client_secret(client_id, digest(secret), expires):
            return None
        self.registry.forget(client_id)
        self.storage.changes.publish(Topic.CLIENTS, client_id)
        return RotatedSecret(secret, expires)

    def add_service_account(self, name: str, role: str, *, lifetime: int | None) -> NewClient:
        """A service account: a non-person user with one role, and a confidential client for
        the client_credentials grant whose tokens carry `principal_type: service`."""
        user = new_account(
            self.storage.users,
            username=f"service:{name}",
            name=name,
            kind="service",
            roles=[self.roles.catalog.get(role).name],
            role_origin="cli",
        )
        return self.add_client(
            Client(
                client_id=f"sa-{name}",
                name=f"service account {name}",
                grant_types=("client_credentials",),
                access_token_lifetime=lifetime,
                service_user_id=user.id,
            )
        )

    def issue_robot_token(
        self, name: str, role: str, lifetime: int, description: str = ""
    ) -> tuple[str, str, datetime]:
        """A robot token (Pachyderm's): a long-lived access token for a new robot user."""
        user = new_account(
            self.storage.users,
            username=f"robot:{name}",
            name=name,
            kind="robot",
            roles=[self.roles.catalog.get(role).name],
            role_origin="cli",
        )
        subject = self.store.subject(user.id)
        assert subject is not None  # created just above
        issued = self.issuer.access_token(
            subject_principal(subject, self.roles),
            audience=self.settings.access_token_audience,
            client_id="robot",
            lifetime=lifetime,
            tracked=True,  # its row (expiry, revocation) keeps the signing key published
        )
        expires = datetime.fromtimestamp(issued.expires_at, UTC)
        self.store.add_robot_token(issued.jti, user.id, description, expires)
        return issued.token, issued.jti, expires
