"""`/admin/audit`: the audit log, newest first, filtered by actor, target, event type and
time (a GET form: works without JavaScript, and a filtered page is a link), a page at a
time (keyset cursor), each event's details (before/after) in a `<details>` element.

The query is `admin.audit_events.query`, as `GET /api/v1/audit/events` calls it. A
malformed filter or cursor is a 400 page saying which, never a 500.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest
from authbridge.admin.paging import DEFAULT_LIMIT, PageRequest
from authbridge.storage.audit import AuditRecord
from authbridge.web.console.guard import console_user
from authbridge.web.console.shell import failed, page
from authbridge.web.dependencies import ServicesDep

__all__ = ["router"]

router = APIRouter()
SECTION = "audit"
# The form's fields, in the order of the query's arguments.
TEXT_FILTERS = ("actor", "target_type", "target_id", "type")
TIME_FILTERS = ("since", "until")
# An audit cursor is the last row's (at, id): admin/audit.py.
CURSOR_KEY = 2


def _time(name: str, value: str) -> datetime:
    """A `datetime-local` field's value (no zone: read as UTC, as the form says) or an
    ISO 8601 date-time with its zone."""
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{name} is not a date and time (e.g. 2026-01-31T09:30)",
            [FieldError(name, "YYYY-MM-DDTHH:MM, in UTC")],
        ) from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _limit(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(
            "limit must be a whole number", [FieldError("limit", "a whole number")]
        ) from None


def _details(record: AuditRecord) -> str:
    # Events' details are JSON already (stored as such); shown as written, keys sorted.
    return json.dumps(dict(record.details), indent=2, sort_keys=True, default=str)


@router.get("/admin/audit", include_in_schema=False)
def audit_log(request: Request, services: ServicesDep) -> Response:
    user = console_user(request, services, "audit.read")
    query = request.query_params
    # An empty field of the GET form is no filter.
    filters = {
        name: query.get(name, "").strip()
        for name in (*TEXT_FILTERS, *TIME_FILTERS)
        if query.get(name, "").strip()
    }
    try:
        limit = _limit(query.get("limit"))
        since, until = (_time(n, filters[n]) if n in filters else None for n in TIME_FILTERS)
        found = services.ready().admin.audit_events.query(
            actor=filters.get("actor"),
            target_type=filters.get("target_type"),
            target_id=filters.get("target_id"),
            type=filters.get("type"),
            since=since,
            until=until,
            page=PageRequest.of(limit, query.get("cursor") or None, key_size=CURSOR_KEY),
        )
    except AdminError as error:
        return failed(request, services, user, error, back="/admin/audit", section=SECTION)
    kept: dict[str, Any] = dict(filters)
    if limit is not None and limit != DEFAULT_LIMIT:
        kept["limit"] = limit
    next_url = (
        "/admin/audit?" + urlencode({**kept, "cursor": found.next_cursor})
        if found.next_cursor
        else None
    )
    return page(
        request,
        services,
        user,
        "console/audit.html",
        SECTION,
        events=[(r, _details(r)) for r in found.items],
        filters=filters,
        filtered=bool(filters),
        paged=bool(query.get("cursor")),
        first_url="/admin/audit" + ("?" + urlencode(kept) if kept else ""),
        next_url=next_url,
    )
