"""`/admin/service-accounts`: programs that get tokens with client_credentials (RFC 6749
§4.4) as a non-person principal holding one role — list, create (the client secret shown
once, in the POST's answer), delete (disables the account, revokes its tokens, removes its
client). The acts are `admin.service_accounts`, the API's; a role beyond viewer needs
roles.write, as the API's route demands.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError
from authbridge.admin.paging import PageRequest
from authbridge.admin.service_accounts import NewServiceAccount
from authbridge.web.console.clients import CLIENT_FIELDS
from authbridge.web.console.common import created_or_errors
from authbridge.web.console.guard import (
    BASE_ROLE,
    ConsoleUser,
    console_user,
    console_writer,
    demand_roles,
)
from authbridge.web.console.shell import Ask, act, failed, notice_of, page, shown_once
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["router"]

router = APIRouter()
SECTION = "service-accounts"
PATH = "/admin/service-accounts"
FormStr = Annotated[str, Form(max_length=256)]
NOTICES = {"deleted": "The service account was disabled, its tokens revoked, its client removed."}
_FIELDS = {**CLIENT_FIELDS, "accessTokenLifetime": "access_token_lifetime"}


def _list_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    cursor: str | None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    admin = services.ready().admin
    try:
        found = admin.service_accounts.list(PageRequest.of(None, cursor, key_size=1))
    except AdminError as exc:
        return failed(request, services, user, exc, back=PATH, section=SECTION)
    return page(
        request,
        services,
        user,
        "console/service_accounts.html",
        SECTION,
        status_code,
        accounts=found.items,
        next_cursor=found.next_cursor,
        notice=notice_of(request, NOTICES),
        roles=admin.roles.list(),
        form=form or {"role": BASE_ROLE},
        errors=errors or {},
    )


@router.get(PATH, include_in_schema=False)
def list_accounts(request: Request, services: ServicesDep, cursor: str | None = None) -> Response:
    user = console_user(request, services, "clients.read")
    return _list_page(request, services, user, cursor)


@router.post(PATH, include_in_schema=False)
def create_account(
    request: Request,
    services: ServicesDep,
    csrf_token: FormStr = "",
    name: FormStr = "",
    role: FormStr = BASE_ROLE,
    access_token_lifetime: FormStr = "",
) -> Response:
    user = console_writer(request, services, "clients.write", csrf_token)
    demand_roles(user, [role], "A service account with a role")
    form = {"name": name, "role": role, "access_token_lifetime": access_token_lifetime}
    lifetime: int | None = None
    errors: dict[str, str] = {}
    if access_token_lifetime.strip():
        try:
            lifetime = int(access_token_lifetime)
        except ValueError:
            errors["access_token_lifetime"] = "a number of seconds"
    created: NewServiceAccount | None = None
    if not errors:
        accounts = services.ready().admin.service_accounts
        created, errors = created_or_errors(
            lambda: accounts.create(user.actor, name.strip(), role, access_token_lifetime=lifetime),
            _FIELDS,
            taken="a service account with this name exists already",
        )
    if created is None:
        return _list_page(request, services, user, None, 400, form, errors)
    account = created.account
    return shown_once(
        request,
        services,
        user,
        SECTION,
        title=f"Service account {account.name} created",
        label="Client secret",
        secret=created.secret,
        facts=[
            ("Client id", account.client_id),
            ("Role", ", ".join(account.roles)),
            ("Token request", "grant_type=client_credentials at /oauth2/token"),
        ],
        back=PATH,
        back_label="Back to service accounts",
    )


@router.post(PATH + "/{name}/delete", include_in_schema=False)
def delete_account(
    request: Request,
    services: ServicesDep,
    name: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    user = console_writer(request, services, "clients.write", csrf_token)
    accounts = services.ready().admin.service_accounts

    def run() -> str | Ask:
        account = accounts.get(name)
        if confirmed != "yes":
            return Ask(
                f"Delete the service account {account.name}?",
                "Its user is disabled, every token it holds is revoked, and its client "
                f"{account.client_id} is removed: programs using it stop working now.",
                f"{PATH}/{name}/delete",
                "Delete service account",
            )
        accounts.delete(user.actor, name)
        return "deleted"

    return act(request, services, user, run, back=PATH, section=SECTION)
