"""`/admin/scim`: the SCIM sources, each one's credentials (add one: its secret is shown
once, in the POST's answer; retire one, after a confirmation), and its last provisioning
activity (its latest `scim.*` audit events). The acts are `admin.scim_credentials`'s, as
the admin API's `/api/v1/scim/sources` calls them; a zero-downtime rotation is add, switch
the IdP, retire the old one (RFC 7644 §2 leaves authentication to the service provider).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest
from authbridge.admin.paging import PageRequest
from authbridge.admin.scim_credentials import state_of
from authbridge.clock import utcnow
from authbridge.web.console.guard import ConsoleUser, console_user, console_writer
from authbridge.web.console.shell import confirm, done, failed, notice_of, page
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["router"]

router = APIRouter()
SECTION = "scim"
# How many of a source's latest SCIM events its page shows (the audit log has them all).
ACTIVITY = 10
MAX_EXPIRY_DAYS = 3650
# The grace a retirement may leave the IdP to switch over (the API takes any number of
# seconds up to MAX_RETIRE_AFTER; the page offers the usual ones).
GRACES = {"0": "now", "3600": "in 1 hour", "86400": "in 1 day", "604800": "in 7 days"}
NOTICES = {
    "retired": "The credential is retired.",
    "retiring": "The credential will be retired at the time shown.",
}


def age(since: datetime | None, now: datetime) -> str:
    """A credential's age in the largest whole unit ("3 days", "5 hours", "2 minutes")."""
    if since is None:
        return "unknown"
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "under a minute"


def _base(source: str) -> str:
    return f"/admin/scim/{source}"


def _source_page(
    request: Request, services: Services, user: ConsoleUser, source: str, status_code: int = 200
) -> Response:
    admin = services.ready().admin
    try:
        credentials = admin.scim_credentials.list(source)
    except AdminError as error:
        return failed(request, services, user, error, back="/admin/scim", section=SECTION)
    summary = next(s for s in admin.scim_credentials.sources() if s.source == source)
    # The source's own SCIM requests: actor id is the source (storage/scim/audit.py).
    activity = admin.audit_events.query(
        actor=source, type="scim.", page=PageRequest.of(ACTIVITY, None)
    ).items
    now = utcnow()
    return page(
        request,
        services,
        user,
        "console/scim_source.html",
        SECTION,
        status_code,
        source=summary,
        credentials=[(c, state_of(c, now), age(c.created_at, now)) for c in credentials],
        activity=activity,
        graces=GRACES,
        notice=notice_of(request, NOTICES),
        writer=user.may("scim.write"),
    )


@router.get("/admin/scim", include_in_schema=False)
def source_list(request: Request, services: ServicesDep) -> Response:
    user = console_user(request, services, "scim.read")
    sources = services.ready().admin.scim_credentials.sources()
    return page(request, services, user, "console/scim.html", SECTION, sources=sources)


@router.get("/admin/scim/{source}", include_in_schema=False)
def source_page(source: str, request: Request, services: ServicesDep) -> Response:
    user = console_user(request, services, "scim.read")
    return _source_page(request, services, user, source)


def _expiry(days: str) -> datetime | None:
    if not days.strip():
        return None
    try:
        n = int(days)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_EXPIRY_DAYS:
        raise InvalidRequest(
            f"the expiry is 1 to {MAX_EXPIRY_DAYS} days",
            [FieldError("expires_in_days", f"a whole number from 1 to {MAX_EXPIRY_DAYS}")],
        )
    return utcnow() + timedelta(days=n)


@router.post("/admin/scim/{source}/credentials", include_in_schema=False)
def add_credential(
    source: str,
    request: Request,
    services: ServicesDep,
    csrf_token: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    expires_in_days: Annotated[str, Form()] = "",
) -> Response:
    """The new credential and its secret, in this answer only (`render` sets no-store;
    nothing here logs it)."""
    user = console_writer(request, services, "scim.write", csrf_token)
    admin = services.ready().admin
    try:
        issued = admin.scim_credentials.add(
            source,
            actor=user.actor,
            username=username.strip() or None,
            expires_at=_expiry(expires_in_days),
        )
    except AdminError as error:
        return failed(request, services, user, error, back=_base(source), section=SECTION)
    return page(
        request,
        services,
        user,
        "console/scim_issued.html",
        SECTION,
        status_code=201,
        source=source,
        issued=issued,
    )


@router.post("/admin/scim/{source}/credentials/{credential_id}/retire", include_in_schema=False)
def retire_credential(
    source: str,
    credential_id: str,
    request: Request,
    services: ServicesDep,
    csrf_token: Annotated[str, Form()] = "",
    retire_after: Annotated[str, Form()] = "0",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    user = console_writer(request, services, "scim.write", csrf_token)
    back = _base(source)
    if retire_after not in GRACES:
        error = InvalidRequest(
            "choose when the credential stops working",
            [FieldError("retire_after", f"one of {', '.join(GRACES.values())}")],
        )
        return failed(request, services, user, error, back=back, section=SECTION)
    try:  # an unknown source or credential is said before asking to confirm
        services.ready().admin.scim_credentials.get(source, credential_id)
    except AdminError as error:
        return failed(request, services, user, error, back=back, section=SECTION)
    if confirmed != "yes":
        when = GRACES[retire_after]
        return confirm(
            request,
            services,
            user,
            title="Retire this SCIM credential?",
            message=f"Credential {credential_id} of {source} stops working {when}. Make sure "
            "the IdP already uses another credential, or its provisioning stops.",
            action=f"{back}/credentials/{credential_id}/retire",
            fields={"retire_after": retire_after},
            button="Retire credential",
            back=back,
            section=SECTION,
        )
    try:
        services.ready().admin.scim_credentials.retire(
            source, credential_id, actor=user.actor, retire_after=int(retire_after)
        )
    except AdminError as error:
        return failed(request, services, user, error, back=back, section=SECTION)
    return done(back, "retired" if retire_after == "0" else "retiring")
