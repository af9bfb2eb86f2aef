"""`GET /api/v1/system/revocations?since=<cursor>`: what has been revoked since a cursor, for
the middleware of the platform's services (issue 15: revoked access tokens refused by every
service within a bound, while each verifies tokens locally).

Response (JSON)::

    {"cursor": "42", "more": false, "reset": false,
     "entries": [{"kind": "jti", "value": "<token id>", "revoked_at": 1767225600,
                  "exp": 1767229200},
                 {"kind": "sub", "value": "<user id>", "revoked_at": 1767225600,
                  "exp": 1767312600}]}

A `jti` entry refuses that token; a `sub` entry refuses the subject's tokens with `iat`
before `revoked_at` (rounded up to the second, so a token of the same second is refused).
`exp` is when the entry stops mattering (the tokens it covers have expired), after which it
is left out. The cursor is opaque: pass the last one back; `more` asks to come again at
once; `reset` says the cursor was not one of this feed's (a restored database) and the
entries start over, so a follower replaces what it holds.

Authentication: none, like the JWKS. The feed carries random token ids, useless without the
token itself, and opaque user ids with the time they were deactivated; requiring a client
credential would give every service one more secret to hold and rotate for nothing a
token holder does not already see. A deployment that regards deactivation times as private
keeps `/api/v1/system/` off the public ingress (the management port of issue 15).
"""

from __future__ import annotations

import json
import math

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authbridge.clock import utcnow
from authbridge.storage.revocation_feed import FeedPage
from authbridge.web.dependencies import ServicesDep

__all__ = ["FEED_PATH", "router"]

FEED_PATH = "/api/v1/system/revocations"
PAGE = 1000
router = APIRouter()


def _problem(detail: str) -> Response:
    body = {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail}
    return Response(
        json.dumps(body),
        status_code=400,
        media_type="application/problem+json",
        headers={"cache-control": "no-store"},
    )


def page_document(page: FeedPage) -> dict[str, object]:
    return {
        "cursor": str(page.cursor),
        "more": page.more,
        "reset": page.reset,
        "entries": [
            {
                "kind": e.kind,
                "value": e.value,
                "revoked_at": math.ceil(e.revoked_at.timestamp()),
                "exp": math.ceil(e.expires_at.timestamp()),
            }
            for e in page.entries
        ],
    }


@router.get(FEED_PATH, include_in_schema=False)
async def revocations(request: Request, services: ServicesDep) -> Response:
    since = request.query_params.get("since")
    cursor: int | None = None
    if since:
        # Our own cursors are decimal sequence numbers; anything else is not ours.
        if not (since.isascii() and since.isdigit()) or len(since) > 18:
            return _problem("since must be a cursor this feed returned")
        cursor = int(since)
    feed = services.ready().storage.revocation_feed
    page = await run_in_threadpool(feed.since, cursor, utcnow(), PAGE)
    body = json.dumps(page_document(page), separators=(",", ":"))
    return Response(
        body,
        media_type="application/json",
        headers={"cache-control": "no-store", "access-control-allow-origin": "*"},
    )
