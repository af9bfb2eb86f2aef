"""OAuth clients: list, read, register, change, remove, and rotate a secret with a grace
period for the old one (zero-downtime rotation, RFC 6749 §2.3.1).

Clients from the config file and the built-in CLI client are listed and read here but are
`ReadOnly` (`managedBy: "config"`): the file is their source of truth. Every write goes
through the provider's one client validator (`provider.clients.client_problems`) and is
audited without its secret or digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from authbridge.admin.errors import (
    AlreadyExists,
    FieldError,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ReadOnly,
)
from authbridge.admin.paging import Page, PageRequest, encode_cursor
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.provider.clients import CLIENT_ID, Client, client_problems
from authbridge.provider.service import (
    MAX_PREVIOUS_SECRET_SECONDS,
    NewClient,
    OpenIDProvider,
    RotatedSecret,
)
from authbridge.storage.errors import Conflict

__all__ = [
    "DEFAULT_PREVIOUS_SECRET_SECONDS",
    "ClientAdmin",
    "ClientChanges",
    "client_facts",
    "client_version",
]

# Default grace period of a rotated-out secret: an hour covers a rolling restart of the
# client's replicas and a secret manager's sync (Kubernetes propagates a Secret within about
# a minute or two), while a secret rotated because it leaked stays usable for at most that
# long unless the operator says 0; a slow change-managed rollout asks for up to 30 days.
DEFAULT_PREVIOUS_SECRET_SECONDS = 3600

# What a client says about itself in audit details and versions: never a secret or digest.
_PUBLIC_FIELDS = (
    "client_id",
    "name",
    "public",
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "allowed_connectors",
    "access_token_lifetime",
    "refresh_token_lifetime",
    "refresh_token_idle_timeout",
    "service_user_id",
)


@dataclass(frozen=True)
class ClientChanges:
    """A PATCH: None leaves a field as it is (`access_token_lifetime` None too: clearing it
    back to the global default is `clear_access_token_lifetime`)."""

    name: str | None = None
    redirect_uris: tuple[str, ...] | None = None
    post_logout_redirect_uris: tuple[str, ...] | None = None
    grant_types: tuple[str, ...] | None = None
    allowed_connectors: tuple[str, ...] | None = None
    access_token_lifetime: int | None = None
    clear_access_token_lifetime: bool = False
    refresh_token_lifetime: int | None = None
    refresh_token_idle_timeout: int | None = None

    def apply(self, client: Client) -> Client:
        values: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "clear_access_token_lifetime" and getattr(self, f.name) is not None
        }
        if self.clear_access_token_lifetime:
            values["access_token_lifetime"] = None
        return replace(client, **values)


def client_facts(client: Client) -> dict[str, Any]:
    """The client's public fields (audit `before`/`after`)."""
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name in _PUBLIC_FIELDS
        for value in (getattr(client, name),)
    }


