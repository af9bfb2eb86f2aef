"""What the console's sections share: reading a list's page from the query, the "Next page"
link that keeps the filters, how a membership's or a person's source reads, and a refused
form's errors by field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlencode

from authbridge.admin.errors import AdminError, AlreadyExists, FieldError, InvalidRequest
from authbridge.admin.paging import PageRequest
from authbridge.admin.users import UserRow

__all__ = [
    "created_or_errors",
    "field_errors",
    "next_link",
    "page_request",
    "problem_fields",
    "source_label",
    "user_source_label",
]

T = TypeVar("T")


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


def user_source_label(row: UserRow) -> str:
    """Where a person comes from, as the users list and a user's page show it."""
    if row.scim_source:
        return source_label(f"scim:{row.scim_source}")
    return "local" if row.user.password_hash is not None else "identity provider"


def problem_fields(exc: AdminError) -> list[tuple[str, str]]:
    """The service's per-field errors (RFC 9457 `errors` extension) as (field, message),
    in the order it gave them."""
    return [
        (str(e.get("field", "")), str(e.get("message", "")))
        for e in exc.extensions.get("errors", [])
    ]


def field_errors(exc: AdminError, names: Mapping[str, str] | None = None) -> dict[str, str]:
    """The service's errors by form field, the first message of each: an index is dropped
    (`redirectUris[2]` is `redirectUris`), then `names` maps the service's name to the
    form's (`redirectUris` → `redirect_uris`). The form shows each next to its field."""
    found: dict[str, str] = {}
    for field, message in problem_fields(exc):
        key = field.split("[", 1)[0]
        found.setdefault((names or {}).get(key, key), message)
    return found


def created_or_errors(
    make: Callable[[], T], names: Mapping[str, str], *, taken: str
) -> tuple[T | None, dict[str, str]]:
    """A create form's act: what `make` made, or the errors the form shows by field (a
    name in use already is the `name` field's, saying `taken`)."""
    try:
        return make(), {}
    except InvalidRequest as exc:
        return None, field_errors(exc, names)
    except AlreadyExists:
        return None, {"name": taken}
