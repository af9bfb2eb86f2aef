"""What the teams, roles and invitations sections share: reading a list's page from the
query, the "Next page" link that keeps the filters, and how a membership's source reads."""

from __future__ import annotations

from urllib.parse import urlencode

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest
from authbridge.admin.paging import PageRequest

__all__ = ["field_errors", "next_link", "page_request", "source_label"]


def page_request(limit: str, cursor: str, key_size: int | None = None) -> PageRequest:
    """The page a list's query names (`limit`, `cursor`): anything malformed is
    InvalidRequest (a 400 page), never a 500."""
    size: int | None = None
    if limit:
        if not (limit.isascii() and limit.isdigit()) or len(limit) > 4:
            raise InvalidRequest("limit is a number", [FieldError("limit", "a number")])
        size = int(limit)
    return PageRequest.of(size, cursor or None, key_size=key_size)


def next_link(path: str, cursor: str | None, **filters: str) -> str | None:
    """The next page's URL, carrying the filters given (empty ones left out)."""
    if cursor is None:
        return None
    query = {k: v for k, v in filters.items() if v}
    return f"{path}?{urlencode({**query, 'cursor': cursor})}"


def source_label(source: str) -> str:
    """Whose word a membership or a team comes from, as an operator reads it."""
    kind, _, name = source.partition(":")
    if source == "local":
        return "admin"
    labels = {"scim": "SCIM", "idp": "IdP groups", "config": "configuration"}
    if kind in labels and name:
        return f"{labels[kind]} ({name})"
    return source


def field_errors(exc: AdminError) -> dict[str, str]:
    """The service's per-field errors (RFC 9457 `errors` extension), by field name."""
    found: list[FieldError] = list(exc.extensions.get("errors", []))
    return {e["field"]: e["message"] for e in found}