def client_version(client: Client) -> str:
    """The client's version for ETag/If-Match: a digest of its public fields (a secret
    rotation does not conflict with a settings change)."""
    raw = json.dumps(client_facts(client), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _invalid(problems: list[tuple[str, str]]) -> InvalidRequest:
    detail = "; ".join(f"{key}: {msg}" if key else msg for key, msg in problems)
    return InvalidRequest(
        detail, [FieldError(key or "clientId", message) for key, message in problems]
    )


class ClientAdmin:
    def __init__(self, provider: OpenIDProvider, audit: AuditSink) -> None:
        self._provider = provider
        self._audit = audit

    def all(self) -> list[Client]:
        """Every client (the CLI's listing)."""
        return self._provider.clients()

    def list(self, page: PageRequest) -> Page[Client]:
        """Every client by id: from the config file, built in, and registered (keyset on
        the id across all three)."""
        after = page.after[0] if page.after else None
        static = sorted(
            (
                c
                for c in self._provider.registry.static_clients()
                if after is None or c.client_id > after
            ),
            key=lambda c: c.client_id,
        )[: page.limit + 1]
        stored = [
            Client.from_row(row)
            for row in self._provider.store.clients(after=after, limit=page.limit + 1)
        ]
        merged = sorted([*static, *stored], key=lambda c: c.client_id)
        items = merged[: page.limit]
        more = len(merged) > page.limit
        return Page(items, encode_cursor([items[-1].client_id]) if more and items else None)

    def get(self, client_id: str) -> Client:
        for client in self._provider.registry.static_clients():
            if client.client_id == client_id:
                return client
        # (an id no client can have is not looked up: PostgreSQL refuses NUL in text)
        row = self._provider.store.client(client_id) if CLIENT_ID.match(client_id) else None
        if row is None:
            raise NotFound(f"no client {client_id!r}")
        return Client.from_row(row)

    def _writable(self, client_id: str) -> None:
        if client_id in self._provider.registry.static_ids():
            raise ReadOnly(
                f"client {client_id!r} is defined in the config file or built in; change it there",
                managedBy="config",
            )

    @staticmethod
    def _not_a_service_account(client: Client) -> None:
        """A service account's client changes with its account (`/service-accounts`):
        removing it alone would leave the account's user and its tokens behind."""
        if client.service_user_id is not None:
            raise ReadOnly(
                f"client {client.client_id!r} belongs to a service account; change or delete "
                "the service account instead (its secret rotates here)",
                managedBy="service-account",
            )

    def create(self, actor: Actor, client: Client) -> NewClient:
        """Register a client (the one validator); a confidential one's secret is returned
        once and stored only as a digest."""
        client = replace(client, source="database")
        problems = client_problems(client)
        if problems:
            raise _invalid(problems)
        self._writable(client.client_id)
        try:
            created = self._provider.add_client(client)
        except Conflict as exc:
            raise AlreadyExists(f"client {client.client_id!r} exists already") from exc
        self._record(
            actor, "client.created", created.client, {"after": client_facts(created.client)}
        )
        return created

    def update(
        self, actor: Actor, client_id: str, changes: ClientChanges, if_match: str | None
    ) -> Client:
        """Change a registered client; `if_match` (its version, or `*`) is required and
        compared inside the write transaction, so a concurrent change is not lost."""
        self._writable(client_id)
        self._not_a_service_account(self.get(client_id))  # (404 before 428)
        if if_match is None:
            raise PreconditionRequired("changing a client needs If-Match with its ETag")

        def change(current: Client) -> Client:
            if if_match != "*" and if_match != client_version(current):
                raise PreconditionFailed("the client changed since it was read")
            updated = changes.apply(current)
            problems = client_problems(updated)
            if problems:
                raise _invalid(problems)
            return updated

        changed = self._provider.update_client(client_id, change)
        if changed is None:
            raise NotFound(f"no registered client {client_id!r}")
        before, after = changed
        self._record(
            actor,
            "client.updated",
            after,
            {"before": client_facts(before), "after": client_facts(after)},
        )
        return after

    def delete(self, actor: Actor, client_id: str) -> None:
        """Remove a registered client and revoke every grant it holds."""
        self._writable(client_id)
        client = self.get(client_id)
        self._not_a_service_account(client)
        if not self._provider.remove_client(client_id):
            raise NotFound(f"no registered client {client_id!r}")
        self._record(actor, "client.deleted", client, {"before": client_facts(client)})

    def rotate_secret(
        self,
        actor: Actor,
        client_id: str,
        previous_expires_in: int = DEFAULT_PREVIOUS_SECRET_SECONDS,
    ) -> RotatedSecret:
        """A new secret, returned once; the old one is accepted for `previous_expires_in`
        seconds more (0: refused at once)."""
        self._writable(client_id)
        if not 0 <= previous_expires_in <= MAX_PREVIOUS_SECRET_SECONDS:
            raise InvalidRequest(
                "previousSecretExpiresIn is out of range",
                [
                    FieldError(
                        "previousSecretExpiresIn",
                        f"between 0 and {MAX_PREVIOUS_SECRET_SECONDS} seconds",
                    )
                ],
            )
        client = self.get(client_id)
        if client.public:  # (a public client has no secret to rotate)
            raise NotFound(f"no registered confidential client {client_id!r}")
        rotated = self._provider.rotate_client_secret(client_id, previous_expires_in)
        if rotated is None:
            raise NotFound(f"no registered confidential client {client_id!r}")
        self._record(
            actor,
            "client.secret_rotated",
            client,
            {"previousSecretExpiresAt": _iso(rotated.previous_expires_at)},
        )
        return rotated

    def _record(self, actor: Actor, kind: str, client: Client, details: dict[str, Any]) -> None:
        self._audit.record(
            AuditEvent(
                type=kind,
                actor=actor,
                target=Target("client", client.client_id, client.name),
                details=details,
            )
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
