"""`/admin/keys`: the token signing keys — each key's id, algorithm, state, age and how long
it stays published — when the next rotation is due (`tokens.keyRotationInterval` after the
newest key started signing), and rotating now (`admin.keys.rotate`, the API's: the new key
is published at once and signs after `tokens.keyPublishAhead`, so verifiers' JWKS caches
have it first). Only public facts are shown, never a private key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.clock import utcnow
from authbridge.web.console.guard import console_user, console_writer
from authbridge.web.console.shell import confirm, done, notice_of, page
from authbridge.web.dependencies import ServicesDep

__all__ = ["age", "router"]

router = APIRouter()
SECTION = "keys"
PATH = "/admin/keys"
FormStr = Annotated[str, Form(max_length=256)]
NOTICES = {
    "rotated": "A new key is published now; it starts signing after the publish-ahead delay."
}
# The admin service's states, as an operator reads them.
STATES = {"signing": "active", "next": "next", "retired": "retired"}


def age(since: datetime, now: datetime) -> str:
    """ "3 days", "5 hours", "12 minutes": the largest whole unit."""
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


@router.get(PATH, include_in_schema=False)
def list_keys(request: Request, services: ServicesDep) -> Response:
    user = console_user(request, services, "keys.read")
    keys = services.ready().admin.keys
    now = utcnow()
    views = keys.list(now)
    due = keys.next_rotation_due(views)
    return page(
        request,
        services,
        user,
        "console/keys.html",
        SECTION,
        keys=[{"view": v, "state": STATES[v.state], "age": age(v.created, now)} for v in views],
        due=due,
        overdue=due is not None and due <= now,
        interval=age(now - keys.rotation_interval, now) if keys.rotation_interval else None,
        publish_ahead=timedelta(seconds=services.settings.tokens.key_publish_ahead),
        notice=notice_of(request, NOTICES),
    )


@router.post(PATH + "/rotate", include_in_schema=False)
def rotate_keys(
    request: Request, services: ServicesDep, csrf_token: FormStr = "", confirmed: FormStr = ""
) -> Response:
    user = console_writer(request, services, "keys.write", csrf_token)
    if confirmed != "yes":
        ahead = services.settings.tokens.key_publish_ahead
        return confirm(
            request,
            services,
            user,
            title="Rotate the signing key now?",
            message=(
                f"A new key is published now and signs tokens in {ahead} seconds; the current "
                "one then retires and stays published until every token it signed has expired."
            ),
            action=PATH + "/rotate",
            button="Rotate now",
            back=PATH,
            section=SECTION,
        )
    services.ready().admin.keys.rotate(user.actor)
    return done(PATH, "rotated")
