"""Service accounts: a non-person user with one role and a confidential client for the
client_credentials grant (RFC 6749 §4.4) whose tokens speak for it. Created with a secret
shown once; deleting one disables the user, revokes its credentials and removes its client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from authbridge.admin.errors import AlreadyExists, FieldError, InvalidRequest, NotFound
from authbridge.admin.paging import Page, PageRequest, encode_cursor
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import RoleBindings, UnknownRole
from authbridge.provider.clients import CLIENT_ID
from authbridge.provider.service import OpenIDProvider
from authbridge.storage.errors import Conflict
from authbridge.storage.provider_store import ClientRow

__all__ = [
    "SERVICE_CLIENT_PREFIX",
    "NewServiceAccount",
    "ServiceAccount",
    "ServiceAccountAdmin",
    "principal_problems",
]

SERVICE_CLIENT_PREFIX = "sa-"


def principal_problems(provider: OpenIDProvider, name: str, role: str) -> list[FieldError]:
    """A new non-person principal's name (as a client id allows, at most 100 characters)
    and its one role (one the catalog knows)."""
    errors = []
    if not CLIENT_ID.match(name) or len(name) > 100:
        errors.append(FieldError("name", "letters, digits and . _ : - (at most 100)"))
    try:
        provider.roles.catalog.get(role)
    except UnknownRole as exc:
        errors.append(FieldError("role", str(exc)))
    return errors


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    client_id: str
    user_id: str
    roles: tuple[str, ...]
    active: bool
    access_token_lifetime: int | None
    created_at: datetime | None


@dataclass(frozen=True)
class NewServiceAccount:
    account: ServiceAccount
    secret: str


class ServiceAccountAdmin:
    def __init__(
        self,
        provider: OpenIDProvider,
        bindings: RoleBindings,
        revocation: Revocation,
        audit: AuditSink,
    ) -> None:
        self._provider = provider
        self._bindings = bindings
        self._revocation = revocation
        self._audit = audit

    def _view(self, client: ClientRow) -> ServiceAccount | None:
        user_id = client.service_user_id
        user = self._provider.store.user(user_id) if user_id else None
        if user is None:
            return None
        return ServiceAccount(
            name=user.name or client.client_id.removeprefix(SERVICE_CLIENT_PREFIX),
            client_id=client.client_id,
            user_id=user.id,
            roles=tuple(sorted(self._bindings.effective_roles(user.id).system)),
            active=bool(user.active),
            access_token_lifetime=client.access_token_lifetime,
            created_at=client.created_at,
        )

    def list(self, page: PageRequest) -> Page[ServiceAccount]:
        """By name (keyset on the client id, `sa-<name>`)."""
        after = SERVICE_CLIENT_PREFIX + page.after[0] if page.after else None
        rows = self._provider.store.clients(
            after=after, limit=page.limit + 1, service_accounts=True
        )
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        items = [view for row in rows if (view := self._view(row)) is not None]
        cursor = rows[-1].client_id.removeprefix(SERVICE_CLIENT_PREFIX) if rows else ""
        return Page(items, encode_cursor([cursor]) if more else None)

    def get(self, name: str) -> ServiceAccount:
        client_id = SERVICE_CLIENT_PREFIX + name
        row = self._provider.store.client(client_id) if CLIENT_ID.match(client_id) else None
        view = self._view(row) if row is not None and row.service_user_id else None
        if view is None:
            raise NotFound(f"no service account {name!r}")
        return view

    def create(
        self, actor: Actor, name: str, role: str, *, access_token_lifetime: int | None = None
    ) -> NewServiceAccount:
        """A service account holding `role`; its client secret is returned once."""
        errors = principal_problems(self._provider, SERVICE_CLIENT_PREFIX + name, role)
        if access_token_lifetime is not None and not 60 <= access_token_lifetime <= 86400:
            errors.append(FieldError("accessTokenLifetime", "between 60 and 86400 seconds"))
        if errors:
            raise InvalidRequest("the service account is invalid", errors)
        try:
            created = self._provider.add_service_account(name, role, lifetime=access_token_lifetime)
        except Conflict as exc:
            raise AlreadyExists(f"service account {name!r} exists already") from exc
        account = self.get(name)
        assert created.secret is not None  # a service account's client is confidential
        self._record(actor, "service_account.created", account, after=True)
        return NewServiceAccount(account, created.secret)

    def delete(self, actor: Actor, name: str) -> None:
        """Disable the account, revoke its tokens and remove its client."""
        account = self.get(name)
        self._provider.storage.users.set_active(account.user_id, False)
        self._revocation.revoke_user(account.user_id)
        self._provider.remove_client(account.client_id)
        self._record(actor, "service_account.deleted", account, after=False)

    def _record(self, actor: Actor, kind: str, account: ServiceAccount, *, after: bool) -> None:
        facts = {
            "name": account.name,
            "clientId": account.client_id,
            "roles": list(account.roles),
            "accessTokenLifetime": account.access_token_lifetime,
        }
        self._audit.record(
            AuditEvent(
                type=kind,
                actor=actor,
                target=Target("service_account", account.user_id, account.name),
                details={"after": facts} if after else {"before": facts},
            )
        )
