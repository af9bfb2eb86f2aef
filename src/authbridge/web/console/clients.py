"""`/admin/clients`: OAuth clients — list, read, register, rename and re-point (redirect URIs),
rotate the secret (RFC 6749 §2.3.1: the old one stays accepted until its chosen expiry),
remove. Every act is `admin.clients`, the API's: the one validator (`client_problems`), the
config file's clients read-only, and the same lost-update check as the API's `If-Match`
(the form carries the version it was read at).

A new or rotated secret is rendered once, in the POST's answer (`no-store`); it is never in
a URL, a redirect or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.clients import (
    DEFAULT_PREVIOUS_SECRET_SECONDS,
    ClientChanges,
    client_version,
)
from authbridge.admin.errors import AdminError, AlreadyExists, InvalidRequest
from authbridge.admin.paging import PageRequest
from authbridge.provider.clients import DEVICE_GRANT, Client
from authbridge.provider.service import MAX_PREVIOUS_SECRET_SECONDS
from authbridge.web.console.common import field_errors
from authbridge.web.console.guard import ConsoleUser, console_user, console_writer, demand_roles
from authbridge.web.console.shell import confirm, done, failed, notice_of, page, shown_once
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["CLIENT_FIELDS", "GRANT_CHOICES", "PREVIOUS_SECRET_CHOICES", "router"]

router = APIRouter()
SECTION = "clients"
FormStr = Annotated[str, Form(max_length=256)]
# 50 URIs of 2048 characters, one a line: what the API accepts.
FormUris = Annotated[str, Form(max_length=50 * 2050)]
NOTICES = {
    "updated": "The client was changed.",
    "deleted": "The client was removed and every grant it held revoked.",
}
# What a registered client may be given here; client_credentials belongs to service accounts.
GRANT_CHOICES = (
    ("authorization_code", "Authorization code"),
    ("refresh_token", "Refresh token"),
    (DEVICE_GRANT, "Device authorization"),
    ("implicit", "Implicit (legacy)"),
)
PREVIOUS_SECRET_CHOICES = (
    (0, "refused at once (the secret leaked)"),
    (DEFAULT_PREVIOUS_SECRET_SECONDS, "1 hour"),
    (86400, "1 day"),
    (7 * 86400, "7 days"),
    (MAX_PREVIOUS_SECRET_SECONDS, f"{MAX_PREVIOUS_SECRET_SECONDS // 86400} days"),
)
# The validator names fields as the config file does; the forms name them like this.
CLIENT_FIELDS = {"": "client_id", "redirectUris": "redirect_uris", "grantTypes": "grant_types"}


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _path(client_id: str) -> str:
    return "/admin/clients/" + quote(client_id, safe="")


@dataclass(frozen=True)
class _Row:
    client: Client
    kind: str
    read_only: str | None  # why it cannot be changed here, or None


def _row(client: Client) -> _Row:
    if client.source != "database":
        where = "the config file" if client.source == "config" else "authbridge itself"
        return _Row(client, client.source, f"Defined in {where}: change it there.")
    if client.service_user_id is not None:
        return _Row(
            client,
            "service account",
            "Belongs to a service account: change or delete the service account "
            "(its secret can be rotated here).",
        )
    return _Row(client, "registered", None)


@router.get("/admin/clients", include_in_schema=False)
def list_clients(request: Request, services: ServicesDep, cursor: str | None = None) -> Response:
    user = console_user(request, services, "clients.read")
    try:
        found = services.ready().admin.clients.list(PageRequest.of(None, cursor, key_size=1))
    except AdminError as exc:
        return failed(request, services, user, exc, back="/admin/clients", section=SECTION)
    return _list_page(request, services, user, found.items, found.next_cursor)


def _list_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    items: Any,
    next_cursor: str | None,
    status_code: int = 200,
    **form: Any,
) -> Response:
    return page(
        request,
        services,
        user,
        "console/clients.html",
        SECTION,
        status_code,
        rows=[_row(c) for c in items],
        next_cursor=next_cursor,
        notice=notice_of(request, NOTICES),
        grant_choices=GRANT_CHOICES,
        form=form.get("form") or {"grant_types": ["authorization_code", "refresh_token"]},
        errors=form.get("errors") or {},
    )


@router.post("/admin/clients", include_in_schema=False)
def create_client(
    request: Request,
    services: ServicesDep,
    csrf_token: FormStr = "",
    client_id: FormStr = "",
    name: FormStr = "",
    client_type: FormStr = "confidential",
    redirect_uris: FormUris = "",
    grant_types: Annotated[list[str] | None, Form(max_length=8)] = None,
) -> Response:
    user = console_writer(request, services, "clients.write", csrf_token)
    grants = tuple(g[:128] for g in grant_types or ())
    form = {
        "client_id": client_id,
        "name": name,
        "client_type": client_type,
        "redirect_uris": redirect_uris,
        "grant_types": list(grants),
    }
    client = Client(
        client_id=client_id.strip(),
        name=name.strip() or client_id.strip(),
        public=client_type == "public",
        redirect_uris=_lines(redirect_uris),
        grant_types=grants,
        source="database",
    )
    admin = services.ready().admin
    try:
        created = admin.clients.create(user.actor, client)
    except (InvalidRequest, AlreadyExists) as exc:
        errors = (
            field_errors(exc, CLIENT_FIELDS)
            if isinstance(exc, InvalidRequest)
            else {"client_id": "a client with this id exists already"}
        )
        first = admin.clients.list(PageRequest.of(None, None))
        return _list_page(
            request, services, user, first.items, first.next_cursor, exc.status,
            form=form, errors=errors,
        )  # fmt: skip
    return shown_once(
        request,
        services,
        user,
        SECTION,
        title=f"Client {created.client.client_id} registered",
        label="Client secret",
        secret=created.secret,
        facts=[("Client id", created.client.client_id), ("Type", "confidential")]
        if created.secret
        else [("Client id", created.client.client_id), ("Type", "public (no secret)")],
        back=_path(created.client.client_id),
        back_label="Go to the client",
    )


def _detail(
    request: Request,
    services: Services,
    user: ConsoleUser,
    client: Client,
    status_code: int = 200,
    **form: Any,
) -> Response:
    ready = services.ready()
    now = ready.provider.clock()
    return page(
        request,
        services,
        user,
        "console/client.html",
        SECTION,
        status_code,
        row=_row(client),
        version=form.get("version") or client_version(client),
        previous_until=client.previous_secret_expires_at
        if client.previous_secret_live(now)
        else None,
        notice=notice_of(request, NOTICES),
        form=form.get("form")
        or {"name": client.name, "redirect_uris": "\n".join(client.redirect_uris)},
        errors=form.get("errors") or {},
        expiry_choices=PREVIOUS_SECRET_CHOICES,
        default_expiry=DEFAULT_PREVIOUS_SECRET_SECONDS,
        path=_path(client.client_id),
    )


@router.get("/admin/clients/{client_id}", include_in_schema=False)
def show_client(request: Request, services: ServicesDep, client_id: str) -> Response:
    user = console_user(request, services, "clients.read")
    try:
        client = services.ready().admin.clients.get(client_id)
    except AdminError as exc:
        return failed(request, services, user, exc, back="/admin/clients", section=SECTION)
    return _detail(request, services, user, client)


@router.post("/admin/clients/{client_id}", include_in_schema=False)
def update_client(
    request: Request,
    services: ServicesDep,
    client_id: str,
    csrf_token: FormStr = "",
    version: FormStr = "",
    name: FormStr = "",
    redirect_uris: FormUris = "",
) -> Response:
    """The API's PATCH with `If-Match: "<version>"`: a change made by someone else since this
    form was read is refused (412), never overwritten."""
    user = console_writer(request, services, "clients.write", csrf_token)
    clients = services.ready().admin.clients
    changes = ClientChanges(name=name.strip(), redirect_uris=_lines(redirect_uris))
    try:
        clients.update(user.actor, client_id, changes, version or None)
    except InvalidRequest as exc:
        try:
            client = clients.get(client_id)
        except AdminError as gone:
            return failed(request, services, user, gone, back="/admin/clients", section=SECTION)
        form = {"name": name, "redirect_uris": redirect_uris}
        return _detail(
            request, services, user, client, exc.status,
            version=version, form=form, errors=field_errors(exc, CLIENT_FIELDS),
        )  # fmt: skip
    except AdminError as exc:
        return failed(request, services, user, exc, back=_path(client_id), section=SECTION)
    return done(_path(client_id), "updated")


@router.post("/admin/clients/{client_id}/secret", include_in_schema=False)
def rotate_secret(
    request: Request,
    services: ServicesDep,
    client_id: str,
    csrf_token: FormStr = "",
    previous_expires_in: FormStr = str(DEFAULT_PREVIOUS_SECRET_SECONDS),
    confirmed: FormStr = "",
) -> Response:
    user = console_writer(request, services, "clients.write", csrf_token)
    ready = services.ready()
    back = _path(client_id)
    try:
        client = ready.admin.clients.get(client_id)
        if client.service_user_id is not None:
            # As the API: a service account's new secret is its roles; handing it out is
            # granting them.
            roles = ready.bindings.held_roles(client.service_user_id)
            demand_roles(user, roles, "A new secret for a service account with a role")
        try:
            expires_in = int(previous_expires_in)
        except ValueError:
            expires_in = -1  # (refused by the service, naming the field)
        if confirmed != "yes":
            label = dict(PREVIOUS_SECRET_CHOICES).get(expires_in, f"{expires_in} seconds")
            return confirm(
                request,
                services,
                user,
                title=f"Rotate the secret of {client.name}?",
                message=(
                    f"A new secret is made and shown once. The current secret stays "
                    f"accepted for: {label}. Clients must switch to the new one before then."
                ),
                action=back + "/secret",
                fields={"previous_expires_in": previous_expires_in},
                button="Rotate secret",
                back=back,
                section=SECTION,
            )
        rotated = ready.admin.clients.rotate_secret(user.actor, client_id, expires_in)
    except AdminError as exc:
        return failed(request, services, user, exc, back=back, section=SECTION)
    until = rotated.previous_expires_at
    return shown_once(
        request,
        services,
        user,
        SECTION,
        status_code=200,
        title=f"New secret for {client.name}",
        label="New client secret",
        secret=rotated.secret,
        facts=[
            ("Client id", client_id),
            (
                "Old secret",
                f"accepted until {until:%Y-%m-%d %H:%M} UTC" if until else "refused already",
            ),
        ],
        back=back,
        back_label="Back to the client",
    )


@router.post("/admin/clients/{client_id}/delete", include_in_schema=False)
def delete_client(
    request: Request,
    services: ServicesDep,
    client_id: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    user = console_writer(request, services, "clients.write", csrf_token)
    clients = services.ready().admin.clients
    back = _path(client_id)
    try:
        if confirmed != "yes":
            client = clients.get(client_id)
            return confirm(
                request,
                services,
                user,
                title=f"Remove the client {client.name}?",
                message=(
                    f"{client.client_id} can no longer sign anyone in, and every grant it "
                    "holds (refresh tokens, sessions' consents) is revoked."
                ),
                action=back + "/delete",
                button="Remove client",
                back=back,
                section=SECTION,
            )
        clients.delete(user.actor, client_id)
    except AdminError as exc:
        return failed(request, services, user, exc, back=back, section=SECTION)
    return done("/admin/clients", "deleted")
